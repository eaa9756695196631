"""The `local` provider: real Pillow enhancement in-process, no model weights, no network.

It is the embedded default of `make dev` and the last fallback route of every catalog
model. Model ids (`GenerationRequest.model`):

- `upscale`: Lanczos + unsharp mask by `scale` (2 or 4, default 2); `face_enhance` also
  runs the restore pass first.
- `restore`: denoise, contrast, sharpen; then upscale when `scale` (2 or 4) is given.
  `strength` is CodeFormer-style fidelity (0..1, default 0): 0 is the fully restored
  picture, 1 the input itself.
- `style:<name>` for each of `enhance.STYLES`: the style blended over the input by
  `strength` (0..1, default 0.6), the img2img knob. It takes no `scale` or `face_enhance`.

Prompts, guidance and steps are accepted and ignored: nothing here is text-conditioned.
The provider is synchronous: `submit` always finishes, so there is never a job to poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from PIL import Image

from aiimage.imaging import enhance, webp
from aiimage.providers.base import GenerationRequest, Outcome, ProviderRejectedError

UPSCALE: Final = "upscale"
RESTORE: Final = "restore"
STYLE_PREFIX: Final = "style:"
LOCAL_MODELS: Final[frozenset[str]] = frozenset(
    {UPSCALE, RESTORE, *(STYLE_PREFIX + name for name in enhance.STYLES)}
)

SCALES: Final = (2, 4)
DEFAULT_SCALE: Final = 2
DEFAULT_STYLE_STRENGTH: Final = 0.6
DEFAULT_FIDELITY: Final = 0.0
OUTPUT_QUALITY: Final = 90
# Same default as Settings.max_output_pixels: a 4x upscale of a large photo would otherwise
# need gigabytes of memory. The enhancer checks this before dispatch; this is the backstop.
DEFAULT_MAX_OUTPUT_PIXELS: Final = 64_000_000


class LocalProvider:
    name = "local"

    def __init__(self, *, max_output_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS) -> None:
        self.max_output_pixels = max_output_pixels

    def submit(self, request: GenerationRequest) -> Outcome:
        operation = self._plan(request)
        try:
            image = webp.decode(request.image.data)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise ProviderRejectedError(
                "The local provider could not decode the image", code="image_undecodable"
            ) from exc
        factor = operation.scale**2
        if image.width * image.height * factor > self.max_output_pixels:
            raise ProviderRejectedError(
                f"The image is too large to upscale {operation.scale}x",
                code="output_too_large",
                details={"maxOutputPixels": self.max_output_pixels},
            )
        # Handed over, not kept here: the operation frees the picture as soon as the WebP
        # encoder has its pixels (docs/benchmarks.md, peak memory).
        handover = [image]
        del image
        return Outcome.succeeded(operation.encode(handover), webp.CONTENT_TYPES["WEBP"])

    def poll(self, job_id: str) -> Outcome:
        """Never needed (`submit` is synchronous); a stray poll fails the job cleanly."""
        return Outcome.failed("The local provider has no asynchronous jobs", job_id=job_id)

    def cancel(self, job_id: str) -> None:
        """Nothing to cancel: work finishes inside `submit`."""

    def _plan(self, request: GenerationRequest) -> _Operation:
        """Check the parameters for the model before any pixel work is done."""
        model = request.model
        if model == UPSCALE:
            _reject_if(request.params.strength is not None, "upscale takes no strength")
            return _Operation(
                kind=UPSCALE,
                scale=_scale(request.params.scale, default=DEFAULT_SCALE),
                restore_first=request.params.face_enhance,
            )
        if model == RESTORE:
            return _Operation(
                kind=RESTORE,
                scale=_scale(request.params.scale, default=1),
                strength=_unit("strength", request.params.strength, DEFAULT_FIDELITY),
            )
        if model.startswith(STYLE_PREFIX) and model in LOCAL_MODELS:
            _reject_if(request.params.scale is not None, f"{model} takes no scale")
            _reject_if(request.params.face_enhance, f"{model} takes no face_enhance")
            return _Operation(
                kind=model,
                strength=_unit("strength", request.params.strength, DEFAULT_STYLE_STRENGTH),
            )
        raise ProviderRejectedError(
            f"Unknown local model {model!r}",
            code="unknown_model",
            details={"allowed": sorted(LOCAL_MODELS)},
        )


@dataclass(frozen=True, slots=True)
class _Operation:
    """A checked plan for one request: what to run, with which parameters."""

    kind: str  # UPSCALE, RESTORE or a style model id
    scale: int = 1
    strength: float = 0.0
    restore_first: bool = False

    def encode(self, handover: list[Image.Image]) -> bytes:
        """The result as WebP. The decoded picture in `handover` (its only reference) is
        worked on in place and freed once the encoder has its pixels; an upscale goes to
        the encoder band by band, so the large result is never held whole as an image."""
        image = handover.pop()
        if self.kind.startswith(STYLE_PREFIX):
            style = self.kind.removeprefix(STYLE_PREFIX)
            styled = enhance.stylize(image, style, self.strength, in_place=True)
            del image
            return webp.encode(styled, "WEBP", quality=OUTPUT_QUALITY, release=True)
        if self.kind == RESTORE or self.restore_first:
            fidelity = self.strength if self.kind == RESTORE else 0.0
            enhance.restore(image, fidelity=fidelity, in_place=True)
        if self.scale == 1:  # restore alone
            return webp.encode(image, "WEBP", quality=OUTPUT_QUALITY, release=True)
        size = (image.width * self.scale, image.height * self.scale)
        mode = image.mode
        bands = enhance.upscale_bands(image, self.scale)
        del image  # the generator's is the last reference: freed when it is done
        return webp.encode_bands(size, mode, bands, quality=OUTPUT_QUALITY)


def _reject_if(condition: bool, message: str) -> None:
    if condition:
        raise ProviderRejectedError(message, code="param_not_supported")


def _scale(value: int | None, *, default: int) -> int:
    if value is None:
        return default
    if value not in SCALES:
        raise ProviderRejectedError(
            f"scale must be one of {', '.join(map(str, SCALES))}",
            code="param_out_of_range",
            details={"field": "scale", "allowed": list(SCALES)},
        )
    return value


def _unit(field: str, value: float | None, default: float) -> float:
    if value is None:
        return default
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise ProviderRejectedError(
            f"{field} must be between 0 and 1",
            code="param_out_of_range",
            details={"field": field, "min": 0, "max": 1},
        )
    return float(value)
