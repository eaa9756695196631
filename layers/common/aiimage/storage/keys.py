"""Object key layout, and the strict parsers the delivery proxy and generate trust.

    ai-enhancer/{kind}/{ownerType}/{ownerId}/{objectId}.{ext}       (originals, results)
    events/{slug}/photos/{photoId}.{ext}                            (a published guest photo)
    events/{slug}/photos/{photoId}.display.webp                     (its gallery copy)
    quarantine/ai-enhancer/uploads/{ownerType}/{ownerId}/{objectId}.{ext}
    quarantine/events/{slug}/photos/{photoId}.{ext}

Quarantine, then publish: every direct upload (a presigned PUT, whose URL stays valid for
its whole lifetime, even after the upload was used) lands under `quarantine/`, and only
its consumer reads it there: an Enhancer upload by the generate (or job) that names it, a
guest photo by its `complete`. Both sanitise the bytes into a published key, which no
presigned PUT ever names, and delete the quarantine object, so a second PUT to the same
URL changes nothing anyone reads. Delivery, jobs, edits and providers read published keys
only. What is left in quarantine expires: a bucket lifecycle rule (a day) and the
`sweep-quarantine` ops run (the presign lifetime plus a margin).

Enhancer keys carry their owner, so the proxy can gate delivery without a database read,
and every key is built here from validated parts, never from caller text.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

from aiimage.errors import NotFoundError, ValidationError

ROOT = "ai-enhancer"
QUARANTINE_PREFIX = "quarantine/"
Kind = Literal["uploads", "originals", "results"]
KINDS: frozenset[str] = frozenset(get_args(Kind))
# What the delivery proxy serves: never a quarantined upload, not even to its owner.
DELIVERED_KINDS: frozenset[str] = KINDS - {"uploads"}
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
        key = f"{ROOT}/{self.kind}/{self.owner_type}/{self.owner_id}/{self.name}"
        return quarantined(key) if self.kind == "uploads" else key

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
    """The key a caller asked the delivery proxy for, or `InvalidKeyError` (traversal,
    encoded or doubled separators, anything not built by `new_key`) / `NotFoundError` (a
    prefix we do not serve, quarantine included). Only the exact shape is accepted: there
    is nothing to normalise."""
    return _parse(raw, DELIVERED_KINDS)


def parse_upload_key(raw: str) -> ObjectKey:
    """The `uploadKey` a generate names: a quarantined Enhancer upload of exactly the shape
    `new_key("uploads", ...)` builds, or `InvalidKeyError` / `NotFoundError`."""
    _check_text(raw)
    if not raw.startswith(QUARANTINE_PREFIX):
        raise NotFoundError()
    return _parse(raw.removeprefix(QUARANTINE_PREFIX), frozenset({"uploads"}))


def _check_text(raw: str) -> None:
    if len(raw) > _MAX_KEY_LENGTH or any(
        bad in raw for bad in ("..", "//", "\\", "%", "\x00", "./")
    ):
        raise InvalidKeyError()


def _parse(raw: str, kinds: frozenset[str]) -> ObjectKey:
    _check_text(raw)
    parts = raw.split("/")
    if len(parts) < 2 or parts[0] != ROOT or parts[1] not in kinds:
        raise NotFoundError()
    if len(parts) != 5:
        raise InvalidKeyError()
    _, kind, owner_type, owner_id, name = parts
    if owner_type not in ("guest", "user") or not _OWNER_ID.fullmatch(owner_id):
        raise InvalidKeyError()
    if not _OBJECT_NAME.fullmatch(name):
        raise InvalidKeyError()
    return ObjectKey(kind=kind, owner_type=owner_type, owner_id=owner_id, name=name)  # type: ignore[arg-type]


# --- Magic Edits: event photos ------------------------------------------------------------


def photo_key(slug: str, photo_id: str, content_type: str) -> str:
    """Where a guest photo is published once sanitised (edits and providers read it)."""
    return f"events/{slug}/photos/{photo_id}.{EXTENSIONS[content_type]}"


def photo_display_key(slug: str, photo_id: str) -> str:
    return f"events/{slug}/photos/{photo_id}.display.webp"


def quarantined(published: str) -> str:
    """The quarantine key a presigned PUT targets for what is published at `published`."""
    return f"{QUARANTINE_PREFIX}{published}"
