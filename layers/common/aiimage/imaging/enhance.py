"""The local enhancer: real image operations with Pillow, no model weights.

It is the embedded provider of `make dev` and the image source of the provider emulators,
so every path through the system produces a genuinely processed picture. Each operation
takes and returns an RGB(A) `Image`; it never mutates its input unless asked to
(`in_place=True`).

Memory: a 40 MP RGB image is 160 MB in Pillow (4 bytes a pixel), and a generate at the
limits must fit a 512 MB function. So the operations work in horizontal bands of a few
MB: each band is read with a margin of the rows its neighbourhood filters look at,
processed, and pasted back, so only the image itself is full size (an upscale hands its
bands straight to the encoder). Global statistics (autocontrast's histogram, the
contrast mean) are gathered band by band in a first pass. The WebP encode of an RGB image
goes through libwebp's RGB import instead of Pillow's 4-byte ARGB copy, and a still WebP
is decoded by libwebp into one buffer instead of Pillow's three full-size copies. Pixels
and bytes are the same as running each Pillow operation on the whole image and decoding
and encoding with Pillow (tests/unit/test_imaging_memory.py); docs/benchmarks.md has the
measurements.
"""

from __future__ import annotations

import ctypes
import functools
import io
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import ClassVar, Final, Literal

from PIL import Image, ImageEnhance, ImageFilter, ImageOps, ImageStat

OutputFormat = Literal["WEBP", "PNG", "JPEG"]

CONTENT_TYPES: dict[OutputFormat, str] = {
    "WEBP": "image/webp",
    "PNG": "image/png",
    "JPEG": "image/jpeg",
}

# Method 2 encodes about twice as fast as the default 4 at about the same size
# (docs/benchmarks.md): the encode dominates the result path of a large image.
WEBP_METHOD: Final = 2

# About 4 MB of RGB(A) per band: small next to a 160 MB image, large enough that the
# margins recomputed at band edges and Pillow's per-call overhead stay small.
BAND_PIXELS: Final = 1_000_000

BandOperation = Callable[[Image.Image], Image.Image]
# A style, given the whole (RGB or RGBA) image: the rows its operation reads above and
# below each output row, and the operation on an RGB band (same size in, same size out).
Style = Callable[[Image.Image], tuple[int, BandOperation]]


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
    if fmt == "WEBP" and image.mode in _IMPORTS and _libwebp() is not None:
        bands = _rows_of(image, release=release)
        return _webp_from_bands(image.size, image.mode, bands, quality)
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
    if mode in _IMPORTS and _libwebp() is not None:
        return _webp_from_bands(size, mode, bands, quality)
    image = Image.new(mode, size)
    top = 0
    for band in bands:
        image.paste(band, (0, top))
        top += band.height
    return encode(image, "WEBP", quality=quality, release=True)


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
    rows = max(_band_rows(width, margin), scale)
    rows -= rows % scale
    for top, bottom, window_top, window_bottom in _bands(height, rows, margin):
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


# --- banded processing ----------------------------------------------------------------------


def blur_margin(radius: float) -> int:
    """Rows a GaussianBlur or UnsharpMask of `radius` reads beyond each pixel: Pillow runs
    three box blurs, each of at most `radius` plus one row of fractional weight."""
    return 3 * (int(radius) + 2)


def _band_rows(width: int, margin: int) -> int:
    # At least twice the margin, so that recomputed margins cost at most as much again.
    return max(BAND_PIXELS // max(width, 1), 2 * margin, 1)


def _bands(height: int, rows: int, margin: int) -> Iterator[tuple[int, int, int, int]]:
    """(top, bottom) of each band and (top, bottom) of the window it is computed from."""
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        yield top, bottom, max(0, top - margin), min(height, bottom + margin)


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
    rows = _band_rows(image.width, margin)
    pending: tuple[int, Image.Image] | None = None
    for top, bottom, window_top, window_bottom in _bands(image.height, rows, margin):
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
    rows = _band_rows(image.width, margin)
    total: list[int] = []
    for top, bottom, window_top, window_bottom in _bands(image.height, rows, margin):
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
        n = sum(counts)
        cut = int(n * cutoff // 100)  # remove cutoff% of the pixels from the low end
        for lo in range(256):
            if cut > counts[lo]:
                cut -= counts[lo]
                counts[lo] = 0
            else:
                counts[lo] -= cut
                cut = 0
            if cut <= 0:
                break
        cut = int(n * cutoff // 100)  # and from the high end
        for hi in range(255, -1, -1):
            if cut > counts[hi]:
                cut -= counts[hi]
                counts[hi] = 0
            else:
                counts[hi] -= cut
                cut = 0
            if cut <= 0:
                break
        lo = next((i for i in range(256) if counts[i]), 255)
        hi = next((i for i in range(255, -1, -1) if counts[i]), 0)
        if hi <= lo:
            lut.extend(range(256))
            continue
        scale = 255.0 / (hi - lo)
        offset = -lo * scale
        lut.extend(min(255, max(0, int(i * scale + offset))) for i in range(256))
    return lut


def _rgb(image: Image.Image) -> Image.Image:
    return image.convert("RGB") if image.mode != "RGB" else image


def _on_rgb(image: Image.Image, operation: Callable[[Image.Image], Image.Image]) -> Image.Image:
    """Apply an RGB-only operation and keep the alpha channel, if any, untouched."""
    if image.mode != "RGBA":
        return operation(_rgb(image))
    result = operation(image.convert("RGB")).convert("RGBA")
    result.putalpha(image.getchannel("A"))
    return result


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


def _rows_of(image: Image.Image, *, release: bool) -> Iterator[Image.Image]:
    """`image` as full-width bands; with `release`, closed once the last one is out."""
    rows = _band_rows(image.width, 0)
    for top in range(0, image.height, rows):
        yield image.crop((0, top, image.width, min(image.height, top + rows)))
    if release:
        image.close()  # the caller's image (160 MB at 40 MP): its pixels are copied out


def _webp_from_bands(
    size: tuple[int, int], mode: str, bands: Iterable[Image.Image], quality: int
) -> bytes:
    """Lossy WebP, Pillow's settings, from RGB(A) bands through libwebp's import of that
    layout (straight into YUV(A), no ARGB picture)."""
    lib = _libwebp()
    assert lib is not None
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
