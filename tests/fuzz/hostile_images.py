"""A corpus of hostile and awkward images, generated in code (no binary fixtures).

Each sample names what it is, its bytes, the filename and content type a client would claim
for it, and the outcome the platform owes it: `None` for "accepted and re-encoded clean",
or the (status, code) of the refusal. docs/reliability.md lists the same table.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from functools import cache

from PIL import Image


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    data: bytes
    filename: str
    content_type: str
    refusal: tuple[int, str] | None  # None: accepted
    # Bytes that must not survive sanitising (metadata, appended payloads).
    must_drop: tuple[bytes, ...] = ()


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _picture(width: int = 64, height: int = 48, mode: str = "RGB") -> Image.Image:
    image = Image.new("RGB", (width, height), (200, 120, 40))
    image.paste((20, 40, 220), (0, 0, width // 2, height // 2))
    return image.convert(mode) if mode != "RGB" else image


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header for `width` x `height` grey pixels, with a few KB of zeros that
    would inflate to the whole image: the classic decompression bomb."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = b"\x00" * (width + 1)  # filter byte + one byte per pixel
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(min(height, 64)))
    body += compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", body)
        + _chunk(b"IEND", b"")
    )


def jpeg_with_dimensions(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) claims other dimensions."""
    data = bytearray(_encode(_picture(), "JPEG", quality=80))
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def jpeg_with_comment(comment: bytes) -> bytes:
    data = _encode(_picture(), "JPEG", quality=80)
    segment = b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
    return data[:2] + segment + data[2:]


def exif_bomb() -> bytes:
    """A JPEG whose EXIF block is as large as a segment may be: thousands of entries."""
    exif = Image.Exif()
    for tag in range(0x9000, 0x9000 + 1500):
        exif[tag] = "A" * 8
    exif[0x0112] = 6  # orientation: rotate, so the pixels must still come out upright
    exif[0x8825] = {1: "N", 3: "E"}  # GPS references
    raw = exif.tobytes()[:65000]
    return _encode(_picture(), "JPEG", quality=80, exif=raw)


def png_with_huge_text_chunks() -> bytes:
    data = _encode(_picture(), "PNG")
    extra = b"".join(
        _chunk(b"tEXt", b"Comment\x00" + b"X" * 200_000)
        + _chunk(b"eXIf", b"MM\x00*" + b"\x00" * 100_000)
        for _ in range(5)
    )
    return data[:33] + extra + data[33:]  # after IHDR (8 + 25 bytes)


def jpeg_zip_polyglot() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("payload.html", "<script>alert(1)</script>")
    return _encode(_picture(), "JPEG", quality=80) + archive.getvalue()


def animated(fmt: str) -> bytes:
    frames = [_picture(48, 48).rotate(angle) for angle in (0, 90, 180)]
    return _encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=50, loop=0)


def heic_claim() -> bytes:
    box = b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic"
    return struct.pack(">I", len(box) + 4) + box + b"\x00" * 64


SVG = (
    b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<text>&x;</text><script>alert(1)</script></svg>"
)

TOO_MANY = (413, "image_too_many_pixels")
CORRUPT = (422, "image_corrupt")
UNSUPPORTED = (415, "unsupported_image_type")


@cache
def corpus() -> tuple[Sample, ...]:
    jpeg = _encode(_picture(), "JPEG", quality=80)
    png = _encode(_picture(), "PNG")
    return (
        Sample("png-bomb-50000x50000", png_bomb(50_000, 50_000), "a.png", "image/png", TOO_MANY),
        Sample("png-bomb-8000x6000", png_bomb(8000, 6000), "a.png", "image/png", TOO_MANY),
        Sample("png-zero-dimensions", png_bomb(0, 0), "a.png", "image/png", CORRUPT),
        Sample(
            "jpeg-header-65000x65000",
            jpeg_with_dimensions(65_000, 65_000),
            "a.jpg",
            "image/jpeg",
            TOO_MANY,
        ),
        Sample("jpeg-header-lies-small", jpeg_with_dimensions(16, 16), "a.jpg", "image/jpeg", None),
        Sample("jpeg-truncated", jpeg[: len(jpeg) // 2], "a.jpg", "image/jpeg", CORRUPT),
        Sample("png-truncated", png[: len(png) // 2], "a.png", "image/png", CORRUPT),
        Sample("magic-bytes-only", b"\xff\xd8\xff\xe0", "a.jpg", "image/jpeg", CORRUPT),
        Sample(
            "jpeg+zip-polyglot",
            jpeg_zip_polyglot(),
            "a.jpg",
            "image/jpeg",
            None,
            must_drop=(b"PK\x03\x04", b"<script>"),
        ),
        Sample(
            "jpeg-comment-html",
            jpeg_with_comment(b"<html><script>alert(1)</script></html>"),
            "a.jpg",
            "image/jpeg",
            None,
            must_drop=(b"<script>",),
        ),
        Sample(
            "gif-html-polyglot",
            b"GIF89a<script>alert(1)</script>",
            "a.gif",
            "image/gif",
            UNSUPPORTED,
        ),
        Sample(
            "html-named-png", b"<html><body>hi</body></html>", "a.png", "image/png", UNSUPPORTED
        ),
        Sample("cmyk-jpeg", _encode(_picture(mode="CMYK"), "JPEG"), "a.jpg", "image/jpeg", None),
        Sample(
            "png-16-bit", _encode(_picture().convert("I;16"), "PNG"), "a.png", "image/png", None
        ),
        Sample("png-palette", _encode(_picture().convert("P"), "PNG"), "a.png", "image/png", None),
        Sample("animated-webp", animated("WEBP"), "a.webp", "image/webp", None),
        Sample("animated-png", animated("PNG"), "a.png", "image/png", None),
        Sample("animated-gif", animated("GIF"), "a.gif", "image/gif", UNSUPPORTED),
        Sample(
            "exif-bomb-1500-entries",
            exif_bomb(),
            "a.jpg",
            "image/jpeg",
            None,
            must_drop=(b"AAAAAAAA", b"Exif\x00\x00"),
        ),
        Sample(
            "png-1mb-text-and-exif",
            png_with_huge_text_chunks(),
            "a.png",
            "image/png",
            None,
            must_drop=(b"XXXXXXXX", b"tEXt", b"eXIf"),
        ),
        Sample("png-named-jpg", png, "photo.jpg", "image/jpeg", None),
        Sample("jpeg-named-webp", jpeg, "photo.webp", "image/webp", None),
        Sample("svg-with-xxe", SVG, "a.svg", "image/svg+xml", UNSUPPORTED),
        Sample("heic-claim", heic_claim(), "a.heic", "image/heic", UNSUPPORTED),
        Sample("tiff", _encode(_picture(), "TIFF"), "a.tiff", "image/tiff", UNSUPPORTED),
        Sample("bmp", _encode(_picture(), "BMP"), "a.bmp", "image/bmp", UNSUPPORTED),
        Sample("empty", b"", "a.jpg", "image/jpeg", (400, "image_empty")),
    )
