"""Banded processing: whole-image operations computed a horizontal band at a time.

A 40 MP RGB image is 160 MB in Pillow (4 bytes a pixel), and a generate at the limits must
fit a 512 MB function. So the local enhancer and the WebP encoder work in horizontal bands
of a few MB: each band is read with a margin of the rows its neighbourhood filters look at,
processed, and pasted back (or handed on), so only the image itself is full size. Global
statistics (autocontrast's histogram, the contrast mean) are gathered band by band in a
first pass. The pixels are those of the whole-image operation
(tests/unit/test_imaging_memory.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final

from PIL import Image

# About 4 MB of RGB(A) per band: small next to a 160 MB image, large enough that the
# margins recomputed at band edges and Pillow's per-call overhead stay small.
BAND_PIXELS: Final = 1_000_000

# An operation on a band: same size in, same size out.
BandOperation = Callable[[Image.Image], Image.Image]


def blur_margin(radius: float) -> int:
    """Rows a GaussianBlur or UnsharpMask of `radius` reads beyond each pixel: Pillow runs
    three box blurs, each of at most `radius` plus one row of fractional weight."""
    return 3 * (int(radius) + 2)


def band_rows(width: int, margin: int) -> int:
    """The height of a band of an image `width` wide, for an operation reading `margin`
    rows above and below each output row."""
    # At least twice the margin, so that recomputed margins cost at most as much again.
    return max(BAND_PIXELS // max(width, 1), 2 * margin, 1)


def band_windows(height: int, rows: int, margin: int) -> Iterator[tuple[int, int, int, int]]:
    """(top, bottom) of each band and (top, bottom) of the window it is computed from."""
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        yield top, bottom, max(0, top - margin), min(height, bottom + margin)


def bands_of(image: Image.Image, *, release: bool) -> Iterator[Image.Image]:
    """`image` as full-width bands, top to bottom; with `release`, closed once the last
    one is out."""
    rows = band_rows(image.width, 0)
    for top in range(0, image.height, rows):
        yield image.crop((0, top, image.width, min(image.height, top + rows)))
    if release:
        image.close()  # the caller's image (160 MB at 40 MP): its pixels are copied out


def map_in_place(
    image: Image.Image,
    operation: BandOperation,
    margin: int,
    observe: Callable[[Image.Image], None] | None = None,
) -> None:
    """Replace `image` by `operation(image)`, where `operation` only looks `margin` rows
    above and below each output row, working one band at a time; `observe` sees each
    result band (to gather statistics of the result without keeping it).

    Each window is cropped before the previous band's result is pasted, and a band is at
    least `margin` rows high, so every window reads original rows only."""
    rows = band_rows(image.width, margin)
    pending: tuple[int, Image.Image] | None = None
    for top, bottom, window_top, window_bottom in band_windows(image.height, rows, margin):
        window = image.crop((0, window_top, image.width, window_bottom))
        if pending is not None:
            image.paste(pending[1], (0, pending[0]))
        result = operation(window)
        del window
        pending = (top, result.crop((0, top - window_top, image.width, bottom - window_top)))
        del result
        if observe is not None:
            observe(pending[1])
    if pending is not None:
        image.paste(pending[1], (0, pending[0]))


def histogram(image: Image.Image, operation: BandOperation, margin: int) -> list[int]:
    """`operation(image).histogram()`, computed band by band without the whole result."""
    rows = band_rows(image.width, margin)
    total: list[int] = []
    for top, bottom, window_top, window_bottom in band_windows(image.height, rows, margin):
        window = image.crop((0, window_top, image.width, window_bottom))
        band = operation(window).crop((0, top - window_top, image.width, bottom - window_top))
        counts = band.histogram()
        total = [a + b for a, b in zip(total, counts, strict=True)] if total else counts
    return total


def autocontrast_lut(histogram: list[int], cutoff: float) -> list[int]:
    """The lookup table `ImageOps.autocontrast(image, cutoff)` applies, from the histogram
    of the whole image (Pillow's algorithm, so that bands can share one table)."""
    lut: list[int] = []
    for layer in range(0, len(histogram), 256):
        counts = histogram[layer : layer + 256]
        cut = int(sum(counts) * cutoff // 100)  # cutoff% of the pixels, from either end
        _remove(counts, range(256), cut)
        _remove(counts, range(255, -1, -1), cut)
        lo = next((i for i in range(256) if counts[i]), 255)
        hi = next((i for i in range(255, -1, -1) if counts[i]), 0)
        if hi <= lo:
            lut.extend(range(256))
            continue
        scale = 255.0 / (hi - lo)
        offset = -lo * scale
        lut.extend(min(255, max(0, int(i * scale + offset))) for i in range(256))
    return lut


def _remove(counts: list[int], order: Iterable[int], cut: int) -> None:
    """Take `cut` pixels out of `counts`, emptying the bins in `order` one after another."""
    for index in order:
        if cut > counts[index]:
            cut -= counts[index]
            counts[index] = 0
        else:
            counts[index] -= cut
            cut = 0
        if cut <= 0:
            break
