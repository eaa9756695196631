"""Upload validation and sanitising: the only way caller bytes become an image we keep.

Checks run cheapest first, so hostile input is refused before it costs memory or CPU:
emptiness, byte size, magic bytes, then the pixel count from the header alone (Pillow opens
lazily), and only then a full decode. The image is re-encoded in its own format from the
decoded pixels, which drops every metadata block (EXIF with GPS, XMP, IPTC, comments, PNG
text chunks) instead of trying to enumerate them; only the ICC colour profile is kept, and
only when it parses as one (LittleCMS, through Pillow's `ImageCms`), describes the pixels'
colour space and is small (`MAX_ICC_PROFILE_BYTES`): a profile is an opaque blob a client
can fill with anything. A valid but oversized RGB profile is applied (the pixels become
sRGB) and dropped; any other profile is dropped, and the pixels are read as sRGB.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from dataclasses import dataclass
from typing import Any, Final, Literal

from PIL import ExifTags, Image

from aiimage.errors import (
    AppError,
    PayloadTooLargeError,
    UnprocessableError,
    UnsupportedMediaTypeError,
    ValidationError,
)

ImageFormat = Literal["JPEG", "PNG", "WEBP"]

CONTENT_TYPES: Final[dict[ImageFormat, str]] = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
}
ALLOWED_CONTENT_TYPES: Final = tuple(CONTENT_TYPES.values())

JPEG_QUALITY: Final = 95
WEBP_QUALITY: Final = 95

_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE: Final = b"\xff\xd8\xff"

# What Pillow raises on malformed or hostile input. Decoders are parsers of untrusted
# bytes: any of these means "this is not a usable image", never a server fault.
_CORRUPT: Final = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    SyntaxError,  # PNG chunk and CRC errors
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ArithmeticError,
    struct.error,
    zlib.error,
)

# Modes each encoder writes as they are; anything else is converted (see `_encodable`).
_KEEP_MODES: Final[dict[ImageFormat, frozenset[str]]] = {
    "JPEG": frozenset({"L", "RGB"}),
    "PNG": frozenset({"1", "L", "LA", "I;16", "P", "RGB", "RGBA"}),
    "WEBP": frozenset({"RGB", "RGBA"}),
}

# Modes whose ICC profile (an RGB one) still describes the pixels after conversion to RGB(A).
_RGB_MODES: Final = frozenset({"P", "PA", "RGB", "RGBA", "RGBX"})

# Display and camera profiles are a few KB (sRGB 3 KB, Display P3 0.5 KB, Adobe RGB 0.6 KB).
MAX_ICC_PROFILE_BYTES: Final = 64 * 1024
# The ICC colour space a profile must declare for the pixels it is kept with.
_PROFILE_SPACES: Final[dict[str, str]] = {"RGB": "RGB", "RGBA": "RGB", "L": "GRAY", "LA": "GRAY"}


@dataclass(frozen=True, slots=True)
class CleanImage:
    """A validated, metadata-free image in its original format, upright."""

    data: bytes
    format: ImageFormat
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


def sniff(data: bytes) -> ImageFormat:
    """The format by magic bytes alone; the file name and declared type are never trusted."""
    if data.startswith(_JPEG_SIGNATURE):
        return "JPEG"
    if data.startswith(_PNG_SIGNATURE):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    raise UnsupportedMediaTypeError(
        "Only JPEG, PNG and WebP images are supported",
        code="unsupported_image_type",
        details={"allowed": list(ALLOWED_CONTENT_TYPES)},
    )


def sanitize(data: bytes, *, max_bytes: int, max_pixels: int) -> CleanImage:
    """Validate an upload and return it re-encoded without metadata.

    Raises `ValidationError` (400, `image_empty`), `PayloadTooLargeError` (413,
    `image_too_large` / `image_too_many_pixels`), `UnsupportedMediaTypeError` (415,
    `unsupported_image_type` / `image_type_mismatch`) or `UnprocessableError` (422,
    `image_corrupt`), and nothing else.

    - The pixel cap is checked on the header, before any pixel is decoded. Pillow's own
      decompression-bomb guard (`PIL.Image.MAX_IMAGE_PIXELS`) also applies and maps to the
      same error, so the effective cap is the lower of the two.
    - Animated WebP and APNG keep their first frame only: providers take still images.
    - EXIF orientation is applied to the pixels, so the result is upright without EXIF;
      `width`/`height` are the upright dimensions.
    - Output: the source format; JPEG at quality 95, PNG without optimisation (speed), WebP
      lossless when the source was lossless, else quality 95. Alpha and the ICC profile are
      kept; EXIF, GPS, XMP, IPTC, comments and text chunks are not.
    """
    if not data:
        raise ValidationError("The image is empty", code="image_empty")
    if len(data) > max_bytes:
        raise PayloadTooLargeError(
            "The image is too large",
            code="image_too_large",
            details={"maxBytes": max_bytes},
        )
    fmt = sniff(data)
    pixel_cap = _effective_pixel_cap(max_pixels)
    try:
        with warnings.catch_warnings():
            # Pillow warns (instead of failing) between MAX_IMAGE_PIXELS and twice that.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Pillow warns about malformed metadata (EXIF, say) that is dropped anyway.
            warnings.simplefilter("ignore", UserWarning)
            # `formats` keeps Pillow from trying its ~40 other decoders on bytes that the
            # sniffed format's decoder refuses.
            with Image.open(io.BytesIO(data), formats=[fmt]) as opened:
                _check_header(opened, fmt, pixel_cap)
                opened.load()  # the current frame only: the first one
                image = _upright(opened)
                lossless = fmt == "WEBP" and _webp_is_lossless(data)
                return CleanImage(
                    data=_encode(image, fmt, lossless=lossless),
                    format=fmt,
                    width=image.width,
                    height=image.height,
                )
    except AppError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(pixel_cap) from None
    except _CORRUPT:
        # Pillow's message may quote internals; the caller only needs to know it is broken.
        raise UnprocessableError(
            "The image is truncated or corrupt", code="image_corrupt"
        ) from None


def _effective_pixel_cap(max_pixels: int) -> int:
    pillow_cap = Image.MAX_IMAGE_PIXELS
    return max_pixels if pillow_cap is None else min(max_pixels, int(pillow_cap))


def _too_many_pixels(pixel_cap: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        "The image has too many pixels",
        code="image_too_many_pixels",
        details={"maxPixels": pixel_cap},
    )


def _check_header(opened: Image.Image, fmt: ImageFormat, pixel_cap: int) -> None:
    if opened.format != fmt:  # defence in depth: `formats=[fmt]` should make this impossible
        raise UnsupportedMediaTypeError(
            "The image content does not match its type",
            code="image_type_mismatch",
            details={"allowed": list(ALLOWED_CONTENT_TYPES)},
        )
    width, height = opened.size  # from the header: nothing is decoded yet
    if width * height > pixel_cap:
        raise _too_many_pixels(pixel_cap)


# ImageOps.exif_transpose's table: EXIF orientation -> the transposition that undoes it.
_UPRIGHT: Final[dict[int, Image.Transpose]] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Modes rebuilt channel by channel when transposed (`_upright`).
_SPLIT_MODES: Final = frozenset({"RGB", "RGBA", "CMYK", "LA"})


def _upright(image: Image.Image) -> Image.Image:
    """The pixels as they are meant to be seen: the EXIF orientation applied, as
    `ImageOps.exif_transpose` does (the metadata is dropped on encoding anyway).

    A transposition needs a second image; for a 40 MP photo that is 160 MB more (Pillow
    keeps 4 bytes a pixel), the largest step of a generate. So multi-channel images are
    split into 1-byte channels first and the decoded image closed, and each channel is
    transposed on its own: at most the channels and one full image are alive, 7 bytes a
    pixel instead of 8. An upright image (the common case) is not copied at all."""
    method = _UPRIGHT.get(image.getexif().get(ExifTags.Base.Orientation, 1))
    if method is None:
        return image
    if image.mode not in _SPLIT_MODES:
        return image.transpose(method)
    mode, info = image.mode, image.info
    channels = list(image.split())
    image.close()  # frees the decoded pixels: they are in `channels` now
    for index, channel in enumerate(channels):
        channels[index] = channel.transpose(method)
        del channel
    upright = Image.merge(mode, channels)
    upright.info = info  # the ICC profile and transparency `_encode` keeps
    return upright


def _encode(image: Image.Image, fmt: ImageFormat, *, lossless: bool) -> bytes:
    icc_profile = image.info.get("icc_profile")
    transparency = image.info.get("transparency")
    image, icc_profile, transparency = _encodable(image, fmt, icc_profile, transparency)
    image, icc_profile = _checked_profile(image, icc_profile)
    # Savers fall back to `image.info` for some blocks (JPEG comments, PNG ICC and tRNS):
    # start from nothing and pass back only what is pixel or colour data.
    image.info = {}
    options: dict[str, Any] = {}
    if icc_profile:
        options["icc_profile"] = icc_profile
    if fmt == "JPEG":
        options["quality"] = JPEG_QUALITY
    elif fmt == "PNG":
        options["optimize"] = False
        if transparency is not None:
            options["transparency"] = transparency
    elif lossless:
        options["lossless"] = True
    else:
        options["quality"] = WEBP_QUALITY
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _encodable(
    image: Image.Image, fmt: ImageFormat, icc_profile: Any, transparency: Any
) -> tuple[Image.Image, Any, Any]:
    """Convert modes the target encoder cannot write (CMYK JPEG, palette WebP, 16-bit...)."""
    if image.mode in _KEEP_MODES[fmt]:
        return image, icc_profile, transparency
    has_alpha = image.has_transparency_data
    target = "RGBA" if has_alpha and fmt != "JPEG" else "RGB"
    # A profile describes the old colour space (CMYK, say), not the converted pixels.
    keep_icc = icc_profile if image.mode in _RGB_MODES else None
    return image.convert(target), keep_icc, None


def _checked_profile(image: Image.Image, icc_profile: Any) -> tuple[Image.Image, bytes | None]:
    """The image with the profile it may keep (see the module's docstring)."""
    if not icc_profile or not isinstance(icc_profile, bytes):
        return image, None
    # LittleCMS is loaded for the images that carry a profile only, not at every import.
    from PIL import ImageCms

    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        space = profile.profile.xcolor_space.strip()
    except (OSError, ValueError, TypeError):
        return image, None
    if space != _PROFILE_SPACES.get(image.mode):
        return image, None
    if len(icc_profile) <= MAX_ICC_PROFILE_BYTES:
        return image, icc_profile
    if space != "RGB":
        return image, None
    try:
        converted = ImageCms.profileToProfile(
            image, profile, ImageCms.createProfile("sRGB"), outputMode=image.mode
        )
    except ImageCms.PyCMSError:
        return image, None
    return (converted if converted is not None else image), None


def _webp_is_lossless(data: bytes) -> bool:
    """Whether the (first) WebP bitstream is VP8L (lossless) rather than VP8 (lossy)."""
    position = 12  # after "RIFF", the RIFF size and "WEBP"
    while position + 8 <= len(data):
        fourcc = data[position : position + 4]
        size = int.from_bytes(data[position + 4 : position + 8], "little")
        if fourcc == b"VP8L":
            return True
        if fourcc == b"VP8 ":
            return False
        if fourcc == b"ANMF":
            position += 8 + 16  # descend into the first frame: its header, then its chunks
            continue
        position += 8 + size + (size & 1)
    return False
