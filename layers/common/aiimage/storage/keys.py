"""Object key layout, and the strict parser the delivery proxy trusts.

    ai-enhancer/{kind}/{ownerType}/{ownerId}/{objectId}.{ext}

`kind` is `uploads` (direct uploads, expired by a lifecycle rule), `originals` (the
sanitised input of a generation) or `results`. The owner is part of the key, so the proxy
can gate delivery without a database read, and every key is built here from validated
parts, never from caller text.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

from aiimage.errors import NotFoundError, ValidationError

ROOT = "ai-enhancer"
Kind = Literal["uploads", "originals", "results"]
KINDS: frozenset[str] = frozenset(get_args(Kind))
EXTENSIONS = {"image/webp": "webp", "image/png": "png", "image/jpeg": "jpg"}
CONTENT_TYPES = {ext: content_type for content_type, ext in EXTENSIONS.items()}

_OWNER_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_OBJECT_NAME = re.compile(r"[0-9a-f]{32}\.(webp|png|jpg)")
_MAX_KEY_LENGTH = 512


class InvalidKeyError(ValidationError):
    default_code = "invalid_key"
    default_message = "The object key is not valid"


class Owner(Protocol):
    """Whoever objects belong to: a caller's `Identity`, or the owner recorded on a job."""

    @property
    def owner_type(self) -> Literal["guest", "user"]: ...

    @property
    def owner_id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ObjectKey:
    kind: Kind
    owner_type: Literal["guest", "user"]
    owner_id: str
    name: str

    def __str__(self) -> str:
        return f"{ROOT}/{self.kind}/{self.owner_type}/{self.owner_id}/{self.name}"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.name.rpartition(".")[2]]

    def owned_by(self, owner: Owner) -> bool:
        return (self.owner_type, self.owner_id) == (owner.owner_type, owner.owner_id)


def new_key(kind: Kind, owner: Owner, content_type: str) -> ObjectKey:
    if not _OWNER_ID.fullmatch(owner.owner_id):
        # Token subjects are opaque; one that cannot be a path segment is refused, not mangled.
        raise ValidationError("This account's id cannot be used for storage", code="bad_owner")
    return ObjectKey(
        kind=kind,
        owner_type=owner.owner_type,
        owner_id=owner.owner_id,
        name=f"{secrets.token_hex(16)}.{EXTENSIONS[content_type]}",
    )


def parse_key(raw: str) -> ObjectKey:
    """The key a caller asked for, or `InvalidKeyError` (traversal, encoded or doubled
    separators, anything not built by `new_key`) / `NotFoundError` (a prefix we do not
    serve). Only the exact shape is accepted: there is nothing to normalise."""
    if len(raw) > _MAX_KEY_LENGTH or any(
        bad in raw for bad in ("..", "//", "\\", "%", "\x00", "./")
    ):
        raise InvalidKeyError()
    parts = raw.split("/")
    if len(parts) < 2 or parts[0] != ROOT or parts[1] not in KINDS:
        raise NotFoundError()
    if len(parts) != 5:
        raise InvalidKeyError()
    _, kind, owner_type, owner_id, name = parts
    if owner_type not in ("guest", "user") or not _OWNER_ID.fullmatch(owner_id):
        raise InvalidKeyError()
    if not _OBJECT_NAME.fullmatch(name):
        raise InvalidKeyError()
    return ObjectKey(kind=kind, owner_type=owner_type, owner_id=owner_id, name=name)  # type: ignore[arg-type]
