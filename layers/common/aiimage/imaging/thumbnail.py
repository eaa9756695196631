"""A bounded copy of validated image bytes, decoded no larger than it must be.

A JPEG is decoded with libjpeg's DCT scaling (`Image.draft`): 1/2, 1/4 or 1/8 of its size,
the smallest that is still at least the target, so a 40 MP photo bound for a 1600 px copy
is decoded at 1824x1368 (7.5 MB of pixels instead of 160 MB), then resampled to the target
as before. libvips and sharp do the same ("shrink on load"). PNG has no reduced decode, and
a WebP is decoded whole (`webp.decode`: libwebp into one buffer): docs/benchmarks.md has
what each costs at 40 MP.
"""

from __future__ import annotations

import io

from PIL import Image

from aiimage.imaging import webp

_JPEG_SIGNATURE = b"\xff\xd8\xff"


def fit_within(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """`size` scaled down (never up) so that neither side exceeds `max_side`, aspect kept."""
    width, height = size
    scale = min(1.0, max_side / width, max_side / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def decode_thumbnail(data: bytes, max_side: int) -> Image.Image:
    """Decoded RGB (RGBA with transparency) of at most `max_side` a side, for bytes
    `validation.sanitize` produced (upright, checked, metadata-free)."""
    if not data.startswith(_JPEG_SIGNATURE):
        image = webp.decode(data)
        image.thumbnail((max_side, max_side))
        return image
    with Image.open(io.BytesIO(data), formats=["JPEG"]) as opened:
        target = fit_within(opened.size, max_side)
        # Keeps the mode (L or RGB); only the scale changes, to at least `target`.
        opened.draft(None, target)
        opened.load()
        image = opened.convert("RGB") if opened.mode != "RGB" else opened.copy()
    image.thumbnail(target)
    return image
