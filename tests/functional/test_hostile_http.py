"""Hostile HTTP against the functions' apps (issue 15, findings 5 and 6): a forged `Host`
must not decide the URLs we hand out, and no response a shared cache may keep carries a
caller's cookie; every per-caller JSON answer says `no-store`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.requests import HTTPConnection

from aiimage.http.middleware import shared_cacheable
from aiimage.http.origin import public_base
from generate_api.app import app as generate_app
from tests.conftest import ORIGIN
from tests.functional.enhancer_support import browser, jpeg
from usage_api.app import app as usage_app
from web_app import pages
from web_app.app import app as web_app

pytestmark = pytest.mark.usefixtures("aws_stack")
SD15 = "@cf/runwayml/stable-diffusion-v1-5-img2img"


def generated_urls(headers: dict[str, str]) -> tuple[str, str]:
    with browser(generate_app) as client:
        response = client.post(
            "/api/ai-image/generate",
            data={"model": SD15},
            files={"image": ("a.jpg", jpeg(), "image/jpeg")},
            headers=headers,
        )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    return data["imageUrl"], data["originalUrl"]


def test_a_forged_host_does_not_decide_the_urls_we_hand_out() -> None:
    image_url, original_url = generated_urls({"Host": "evil.example"})
    assert image_url.startswith(f"{ORIGIN}/r2-ai/ai-enhancer/results/guest/")
    assert original_url.startswith(f"{ORIGIN}/r2-ai/ai-enhancer/originals/guest/")
    assert "evil.example" not in image_url + original_url


def test_the_configured_public_base_url_wins(settings_env: Callable[..., None]) -> None:
    settings_env(PUBLIC_BASE_URL="https://images.example.org/")
    image_url, _ = generated_urls({"Host": "evil.example"})
    assert image_url.startswith("https://images.example.org/r2-ai/ai-enhancer/results/")


def connection(event: dict[str, Any] | None, host: str = "evil.example") -> HTTPConnection:
    scope: dict[str, Any] = {
        "type": "http",
        "headers": [(b"host", host.encode())],
        "path": "/",
        "query_string": b"",
    }
    if event is not None:
        scope["aws.event"] = event
    return HTTPConnection(scope)


def test_in_aws_the_base_is_the_domain_api_gateway_routed_by() -> None:
    event = {"requestContext": {"domainName": "abc123.execute-api.eu-central-1.amazonaws.com"}}
    assert public_base(connection(event)) == "https://abc123.execute-api.eu-central-1.amazonaws.com"
    # An event without it (never from API Gateway) falls back to the configured origin.
    assert public_base(connection({"requestContext": {}})) == ORIGIN
    assert public_base(connection(None)) == ORIGIN


@pytest.mark.parametrize(
    ("cache_control", "shared"),
    [
        (None, False),
        ("", False),
        ("no-store", False),
        ("private, max-age=3600", False),
        ("Private", False),
        ("public, max-age=31536000, immutable", True),
        ("max-age=300", True),
        ("no-cache", True),  # storable, only revalidated
    ],
)
def test_what_a_shared_cache_may_keep(cache_control: str | None, shared: bool) -> None:
    assert shared_cacheable(cache_control) is shared


def test_static_assets_never_set_a_cookie() -> None:
    with TestClient(web_app, base_url=ORIGIN) as client:
        for name, asset in pages.ASSETS.items():
            for params in ({"v": asset.version}, {}):
                response = client.get(f"/static/{name}", params=params)
                assert response.status_code == 200
                assert response.headers["cache-control"].startswith("public")
                assert response.headers.get_list("set-cookie") == [], name
            etag = response.headers["etag"]
            revalidated = client.get(f"/static/{name}", headers={"If-None-Match": etag})
            assert revalidated.status_code == 304
            assert revalidated.headers.get_list("set-cookie") == []


def test_a_page_that_sets_cookies_is_private() -> None:
    with TestClient(web_app, base_url=ORIGIN) as client:
        response = client.get(pages.ENHANCER_PATH)
    assert response.headers.get_list("set-cookie")
    assert not shared_cacheable(response.headers["cache-control"])


def test_json_answers_are_never_stored() -> None:
    with TestClient(usage_app, base_url=ORIGIN) as client:
        issued = client.get("/api/ai-image/usage")
        assert issued.headers["cache-control"] == "no-store"
        assert issued.headers.get_list("set-cookie")  # the new guest's cookies
        returning = client.get("/api/ai-image/usage")
        assert returning.headers["cache-control"] == "no-store"
        assert returning.headers.get_list("set-cookie") == []
        missing = client.get("/api/ai-image/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/json")
    assert missing.headers["cache-control"] == "no-store"
