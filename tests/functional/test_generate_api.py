"""`POST /api/ai-image/generate` end to end in-process: the function's app, moto (DynamoDB,
S3, SQS) and the local Pillow provider; delivery through the delivery function's app."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from aiimage.enhancer import dispatch
from aiimage.providers.base import GenerationRequest, Outcome, ProviderUnavailableError
from delivery_api.app import app as delivery_app
from generate_api.app import app as generate_app
from tests.conftest import assert_security_headers, make_token
from tests.functional.enhancer_support import browser, bucket_keys, jpeg
from usage_api.app import app as usage_app

pytestmark = pytest.mark.usefixtures("aws_stack")
GENERATE = "/api/ai-image/generate"
SD15 = "@cf/runwayml/stable-diffusion-v1-5-img2img"


@pytest.fixture
def guest() -> Iterator[TestClient]:
    with browser(generate_app) as client:
        yield client


def post(client: TestClient, data: bytes | None = None, **fields: str) -> httpx.Response:
    files = {"image": ("photo.jpg", data, "image/jpeg")} if data is not None else None
    response: httpx.Response = client.post(GENERATE, data={"model": SD15, **fields}, files=files)
    return response


def used(client: TestClient) -> int:
    with TestClient(usage_app, base_url="https://app.test") as usage:
        usage.cookies.update(client.cookies)
        return int(usage.get("/api/ai-image/usage").json()["data"]["usage"]["used"])


def test_generate_stores_original_and_result_and_counts_one(guest: TestClient) -> None:
    response = guest.post(
        GENERATE, data={"model": SD15}, files={"image": ("a.jpg", jpeg(), "image/jpeg")}
    )
    assert response.status_code == 200, response.text
    assert_security_headers(response.headers)
    data = response.json()["data"]
    assert response.json()["success"] is True
    assert data["model"] == SD15
    assert data["imageUrl"].startswith("https://app.test/r2-ai/ai-enhancer/results/guest/")
    assert data["originalUrl"].startswith("https://app.test/r2-ai/ai-enhancer/originals/guest/")
    assert data["usage"]["used"] == 1
    assert data["usage"]["limit"] == 3
    assert data["charge"] == {
        "images": 1,
        "provider": "local",
        "costUsd": None,
        "total": 1,
        "planPortion": 1,
        "creditsPortion": 0,
    }
    assert data["entitlements"]["faceEnhance"] is False
    assert response.headers["x-usage-limit"] == "3"
    assert len(bucket_keys()) == 2
    assert used(guest) == 1


def test_the_result_is_delivered_to_its_owner_only(guest: TestClient) -> None:
    image_url = guest.post(
        GENERATE, data={"model": SD15}, files={"image": ("a.jpg", jpeg(), "image/jpeg")}
    ).json()["data"]["imageUrl"]
    path = image_url.removeprefix("https://app.test")
    with TestClient(delivery_app, base_url="https://app.test") as owner:
        owner.cookies.set("guest_id", guest.cookies["guest_id"])
        ok = owner.get(path)
        assert ok.status_code == 200
        assert ok.headers["content-type"] == "image/webp"
        assert "private" in ok.headers["cache-control"]
        assert Image.open(io.BytesIO(ok.content)).format == "WEBP"
        assert_security_headers(ok.headers)
        again = owner.get(path, headers={"If-None-Match": ok.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""
    with TestClient(delivery_app, base_url="https://app.test") as stranger:
        refused = stranger.get(path)
        assert refused.status_code == 403
        assert refused.json()["error"]["type"] == "forbidden"


def test_a_guests_fourth_generate_of_the_day_is_refused(guest: TestClient) -> None:
    for _ in range(3):
        assert post(guest, jpeg()).status_code == 200
    refused = post(guest, jpeg())
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert error["details"]["used"] == 3
    assert error["details"]["limit"] == 3
    assert error["details"]["resetAt"] > 0
    assert len(bucket_keys()) == 6


def test_sixteen_quick_generates_are_rate_limited() -> None:
    token = make_token("rate-user", plan="pro")
    with TestClient(generate_app, base_url="https://app.test") as client:
        client.headers["Authorization"] = f"Bearer {token}"
        statuses = [post(client, jpeg()).status_code for _ in range(16)]
        assert statuses[:15] == [200] * 15
        assert statuses[15] == 429
        limited = post(client, jpeg())
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"]["type"] == "rate_limited"


class FailingProvider:
    name = "local"

    def submit(self, request: GenerationRequest) -> Outcome:
        raise ProviderUnavailableError()

    def poll(self, job_id: str) -> Outcome:
        raise ProviderUnavailableError()

    def cancel(self, job_id: str) -> None:
        return None


def test_a_failed_generate_costs_nothing_and_leaves_nothing(
    guest: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatch, "get_provider", lambda name: FailingProvider())
    response = post(guest, jpeg())
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "server_error"
    assert bucket_keys() == []
    assert used(guest) == 0


def test_a_provider_reporting_failure_is_refunded(
    guest: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Refusing(FailingProvider):
        def submit(self, request: GenerationRequest) -> Outcome:
            return Outcome.failed("NSFW content detected")

    monkeypatch.setattr(dispatch, "get_provider", lambda name: Refusing())
    response = post(guest, jpeg())
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "generation_failed"
    assert bucket_keys() == []
    assert used(guest) == 0


def png_bomb(width: int = 40_000, height: int = 40_000) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + width // 8) * 16)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


BAD_INPUTS = {
    "no image": (None, {}, 400),
    "empty file": (b"", {}, 400),
    "truncated jpeg": (jpeg(400, 300)[:600], {}, 422),
    "png decompression bomb": (png_bomb(), {}, 413),
    "gif renamed .jpg": (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!", {}, 415),
    "pdf renamed .jpg": (b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n", {}, 415),
    "11 MB file": (b"\xff\xd8\xff" + b"\x00" * (11 * 1024 * 1024), {}, 413),
    "unknown model": (jpeg(), {"model": "stability/unknown"}, 400),
    "scale 8": (jpeg(), {"model": "nightmareai/real-esrgan", "scale": "8"}, 400),
    "face_enhance for a guest": (
        jpeg(),
        {"model": "nightmareai/real-esrgan", "face_enhance": "true"},
        403,
    ),
    "steps 50 on SDXL": (
        jpeg(),
        {"model": "@cf/stabilityai/stable-diffusion-xl-base-1.0", "steps": "50"},
        400,
    ),
    "scale not a number": (jpeg(), {"model": "nightmareai/real-esrgan", "scale": "two"}, 422),
    "traversal upload key": (
        None,
        {"uploadKey": "ai-enhancer/uploads/guest/../../etc/passwd"},
        400,
    ),
    "another owner's upload key": (
        None,
        {"uploadKey": f"ai-enhancer/uploads/guest/{'b' * 32}/{'c' * 32}.jpg"},
        400,
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_a_clear_4xx_and_nothing_is_stored_or_charged(
    guest: TestClient, case: str
) -> None:
    data, fields, status = BAD_INPUTS[case]
    response = post(guest, data, **fields)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"]["message"]
    assert body["error"]["type"] in {"validation_error", "forbidden"}
    assert_security_headers(response.headers)
    assert bucket_keys() == []
    assert used(guest) == 0


def test_post_without_origin_or_csrf_is_forbidden() -> None:
    with TestClient(generate_app, base_url="https://app.test") as client:
        response = post(client, jpeg())
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "forbidden"
    assert bucket_keys() == []
