"""The app factory: envelope, security headers, 404/405/422/500, CSRF and identity."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from aiimage.errors import RateLimitedError
from aiimage.http.app import CurrentIdentity, create_app
from aiimage.http.envelope import ok
from tests.conftest import ORIGIN, assert_security_headers, make_token

router = APIRouter()


@router.get("/thing")
def read_thing(identity: CurrentIdentity) -> dict[str, Any]:
    return ok({"owner": identity.owner_key, "via": identity.via})


@router.post("/thing")
def change_thing(identity: CurrentIdentity) -> dict[str, Any]:
    return ok({"changed": True, "owner": identity.owner_key})


@router.get("/items/{item_id}")
def read_item(item_id: int, limit: int = 10) -> dict[str, Any]:
    return ok({"item": item_id, "limit": limit})


@router.get("/limited")
def limited() -> None:
    raise RateLimitedError(42)


@router.get("/crash")
def crash() -> None:
    raise RuntimeError("database password is hunter2")


app = create_app("test app", router)

CSRF = "a-csrf-token-of-sufficient-length"


@pytest.fixture
def client() -> Iterator[TestClient]:
    # https so that the client keeps and returns Secure cookies.
    with TestClient(app, base_url="https://app.test", raise_server_exceptions=False) as c:
        yield c


def csrf_ok(client: TestClient) -> dict[str, str]:
    client.cookies.set("csrf_token", CSRF)
    return {"Origin": ORIGIN, "X-CSRF-Token": CSRF}


def test_success_envelope_and_headers(client: TestClient) -> None:
    response = client.get("/thing")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["data"]["via"] == "cookie"
    assert body["data"]["owner"].startswith("guest#")
    assert_security_headers(response.headers)


def test_new_guest_cookie_attributes(client: TestClient) -> None:
    response = client.get("/thing")
    cookies = response.headers.get_list("set-cookie")
    guest = next(c for c in cookies if c.startswith("guest_id="))
    attributes = {part.strip().split("=")[0].lower() for part in guest.split(";")}
    assert {"httponly", "secure", "samesite", "path", "max-age"} <= attributes
    assert "SameSite=Lax" in guest
    csrf = next(c for c in cookies if c.startswith("csrf_token="))
    assert "HttpOnly" not in csrf  # the page's script must read it


def test_guest_is_stable_with_its_cookie(client: TestClient) -> None:
    first = client.get("/thing").json()["data"]["owner"]
    second = client.get("/thing")
    assert second.json()["data"]["owner"] == first
    assert not any(c.startswith("guest_id=") for c in second.headers.get_list("set-cookie"))


def test_tampered_guest_cookie_is_replaced(client: TestClient) -> None:
    first = client.get("/thing").json()["data"]["owner"]
    value = client.cookies["guest_id"]
    client.cookies.set("guest_id", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    response = client.get("/thing")
    assert response.json()["data"]["owner"] != first
    assert any(c.startswith("guest_id=") for c in response.headers.get_list("set-cookie"))


def test_unknown_route_is_404_in_the_envelope(client: TestClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": {"type": "not_found", "code": "not_found", "message": "Not found"},
    }
    assert_security_headers(response.headers)


def test_wrong_method_is_405_with_allow(client: TestClient) -> None:
    response = client.delete("/items/1", headers=csrf_ok(client))
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json()["error"]["type"] == "method_not_allowed"
    assert_security_headers(response.headers)


def test_invalid_parameters_are_422_without_echoing_input(client: TestClient) -> None:
    response = client.get("/items/secret-value?limit=also-secret")
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("validation_error", "invalid_parameters")
    locations = [problem["loc"] for problem in error["details"]["errors"]]
    assert ["path", "item_id"] in locations
    assert ["query", "limit"] in locations
    assert "secret" not in response.text
    assert_security_headers(response.headers)


def test_app_errors_keep_their_status_and_headers(client: TestClient) -> None:
    response = client.get("/limited")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "42"
    assert response.json()["error"] == {
        "type": "rate_limited",
        "code": "rate_limited",
        "message": "Too many requests",
        "details": {"retryAfter": 42},
    }
    assert_security_headers(response.headers)


def test_crash_is_a_bare_500_without_internals(client: TestClient) -> None:
    response = client.get("/crash")
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert_security_headers(response.headers)


def test_post_with_valid_origin_and_token_passes(client: TestClient) -> None:
    response = client.post("/thing", headers=csrf_ok(client))
    assert response.status_code == 200
    assert response.json()["data"]["changed"] is True


@pytest.mark.parametrize(
    ("headers", "cookie", "reason"),
    [
        ({}, None, "origin"),
        ({"X-CSRF-Token": CSRF}, CSRF, "origin"),
        ({"Origin": "https://evil.test", "X-CSRF-Token": CSRF}, CSRF, "origin"),
        ({"Origin": "null", "X-CSRF-Token": CSRF}, CSRF, "origin"),
        ({"Origin": "https://app.test.evil.test", "X-CSRF-Token": CSRF}, CSRF, "origin"),
        ({"Origin": ORIGIN}, CSRF, "token"),
        ({"Origin": ORIGIN, "X-CSRF-Token": CSRF}, None, "token"),
        ({"Origin": ORIGIN, "X-CSRF-Token": CSRF + "x"}, CSRF, "token"),
        ({"Origin": ORIGIN, "X-CSRF-Token": "short"}, "short", "token"),
        ({"Origin": ORIGIN, "X-CSRF-Token": ""}, "", "token"),
    ],
    ids=[
        "nothing",
        "no-origin",
        "foreign-origin",
        "null-origin",
        "suffix-origin",
        "no-header",
        "no-cookie",
        "mismatch",
        "too-short",
        "empty",
    ],
)
def test_csrf_refusals(
    client: TestClient, headers: dict[str, str], cookie: str | None, reason: str
) -> None:
    if cookie is not None:
        client.cookies.set("csrf_token", cookie)
    response = client.post("/thing", headers=headers)
    assert response.status_code == 403
    assert response.json()["error"] == {
        "type": "forbidden",
        "code": "csrf_failed",
        "message": response.json()["error"]["message"],
        "details": {"reason": reason},
    }
    assert_security_headers(response.headers)


def test_csrf_token_in_the_query_string_is_not_accepted(client: TestClient) -> None:
    client.cookies.set("csrf_token", CSRF)
    response = client.post(f"/thing?csrf_token={CSRF}", headers={"Origin": ORIGIN})
    assert response.status_code == 403


def test_bearer_requests_are_exempt_from_csrf(client: TestClient) -> None:
    response = client.post("/thing", headers={"Authorization": f"Bearer {make_token('u1')}"})
    assert response.status_code == 200
    assert response.json()["data"]["owner"] == "user#u1"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer ", "Token abc"],
)
def test_bad_authorization_is_401_not_guest(client: TestClient, authorization: str) -> None:
    response = client.get("/thing", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "auth_error"
    assert_security_headers(response.headers)


def test_expired_token_is_401_token_expired(client: TestClient) -> None:
    token = make_token(expires_in=-600)
    response = client.get("/thing", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"
