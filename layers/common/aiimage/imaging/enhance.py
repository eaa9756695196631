"""The local enhancer: real image operations with Pillow, no model weights.

It is the embedded provider of `make dev` and the image source of the provider emulators,
so every path through the system produces a genuinely processed picture. Each operation
takes and returns an RGB(A) `Image`; it never mutates its input unless asked to
(`in_place=True`).

Memory: a 40 MP picture must fit a 512 MB function, so the operations work in
horizontal bands (`aiimage.imaging.bands`): only the image itself is full size, and an
upscale hands its bands straight to the encoder (`aiimage.imaging.webp.encode_bands`).
Pixels are the same as running each Pillow operation on the whole image
(tests/unit/test_imaging_memory.py); docs/benchmarks.md has the measurements.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

from PIL import Image, ImageEnhance, ImageFilter, ImageOps, ImageStat

from aiimage.imaging.bands import (
    BandOperation,
    autocontrast_lut,
    band_rows,
    band_windows,
    blur_margin,
    histogram,
    map_in_place,
)

# A style, given the whole (RGB or RGBA) image: the rows its operation reads above and
# below each output row, and the operation on an RGB band (same size in, same size out).
Style = Callable[[Image.Image], tuple[int, BandOperation]]


def upscale(image: Image.Image, scale: int) -> Image.Image:
    """Lanczos resampling followed by a light unsharp mask to restore edge contrast."""
    if scale < 1:
        raise ValueError("scale must be at least 1")
    if scale == 1:
        return image.copy()
    enlarged = Image.new(image.mode, (image.width * scale, image.height * scale))
    top = 0
    for band in upscale_bands(image, scale):
        enlarged.paste(band, (0, top))
        top += band.height
    return enlarged


def upscale_bands(image: Image.Image, scale: int) -> Iterator[Image.Image]:
    """`upscale(image, scale)` as full-width bands, top to bottom (scale 2 or more)."""
    width, height = image.width * scale, image.height * scale
    sharpen = ImageFilter.UnsharpMask(radius=1.5, percent=60, threshold=2)
    # Output rows read by the unsharp mask, rounded up to whole source rows.
    margin = -(-blur_margin(1.5) // scale) * scale
    rows = max(band_rows(width, margin), scale)
    rows -= rows % scale
    for top, bottom, window_top, window_bottom in band_windows(height, rows, margin):
        source_top, source_bottom = window_top // scale, window_bottom // scale
        # Lanczos reads 3 source rows either side; with 4 the crop's own edge is never
        # reached, so each output row gets exactly the weights of a whole-image resize.
        crop_top = max(0, source_top - _LANCZOS_ROWS)
        crop_bottom = min(image.height, source_bottom + _LANCZOS_ROWS)
        source = image.crop((0, crop_top, image.width, crop_bottom))
        box = (0, source_top - crop_top, image.width, source_bottom - crop_top)
        window = source.resize(
            (width, window_bottom - window_top), Image.Resampling.LANCZOS, box=box
        )
        del source
        yield window.filter(sharpen).crop((0, top - window_top, width, bottom - window_top))


_LANCZOS_ROWS: Final = 4


def restore(image: Image.Image, *, fidelity: float = 0.0, in_place: bool = False) -> Image.Image:
    """Face/photo restoration stand-in: denoise, recover contrast, then sharpen; blended
    back over the input by `fidelity` (0..1, CodeFormer's knob: 1 is the input itself)."""
    if not 0.0 <= fidelity <= 1.0:
        raise ValueError("fidelity must be within 0..1")
    median = ImageFilter.MedianFilter(3)
    sharpen = ImageFilter.UnsharpMask(radius=2, percent=120, threshold=3)
    target = image if in_place else image.copy()
    if fidelity == 0:
        # Denoise in place, gathering the histogram autocontrast needs on the way.
        counts = [0] * 768

        def count(band: Image.Image) -> None:
            # An RGB(A) histogram starts with the red, green and blue counts.
            counts[:] = [a + b for a, b in zip(counts, band.histogram()[:768], strict=True)]

        map_in_place(target, lambda band: _on_rgb(band, lambda rgb: rgb.filter(median)), 1, count)
        lut = autocontrast_lut(counts, 0.5)
        map_in_place(
            target,
            lambda band: _on_rgb(band, lambda rgb: rgb.point(lut)).filter(sharpen),
            blur_margin(2),
        )
        return target
    # The blend needs each input pixel next to its restored one, so the denoised picture
    # is computed twice: once for the histogram, once band by band for the result.
    lut = autocontrast_lut(histogram(image, lambda band: _rgb(band).filter(median), 1), 0.5)

    def operation(band: Image.Image) -> Image.Image:
        denoised = _on_rgb(band, lambda rgb: rgb.filter(median))
        restored = _on_rgb(denoised, lambda rgb: rgb.point(lut)).filter(sharpen)
        return Image.blend(restored, band, fidelity)

    map_in_place(target, operation, 1 + blur_margin(2))
    return target


def _vivid(image: Image.Image) -> tuple[int, BandOperation]:
    def colour(rgb: Image.Image) -> Image.Image:
        return ImageEnhance.Color(rgb).enhance(1.5)

    # ImageEnhance.Contrast blends towards the mean grey of the whole (coloured) picture.
    grey = histogram(image, lambda band: colour(_rgb(band)).convert("L"), 0)
    mean = int(ImageStat.Stat(grey).mean[0] + 0.5)

    def operation(rgb: Image.Image) -> Image.Image:
        coloured = colour(rgb)
        flat = Image.new("L", coloured.size, mean).convert("RGB")
        return Image.blend(flat, coloured, 1.15)

    return 0, operation


def _mono(image: Image.Image) -> tuple[int, BandOperation]:
    lut = autocontrast_lut(histogram(image, lambda band: ImageOps.grayscale(_rgb(band)), 0), 1)
    return 0, lambda rgb: ImageOps.grayscale(rgb).point(lut).convert("RGB")


def _sepia(image: Image.Image) -> tuple[int, BandOperation]:
    def operation(rgb: Image.Image) -> Image.Image:
        return ImageOps.colorize(ImageOps.grayscale(rgb), black="#2b1d0e", white="#f4e3c1")

    return 0, operation


def _edges(rgb: Image.Image) -> Image.Image:
    return ImageOps.invert(ImageOps.grayscale(rgb).filter(ImageFilter.FIND_EDGES))


def _sketch(image: Image.Image) -> tuple[int, BandOperation]:
    lut = autocontrast_lut(histogram(image, lambda band: _edges(_rgb(band)), 1), 2)
    return 1, lambda rgb: _edges(rgb).point(lut).convert("RGB")


def _poster(image: Image.Image) -> tuple[int, BandOperation]:
    return 2, lambda rgb: ImageOps.posterize(rgb.filter(ImageFilter.SMOOTH_MORE), 3)


def _dream(image: Image.Image) -> tuple[int, BandOperation]:
    radius = max(2, min(image.size) // 100)  # of the whole picture, not of a band

    def operation(rgb: Image.Image) -> Image.Image:
        glow = rgb.filter(ImageFilter.GaussianBlur(radius=radius))
        return ImageEnhance.Color(Image.blend(rgb, glow, 0.5)).enhance(1.3)

    return blur_margin(radius), operation


def _enhance(image: Image.Image) -> tuple[int, BandOperation]:
    # An RGB(A) histogram starts with the red, green and blue counts: no copy needed.
    lut = autocontrast_lut(image.histogram()[:768], 0.5)
    return 1, lambda rgb: rgb.point(lut).filter(ImageFilter.DETAIL)


STYLES: dict[str, Style] = {
    "enhance": _enhance,
    "vivid": _vivid,
    "mono": _mono,
    "sepia": _sepia,
    "sketch": _sketch,
    "poster": _poster,
    "dream": _dream,
}


def stylize(
    image: Image.Image, style: str, strength: float = 0.6, *, in_place: bool = False
) -> Image.Image:
    """img2img stand-in: the styled picture blended over the original by `strength` (0..1),
    the same knob img2img models use for how far to move away from the input."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError("strength must be within 0..1")
    margin, styled = STYLES[style](image)

    def operation(band: Image.Image) -> Image.Image:
        return _on_rgb(band, lambda rgb: Image.blend(rgb, styled(rgb), strength))

    target = image if in_place else image.copy()
    map_in_place(target, operation, margin)
    return target


def _rgb(image: Image.Image) -> Image.Image:
    return image.convert("RGB") if image.mode != "RGB" else image


def _on_rgb(image: Image.Image, operation: Callable[[Image.Image], Image.Image]) -> Image.Image:
    """Apply an RGB-only operation and keep the alpha channel, if any, untouched."""
    if image.mode != "RGBA":
        return operation(_rgb(image))
    result = operation(image.convert("RGB")).convert("RGBA")
    result.putalpha(image.getchannel("A"))
    return result
