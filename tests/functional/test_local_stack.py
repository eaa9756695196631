"""The local stack over real HTTP: what `make dev` serves is what the functions promise."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import boto3
import httpx
import pytest

from infra.template import Resolver, load_template
from tests.conftest import assert_security_headers

if TYPE_CHECKING:
    from tests.plugins.stack import LocalStack

pytestmark = pytest.mark.stack

USAGE = "/api/ai-image/usage"
SIGNED_GUEST = re.compile(r"guest_id=([0-9a-f]{32})\.[A-Za-z0-9_-]{43}")


def client(stack: LocalStack) -> httpx.Client:
    return httpx.Client(base_url=stack.api, trust_env=False, timeout=10)


def cookie_header(response: httpx.Response) -> dict[str, str]:
    """The Cookie header a browser sends after `response`. Browsers treat http://127.0.0.1
    as a secure context and return `Secure` cookies to it; http.cookiejar (httpx's jar)
    never does over http, so the tests echo the cookies themselves."""
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in response.cookies.items())}


def assert_platform_headers(response: httpx.Response) -> None:
    """Every response a function gives carries the full set of security headers (the shared
    check covers presence, X-Frame-Options DENY and nosniff; this adds the values)."""
    assert_security_headers(response.headers)
    headers = response.headers
    max_age = re.search(r"max-age=(\d+)", headers["strict-transport-security"])
    assert max_age is not None
    assert int(max_age[1]) >= 365 * 86400
    assert headers["referrer-policy"] in ("no-referrer", "strict-origin-when-cross-origin")
    assert "camera=()" in headers["permissions-policy"]
    assert "default-src" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


def guest_cookies(response: httpx.Response) -> list[str]:
    return [c for c in response.headers.get_list("set-cookie") if c.startswith("guest_id=")]


def guest_id(set_cookie: str) -> str:
    """The guest id of a `Set-Cookie: guest_id=<id>.<signature>; ...` header."""
    signed = SIGNED_GUEST.match(set_cookie)
    assert signed is not None, set_cookie
    return signed[1]


def test_guest_usage_keeps_one_signed_guest(local_stack: LocalStack) -> None:
    with client(local_stack) as http:
        first = http.get(USAGE)
        second = http.get(USAGE, headers=cookie_header(first))

    for response in (first, second):
        assert response.status_code == 200
        assert_platform_headers(response)
        assert response.headers["x-usage-limit"] == "3"
        body = response.json()
        assert body["success"] is True
        data = body["data"]
        assert data["ownerType"] == "guest"
        assert data["plan"] == "guest"
        assert data["usage"]["used"] == 0
        assert data["usage"]["limit"] == 3
        assert isinstance(data["usage"]["resetAt"], int)
        assert data["limits"] == {"user": 20, "guest": 3}

    (issued,) = guest_cookies(first)
    assert guest_id(issued)
    attributes = {part.strip().lower() for part in issued.split(";")[1:]}
    assert {"httponly", "secure", "samesite=lax"} <= attributes
    assert guest_cookies(second) == []  # it came back and verified: the same guest


def _flip(text: str, index: int, alphabet: str) -> str:
    """`text` with the character at `index` replaced by another one of `alphabet`."""
    other = alphabet[(alphabet.index(text[index]) + 1) % len(alphabet)]
    return text[:index] + other + text[index + 1 :]


BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda value: _flip(value, value.index(".") + 1, BASE64URL),  # signature changed
        lambda value: _flip(value, 0, "0123456789abcdef"),  # well-formed id, not the signed one
        lambda value: value.split(".")[0],  # unsigned bare id
        lambda value: "garbage",
    ],
    ids=["signature", "id", "unsigned", "garbage"],
)
def test_a_tampered_guest_cookie_gets_a_new_guest(
    local_stack: LocalStack, tamper: Callable[[str], str]
) -> None:
    with client(local_stack) as http:
        original = http.get(USAGE)
        (issued,) = guest_cookies(original)
        value = issued.split(";")[0].removeprefix("guest_id=")
        kept = http.get(USAGE, headers={"Cookie": f"guest_id={value}"})
        tampered = http.get(USAGE, headers={"Cookie": f"guest_id={tamper(value)}"})

    assert guest_cookies(kept) == []  # the genuine cookie is accepted as it is
    for response in (original, kept, tampered):
        assert response.status_code == 200
        assert_platform_headers(response)
    (reissued,) = guest_cookies(tampered)
    assert guest_id(reissued) != guest_id(issued)


def test_cookie_state_changes_need_origin_and_csrf_token(local_stack: LocalStack) -> None:
    token = "local-stack-csrf-token-0123456789"
    with client(local_stack) as http:
        bare = http.post(USAGE)
        foreign = http.post(
            USAGE,
            headers={
                "Origin": "https://evil.example",
                "Cookie": f"csrf_token={token}",
                "X-CSRF-Token": token,
            },
        )
        mismatched = http.post(
            USAGE,
            headers={
                "Origin": local_stack.api,
                "Cookie": f"csrf_token={token}",
                "X-CSRF-Token": token[::-1],
            },
        )
        allowed = http.post(
            USAGE,
            headers={
                "Origin": local_stack.api,
                "Cookie": f"csrf_token={token}",
                "X-CSRF-Token": token,
            },
        )

    for refused in (bare, foreign, mismatched):
        assert refused.status_code == 403
        assert_platform_headers(refused)
        body = refused.json()
        assert body["success"] is False
        assert (body["error"]["type"], body["error"]["code"]) == ("forbidden", "csrf_failed")
        assert body["error"]["message"]

    assert allowed.status_code == 405
    assert_platform_headers(allowed)
    assert allowed.headers["allow"] == "GET"
    assert allowed.json()["error"]["type"] == "method_not_allowed"


@pytest.mark.parametrize(("plan", "limit"), [("pro", 40), ("free", 20)])
def test_demo_tokens_are_users_with_their_plan(
    local_stack: LocalStack, plan: str, limit: int
) -> None:
    with client(local_stack) as http:
        response = http.get(USAGE, headers={"Authorization": f"Bearer {local_stack.tokens[plan]}"})
    assert response.status_code == 200
    assert_platform_headers(response)
    assert response.headers["x-usage-limit"] == str(limit)
    data = response.json()["data"]
    assert (data["ownerType"], data["plan"]) == ("user", plan)
    assert (data["usage"]["used"], data["usage"]["limit"]) == (0, limit)
    assert guest_cookies(response) == []


def test_the_demo_superadmin_reads_the_admin_settings_and_the_tenant_cannot(
    local_stack: LocalStack,
) -> None:
    settings = "/api/v1/admin/ai-editing/settings"
    with client(local_stack) as http:
        admin = http.get(
            settings, headers={"Authorization": f"Bearer {local_stack.tokens['admin']}"}
        )
        tenant = http.get(
            settings, headers={"Authorization": f"Bearer {local_stack.tokens['tenant']}"}
        )
    assert admin.status_code == 200, admin.text
    assert admin.json()["data"]["version"] >= 1
    assert tenant.status_code == 403
    assert tenant.json()["error"]["type"] == "forbidden"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-token", "Bearer {pro}x", "Basic dXNlcjpwYXNz"],
    ids=["garbage", "bad-signature", "not-bearer"],
)
def test_a_bad_token_is_refused(local_stack: LocalStack, authorization: str) -> None:
    with client(local_stack) as http:
        response = http.get(
            USAGE, headers={"Authorization": authorization.format(pro=local_stack.tokens["pro"])}
        )
    assert response.status_code == 401
    assert_platform_headers(response)
    body = response.json()
    assert body["success"] is False
    assert body["error"]["type"] == "auth_error"


@pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("DELETE", "/api/ai-image")])
def test_an_unknown_route_is_api_gateways_404(
    local_stack: LocalStack, method: str, path: str
) -> None:
    with client(local_stack) as http:
        response = http.request(method, path)
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


def test_the_template_resources_exist_on_moto(local_stack: LocalStack) -> None:
    session = boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1"
    )
    dynamodb = session.client("dynamodb", endpoint_url=local_stack.moto)
    table = Resolver(load_template()).physical_name("LimitsTable")
    assert table == "aiimage-local-LimitsTable"
    assert table in dynamodb.list_tables()["TableNames"]
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    ssm = session.client("ssm", endpoint_url=local_stack.moto)
    for name in ("/aiimage/local/guest-cookie-secret", "/aiimage/local/jwt-secret"):
        parameter = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        assert parameter["Type"] == "SecureString"
        assert len(parameter["Value"]) >= 32
