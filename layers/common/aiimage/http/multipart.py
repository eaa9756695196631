"""Reading the image part of a multipart request."""

from __future__ import annotations

from fastapi import UploadFile

from aiimage.errors import PayloadTooLargeError
from aiimage.settings import get_settings


async def read_inline(image: UploadFile | None) -> bytes | None:
    """The bytes of an inline image, refused above what a Lambda payload can carry."""
    if image is None:
        return None
    limit = get_settings().max_inline_upload_bytes
    data = await image.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLargeError(
            f"Images over {limit:,} bytes must be sent as a direct upload "
            "(POST /api/ai-image/uploads)",
            code="image_too_large",
            details={"maxBytes": limit},
        )
    return data
