"""IPTC's digital source type as XMP in an encoded image, for readers that do not read C2PA.

The packet goes into the container next to the encoded picture (a WebP `XMP ` chunk, a JPEG
APP1 segment, a PNG `iTXt` chunk): no pixel is decoded or encoded again, so it costs a copy
of the bytes. The WebP encoder of `aiimage.imaging.webp` is libwebp itself, which takes no
metadata, hence the container edit rather than an encoder option.
"""

from __future__ import annotations

import struct
import zlib
from typing import Final
from xml.sax.saxutils import quoteattr

IPTC_SOURCE_TYPES: Final = "http://cv.iptc.org/newscodes/digitalsourcetype/"

_PACKET: Final = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" '
    'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
    "Iptc4xmpExt:DigitalSourceType={source}/>"
    "</rdf:RDF></x:xmpmeta>"
    '<?xpacket end="w"?>'
)
_JPEG_XMP_NAMESPACE: Final = b"http://ns.adobe.com/xap/1.0/\x00"
_PNG_XMP_KEYWORD: Final = b"XML:com.adobe.xmp"
_WEBP_XMP_FLAG: Final = 0x04
_WEBP_ALPHA_FLAG: Final = 0x10


class XmpError(ValueError):
    """The bytes are not the container their content type says."""


def packet(source_type: str) -> bytes:
    """The XMP packet that names `source_type` (an IPTC digital source type URI)."""
    return _PACKET.format(source=quoteattr(source_type)).encode()


def with_source_type(data: bytes, content_type: str, source_type: str) -> bytes:
    """`data` with an XMP packet naming its digital source type, in the container's place."""
    xmp = packet(source_type)
    if content_type == "image/webp":
        return _webp(data, xmp)
    if content_type == "image/jpeg":
        return _jpeg(data, xmp)
    if content_type == "image/png":
        return _png(data, xmp)
    raise XmpError(f"no XMP placement for {content_type}")


def _riff_chunk(fourcc: bytes, payload: bytes) -> bytes:
    pad = b"\x00" if len(payload) % 2 else b""
    return fourcc + struct.pack("<I", len(payload)) + payload + pad


def _webp(data: bytes, xmp: bytes) -> bytes:
    """Extended WebP (VP8X) with the `XMP ` chunk last, where the container format puts it."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or len(data) < 30:
        raise XmpError("not a WebP")
    first = data[12:16]
    if first == b"VP8X":
        flags = data[20] | _WEBP_XMP_FLAG
        body = data[12:20] + bytes([flags]) + data[21:]
    else:
        width, height, alpha = _simple_webp_canvas(first, data[20:30])
        vp8x = struct.pack("<B3x", (_WEBP_ALPHA_FLAG if alpha else 0) | _WEBP_XMP_FLAG)
        vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        body = _riff_chunk(b"VP8X", vp8x) + data[12:]
    body += _riff_chunk(b"XMP ", xmp)
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


def _simple_webp_canvas(fourcc: bytes, head: bytes) -> tuple[int, int, bool]:
    """Width, height and alpha of a simple WebP from its one frame's header."""
    if fourcc == b"VP8 ":  # a key frame: 3-byte tag, start code, 14-bit sizes
        if head[3:6] != b"\x9d\x01\x2a":
            raise XmpError("not a VP8 key frame")
        width, height = struct.unpack("<HH", head[6:10])
        return width & 0x3FFF, height & 0x3FFF, False
    if fourcc == b"VP8L":  # signature 0x2f, then 14 + 14 bits of size - 1 and the alpha bit
        if head[0] != 0x2F:
            raise XmpError("not a VP8L bitstream")
        bits = int.from_bytes(head[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool(bits >> 28 & 1)
    raise XmpError("unknown WebP layout")


def _jpeg(data: bytes, xmp: bytes) -> bytes:
    """An APP1 XMP segment after SOI and a JFIF APP0, where readers look first."""
    if data[:2] != b"\xff\xd8":
        raise XmpError("not a JPEG")
    payload = _JPEG_XMP_NAMESPACE + xmp
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    at = 2
    if data[2:4] == b"\xff\xe0":
        at = 4 + struct.unpack(">H", data[4:6])[0]
    return data[:at] + segment + data[at:]


def _png(data: bytes, xmp: bytes) -> bytes:
    """An uncompressed `iTXt` chunk right after IHDR (before any image data)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise XmpError("not a PNG")
    ihdr_end = 8 + 12 + struct.unpack(">I", data[8:12])[0]
    body = b"iTXt" + _PNG_XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + xmp
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    return data[:ihdr_end] + chunk + data[ihdr_end:]
