"""A generate that names a direct upload: an unknown key is the caller's mistake (400), a
failing object store is ours and passes (503 with Retry-After); neither costs anything."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.stub import Stubber
from fastapi.testclient import TestClient

from aiimage import aws
from generate_api.app import app as generate_app
from tests.conftest import TEST_ENV
from tests.functional.enhancer_support import browser, bucket_keys, jpeg
from uploads_api.app import app as uploads_app
from usage_api.app import app as usage_app

pytestmark = pytest.mark.usefixtures("aws_stack")
ESRGAN = "nightmareai/real-esrgan"


@pytest.fixture
def guest() -> Iterator[TestClient]:
    with browser(uploads_app) as client:
        client.get("/api/ai-image/usage")  # issues the guest cookie
        yield client


def upload_key(client: TestClient) -> str:
    response = client.post(
        "/api/ai-image/uploads", json={"contentType": "image/jpeg", "size": 1234}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["uploadKey"])


def generate(client: TestClient, key: str) -> tuple[int, dict[str, object], dict[str, str]]:
    with browser(generate_app, cookies={"guest_id": client.cookies["guest_id"]}) as gen:
        response = gen.post("/api/ai-image/generate", data={"model": ESRGAN, "uploadKey": key})
        return response.status_code, response.json(), dict(response.headers)


def used(client: TestClient) -> int:
    with browser(usage_app, cookies={"guest_id": client.cookies["guest_id"]}) as usage:
        return int(usage.get("/api/ai-image/usage").json()["data"]["usage"]["used"])


def test_a_key_that_was_never_uploaded_is_a_400(guest: TestClient) -> None:
    key = upload_key(guest)  # presigned, but the browser never PUT it

    status, body, _ = generate(guest, key)

    assert status == 400, body
    assert body["error"] == {
        "type": "validation_error",
        "code": "upload_not_found",
        "message": "Unknown uploadKey",
    }
    assert used(guest) == 0


@pytest.mark.parametrize("code", ["SlowDown", "InternalError", "AccessDenied"])
def test_a_failing_object_store_is_a_503_to_retry_not_the_callers_mistake(
    guest: TestClient, code: str
) -> None:
    key = upload_key(guest)
    aws.s3().put_object(Bucket=TEST_ENV["IMAGES_BUCKET"], Key=key, Body=jpeg())

    with Stubber(aws.s3()) as s3:
        s3.add_client_error("head_object", service_error_code=code, http_status_code=503)
        status, body, headers = generate(guest, key)
        s3.assert_no_pending_responses()

    assert status == 503, body
    error = body["error"]
    assert isinstance(error, dict)
    assert (error["type"], error["code"]) == ("server_error", "storage_unavailable")
    assert code not in str(body)  # the store's own words stay in the logs
    assert headers["retry-after"] == "1"
    assert used(guest) == 0
    # The upload is kept: the same key works once the store is back.
    assert key in bucket_keys()
    status, body, _ = generate(guest, key)
    assert status == 200, body
