"""ICC profiles through sanitising (issue 15, finding 8): a profile is an opaque blob a
client can fill with anything, so it is kept only when LittleCMS parses it, it describes
the pixels' colour space and it is small; otherwise it is dropped (an oversized valid RGB
profile is applied first, so the colours survive as sRGB)."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image, ImageCms

from aiimage.imaging.validation import MAX_ICC_PROFILE_BYTES, sanitize

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
LAB = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
# What the hostile upload carried: 95 KB of arbitrary bytes where the profile goes.
HOSTILE = (b"GPS 48.8584 N 2.2945 E <script>alert(1)</script> " * 2000)[:95_000]
FORMATS = ("JPEG", "PNG", "WEBP")


def image_with(profile: bytes, fmt: str, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (32, 24), (200, 40, 40) if mode == "RGB" else 128).save(
        buffer, fmt, icc_profile=profile
    )
    return buffer.getvalue()


def kept(data: bytes) -> bytes | None:
    clean = sanitize(data, max_bytes=10_000_000, max_pixels=1_000_000)
    with Image.open(io.BytesIO(clean.data)) as image:
        profile: bytes | None = image.info.get("icc_profile")
        return profile


def padded(profile: bytes, size: int) -> bytes:
    """A profile grown to `size` bytes that LittleCMS still reads: the header's size field
    says so, and the tags it needs are unchanged at their offsets."""
    grown = profile + b"\0" * (size - len(profile))
    return struct.pack(">I", size) + grown[4:]


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_arbitrary_blob_in_the_profile_slot_is_dropped(fmt: str) -> None:
    data = image_with(HOSTILE, fmt)
    with Image.open(io.BytesIO(data)) as raw:
        assert raw.info["icc_profile"] == HOSTILE  # the upload really carries it
    assert kept(data) is None
    assert b"<script>" not in sanitize(data, max_bytes=10_000_000, max_pixels=1_000_000).data


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_real_small_profile_is_kept_byte_for_byte(fmt: str) -> None:
    assert kept(image_with(SRGB, fmt)) == SRGB


def test_a_profile_of_another_colour_space_is_dropped() -> None:
    assert ImageCms.ImageCmsProfile(io.BytesIO(LAB)).profile.xcolor_space.strip() == "Lab"
    assert kept(image_with(LAB, "PNG")) is None


def test_a_valid_profile_over_the_limit_is_applied_then_dropped() -> None:
    big = padded(SRGB, MAX_ICC_PROFILE_BYTES + 1)
    ImageCms.ImageCmsProfile(io.BytesIO(big))  # LittleCMS reads it
    data = image_with(big, "PNG")
    assert kept(data) is None
    clean = sanitize(data, max_bytes=10_000_000, max_pixels=1_000_000)
    with Image.open(io.BytesIO(clean.data)) as image:
        # sRGB to sRGB: the colours are unchanged.
        assert image.convert("RGB").getpixel((0, 0)) == (200, 40, 40)


def test_a_profile_at_the_limit_is_kept() -> None:
    at_limit = padded(SRGB, MAX_ICC_PROFILE_BYTES)
    assert kept(image_with(at_limit, "PNG")) == at_limit
