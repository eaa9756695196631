"""Upload validation and sanitising, on real images built with Pillow in the test."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Callable
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageCms, ImageDraw, ImageFile, PngImagePlugin

from aiimage.errors import (
    AppError,
    PayloadTooLargeError,
    UnprocessableError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from aiimage.imaging import validation
from aiimage.imaging.validation import CleanImage, sanitize, sniff

MB = 1024 * 1024
MAX_BYTES = 10 * MB
MAX_PIXELS = 40_000_000
ALLOWED = ["image/jpeg", "image/png", "image/webp"]
RED = (255, 0, 0)
BLUE = (0, 0, 255)


def clean(data: bytes, **limits: int) -> CleanImage:
    return sanitize(
        data,
        max_bytes=limits.get("max_bytes", MAX_BYTES),
        max_pixels=limits.get("max_pixels", MAX_PIXELS),
    )


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def reopen(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def picture(size: tuple[int, int] = (64, 32), mode: str = "RGB") -> Image.Image:
    """A blue picture with a 16x16 red block in its top-left corner."""
    fill: tuple[int, ...] = (*BLUE, 255) if mode == "RGBA" else BLUE
    image = Image.new(mode, size, fill)
    ImageDraw.Draw(image).rectangle((0, 0, 15, 15), fill=RED)
    return image


def pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = image.getpixel(xy)
    assert isinstance(value, tuple)
    return value


def is_red(value: Any) -> bool:
    red, green, blue = value[:3]
    return bool(red > 200 and green < 60 and blue < 60)


def exif_with_gps(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "TestCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 31.0, 12.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (13.0, 24.0, 36.0)
    return exif


def png_with_header_size(width: int, height: int) -> bytes:
    """A real 8x8 PNG whose IHDR claims `width` x `height`, with a valid CRC: what a
    decompression bomb's header looks like, without building the bomb."""
    data = bytearray(encode(Image.new("1", (8, 8)), "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def animation(fmt: str) -> bytes:
    frames = [Image.new("RGB", (24, 24), color) for color in (RED, BLUE, (0, 255, 0))]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def forbid_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(Image.Image, "load", fail)
    monkeypatch.setattr(ImageFile.ImageFile, "load", fail)


def raises_app_error(
    expected: type[AppError], status: int, code: str, call: Callable[[], object]
) -> AppError:
    with pytest.raises(expected) as caught:
        call()
    assert caught.value.status == status
    assert caught.value.code == code
    return caught.value


# --- accepted formats --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "options", "content_type"),
    [
        ("JPEG", {"quality": 90}, "image/jpeg"),
        ("PNG", {}, "image/png"),
        ("WEBP", {"quality": 80}, "image/webp"),
        ("WEBP", {"lossless": True}, "image/webp"),
    ],
)
def test_each_accepted_format_roundtrips(
    fmt: str, options: dict[str, Any], content_type: str
) -> None:
    source = encode(picture((48, 20)), fmt, **options)
    assert sniff(source) == fmt

    result = clean(source)

    assert (result.format, result.width, result.height) == (fmt, 48, 20)
    assert result.content_type == content_type
    out = reopen(result.data)
    assert out.format == fmt
    assert out.size == (48, 20)
    assert is_red(out.getpixel((4, 4)))
    assert not is_red(out.getpixel((40, 10)))


@pytest.mark.parametrize(
    ("fmt", "mode", "expected"),
    [
        *(("PNG", mode, mode) for mode in ("1", "L", "LA", "I;16", "P", "RGB", "RGBA")),
        ("JPEG", "L", "L"),
        ("JPEG", "RGB", "RGB"),
        ("JPEG", "CMYK", "RGB"),
        ("WEBP", "RGB", "RGB"),
        ("WEBP", "RGBA", "RGBA"),
    ],
)
def test_pixel_modes_survive_or_become_rgb(fmt: str, mode: str, expected: str) -> None:
    result = clean(encode(Image.new(mode, (20, 10)), fmt))
    out = reopen(result.data)
    assert (out.format, out.mode, out.size) == (fmt, expected, (20, 10))


# --- refused before decoding -------------------------------------------------------------


def test_empty_upload_is_a_400() -> None:
    error = raises_app_error(ValidationError, 400, "image_empty", lambda: clean(b""))
    assert type(error) is ValidationError


def test_oversized_upload_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"\xff\xd8\xff" + bytes(11 * MB)

    def no_open(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("Image.open was called")

    monkeypatch.setattr(Image, "open", no_open)
    error = raises_app_error(
        PayloadTooLargeError, 413, "image_too_large", lambda: clean(data, max_bytes=10 * MB)
    )
    assert error.details == {"maxBytes": 10 * MB}


def test_exactly_max_bytes_is_allowed() -> None:
    data = encode(picture(), "PNG")
    assert clean(data, max_bytes=len(data)).format == "PNG"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(encode(picture(), "GIF"), id="gif-named-jpg"),
        pytest.param(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF", id="pdf"),
        pytest.param(encode(picture(), "BMP"), id="bmp"),
        pytest.param(encode(picture(), "TIFF"), id="tiff"),
        pytest.param(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", id="heic"),
        pytest.param(b"<svg xmlns='http://www.w3.org/2000/svg'/>", id="svg"),
        pytest.param(b"hello, world", id="text"),
        pytest.param(bytes(range(256)) * 4, id="garbage"),
        pytest.param(b"RIFF\x10\x00\x00\x00WAVEfmt ", id="riff-wave"),
        pytest.param(b"\xff\xd8", id="short-jpeg-magic"),
    ],
)
def test_other_types_are_a_415(data: bytes) -> None:
    error = raises_app_error(
        UnsupportedMediaTypeError, 415, "unsupported_image_type", lambda: clean(data)
    )
    assert error.details == {"allowed": ALLOWED}


def test_declared_format_must_match_what_pillow_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    jpeg = encode(picture(), "JPEG")
    real_open = Image.open

    def open_any(fp: Any, mode: Literal["r"] = "r", formats: Any = None) -> Image.Image:
        return real_open(fp, mode)  # ignores the format restriction

    monkeypatch.setattr(validation, "sniff", lambda _data: "PNG")
    monkeypatch.setattr(Image, "open", open_any)
    raises_app_error(UnsupportedMediaTypeError, 415, "image_type_mismatch", lambda: clean(jpeg))


# --- pixel caps and decompression bombs --------------------------------------------------


def test_png_decompression_bomb_is_refused_from_its_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bomb = png_with_header_size(40_000, 40_000)
    assert len(bomb) < 200
    forbid_decoding(monkeypatch)
    error = raises_app_error(
        PayloadTooLargeError, 413, "image_too_many_pixels", lambda: clean(bomb)
    )
    assert error.details == {"maxPixels": MAX_PIXELS}


def test_pixel_cap_below_pillows_own_is_checked_before_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = png_with_header_size(5_000, 5_000)  # 25 MP: Pillow's own guard stays silent
    forbid_decoding(monkeypatch)
    error = raises_app_error(
        PayloadTooLargeError,
        413,
        "image_too_many_pixels",
        lambda: clean(data, max_pixels=16_000_000),
    )
    assert error.details == {"maxPixels": 16_000_000}


def test_pixel_cap_counts_width_times_height() -> None:
    data = encode(picture((64, 32)), "PNG")
    assert clean(data, max_pixels=64 * 32).width == 64
    raises_app_error(
        PayloadTooLargeError,
        413,
        "image_too_many_pixels",
        lambda: clean(data, max_pixels=64 * 32 - 1),
    )


def test_pillows_bomb_warning_becomes_the_same_error_without_leaking_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = png_with_header_size(10_000, 10_000)  # above MAX_IMAGE_PIXELS, below twice that
    limit = Image.MAX_IMAGE_PIXELS
    assert limit is not None
    assert limit < 100_000_000 < 2 * limit
    filters_before = list(warnings.filters)
    forbid_decoding(monkeypatch)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        error = raises_app_error(
            PayloadTooLargeError,
            413,
            "image_too_many_pixels",
            lambda: clean(data, max_pixels=10**9),
        )
    assert error.details == {"maxPixels": limit}  # the effective (lower) cap
    assert not [w for w in seen if issubclass(w.category, Image.DecompressionBombWarning)]
    assert warnings.filters == filters_before
    assert limit == Image.MAX_IMAGE_PIXELS


# --- corrupt input -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_image_is_a_422_without_pillows_message(fmt: str) -> None:
    data = encode(picture((256, 256)), fmt)
    truncated = data[: len(data) // 2]

    error = raises_app_error(UnprocessableError, 422, "image_corrupt", lambda: clean(truncated))

    assert error.message == "The image is truncated or corrupt"
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_png_with_a_bad_crc_is_a_422() -> None:
    data = bytearray(encode(picture(), "PNG"))
    data[29] ^= 0xFF  # IHDR CRC
    raises_app_error(UnprocessableError, 422, "image_corrupt", lambda: clean(bytes(data)))


def test_magic_bytes_alone_are_a_422() -> None:
    raises_app_error(
        UnprocessableError, 422, "image_corrupt", lambda: clean(b"\x89PNG\r\n\x1a\n" + b"x" * 64)
    )


# --- metadata, orientation, alpha, frames ------------------------------------------------


def test_jpeg_exif_orientation_is_applied_and_exif_gps_are_stripped() -> None:
    source = encode(picture((64, 32)), "JPEG", quality=95, exif=exif_with_gps(orientation=6))
    before = reopen(source)
    assert before.getexif()[ExifTags.Base.Orientation] == 6
    assert before.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the test input really has GPS

    result = clean(source)

    # Orientation 6: the stored picture is shown rotated 90 degrees clockwise.
    assert (result.width, result.height) == (32, 64)
    out = reopen(result.data)
    assert out.size == (32, 64)
    assert is_red(out.getpixel((27, 4)))  # the red block moved to the top-right corner
    assert not is_red(out.getpixel((4, 4)))
    assert not is_red(out.getpixel((4, 59)))
    assert len(out.getexif()) == 0
    assert "exif" not in out.info
    assert b"TestCam" not in result.data
    assert b"Exif\x00\x00" not in result.data


def test_truncated_exif_is_dropped_quietly() -> None:
    exif = exif_with_gps(orientation=6).tobytes()
    source = encode(picture((64, 32)), "JPEG", exif=exif[:-20])  # Pillow warns on reading it

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = clean(source)

    assert [str(w.message) for w in seen] == []
    assert (result.width, result.height) == (32, 64)  # the orientation was still readable
    assert "exif" not in reopen(result.data).info


def test_jpeg_comment_and_xmp_are_stripped_but_icc_is_kept() -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><secret-location/></x:xmpmeta>'
    source = encode(picture(), "JPEG", comment=b"secret-comment", xmp=xmp, icc_profile=icc)
    before = reopen(source)
    assert "comment" in before.info
    assert "xmp" in before.info

    out = reopen(clean(source).data)

    assert "comment" not in out.info
    assert "xmp" not in out.info
    assert out.info.get("icc_profile") == icc


def test_cmyk_jpeg_becomes_rgb() -> None:
    source = encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG")
    result = clean(source)
    out = reopen(result.data)
    assert (result.format, out.mode) == ("JPEG", "RGB")
    assert is_red(out.getpixel((8, 8)))


def test_png_text_chunks_and_exif_are_stripped() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    info.add_itxt("Location", "52.5N 13.4E", zip=True)
    source = encode(picture(), "PNG", pnginfo=info, exif=exif_with_gps(), dpi=(300, 300))
    before = reopen(source)
    assert before.info["Author"] == "Jane Doe"
    assert "exif" in before.info

    out = reopen(clean(source).data)

    assert not {"Author", "Location", "exif", "dpi"} & set(out.info)
    assert len(out.getexif()) == 0


def test_png_alpha_is_preserved() -> None:
    image = picture(mode="RGBA")
    image.putpixel((40, 20), (0, 0, 255, 0))
    image.putpixel((41, 20), (0, 0, 255, 128))

    out = reopen(clean(encode(image, "PNG")).data)

    assert out.mode == "RGBA"
    assert pixel(out, (40, 20))[3] == 0
    assert pixel(out, (41, 20))[3] == 128
    assert out.getpixel((4, 4)) == (*RED, 255)


def test_palette_png_keeps_its_transparency() -> None:
    image = Image.new("P", (16, 16), 0)
    image.putpalette([*RED, *BLUE])
    image.putpixel((3, 3), 1)
    source = encode(image, "PNG", transparency=1)

    out = reopen(clean(source).data).convert("RGBA")

    assert pixel(out, (3, 3))[3] == 0
    assert out.getpixel((0, 0)) == (*RED, 255)


@pytest.mark.parametrize("mode", ["P", "RGBA"])
def test_png_and_webp_orientation_is_applied_too(mode: str) -> None:
    image = picture((64, 32), mode="RGBA")
    image.putpixel((63, 31), (0, 0, 0, 0))  # the bottom-right pixel is transparent
    if mode == "P":
        image = image.quantize(colors=4)
    for fmt in ("PNG", "WEBP"):
        options: dict[str, Any] = {"lossless": True} if fmt == "WEBP" else {}
        source = encode(image, fmt, exif=exif_with_gps(orientation=8), **options)

        result = clean(source)

        # Orientation 8: shown rotated 90 degrees counter-clockwise.
        assert (result.width, result.height) == (32, 64), fmt
        out = reopen(result.data).convert("RGBA")
        assert is_red(out.getpixel((4, 59))), fmt  # top-left went to bottom-left
        assert not is_red(out.getpixel((4, 4))), fmt
        assert pixel(out, (31, 0))[3] == 0, fmt  # bottom-right went to top-right
        assert len(reopen(result.data).getexif()) == 0, fmt


@pytest.mark.parametrize(
    ("options", "bitstream"),
    [({"lossless": True}, b"VP8L"), ({"quality": 80}, b"VP8 ")],
)
def test_webp_keeps_alpha_and_its_compression(options: dict[str, Any], bitstream: bytes) -> None:
    image = picture(mode="RGBA")
    image.paste((0, 0, 255, 0), (32, 0, 64, 32))  # the right half is transparent
    source = encode(image, "WEBP", exif=exif_with_gps(), **options)
    assert b"EXIF" in source

    result = clean(source)

    out = reopen(result.data)
    assert out.mode == "RGBA"
    assert pixel(out, (48, 16))[3] == 0
    assert pixel(out, (8, 8))[3] == 255
    assert bitstream in result.data
    assert b"EXIF" not in result.data
    assert "exif" not in out.info


@pytest.mark.parametrize("fmt", ["WEBP", "PNG"])
def test_animations_keep_their_first_frame_only(fmt: str) -> None:
    source = animation(fmt)
    assert getattr(reopen(source), "n_frames", 1) == 3

    result = clean(source)

    out = reopen(result.data)
    assert getattr(out, "n_frames", 1) == 1
    assert not getattr(out, "is_animated", False)
    assert is_red(out.getpixel((12, 12)))
    assert b"acTL" not in result.data
    assert b"ANMF" not in result.data


# --- fuzzing: hostile bytes only ever produce the documented errors ----------------------

DOCUMENTED = (ValidationError, PayloadTooLargeError, UnsupportedMediaTypeError, UnprocessableError)
PREFIXES = [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x01\x00\x00WEBP"]


def _seed_images() -> list[bytes]:
    small = picture((24, 16))
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "x" * 40)
    return [
        encode(small, "JPEG", quality=80, exif=exif_with_gps(orientation=6)),
        encode(small, "JPEG", progressive=True),
        encode(small, "PNG", pnginfo=text),
        encode(picture((24, 16), mode="RGBA"), "PNG"),
        encode(small, "WEBP", quality=70),
        encode(picture((24, 16), mode="RGBA"), "WEBP", lossless=True),
        animation("WEBP"),
        animation("PNG"),
    ]


SEEDS = _seed_images()


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(1, len(data)))]
    return bytes(data)


def _only_documented_errors(data: bytes) -> None:
    """Anything but the documented 4xx errors propagates and fails the example."""
    try:
        result = sanitize(data, max_bytes=64 * 1024, max_pixels=1_000_000)
    except DOCUMENTED as error:
        status = error.status
    else:
        out = reopen(result.data)
        assert out.size == (result.width, result.height)
        return
    assert 400 <= status < 500


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.builds(bytes.__add__, st.sampled_from(PREFIXES), st.binary(max_size=512)))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    _only_documented_errors(data)


@FUZZ
@given(mutated_images())
def test_fuzz_mutated_valid_images(data: bytes) -> None:
    _only_documented_errors(data)
