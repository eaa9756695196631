"""Decoding and encoding of the images the platform stores, WebP through libwebp directly.

Every stored result is a WebP, and at 40 MP Pillow's WebP codec holds several full-size
copies at once: more than a 512 MB function has. So the encode of an RGB(A) image goes
through libwebp's RGB(A) import instead of Pillow's 4-byte ARGB copy, and a still WebP is
decoded by libwebp into one buffer instead of Pillow's three. It is the very libwebp Pillow
loaded, called through ctypes with Pillow's settings, so pixels and bytes are the same as
Pillow's (tests/unit/test_imaging_memory.py); without it (another libwebp, no /proc),
Pillow does the work. Other formats (PNG, JPEG) always go through Pillow.
docs/benchmarks.md has the measurements.
"""

from __future__ import annotations

import ctypes
import functools
import io
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ClassVar, Final, Literal

from PIL import Image

from aiimage.imaging.bands import bands_of

OutputFormat = Literal["WEBP", "PNG", "JPEG"]

CONTENT_TYPES: dict[OutputFormat, str] = {
    "WEBP": "image/webp",
    "PNG": "image/png",
    "JPEG": "image/jpeg",
}

# Method 2 encodes about twice as fast as the default 4 at about the same size
# (docs/benchmarks.md): the encode dominates the result path of a large image.
WEBP_METHOD: Final = 2


def decode(data: bytes) -> Image.Image:
    """Decode already-validated bytes into RGB, or RGBA when the image has transparency."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        still = _decode_still_webp(data)
        if still is not None:
            return still
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        has_alpha = opened.mode in ("RGBA", "LA", "PA") or "transparency" in opened.info
        target = "RGBA" if has_alpha else "RGB"
        if opened.mode != target:
            return opened.convert(target)
        # Already the right mode: hand the decoded pixels over instead of copying them
        # (what `convert` would do). Closing `opened` drops only its file and decoder.
        return opened._new(opened.im)


def encode(
    image: Image.Image, fmt: OutputFormat = "WEBP", *, quality: int = 90, release: bool = False
) -> bytes:
    """Encode without metadata (no EXIF, no ICC profile, no text chunks).

    `release=True` hands the image over: it may be closed (its memory freed) as soon as
    the encoder has its own copy, so the caller must not use it afterwards."""
    lib = _libwebp() if fmt == "WEBP" and image.mode in _IMPORTS else None
    if lib is not None:
        return _webp_from_bands(
            lib, image.size, image.mode, bands_of(image, release=release), quality
        )
    buffer = io.BytesIO()
    if fmt == "JPEG" and image.mode != "RGB":
        image = image.convert("RGB")
    options: dict[str, object] = {}
    if fmt in ("WEBP", "JPEG"):
        options["quality"] = quality
    if fmt == "WEBP":
        options["method"] = WEBP_METHOD
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def encode_bands(
    size: tuple[int, int], mode: str, bands: Iterable[Image.Image], *, quality: int = 90
) -> bytes:
    """WebP of the image made of `bands` (full width, top to bottom): for RGB(A), without
    ever holding that image whole, only its bytes for libwebp."""
    lib = _libwebp() if mode in _IMPORTS else None
    if lib is not None:
        return _webp_from_bands(lib, size, mode, bands, quality)
    image = Image.new(mode, size)
    top = 0
    for band in bands:
        image.paste(band, (0, top))
        top += band.height
    return encode(image, "WEBP", quality=quality, release=True)


# --- lossy WebP with one copy of the picture ----------------------------------------------
#
# Pillow's WebP encoder copies the image into a 4-byte ARGB picture and libwebp then
# converts that to YUV 4:2:0: for 40 MP, 160 MB of Pillow image + 160 MB of ARGB + 60 MB of
# YUV at once, the largest step of a generate. libwebp can import RGB(A) bytes straight
# into YUV(A), so for RGB and RGBA images we call the very libwebp Pillow loaded, with
# Pillow's settings: the bytes are identical (tests/unit/test_imaging_memory.py). The
# bytes are gathered band by band (3 a pixel for RGB), and with `release=True` the image
# is freed before the conversion.


_ENCODER_ABI: Final = 0x020F  # WEBP_ENCODER_ABI_VERSION of libwebp 1.2 and later
# The modes encoded through libwebp directly, and the import that reads their bytes.
_IMPORTS: Final = {"RGB": "WebPPictureImportRGB", "RGBA": "WebPPictureImportRGBA"}
_CONFIG_INTS: Final = (
    "segments",
    "sns_strength",
    "filter_strength",
    "filter_sharpness",
    "filter_type",
    "autofilter",
    "alpha_compression",
    "alpha_filtering",
    "alpha_quality",
    "pass",
    "show_compressed",
    "preprocessing",
    "partitions",
    "partition_limit",
    "emulate_jpeg_size",
    "thread_level",
    "low_memory",
    "near_lossless",
    "exact",
    "use_delta_palette",
)


class _WebPConfig(ctypes.Structure):
    # encode.h, ABI 2.x: 26 ints/floats, then 3 words that newer versions name
    # (use_sharp_yuv, qmin, qmax). The spare tail only makes ours larger than libwebp's,
    # which is harmless: libwebp reads and writes its own size.
    _fields_: ClassVar = [
        ("lossless", ctypes.c_int),
        ("quality", ctypes.c_float),
        ("method", ctypes.c_int),
        ("image_hint", ctypes.c_int),
        ("target_size", ctypes.c_int),
        ("target_PSNR", ctypes.c_float),
        *((name, ctypes.c_int) for name in _CONFIG_INTS),
        ("tail", ctypes.c_uint32 * 3),
        ("spare", ctypes.c_uint8 * 64),
    ]


class _WebPPicture(ctypes.Structure):
    _fields_: ClassVar = [
        ("use_argb", ctypes.c_int),
        ("colorspace", ctypes.c_int),
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("y", ctypes.c_void_p),
        ("u", ctypes.c_void_p),
        ("v", ctypes.c_void_p),
        ("y_stride", ctypes.c_int),
        ("uv_stride", ctypes.c_int),
        ("a", ctypes.c_void_p),
        ("a_stride", ctypes.c_int),
        ("pad1", ctypes.c_uint32 * 2),
        ("argb", ctypes.c_void_p),
        ("argb_stride", ctypes.c_int),
        ("pad2", ctypes.c_uint32 * 3),
        ("writer", ctypes.c_void_p),
        ("custom_ptr", ctypes.c_void_p),
        ("extra_info_type", ctypes.c_int),
        ("extra_info", ctypes.c_void_p),
        ("stats", ctypes.c_void_p),
        ("error_code", ctypes.c_int),
        ("progress_hook", ctypes.c_void_p),
        ("user_data", ctypes.c_void_p),
        ("pad3", ctypes.c_uint32 * 3),
        ("pad4", ctypes.c_void_p),
        ("pad5", ctypes.c_void_p),
        ("pad6", ctypes.c_uint32 * 8),
        ("memory_", ctypes.c_void_p),
        ("memory_argb_", ctypes.c_void_p),
        ("pad7", ctypes.c_void_p * 2),
        ("spare", ctypes.c_uint8 * 64),
    ]


class _WebPMemoryWriter(ctypes.Structure):
    _fields_: ClassVar = [
        ("mem", ctypes.c_void_p),
        ("size", ctypes.c_size_t),
        ("max_size", ctypes.c_size_t),
        ("pad", ctypes.c_uint32),
        ("spare", ctypes.c_uint8 * 64),
    ]


@functools.cache
def _libwebp() -> ctypes.CDLL | None:
    """The libwebp that Pillow's own WebP module is linked to, or None (Pillow then
    encodes). Same library, so same encoder and same bytes."""
    try:
        from PIL import _webp  # noqa: F401 -- loads libwebp into the process

        maps = Path("/proc/self/maps").read_text()
    except (ImportError, OSError):
        return None
    paths = sorted(set(re.findall(r"(/\S*/libwebp(?:-[0-9a-f]+)?\.so[.0-9]*)$", maps, re.M)))
    if len(paths) != 1:
        return None
    try:
        lib = ctypes.CDLL(paths[0])
        version = lib.WebPGetEncoderVersion()
    except (OSError, AttributeError):
        return None
    if version >> 16 != 1:  # the 1.x releases, encoder ABI 2.x
        return None
    lib.WebPConfigInitInternal.argtypes = [
        ctypes.POINTER(_WebPConfig),
        ctypes.c_int,
        ctypes.c_float,
        ctypes.c_int,
    ]
    lib.WebPValidateConfig.argtypes = [ctypes.POINTER(_WebPConfig)]
    lib.WebPPictureInitInternal.argtypes = [ctypes.POINTER(_WebPPicture), ctypes.c_int]
    for name in _IMPORTS.values():
        getattr(lib, name).argtypes = [ctypes.POINTER(_WebPPicture), ctypes.c_void_p, ctypes.c_int]
    lib.WebPPictureFree.argtypes = [ctypes.POINTER(_WebPPicture)]
    lib.WebPMemoryWriterInit.argtypes = [ctypes.POINTER(_WebPMemoryWriter)]
    lib.WebPMemoryWriterClear.argtypes = [ctypes.POINTER(_WebPMemoryWriter)]
    lib.WebPEncode.argtypes = [ctypes.POINTER(_WebPConfig), ctypes.POINTER(_WebPPicture)]
    return lib


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


def _return_free_memory() -> None:
    """Give the pages of freed images back to the system before a large allocation.

    glibc raises its mmap threshold once a large block is freed, so later image blocks
    come from its heap, and freeing them leaves them resident: libwebp's YUV planes (a
    fresh mapping) would come on top. Measured in
    docs/benchmarks.md (peak memory): the 64 MP upscale 480 -> 412 MiB."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


# --- WebP decode through libwebp -----------------------------------------------------------
#
# Pillow decodes every WebP through libwebp's animation decoder: its RGBA canvas, a copy of
# it as bytes, and the image it is read into are all full size at once, about 700 MiB at
# its peak for a 40 MP picture (docs/benchmarks.md), more than a 512 MB function has. A
# still WebP is decoded by the same libwebp straight into one RGBA buffer that the image
# shares, then converted to RGB when it has no alpha: two full-size copies at the most.
# The pixels are the same as Pillow's (tests/unit/test_imaging_memory.py).

_DECODER_ABI: Final = 0x0209  # WEBP_DECODER_ABI_VERSION of libwebp 0.5 and later


class _WebPFeatures(ctypes.Structure):
    # decode.h: WebPBitstreamFeatures
    _fields_: ClassVar = [
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("has_alpha", ctypes.c_int),
        ("has_animation", ctypes.c_int),
        ("format", ctypes.c_int),
        ("pad", ctypes.c_uint32 * 5),
    ]


@functools.cache
def _webp_decoder() -> ctypes.CDLL | None:
    lib = _libwebp()
    if lib is None:
        return None
    try:
        lib.WebPGetFeaturesInternal.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.POINTER(_WebPFeatures),
            ctypes.c_int,
        ]
        lib.WebPDecodeRGBAInto.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_int,
        ]
        lib.WebPDecodeRGBAInto.restype = ctypes.c_void_p
    except AttributeError:
        return None
    return lib


def _decode_still_webp(data: bytes) -> Image.Image | None:
    """A still WebP as RGB (RGBA with alpha); None leaves it to Pillow (an animation, or
    no libwebp to call)."""
    lib = _webp_decoder()
    if lib is None:
        return None
    features = _WebPFeatures()
    status = lib.WebPGetFeaturesInternal(data, len(data), ctypes.byref(features), _DECODER_ABI)
    if status != 0 or features.has_animation or features.width < 1 or features.height < 1:
        return None
    size = (features.width, features.height)
    buffer = bytearray(size[0] * size[1] * 4)
    target = (ctypes.c_uint8 * len(buffer)).from_buffer(buffer)
    decoded = lib.WebPDecodeRGBAInto(data, len(data), target, len(buffer), size[0] * 4)
    del target  # the buffer's export: the image below takes its own reference
    if not decoded:
        return None
    # Pillow maps any buffer; its stubs name only bytes.
    shared = Image.frombuffer("RGBA", size, buffer, "raw", "RGBA", 0, 1)  # type: ignore[arg-type]
    del buffer
    # A new, writable image either way; the shared buffer goes with `shared`.
    image = shared.copy() if features.has_alpha else shared.convert("RGB")
    shared.close()
    _return_free_memory()
    return image


def _webp_from_bands(
    lib: ctypes.CDLL,
    size: tuple[int, int],
    mode: str,
    bands: Iterable[Image.Image],
    quality: int,
) -> bytes:
    """Lossy WebP, Pillow's settings, from RGB(A) bands through libwebp's import of that
    layout (straight into YUV(A), no ARGB picture)."""
    width, height = size
    config = _WebPConfig()
    picture = _WebPPicture()
    writer = _WebPMemoryWriter()
    # What Pillow's WebPEncode sets: the default preset, then quality and method.
    if not lib.WebPConfigInitInternal(ctypes.byref(config), 0, 75.0, _ENCODER_ABI):
        raise OSError("libwebp refused its configuration")
    config.quality = float(quality)
    config.method = WEBP_METHOD
    if not lib.WebPValidateConfig(ctypes.byref(config)) or not lib.WebPPictureInitInternal(
        ctypes.byref(picture), _ENCODER_ABI
    ):
        raise OSError("libwebp refused its configuration")
    depth = len(mode)  # bytes a pixel: 3 for RGB, 4 for RGBA
    rgb = bytearray(width * height * depth)
    filled = 0
    for band in bands:
        if band.mode != mode or band.width != width:
            raise ValueError(f"bands must be {mode} and as wide as the image")
        chunk = band.tobytes()
        rgb[filled : filled + len(chunk)] = chunk
        filled += len(chunk)
    if filled != len(rgb):
        raise ValueError("the bands do not cover the image")
    _return_free_memory()  # the source picture, closed or finished by now
    picture.width, picture.height = width, height
    lib.WebPMemoryWriterInit(ctypes.byref(writer))
    try:
        buffer = (ctypes.c_uint8 * len(rgb)).from_buffer(rgb)
        if not getattr(lib, _IMPORTS[mode])(ctypes.byref(picture), buffer, width * depth):
            raise MemoryError("libwebp could not import the picture")
        del buffer
        rgb.clear()  # libwebp holds the YUV planes now
        picture.writer = ctypes.cast(lib.WebPMemoryWrite, ctypes.c_void_p).value
        picture.custom_ptr = ctypes.addressof(writer)
        if not lib.WebPEncode(ctypes.byref(config), ctypes.byref(picture)):
            raise OSError(f"libwebp could not encode the picture (error {picture.error_code})")
        lib.WebPPictureFree(ctypes.byref(picture))  # before the copy of the output
        return ctypes.string_at(writer.mem, writer.size)
    finally:
        lib.WebPPictureFree(ctypes.byref(picture))  # idempotent
        lib.WebPMemoryWriterClear(ctypes.byref(writer))
