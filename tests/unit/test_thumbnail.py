"""`imaging.thumbnail`: a JPEG is decoded reduced (DCT scaling) to no less than the target,
then resampled to it; other formats are decoded whole. Same size and nearly the same
pixels as the full decode followed by `Image.thumbnail`."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageStat

from aiimage.imaging import thumbnail
from aiimage.imaging.thumbnail import decode_thumbnail, fit_within


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def photo(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    ramp = Image.linear_gradient("L").resize(size)
    if mode == "L":
        return ramp
    bands = [ramp, Image.radial_gradient("L").resize(size), ramp.rotate(180)]
    if mode == "RGBA":
        bands.append(Image.radial_gradient("L").resize(size))
    return Image.merge(mode, bands)


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [
        ((7296, 5472), 1600, (1600, 1200)),
        ((5472, 7296), 1600, (1200, 1600)),
        ((3200, 1000), 1600, (1600, 500)),
        ((400, 300), 1600, (400, 300)),  # never enlarged
        ((10000, 3), 1600, (1600, 1)),  # never a zero side
    ],
)
def test_fit_within(size: tuple[int, int], max_side: int, expected: tuple[int, int]) -> None:
    assert fit_within(size, max_side) == expected


def test_a_jpeg_is_decoded_reduced_then_resampled(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encoded(photo((6400, 4000)), "JPEG")
    decoded: list[tuple[int, int]] = []
    load = Image.Image.load

    def spy(self: Image.Image) -> object:
        result = load(self)
        decoded.append(self.size)
        return result

    monkeypatch.setattr(Image.Image, "load", spy)
    image = decode_thumbnail(data, 1600)
    # 1/4 of 6400x4000 is the smallest scale that still covers 1600x1000.
    assert decoded[0] == (1600, 1000)
    assert (image.mode, image.size) == ("RGB", (1600, 1000))


def test_the_reduced_decode_looks_like_the_full_one() -> None:
    data = encoded(photo((5000, 3000)), "JPEG")
    with Image.open(io.BytesIO(data)) as full:
        full.load()
        reference = full.copy()
    reference.thumbnail((1600, 1600))
    image = decode_thumbnail(data, 1600)
    assert image.size == reference.size == (1600, 960)
    difference = ImageStat.Stat(ImageChops.difference(image, reference))
    assert max(difference.mean) < 2  # mean per channel, of 255


def test_a_grey_jpeg_becomes_rgb() -> None:
    image = decode_thumbnail(encoded(photo((3300, 2000), "L"), "JPEG"), 1600)
    assert (image.mode, image.size) == ("RGB", (1600, 970))


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_png_and_webp_keep_their_alpha_and_are_bounded(fmt: str) -> None:
    image = decode_thumbnail(encoded(photo((2000, 1000), "RGBA"), fmt), 1600)
    assert (image.mode, image.size) == ("RGBA", (1600, 800))


def test_a_small_jpeg_keeps_its_size() -> None:
    image = decode_thumbnail(encoded(photo((400, 300)), "JPEG"), 1600)
    assert image.size == (400, 300)
    assert thumbnail.fit_within(image.size, 1600) == (400, 300)
