"""The local enhancer: real image operations with Pillow, no model weights.

It is the embedded provider of `make dev` and the image source of the provider emulators,
so every path through the system produces a genuinely processed picture. Each operation
takes and returns an RGB(A) `Image` and never mutates its input.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Literal

from PIL import Image, ImageEnhance, ImageFilter, ImageOps

OutputFormat = Literal["WEBP", "PNG", "JPEG"]

CONTENT_TYPES: dict[OutputFormat, str] = {
    "WEBP": "image/webp",
    "PNG": "image/png",
    "JPEG": "image/jpeg",
}


def decode(data: bytes) -> Image.Image:
    """Decode already-validated bytes into RGB, or RGBA when the image has transparency."""
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        has_alpha = opened.mode in ("RGBA", "LA", "PA") or "transparency" in opened.info
        return opened.convert("RGBA" if has_alpha else "RGB")


def encode(image: Image.Image, fmt: OutputFormat = "WEBP", *, quality: int = 90) -> bytes:
    """Encode without metadata (no EXIF, no ICC profile, no text chunks)."""
    buffer = io.BytesIO()
    if fmt == "JPEG" and image.mode != "RGB":
        image = image.convert("RGB")
    options: dict[str, object] = {}
    if fmt in ("WEBP", "JPEG"):
        options["quality"] = quality
    if fmt == "WEBP":
        # Method 2 encodes about twice as fast as the default 4 at about the same size
        # (docs/benchmarks.md): the encode dominates the result path of a large image.
        options["method"] = 2
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def upscale(image: Image.Image, scale: int) -> Image.Image:
    """Lanczos resampling followed by a light unsharp mask to restore edge contrast."""
    if scale < 1:
        raise ValueError("scale must be at least 1")
    if scale == 1:
        return image.copy()
    enlarged = image.resize((image.width * scale, image.height * scale), Image.Resampling.LANCZOS)
    return enlarged.filter(ImageFilter.UnsharpMask(radius=1.5, percent=60, threshold=2))


def restore(image: Image.Image) -> Image.Image:
    """Face/photo restoration stand-in: denoise, recover contrast, then sharpen."""
    denoised = _on_rgb(image, lambda rgb: rgb.filter(ImageFilter.MedianFilter(3)))
    contrasted = _on_rgb(denoised, lambda rgb: ImageOps.autocontrast(rgb, cutoff=0.5))
    return contrasted.filter(ImageFilter.UnsharpMask(radius=2, percent=120, threshold=3))


def _vivid(rgb: Image.Image) -> Image.Image:
    return ImageEnhance.Contrast(ImageEnhance.Color(rgb).enhance(1.5)).enhance(1.15)


def _mono(rgb: Image.Image) -> Image.Image:
    return ImageOps.autocontrast(ImageOps.grayscale(rgb), cutoff=1).convert("RGB")


def _sepia(rgb: Image.Image) -> Image.Image:
    return ImageOps.colorize(ImageOps.grayscale(rgb), black="#2b1d0e", white="#f4e3c1")


def _sketch(rgb: Image.Image) -> Image.Image:
    edges = ImageOps.invert(ImageOps.grayscale(rgb).filter(ImageFilter.FIND_EDGES))
    return ImageOps.autocontrast(edges, cutoff=2).convert("RGB")


def _poster(rgb: Image.Image) -> Image.Image:
    return ImageOps.posterize(rgb.filter(ImageFilter.SMOOTH_MORE), 3)


def _dream(rgb: Image.Image) -> Image.Image:
    glow = rgb.filter(ImageFilter.GaussianBlur(radius=max(2, min(rgb.size) // 100)))
    return ImageEnhance.Color(Image.blend(rgb, glow, 0.5)).enhance(1.3)


def _enhance(rgb: Image.Image) -> Image.Image:
    return ImageOps.autocontrast(rgb, cutoff=0.5).filter(ImageFilter.DETAIL)


STYLES: dict[str, Callable[[Image.Image], Image.Image]] = {
    "enhance": _enhance,
    "vivid": _vivid,
    "mono": _mono,
    "sepia": _sepia,
    "sketch": _sketch,
    "poster": _poster,
    "dream": _dream,
}


def stylize(image: Image.Image, style: str, strength: float = 0.6) -> Image.Image:
    """img2img stand-in: the styled picture blended over the original by `strength` (0..1),
    the same knob img2img models use for how far to move away from the input."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError("strength must be within 0..1")
    styled = _on_rgb(image, STYLES[style])
    return _on_rgb(image, lambda rgb: Image.blend(rgb, _rgb(styled), strength))


def _rgb(image: Image.Image) -> Image.Image:
    return image.convert("RGB") if image.mode != "RGB" else image


def _on_rgb(image: Image.Image, operation: Callable[[Image.Image], Image.Image]) -> Image.Image:
    """Apply an RGB-only operation and keep the alpha channel, if any, untouched."""
    if image.mode != "RGBA":
        return operation(_rgb(image))
    result = operation(image.convert("RGB")).convert("RGBA")
    result.putalpha(image.getchannel("A"))
    return result
