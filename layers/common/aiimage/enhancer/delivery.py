"""`GET /r2-ai/{key}`: owner-gated delivery of uploads, originals and results.

The key is parsed strictly (see `storage.keys`), its owner must be the caller, and the
answer is cacheable only privately. Small objects are returned inline with their ETag
(and 304 on `If-None-Match`); objects over the Lambda response limit are answered with a
redirect to a presigned URL that expires within minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiimage.errors import AppError, ForbiddenError
from aiimage.identity import Identity
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
