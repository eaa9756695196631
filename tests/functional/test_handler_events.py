"""Replay API Gateway v2 events (tests/events/, shared with `sam local invoke -e`) through
the Lambda handler itself: Mangum, powertools and the app, against moto."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aiimage.identity import sign_guest_id
from tests.conftest import assert_security_headers, make_token
from usage_api.app import handler

pytestmark = pytest.mark.usefixtures("aws_stack")

EVENTS = Path(__file__).resolve().parent.parent / "events"


@dataclass
class LambdaContext:
    function_name: str = "UsageApiFunction"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:UsageApiFunction"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"


def event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


def invoke(evt: dict[str, Any]) -> dict[str, Any]:
    response = handler(evt, LambdaContext())
    assert_security_headers(response["headers"])
    return response


def cookie_value(response: dict[str, Any], name: str) -> str | None:
    for cookie in response.get("cookies", []):
        key, _, rest = cookie.partition("=")
        if key == name:
            return str(rest.split(";")[0])
    return None


def test_guest_gets_a_signed_cookie_and_the_usage() -> None:
    response = invoke(event("usage_get_guest.json"))
    assert response["statusCode"] == 200
    assert response["headers"]["x-usage-limit"] == "3"
    body = json.loads(response["body"])
    assert body["data"]["ownerType"] == "guest"
    assert body["data"]["usage"]["used"] == 0
    guest_cookie = next(c for c in response["cookies"] if c.startswith("guest_id="))
    assert "HttpOnly" in guest_cookie
    assert "Secure" in guest_cookie
    assert "SameSite=Lax" in guest_cookie


def test_returning_guest_keeps_its_identity() -> None:
    evt = event("usage_get_guest.json")
    evt["cookies"] = [f"guest_id={sign_guest_id('0' * 32)}", "csrf_token=abcdefghijklmnopqrstuvwx"]
    response = invoke(evt)
    assert response["statusCode"] == 200
    assert cookie_value(response, "guest_id") is None


def test_forged_guest_cookie_is_replaced() -> None:
    evt = event("usage_get_guest.json")
    evt["cookies"] = [f"guest_id={'0' * 32}.forged-signature"]
    response = invoke(evt)
    issued = cookie_value(response, "guest_id")
    assert issued is not None
    assert not issued.startswith("0" * 32)


def test_post_without_origin_or_csrf_is_forbidden() -> None:
    response = invoke(event("usage_post_no_csrf.json"))
    assert response["statusCode"] == 403
    assert json.loads(response["body"])["error"]["type"] == "forbidden"


def test_post_with_csrf_reaches_the_app_and_gets_405() -> None:
    evt = event("usage_post_no_csrf.json")
    evt["headers"]["origin"] = "https://app.test"
    evt["headers"]["x-csrf-token"] = "abcdefghijklmnopqrstuvwx"
    evt["cookies"] = ["csrf_token=abcdefghijklmnopqrstuvwx"]
    response = invoke(evt)
    assert response["statusCode"] == 405
    assert response["headers"]["allow"] == "GET"


def test_claims_from_the_jwt_authorizer_are_used() -> None:
    response = invoke(event("usage_get_authorizer.json"))
    assert response["statusCode"] == 200
    data = json.loads(response["body"])["data"]
    assert (data["ownerType"], data["plan"], data["usage"]["limit"]) == ("user", "pro", 40)
    assert cookie_value(response, "guest_id") is None


def test_bearer_without_authorizer_is_verified_by_the_app() -> None:
    evt = event("usage_get_guest.json")
    evt["headers"]["authorization"] = f"Bearer {make_token('direct-user', plan='premium')}"
    data = json.loads(invoke(evt)["body"])["data"]
    assert (data["ownerType"], data["plan"]) == ("user", "premium")

    evt["headers"]["authorization"] = f"Bearer {make_token(key='x' * 40)}"
    response = invoke(evt)
    assert response["statusCode"] == 401
    assert json.loads(response["body"])["error"]["type"] == "auth_error"
