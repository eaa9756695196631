"""Memory-saving image code gives the same pixels as the whole-image Pillow calls it replaced.

`aiimage.imaging.enhance` works in horizontal bands (`aiimage.imaging.bands`) so that a
40 MP picture is held once (see their docstrings and docs/benchmarks.md). The reference
here is the earlier whole-image implementation, kept verbatim: every style, restore (with
fidelity) and upscale must match it exactly, on RGB and RGBA, with bands small enough that
every margin and every band edge is exercised. The WebP encode and decode of
`aiimage.imaging.webp` must give Pillow's bytes and pixels, and `sanitize`'s channel-wise
EXIF rotation the bytes of `ImageOps.exif_transpose`.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from typing import Any

import pytest
from PIL import ExifTags, Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from aiimage.imaging import bands, enhance, validation, webp
from aiimage.providers.base import ImageInput
from aiimage.providers.local import LocalProvider
from tests.generation import generation_request

# --- the whole-image reference ------------------------------------------------------------


def _ref_on_rgb(image: Image.Image, operation: Callable[[Image.Image], Image.Image]) -> Image.Image:
    if image.mode != "RGBA":
        return operation(image.convert("RGB") if image.mode != "RGB" else image)
    result = operation(image.convert("RGB")).convert("RGBA")
    result.putalpha(image.getchannel("A"))
    return result


def _ref_rgb(image: Image.Image) -> Image.Image:
    return image.convert("RGB") if image.mode != "RGB" else image


REFERENCE_STYLES: dict[str, Callable[[Image.Image], Image.Image]] = {
    "enhance": lambda rgb: ImageOps.autocontrast(rgb, cutoff=0.5).filter(ImageFilter.DETAIL),
    "vivid": lambda rgb: ImageEnhance.Contrast(ImageEnhance.Color(rgb).enhance(1.5)).enhance(1.15),
    "mono": lambda rgb: ImageOps.autocontrast(ImageOps.grayscale(rgb), cutoff=1).convert("RGB"),
    "sepia": lambda rgb: ImageOps.colorize(
        ImageOps.grayscale(rgb), black="#2b1d0e", white="#f4e3c1"
    ),
    "sketch": lambda rgb: ImageOps.autocontrast(
        ImageOps.invert(ImageOps.grayscale(rgb).filter(ImageFilter.FIND_EDGES)), cutoff=2
    ).convert("RGB"),
    "poster": lambda rgb: ImageOps.posterize(rgb.filter(ImageFilter.SMOOTH_MORE), 3),
    "dream": lambda rgb: ImageEnhance.Color(
        Image.blend(
            rgb, rgb.filter(ImageFilter.GaussianBlur(radius=max(2, min(rgb.size) // 100))), 0.5
        )
    ).enhance(1.3),
}


def reference_stylize(image: Image.Image, style: str, strength: float) -> Image.Image:
    styled = _ref_on_rgb(image, REFERENCE_STYLES[style])
    return _ref_on_rgb(image, lambda rgb: Image.blend(rgb, _ref_rgb(styled), strength))


def reference_restore(image: Image.Image, fidelity: float = 0.0) -> Image.Image:
    denoised = _ref_on_rgb(image, lambda rgb: rgb.filter(ImageFilter.MedianFilter(3)))
    contrasted = _ref_on_rgb(denoised, lambda rgb: ImageOps.autocontrast(rgb, cutoff=0.5))
    restored = contrasted.filter(ImageFilter.UnsharpMask(radius=2, percent=120, threshold=3))
    return Image.blend(restored, image, fidelity) if fidelity > 0 else restored


def reference_upscale(image: Image.Image, scale: int) -> Image.Image:
    enlarged = image.resize((image.width * scale, image.height * scale), Image.Resampling.LANCZOS)
    return enlarged.filter(ImageFilter.UnsharpMask(radius=1.5, percent=60, threshold=2))


# --- inputs -------------------------------------------------------------------------------


def photo(width: int = 230, height: int = 157, mode: str = "RGB", seed: int = 3) -> Image.Image:
    """Gradients, hard-edged shapes and noise: every filter changes it, at every row."""
    rng = random.Random(seed)
    gradient = Image.linear_gradient("L").resize((width, height))
    radial = Image.radial_gradient("L").resize((width, height))
    image = Image.merge("RGB", (gradient, radial, gradient.transpose(Image.Transpose.ROTATE_180)))
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x, y = rng.randrange(width), rng.randrange(height)
        box = (x, y, x + rng.randrange(3, 60), y + rng.randrange(3, 40))
        draw.ellipse(box, fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    noise = Image.merge(
        "RGB", [Image.frombytes("L", (width, height), rng.randbytes(width * height)) for _ in "RGB"]
    )
    image = ImageChops.add(image, noise.point(lambda v: 120 + v // 16), offset=-128)
    if mode == "RGBA":
        image = image.convert("RGBA")
        image.putalpha(radial)
    return image


@pytest.fixture(params=[1500, 100_000_000], ids=["many-bands", "one-band"])
def band_pixels(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Tiny bands (a few rows, so margins span band edges) and one band for everything."""
    monkeypatch.setattr(bands, "BAND_PIXELS", request.param)
    return int(request.param)


def assert_same(actual: Image.Image, expected: Image.Image) -> None:
    assert actual.mode == expected.mode
    assert actual.size == expected.size
    diff = ImageChops.difference(actual, expected)
    assert diff.getbbox() is None, f"pixels differ: extrema {diff.getextrema()}"


# --- equality -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize("style", sorted(enhance.STYLES))
def test_every_style_matches_the_whole_image_result(
    style: str, mode: str, band_pixels: int
) -> None:
    source = photo(mode=mode)
    expected = reference_stylize(source, style, 0.6)
    actual = enhance.stylize(source, style, 0.6)
    assert_same(actual, expected)
    assert_same(source, photo(mode=mode))  # not in place: the input is untouched


@pytest.mark.parametrize("strength", [0.0, 1.0])
def test_style_strength_ends_match(strength: float, band_pixels: int) -> None:
    source = photo()
    assert_same(
        enhance.stylize(source, "sketch", strength), reference_stylize(source, "sketch", strength)
    )


def test_dream_blurs_by_the_whole_picture_size(band_pixels: int) -> None:
    # 420 px high: a radius of 4, a margin of 18 rows, more than a tiny band.
    source = photo(640, 420)
    assert_same(enhance.stylize(source, "dream", 0.8), reference_stylize(source, "dream", 0.8))


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize("fidelity", [0.0, 0.4])
def test_restore_matches_the_whole_image_result(
    mode: str, fidelity: float, band_pixels: int
) -> None:
    source = photo(mode=mode)
    assert_same(enhance.restore(source, fidelity=fidelity), reference_restore(source, fidelity))


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize("scale", [2, 4])
def test_upscale_matches_the_whole_image_result(mode: str, scale: int, band_pixels: int) -> None:
    source = photo(97, 61, mode=mode)
    assert_same(enhance.upscale(source, scale), reference_upscale(source, scale))


def test_in_place_returns_the_same_image_with_the_same_pixels(band_pixels: int) -> None:
    source = photo()
    expected = reference_stylize(source, "poster", 0.7)
    result = enhance.stylize(source, "poster", 0.7, in_place=True)
    assert result is source
    assert_same(source, expected)
    restored = photo()
    assert enhance.restore(restored, in_place=True) is restored
    assert_same(restored, reference_restore(photo()))


@pytest.mark.parametrize("cutoff", [0, 0.5, 1, 2, 30])
@pytest.mark.parametrize("kind", ["photo", "flat", "two-levels", "grey"])
def test_autocontrast_lut_is_pillows(kind: str, cutoff: float) -> None:
    image = {
        "photo": photo(),
        "flat": Image.new("RGB", (50, 40), (90, 90, 90)),
        "two-levels": Image.merge(
            "RGB",
            [
                Image.new("L", (20, 10), 0),
                Image.new("L", (20, 10), 255),
                photo(20, 10).getchannel(0),
            ],
        ),
        "grey": ImageOps.grayscale(photo()),
    }[kind]
    lut = bands.autocontrast_lut(image.histogram(), cutoff)
    assert_same(image.point(lut), ImageOps.autocontrast(image, cutoff=cutoff))


def test_histogram_pass_equals_the_whole_image_histogram(band_pixels: int) -> None:
    source = photo()
    edges = source.filter(ImageFilter.FIND_EDGES)
    assert bands.histogram(source, lambda band: band.filter(ImageFilter.FIND_EDGES), 1) == (
        edges.histogram()
    )


def test_bands_cover_every_row_once_with_clamped_windows() -> None:
    windows = list(bands.band_windows(10, 4, 3))
    assert windows == [(0, 4, 0, 7), (4, 8, 1, 10), (8, 10, 5, 10)]


# --- the provider end to end --------------------------------------------------------------


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("model", "params", "reference"),
    [
        ("style:enhance", {}, lambda im: reference_stylize(im, "enhance", 0.6)),
        ("style:dream", {"strength": 0.9}, lambda im: reference_stylize(im, "dream", 0.9)),
        ("restore", {"strength": 0.3}, lambda im: reference_restore(im, 0.3)),
        (
            "upscale",
            {"scale": 2, "face_enhance": True},
            lambda im: reference_upscale(reference_restore(im), 2),
        ),
        ("upscale", {"scale": 4}, lambda im: reference_upscale(im, 4)),
        (
            "restore",
            {"scale": 2, "strength": 0.5},
            lambda im: reference_upscale(reference_restore(im, 0.5), 2),
        ),
    ],
)
@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_provider_result_is_the_whole_image_result_encoded(
    model: str,
    params: dict[str, Any],
    reference: Callable[[Image.Image], Image.Image],
    mode: str,
    band_pixels: int,
) -> None:
    """Same WebP bytes as encoding the whole-image result with Pillow: nothing changed but
    memory (RGBA results are encoded by Pillow itself)."""
    source = photo(mode=mode)
    request = generation_request(
        model, ImageInput(data=_png(source), content_type="image/png"), **params
    )
    outcome = LocalProvider().submit(request)
    assert outcome.image == pillow_webp(reference(source))


def test_encode_bands_is_the_encode_of_the_whole_image(band_pixels: int) -> None:
    source = photo(97, 61)
    bands = enhance.upscale_bands(source, 2)
    encoded = webp.encode_bands((194, 122), "RGB", bands, quality=80)
    assert encoded == pillow_webp(reference_upscale(source, 2), 80)


def test_encode_bands_refuses_bands_that_do_not_cover_the_image() -> None:
    band = photo(50, 10)
    with pytest.raises(ValueError, match="cover"):
        webp.encode_bands((50, 30), "RGB", [band, band])
    with pytest.raises(ValueError, match="wide"):
        webp.encode_bands((60, 10), "RGB", [band])
    with pytest.raises(ValueError, match="RGBA"):
        webp.encode_bands((50, 10), "RGBA", [band])


def test_decode_hands_over_the_pixels_without_a_copy() -> None:
    source = photo()
    decoded = webp.decode(_png(source))
    assert decoded.mode == "RGB"
    assert_same(decoded, source)
    decoded.putpixel((0, 0), (1, 2, 3))  # a plain, writable image, not a closed file
    assert decoded.getpixel((0, 0)) == (1, 2, 3)


# --- the WebP encode ----------------------------------------------------------------------


def pillow_webp(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=quality, method=webp.WEBP_METHOD)
    return buffer.getvalue()


def test_the_libwebp_pillow_uses_is_found() -> None:
    assert webp._libwebp() is not None


@pytest.mark.parametrize("size", [(1, 1), (17, 3), (230, 157), (1001, 777)])
@pytest.mark.parametrize("quality", [60, 90])
def test_rgb_webp_bytes_are_pillows(size: tuple[int, int], quality: int, band_pixels: int) -> None:
    image = photo(*size) if min(size) > 5 else Image.new("RGB", size, (10, 200, 30))
    assert webp.encode(image, "WEBP", quality=quality) == pillow_webp(image, quality)


def test_release_frees_the_image_and_keeps_the_bytes() -> None:
    image = photo()
    expected = pillow_webp(image)
    assert webp.encode(image, "WEBP", quality=90, release=True) == expected
    with pytest.raises(ValueError, match="closed"):
        image.load()


def test_without_release_the_image_stays_usable() -> None:
    image = photo()
    webp.encode(image, "WEBP")
    assert_same(image, photo())


def rgba(kind: str) -> Image.Image:
    """RGBA with graded alpha, with a fully transparent half (whose hidden colours libwebp
    may clean up), or fully opaque (encoded without an alpha plane)."""
    image = photo(300, 200, mode="RGBA")
    if kind == "transparent-half":
        alpha = Image.new("L", image.size, 255)
        ImageDraw.Draw(alpha).rectangle((0, 0, 149, 199), fill=0)
        ImageDraw.Draw(alpha).ellipse((100, 40, 260, 160), fill=128)
        image.putalpha(alpha)
    elif kind == "opaque":
        image.putalpha(255)
    return image


@pytest.mark.parametrize("kind", ["graded", "transparent-half", "opaque"])
def test_rgba_webp_bytes_are_pillows(kind: str, band_pixels: int) -> None:
    image = rgba(kind)
    expected = pillow_webp(image)
    assert webp.encode(image, "WEBP", release=True) == expected
    decoded = Image.open(io.BytesIO(expected))
    assert decoded.mode == ("RGB" if kind == "opaque" else "RGBA")


def test_other_modes_are_encoded_by_pillow() -> None:
    image = ImageOps.grayscale(photo())
    encoded = webp.encode(image, "WEBP", release=True)
    assert encoded == pillow_webp(image)
    assert Image.open(io.BytesIO(encoded)).size == image.size


def test_without_the_library_pillow_encodes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webp, "_libwebp", lambda: None)
    image = photo()
    assert webp.encode(image, "WEBP", release=True) == pillow_webp(image)


# --- sanitize: the EXIF rotation -----------------------------------------------------------


def reference_sanitized(data: bytes, fmt: validation.ImageFormat) -> bytes:
    """The earlier sanitiser's pixel path: `ImageOps.exif_transpose`, then the same encode."""
    with Image.open(io.BytesIO(data), formats=[fmt]) as image:
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
        lossless = fmt == "WEBP" and validation._webp_is_lossless(data)
        return validation._encode(image, fmt, lossless=lossless)


def with_orientation(image: Image.Image, fmt: str, orientation: int, **options: object) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "TestCam"
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, exif=exif, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize(
    ("fmt", "mode", "options"),
    [
        ("JPEG", "RGB", {"quality": 90}),
        ("JPEG", "CMYK", {"quality": 90}),
        ("JPEG", "L", {"quality": 90}),
        ("PNG", "RGBA", {}),
        ("PNG", "LA", {}),
        ("PNG", "P", {}),
        ("WEBP", "RGB", {"quality": 80}),
        ("WEBP", "RGBA", {"lossless": True}),
    ],
)
def test_sanitize_rotates_to_the_same_bytes(
    orientation: int, fmt: str, mode: str, options: dict[str, object]
) -> None:
    source = photo(61, 37, mode="RGBA" if mode in ("RGBA", "LA") else "RGB")
    if mode == "P":
        source = source.quantize(64)
    elif mode != source.mode:
        source = source.convert(mode)
    data = with_orientation(source, fmt, orientation, **options)
    clean = validation.sanitize(data, max_bytes=10_000_000, max_pixels=40_000_000)
    assert clean.data == reference_sanitized(data, clean.format)
    upright = (37, 61) if orientation >= 5 else (61, 37)
    assert (clean.width, clean.height) == upright
    assert Image.open(io.BytesIO(clean.data)).size == upright
    assert b"TestCam" not in clean.data


# --- WebP decode through libwebp ------------------------------------------------------------


def pillow_decode(data: bytes) -> Image.Image:
    """What `webp.decode` did for every WebP before: Pillow's own decoder."""
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        has_alpha = opened.mode in ("RGBA", "LA", "PA") or "transparency" in opened.info
        return opened.convert("RGBA" if has_alpha else "RGB")


def _webp(image: Image.Image, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", **options)
    return buffer.getvalue()


@pytest.mark.parametrize("alpha", [False, True])
@pytest.mark.parametrize("options", [{"quality": 80}, {"lossless": True}])
def test_a_still_webp_decodes_to_pillows_pixels(alpha: bool, options: dict[str, Any]) -> None:
    image = photo(mode="RGBA" if alpha else "RGB")
    data = _webp(image, **options)
    assert webp._decode_still_webp(data) is not None  # the libwebp path ran
    decoded, expected = webp.decode(data), pillow_decode(data)
    assert decoded.mode == expected.mode == ("RGBA" if alpha else "RGB")
    assert ImageChops.difference(decoded, expected).getbbox() is None
    decoded.paste((1, 2, 3), (0, 0, 4, 4))  # a normal, writable image


def test_animated_and_broken_webp_are_left_to_pillow() -> None:
    frames = [photo(), photo().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:], duration=100)
    animated = buffer.getvalue()
    assert webp._decode_still_webp(animated) is None
    first_frame = webp.decode(animated)
    assert ImageChops.difference(first_frame, pillow_decode(animated)).getbbox() is None
    whole = _webp(photo(), quality=80)
    truncated = whole[: len(whole) // 2]
    assert webp._decode_still_webp(truncated) is None
    with pytest.raises(OSError, match="decoder"):  # Pillow's error, as before
        webp.decode(truncated)
