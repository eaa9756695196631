"""Provider requests for tests, written flat: the generation settings among the options."""

from __future__ import annotations

from typing import Any

from aiimage.providers.base import GenerationRequest, ImageInput
from aiimage.providers.params import GenerationParams


def generation_request(model: str, image: ImageInput, **options: Any) -> GenerationRequest:
    """`GenerationRequest(model, image, ...)` with the `GenerationParams` fields of `options`
    gathered into its `params` and the rest (wait_seconds, idempotency_key, ...) passed on."""
    settings = {name: options.pop(name) for name in GenerationParams.model_fields & options.keys()}
    return GenerationRequest(
        model=model, image=image, params=GenerationParams(**settings), **options
    )
