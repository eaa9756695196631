"""The deployed origin, the CDN mode and the JWT authorizer, replayed as API Gateway events
(tests/events/) through the Lambda handlers; the cold-start provider check."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aiimage.errors import ConfigurationError
from aiimage.network import cloudfront_viewer_ip
from aiimage.providers.registry import configuration_problems, require_usable_provider
from aiimage.settings import Settings
from usage_api.app import handler as usage_handler

pytestmark = pytest.mark.usefixtures("aws_stack")

EVENTS = Path(__file__).resolve().parent.parent / "events"
SECRET = "s" * 40
GATEWAY = "abc123.execute-api.us-east-1.amazonaws.com"


@dataclass
class LambdaContext:
    function_name: str = "UsageApiFunction"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:UsageApiFunction"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"


def event(name: str, **headers: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    loaded["headers"].update({k.replace("_", "-"): v for k, v in headers.items()})
    return loaded


def invoke(evt: dict[str, Any], handler: Callable[..., dict[str, Any]] = usage_handler) -> Any:
    response = handler(evt, LambdaContext())
    return response["statusCode"], json.loads(response["body"] or "null")


def test_cdn_mode_refuses_a_request_around_the_cdn(settings_env: Callable[..., None]) -> None:
    settings_env(CDN_ENABLED="true", CDN_ORIGIN_SECRET=SECRET)
    status, body = invoke(event("usage_get_guest.json"))
    assert (status, body["error"]["type"]) == (403, "forbidden")
    assert body["error"]["code"] == "origin_unverified"
    status, _ = invoke(event("usage_get_guest.json", x_origin_verify=SECRET[:-1] + "x"))
    assert status == 403
    status, body = invoke(event("usage_get_guest.json", x_origin_verify=SECRET))
    assert (status, body["success"]) == (200, True)


def test_without_cdn_mode_no_origin_secret_is_needed() -> None:
    status, _ = invoke(event("usage_get_guest.json"))
    assert status == 200


def test_cdn_mode_without_a_configured_secret_is_a_configuration_error(
    settings_env: Callable[..., None],
) -> None:
    settings_env(CDN_ENABLED="true", CDN_ORIGIN_SECRET="short")
    status, body = invoke(event("usage_get_guest.json", x_origin_verify="short"))
    assert (status, body["error"]["code"]) == (500, "misconfigured")


@pytest.mark.parametrize(
    ("header", "address"),
    [
        ("198.51.100.7:46532", "198.51.100.7"),
        ("2001:db8:1:2::7:63171", "2001:db8:1:2::7"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("198.51.100.7", None),
        ("198.51.100.7:", None),
        (":443", None),
    ],
)
def test_the_viewer_address_is_read_without_its_port(header: str, address: str | None) -> None:
    assert cloudfront_viewer_ip(header) == address


def test_cdn_mode_counts_the_viewer_address_not_the_edge(
    settings_env: Callable[..., None],
) -> None:
    from starlette.requests import HTTPConnection

    from aiimage.http.middleware import client_network

    evt = event(
        "usage_get_guest.json",
        cloudfront_viewer_address="198.51.100.9:5000",
        cf_connecting_ip="203.0.113.66",
    )
    headers = [(k.encode(), v.encode()) for k, v in evt["headers"].items()]
    scope = {"type": "http", "headers": headers, "aws.event": evt}
    assert client_network(HTTPConnection(scope)) == "203.0.113.7"  # sourceIp
    settings_env(CDN_ENABLED="true", CDN_ORIGIN_SECRET=SECRET, CLIENT_IP_HEADER="CF-Connecting-IP")
    assert client_network(HTTPConnection(scope)) == "198.51.100.9"
    # No CloudFront-Viewer-Address: unknown, never a fallback to another header.
    scope["headers"] = [h for h in headers if h[0] != b"cloudfront-viewer-address"]
    assert client_network(HTTPConnection(scope)) is None


def post_with_origin(origin: str) -> dict[str, Any]:
    evt = event("usage_post_no_csrf.json")
    evt = copy.deepcopy(evt)
    evt["headers"].update(
        {"origin": origin, "x-csrf-token": "t" * 24, "cookie": f"csrf_token={'t' * 24}"}
    )
    evt["requestContext"]["domainName"] = GATEWAY
    return evt


def test_the_pages_own_origin_passes_csrf(settings_env: Callable[..., None]) -> None:
    settings_env(ALLOWED_ORIGINS="")
    status, body = invoke(post_with_origin(f"https://{GATEWAY}"))
    # Past CSRF: the usage route answers GET only.
    assert (status, body["error"]["type"]) == (405, "method_not_allowed")
    for other in ("https://evil.example", f"http://{GATEWAY}", f"https://{GATEWAY}.evil.example"):
        status, body = invoke(post_with_origin(other))
        assert (status, body["error"]["code"]) == (403, "csrf_failed"), other


def test_verified_authorizer_claims_identify_a_tenant_admin(
    settings_env: Callable[..., None],
) -> None:
    from ai_edits_api.app import handler as edits_handler

    evt = event("usage_get_authorizer.json")
    evt["rawPath"] = evt["requestContext"]["http"]["path"] = (
        "/api/v1/tenant/events/no-such-event/ai-edits"
    )
    evt["routeKey"] = evt["requestContext"]["routeKey"] = (
        "ANY /api/v1/tenant/events/{event_slug}/ai-edits"
    )
    evt["requestContext"]["authorizer"]["jwt"]["claims"]["tenant_id"] = "tenant-1"
    # No key could verify "verified-by-api-gateway": the claims alone identify the caller.
    status, body = invoke(evt, edits_handler)
    assert (status, body["error"]["code"]) == (404, "unknown_event")
    del evt["requestContext"]["authorizer"]
    status, body = invoke(evt, edits_handler)
    assert (status, body["error"]["type"]) == (401, "auth_error")


def deployed(**values: Any) -> Settings:
    return Settings(**{"stage": "dev", "local_provider_enabled": False, **values})


@pytest.mark.parametrize(
    ("values", "problems"),
    [
        ({}, ["No image provider is configured"]),
        ({"replicate_api_token_param": "/aiimage/dev/replicate-api-token"}, []),
        ({"cloudflare_account_id": "a" * 32, "cloudflare_api_token_param": "/x"}, []),
        ({"cloudflare_account_id": "a" * 32}, ["Workers AI needs both", "No image provider"]),
        (
            {"cloudflare_api_token_param": "/x", "runware_api_key_param": "/y"},
            ["Workers AI needs both"],
        ),
        ({"local_provider_enabled": True}, []),
    ],
)
def test_a_deployment_without_a_usable_provider_fails_at_cold_start(
    values: dict[str, Any], problems: list[str]
) -> None:
    settings = deployed(**values)
    found = configuration_problems(settings)
    assert [p[: len(e)] for p, e in zip(found, problems, strict=True)] == problems
    if problems:
        with pytest.raises(ConfigurationError) as caught:
            require_usable_provider(settings)
        assert caught.value.code == "misconfigured"
    else:
        require_usable_provider(settings)


def test_the_check_is_for_deployed_stages_only() -> None:
    require_usable_provider(Settings(stage="test", local_provider_enabled=False))
