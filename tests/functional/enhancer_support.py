"""Shared helpers of the Enhancer's functional tests: images, clients, the bucket."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from aiimage import aws
from tests.conftest import ORIGIN, TEST_ENV

CSRF = "csrf-token-0123456789abcdef"


def jpeg(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", (width, height), color)
    image.paste((20, 40, 220), (0, 0, width // 2, height // 2))
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@contextmanager
def browser(app: FastAPI, *, cookies: dict[str, str] | None = None) -> Iterator[TestClient]:
    """A same-origin browser: Origin header, and the double-submit CSRF cookie and header."""
    with TestClient(
        app, base_url=ORIGIN, headers={"Origin": ORIGIN, "X-CSRF-Token": CSRF}
    ) as client:
        client.cookies.set("csrf_token", CSRF)
        for name, value in (cookies or {}).items():
            client.cookies.set(name, value)
        yield client


def bucket_keys() -> list[str]:
    listed = aws.s3().list_objects_v2(Bucket=TEST_ENV["IMAGES_BUCKET"])
    return sorted(item["Key"] for item in listed.get("Contents", []))
