"""The multipart form that generate and job creation share."""

from __future__ import annotations

from fastapi import UploadFile
from pydantic import BaseModel, ConfigDict, Field

from aiimage.enhancer.model_catalog import DEFAULT_MODEL
from aiimage.errors import PayloadTooLargeError
from aiimage.settings import get_settings


class GenerateForm(BaseModel):
    """The multipart fields besides the file, named as the seed system's clients send them."""

    model_config = ConfigDict(populate_by_name=True)

    model: str = Field(default=DEFAULT_MODEL, max_length=200)
    upload_key: str | None = Field(default=None, alias="uploadKey", max_length=512)
    scale: int | None = None
    face_enhance: bool = False
    prompt: str | None = None
    negative_prompt: str | None = None
    strength: float | None = None
    guidance: float | None = None
    steps: int | None = None


async def read_inline(image: UploadFile | None) -> bytes | None:
    if image is None:
        return None
    limit = get_settings().max_inline_upload_bytes
    data = await image.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLargeError(
            "Images over 4.5 MB must be sent as a direct upload (POST /api/ai-image/uploads)",
            code="image_too_large",
            details={"maxBytes": limit},
        )
    return data
