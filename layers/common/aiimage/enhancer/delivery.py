"""`GET /r2-ai/{key}`: owner-gated delivery of uploads, originals and results.

The key is parsed strictly (see `storage.keys`), its owner must be the caller, and the
answer is cacheable only privately. Small objects are returned inline with their ETag
(and 304 on `If-None-Match`); objects over the Lambda response limit are answered with a
redirect to a presigned URL that expires within minutes.

`provenance_of` reads a result's C2PA manifest back for its owner (404 for anyone else):
what the stored file says about how it was made, as the SDK validates it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from aiimage.errors import AppError, ForbiddenError, NotFoundError, ValidationError
from aiimage.identity import Identity
from aiimage.imaging import provenance
from aiimage.settings import get_settings
from aiimage.storage.keys import parse_key
from aiimage.storage.objects import object_store


@dataclass(frozen=True, slots=True)
class Delivery:
    status: int  # 200, 304 or 307
    headers: dict[str, str]
    body: bytes = b""


def deliver(identity: Identity, raw_key: str, *, if_none_match: str | None) -> Delivery:
    key = parse_key(raw_key)
    if not key.owned_by(identity):
        raise ForbiddenError("This image belongs to someone else", code="not_owner")
    settings = get_settings()
    store = object_store()
    head = store.head(key)
    cache = {"Cache-Control": "private, max-age=3600", "Vary": "Cookie, Authorization"}
    if head.size > settings.max_proxy_bytes:
        return Delivery(
            307, {"Location": store.presign_get(key), "Cache-Control": "private, no-store"}
        )
    headers = {**cache, "ETag": head.etag, "Content-Type": head.content_type}
    if if_none_match and head.etag in (tag.strip() for tag in if_none_match.split(",")):
        return Delivery(304, headers)
    stored = store.get(key)
    if stored.body is None:  # only a matching If-None-Match leaves it out, and none was sent
        raise AppError(code="storage_no_body")
    return Delivery(200, {**headers, "ETag": stored.etag}, stored.body)


DELIVERY_PREFIX = "/r2-ai/"


class ProvenanceView(BaseModel):
    """A result's manifest as the SDK reads it: `Valid` (intact, signed), `Trusted` (also
    by a certificate on the verifier's trust list) or `Invalid` (changed, or unsigned)."""

    model_config = ConfigDict(populate_by_name=True)

    key: str
    validation_state: Literal["Valid", "Trusted", "Invalid"] = Field(alias="validationState")
    manifest: dict[str, Any] | None
    failures: list[str]


def provenance_of(identity: Identity, url: str) -> ProvenanceView:
    """The manifest of the caller's result at `url` (an `imageUrl`, or its path)."""
    path = urlsplit(url).path
    if not path.startswith(DELIVERY_PREFIX):
        raise ValidationError("url must be a result's /r2-ai/ address", code="invalid_url")
    key = parse_key(unquote(path.removeprefix(DELIVERY_PREFIX)))
    if key.kind != "results" or not key.owned_by(identity):
        # Someone else's result is indistinguishable from a missing one.
        raise NotFoundError("No such result", code="result_not_found")
    report = provenance.read(object_store().read(key), key.content_type)
    return ProvenanceView(
        key=str(key),
        validation_state=report.validation_state,
        manifest=report.manifest,
        failures=report.failures,
    )
