"""What a direct upload may declare before it is signed (Enhancer uploads, event photos)."""

from __future__ import annotations

from aiimage.errors import PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError
from aiimage.settings import get_settings
from aiimage.storage.keys import EXTENSIONS


def check_upload(content_type: str, size: int) -> str:
    """The normalised content type of an acceptable upload, or the 4xx that explains why not."""
    content_type = content_type.strip().lower()
    if content_type not in EXTENSIONS:
        raise UnsupportedMediaTypeError(
            "Only JPEG, PNG and WebP images can be uploaded",
            code="unsupported_image_type",
            details={"allowed": sorted(EXTENSIONS)},
        )
    if size < 1:
        raise ValidationError("size must be at least 1 byte", code="image_empty")
    max_bytes = get_settings().max_upload_bytes
    if size > max_bytes:
        raise PayloadTooLargeError(
            "The image is too large", code="image_too_large", details={"maxBytes": max_bytes}
        )
    return content_type
