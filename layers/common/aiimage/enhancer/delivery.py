"""`GET /r2-ai/{key}`: owner-gated delivery of uploads, originals and results.

The key is parsed strictly (see `storage.keys`), its owner must be the caller, and the
answer is cacheable only privately. Small objects are returned inline with their ETag
(and 304 on `If-None-Match`); objects over the Lambda response limit are answered with a
redirect to a presigned URL that expires within minutes. `download` names the file a
browser saves (`Content-Disposition: attachment`), HEAD answers the headers alone.

`provenance_of` reads a result's C2PA manifest back for its owner (404 for anyone else):
what the stored file says about how it was made, as the SDK validates it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

from aiimage.errors import (
    AppError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    ValidationError,
)
from aiimage.identity import Identity
from aiimage.imaging import provenance
from aiimage.imaging.provenance import ProvenanceView as ProvenanceView  # the route's answer
from aiimage.settings import get_settings
from aiimage.storage.keys import ObjectKey, parse_key
from aiimage.storage.objects import object_store


@dataclass(frozen=True, slots=True)
class Delivery:
    status: int  # 200, 304 or 307
    headers: dict[str, str]
    body: bytes = b""


ImageFormat = Literal["webp", "jpeg", "png"]
FORMATS: dict[ImageFormat, str] = {"webp": "image/webp", "jpeg": "image/jpeg", "png": "image/png"}
_EXTENSIONS = {"image/webp": "webp", "image/png": "png", "image/jpeg": "jpg"}
# A conversion decodes the image in this function (512 MB): 24 MP is 96 MiB of RGBA pixels,
# and a larger result is offered as stored (WebP), never half-converted.
MAX_CONVERT_PIXELS = 24_000_000
JPEG_QUALITY = 92
# A result stored before signing has no manifest to keep: every /r2-ai/ result is an
# Enhancer result, an edit of the caller's uploaded photo.
LEGACY_SOURCE_TYPE = provenance.COMPOSITE
_UNSAFE_IN_NAME = re.compile(r"[^\w.-]+")
MAX_FILE_STEM = 100


def attachment(stem: str, content_type: str) -> str:
    """`Content-Disposition` for saving as `stem` with the stored format's extension: an
    ASCII `filename` for old clients and the UTF-8 `filename*` of RFC 6266 (umlauts kept).
    Separators, quotes and control characters cannot reach the header."""
    clean = _UNSAFE_IN_NAME.sub("-", unicodedata.normalize("NFC", stem)).strip("-.")
    clean = clean[:MAX_FILE_STEM] or "image"
    extension = _EXTENSIONS.get(content_type, "bin")
    ascii_stem = unicodedata.normalize("NFKD", clean).encode("ascii", "ignore").decode()
    # A name with no Latin letter (`写真`) keeps no ASCII: the old clients' name is `image`.
    fallback = f"{_UNSAFE_IN_NAME.sub('-', ascii_stem).strip('-.') or 'image'}.{extension}"
    name = f"{clean}.{extension}"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"


def deliver(
    identity: Identity,
    raw_key: str,
    *,
    if_none_match: str | None,
    download: str | None = None,
    image_format: ImageFormat | None = None,
    head_only: bool = False,
) -> Delivery:
    key = parse_key(raw_key)
    if not key.owned_by(identity):
        raise ForbiddenError("This image belongs to someone else", code="not_owner")
    settings = get_settings()
    store = object_store()
    head = store.head(key)
    cache = {"Cache-Control": "private, max-age=3600", "Vary": "Cookie, Authorization"}
    wanted = FORMATS[image_format] if image_format is not None else head.content_type
    disposition = attachment(download, wanted) if download is not None else None
    if wanted != head.content_type:
        headers = {**cache, "Content-Type": wanted, "ETag": _converted_etag(head.etag, wanted)}
        if disposition is not None:
            headers["Content-Disposition"] = disposition
        if head.size > settings.max_proxy_bytes:  # known without reading the object
            raise _too_large_to_convert(settings.max_proxy_bytes)
        if head_only:
            # GET's headers without the conversion: its length is only known by doing it,
            # so a HEAD of a converted download has no Content-Length.
            return Delivery(200, headers)
        return Delivery(200, headers, _converted(key, wanted))
    if head.size > settings.max_proxy_bytes:
        location = store.presign_get(key, content_disposition=disposition)
        return Delivery(307, {"Location": location, "Cache-Control": "private, no-store"})
    headers = {**cache, "ETag": head.etag, "Content-Type": head.content_type}
    if disposition is not None:
        headers["Content-Disposition"] = disposition
    if if_none_match and head.etag in (tag.strip() for tag in if_none_match.split(",")):
        return Delivery(304, headers)
    if head_only:
        return Delivery(200, {**headers, "Content-Length": str(head.size)})
    stored = store.get(key)
    if stored.body is None:  # only a matching If-None-Match leaves it out, and none was sent
        raise AppError(code="storage_no_body")
    return Delivery(200, {**headers, "ETag": stored.etag}, stored.body)


def _converted(key: ObjectKey, content_type: str) -> bytes:
    """The stored result re-encoded as `content_type` (a download in another format), within
    what one answer of this function can carry, signed as an asset of its own whose parent
    is the stored file (`provenance.sign_conversion`): never an unsigned copy. Never cached
    in the bucket: a download is rare, and a copy would be one more object to gate and to
    delete with its result."""
    from aiimage.imaging.webp import CONTENT_TYPES, decode, encode  # Pillow: only here

    provenance.check_signing_ready()  # before any decode: a conversion we could not sign
    limit = get_settings().max_proxy_bytes
    stored = object_store().get(key)
    if stored.body is None or len(stored.body) > limit:
        raise _too_large_to_convert(limit)
    image = decode(stored.body)
    if image.width * image.height > MAX_CONVERT_PIXELS:
        raise _too_large_to_convert(limit)
    target = next(fmt for fmt, mime in CONTENT_TYPES.items() if mime == content_type)
    body = provenance.sign_conversion(
        stored.body,
        key.content_type,
        encode(image, target, quality=JPEG_QUALITY, release=True),
        content_type,
        fallback_source_type=LEGACY_SOURCE_TYPE,
    )
    if len(body) > limit:
        raise _too_large_to_convert(limit)
    return body


def _converted_etag(stored_etag: str, content_type: str) -> str:
    return f'{stored_etag.rstrip(chr(34))}-{_EXTENSIONS[content_type]}"'


def _too_large_to_convert(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        "This image is too large to convert here; download it as stored (WebP)",
        code="output_too_large",
        details={"maxBytes": limit, "maxPixels": MAX_CONVERT_PIXELS},
    )


DELIVERY_PREFIX = "/r2-ai/"


def provenance_of(identity: Identity, url: str) -> ProvenanceView:
    """The manifest of the caller's result at `url` (an `imageUrl`, or its path)."""
    path = urlsplit(url).path
    if not path.startswith(DELIVERY_PREFIX):
        raise ValidationError("url must be a result's /r2-ai/ address", code="invalid_url")
    key = parse_key(unquote(path.removeprefix(DELIVERY_PREFIX)))
    if key.kind != "results" or not key.owned_by(identity):
        # Someone else's result is indistinguishable from a missing one.
        raise NotFoundError("No such result", code="result_not_found")
    return ProvenanceView.of(str(key), object_store().read(key), key.content_type)
