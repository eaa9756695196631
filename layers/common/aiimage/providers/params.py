"""The generation settings a caller may choose: one value on every path.

The multipart form, the model catalog's input and its resolution, the stored job and the
provider request all hold this one value instead of copying its fields one by one, so a
setting added here reaches every provider (`tests/unit/test_generation_params.py` follows
each field from the form to the provider request and fails when one is dropped).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class GenerationParams(BaseModel):
    model_config = ConfigDict(frozen=True)

    scale: int | None = None
    face_enhance: bool = False
    prompt: str | None = None
    negative_prompt: str | None = None
    strength: float | None = None
    guidance: float | None = None
    steps: int | None = None
