"""`POST /api/ai-image/uploads`: a presigned direct upload to the bucket, so images up to
the 10 MB limit never pass through Lambda's 6 MB request payload."""

from __future__ import annotations

from dataclasses import dataclass

from aiimage.errors import PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError
from aiimage.identity import Identity
from aiimage.limits import rate_limiter
from aiimage.settings import get_settings
from aiimage.storage.keys import EXTENSIONS, ObjectKey, new_key
from aiimage.storage.objects import PresignedUpload, object_store


@dataclass(frozen=True, slots=True)
class Upload:
    key: ObjectKey
    presigned: PresignedUpload


def create_upload(identity: Identity, *, content_type: str, size: int) -> Upload:
    settings = get_settings()
    content_type = content_type.strip().lower()
    if content_type not in EXTENSIONS:
        raise UnsupportedMediaTypeError(
            "Only JPEG, PNG and WebP images can be uploaded",
            code="unsupported_image_type",
            details={"allowed": sorted(EXTENSIONS)},
        )
    if size < 1:
        raise ValidationError("size must be at least 1 byte", code="image_empty")
    if size > settings.max_upload_bytes:
        raise PayloadTooLargeError(
            "The image is too large",
            code="image_too_large",
            details={"maxBytes": settings.max_upload_bytes},
        )
    rate_limiter().hit(
        "uploads",
        identity.owner_key,
        limit=settings.generate_rate_limit_per_minute,
        window_seconds=60,
    )
    key = new_key("uploads", identity, content_type)
    return Upload(
        key=key, presigned=object_store().presign_put(key, content_type=content_type, size=size)
    )
