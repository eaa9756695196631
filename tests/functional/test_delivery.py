"""`GET /r2-ai/{key+}`: allow-listed prefixes, owner gating, no traversal, ETag/304, and a
redirect to a presigned URL for objects over the Lambda response limit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from aiimage import aws
from aiimage.identity import guest, sign_guest_id
from aiimage.storage.keys import new_key
from delivery_api.app import app
from tests.conftest import TEST_ENV, assert_security_headers, make_token
from tests.functional.enhancer_support import jpeg

pytestmark = pytest.mark.usefixtures("aws_stack")
OWNER_ID = "a" * 32
OWNER = guest(OWNER_ID)


def stored(kind: str = "results", data: bytes | None = None) -> str:
    key = new_key(kind, OWNER, "image/jpeg")  # type: ignore[arg-type]
    aws.s3().put_object(
        Bucket=TEST_ENV["IMAGES_BUCKET"],
        Key=str(key),
        Body=data or jpeg(),
        ContentType="image/jpeg",
    )
    return str(key)


def owner_client() -> TestClient:
    client = TestClient(app, base_url="https://app.test")
    client.cookies.set("guest_id", sign_guest_id(OWNER_ID))
    return client


@pytest.mark.parametrize("kind", ["results", "originals"])
def test_the_owner_gets_each_kind_of_object(kind: str) -> None:
    key = stored(kind)
    with owner_client() as client:
        response = client.get(f"/r2-ai/{key}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"].startswith("private")
    assert response.content == jpeg()
    assert_security_headers(response.headers)


def test_a_quarantined_upload_is_not_served_even_to_its_owner() -> None:
    # Raw bytes, as the browser PUT them: only the generate that names the key reads them.
    key = stored("uploads")
    assert key.startswith("quarantine/ai-enhancer/uploads/")
    with owner_client() as client:
        for path in (key, key.removeprefix("quarantine/")):
            response = client.get(f"/r2-ai/{path}")
            assert response.status_code == 404, path
            assert response.json()["success"] is False


def test_a_user_is_not_the_guest_with_the_same_id() -> None:
    key = stored()
    with TestClient(app, base_url="https://app.test") as client:
        client.headers["Authorization"] = f"Bearer {make_token(OWNER_ID)}"
        assert client.get(f"/r2-ai/{key}").status_code == 403


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/r2-ai/private/config.json", 404),
        ("/r2-ai/ai-enhancer/secrets/guest/x/y.webp", 404),
        (f"/r2-ai/ai-enhancer/results/guest/{OWNER_ID}/%2e%2e%2fx.webp", 400),
        (f"/r2-ai/ai-enhancer/results/guest/{OWNER_ID}%2F..%2F..%2Fx/y.webp", 400),
        (f"/r2-ai/ai-enhancer/results//guest/{OWNER_ID}/{'0' * 32}.webp", 400),
        (f"/r2-ai/ai-enhancer/results/guest/{OWNER_ID}/..%5c{'0' * 32}.webp", 400),
        (f"/r2-ai/ai-enhancer/results/guest/{OWNER_ID}/{'0' * 32}.webp", 404),
    ],
)
def test_unknown_prefixes_traversal_and_missing_objects(path: str, status: int) -> None:
    with owner_client() as client:
        response = client.get(path)
    assert response.status_code == status, response.text
    assert response.json()["success"] is False
    assert_security_headers(response.headers)


def test_a_dot_segment_path_is_refused_not_normalised() -> None:
    # HTTP clients normalise `..` before sending; a raw request need not, so send one raw.
    key = stored().replace("/results/", "/results/x/../")
    path = f"/r2-ai/{key}"
    cookie = f"guest_id={sign_guest_id(OWNER_ID)}".encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"app.test"), (b"cookie", cookie)],
        "server": ("app.test", 443),
        "client": ("127.0.0.1", 1234),
    }
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    # Not asyncio.run: it would leave the main thread without an event loop, which Mangum
    # (in the handler tests) expects to find.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(app(scope, receive, send))  # type: ignore[arg-type]
    finally:
        loop.close()
    assert sent[0]["status"] == 400


def test_an_unchanged_object_answers_304() -> None:
    key = stored()
    with owner_client() as client:
        etag = client.get(f"/r2-ai/{key}").headers["etag"]
        response = client.get(f"/r2-ai/{key}", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""


def test_a_large_object_redirects_to_a_short_lived_presigned_url(
    settings_env: Callable[..., None],
) -> None:
    settings_env(MAX_PROXY_BYTES="100")
    key = stored()
    with owner_client() as client:
        response = client.get(f"/r2-ai/{key}", follow_redirects=False)
    assert response.status_code == 307
    location = response.headers["location"]
    assert key in location
    assert "X-Amz-Expires=300" in location
    assert response.headers["cache-control"] == "private, no-store"


def test_only_get_is_allowed() -> None:
    key = stored()
    with TestClient(app, base_url="https://app.test") as client:
        client.headers["Authorization"] = f"Bearer {make_token('someone')}"
        response = client.delete(f"/r2-ai/{key}")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


def test_download_names_the_file_after_the_original_with_the_stored_format() -> None:
    key = stored()
    with owner_client() as client:
        response = client.get(f"/r2-ai/{key}", params={"download": "Strand-Föhr upscaled-2x"})
    assert response.status_code == 200
    assert response.content == jpeg()
    assert response.headers["content-disposition"] == (
        'attachment; filename="Strand-Fohr-upscaled-2x.jpg"; '
        "filename*=UTF-8''Strand-F%C3%B6hr-upscaled-2x.jpg"
    )


@pytest.mark.parametrize(
    ("name", "saved"),
    [
        ('../../etc/passwd"\r\nSet-Cookie: a=b', "etc-passwd-Set-Cookie-a-b.jpg"),
        ("...", "image.jpg"),
        ("a" * 200, "a" * 100 + ".jpg"),
    ],
)
def test_a_hostile_download_name_cannot_reach_the_header(name: str, saved: str) -> None:
    key = stored()
    with owner_client() as client:
        response = client.get(f"/r2-ai/{key}", params={"download": name})
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith(f'attachment; filename="{saved}"')
    assert all("a=b" not in cookie for cookie in response.headers.get_list("set-cookie"))


def test_without_download_there_is_no_attachment_and_an_empty_name_is_refused() -> None:
    key = stored()
    with owner_client() as client:
        assert "content-disposition" not in client.get(f"/r2-ai/{key}").headers
        refused = client.get(f"/r2-ai/{key}", params={"download": ""})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_parameters"


def test_head_answers_the_headers_of_get_without_the_image() -> None:
    key = stored()
    with owner_client() as client:
        got = client.get(f"/r2-ai/{key}")
        head = client.head(f"/r2-ai/{key}")
        stranger = TestClient(app, base_url="https://app.test").head(f"/r2-ai/{key}")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(jpeg()))
    for header in ("content-type", "etag", "cache-control"):
        assert head.headers[header] == got.headers[header]
    assert stranger.status_code == 403  # HEAD is owner-gated like GET


def _stored_webp(size: tuple[int, int] = (64, 48)) -> str:
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", size, (200, 30, 40)).save(buffer, "WEBP", quality=90)
    key = new_key("results", OWNER, "image/webp")
    aws.s3().put_object(
        Bucket=TEST_ENV["IMAGES_BUCKET"],
        Key=str(key),
        Body=buffer.getvalue(),
        ContentType="image/webp",
    )
    return str(key)


@pytest.mark.parametrize(
    ("image_format", "mime", "ext"), [("jpeg", "image/jpeg", "jpg"), ("png", "image/png", "png")]
)
def test_a_download_in_another_format_is_re_encoded(image_format: str, mime: str, ext: str) -> None:
    from io import BytesIO

    from PIL import Image

    key = _stored_webp()
    with owner_client() as client:
        response = client.get(
            f"/r2-ai/{key}", params={"download": "photo-upscaled-2x", "format": image_format}
        )
        head = client.head(f"/r2-ai/{key}", params={"format": image_format})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == mime
    assert response.headers["content-disposition"].startswith(
        f'attachment; filename="photo-upscaled-2x.{ext}"'
    )
    with Image.open(BytesIO(response.content)) as image:
        assert image.format == image_format.upper()
        assert image.size == (64, 48)
        pixel = image.convert("RGB").getpixel((10, 10))
        assert isinstance(pixel, tuple)
        assert max(abs(got - want) for got, want in zip(pixel, (200, 30, 40), strict=True)) < 12
    assert head.status_code == 200
    assert head.content == b""
    # No conversion for a HEAD: its length is unknown, so none is claimed.
    assert "content-length" not in head.headers
    assert head.headers["content-type"] == mime
    assert head.headers["etag"] == response.headers["etag"]


def test_the_stored_format_and_a_bad_format_are_not_converted() -> None:
    key = _stored_webp()
    with owner_client() as client:
        same = client.get(f"/r2-ai/{key}", params={"format": "webp"})
        bad = client.get(f"/r2-ai/{key}", params={"format": "gif"})
    assert same.headers["content-type"] == "image/webp"
    assert same.content[:4] == b"RIFF"
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_parameters"


def test_a_conversion_above_the_pixel_cap_is_413_and_the_stored_file_still_serves() -> None:
    key = _stored_webp((6000, 4001))  # 24,006,000 pixels: one row over 24 MP
    with owner_client() as client:
        refused = client.get(f"/r2-ai/{key}", params={"format": "png"})
        stored_copy = client.get(f"/r2-ai/{key}")
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "output_too_large"
    assert refused.json()["error"]["details"] == {"maxBytes": 4_000_000, "maxPixels": 24_000_000}
    assert stored_copy.status_code == 200
