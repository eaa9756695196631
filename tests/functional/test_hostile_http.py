"""Hostile HTTP against the functions' apps (issue 15, findings 5 to 7): a forged `Host`
must not decide the URLs we hand out; no response a shared cache may keep carries a
caller's cookie, and every per-caller JSON answer says `no-store`; a money or count field
beyond its documented maximum is a 422, never a 500."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from starlette.requests import HTTPConnection

from ai_edits_api.app import app as edits_app
from aiimage import dynamo
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import MAX_CAP_MICROS, MAX_EDIT_COST_MICROS, MAX_VERSION, Budget
from aiimage.errors import UnprocessableError
from aiimage.http.middleware import shared_cacheable
from aiimage.http.origin import public_base
from aiimage.settings import MAX_UPLOAD_BYTES_CEILING
from generate_api.app import app as generate_app
from tests.conftest import ORIGIN, make_token
from tests.functional.edits_world import COST
from tests.functional.enhancer_support import browser, jpeg
from usage_api.app import app as usage_app
from web_app import pages
from web_app.app import app as web_app

pytestmark = pytest.mark.usefixtures("aws_stack")
SD15 = "@cf/runwayml/stable-diffusion-v1-5-img2img"
OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.yaml"


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


# --- finding 7: numbers beyond what DynamoDB holds are the caller's error, never a 500 -------

HUGE = 10**39  # 40 digits: DynamoDB holds 38


def superadmin() -> TestClient:
    client = TestClient(edits_app, base_url=ORIGIN, raise_server_exceptions=False)
    token = make_token("admin-tenant-a", tenant_id="tenant-a", roles=["superadmin"])
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def style(cost: int) -> dict[str, Any]:
    return {
        "key": "huge",
        "name": "Huge",
        "provider": "fake",
        "provider_model": "fake-model",
        "prompt_template": "{prompt}",
        "cost_estimate_micros": cost,
    }


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/admin/tenants/tenant-a/budget", {"hard_cap_micros": HUGE}, "hard_cap_micros"),
        ("/api/v1/admin/tenants/tenant-a/budget", {"soft_cap_micros": HUGE}, "soft_cap_micros"),
        (
            "/api/v1/admin/tenants/tenant-a/budget",
            {"hard_cap_micros": MAX_CAP_MICROS + 1},
            "hard_cap_micros",
        ),
        ("/api/v1/admin/ai-styles/huge", style(HUGE), "cost_estimate_micros"),
        ("/api/v1/admin/ai-styles/huge", style(MAX_EDIT_COST_MICROS + 1), "cost_estimate_micros"),
    ],
)
def test_money_beyond_its_documented_maximum_is_a_422(
    world: None, path: str, body: dict[str, Any], field: str
) -> None:
    with superadmin() as admin:
        response = admin.put(path, json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert field in str(error)
    # Nothing was stored.
    assert catalog().get_tenant("tenant-a").budget == Budget(hard_cap_micros=5 * COST)
    assert "huge" not in {stored.key for stored in catalog().styles(active_only=False)}


def test_money_at_its_documented_maximum_is_stored_exactly(world: None) -> None:
    with superadmin() as admin:
        budget = admin.put(
            "/api/v1/admin/tenants/tenant-a/budget", json={"hard_cap_micros": MAX_CAP_MICROS}
        )
        styled = admin.put("/api/v1/admin/ai-styles/huge", json=style(MAX_EDIT_COST_MICROS))
    assert budget.status_code == 200, budget.text
    assert styled.status_code == 200, styled.text
    assert catalog().get_tenant("tenant-a").budget.hard_cap_micros == 1_000_000_000_000
    assert catalog().get_style("huge").cost_estimate_micros == 1_000_000_000


def test_a_number_dynamodb_cannot_hold_is_a_422_from_the_codec() -> None:
    with pytest.raises(UnprocessableError) as raised:
        dynamo.to_item({"n": HUGE})
    assert raised.value.code == "number_out_of_range"
    assert dynamo.to_item({"n": 10**37}) == {"n": {"N": str(10**37)}}


def test_the_bounds_are_in_the_openapi_description() -> None:
    schemas = yaml.safe_load(OPENAPI.read_text())["components"]["schemas"]

    def maximum(schema: str, field: str) -> int:
        prop = schemas[schema]["properties"][field]
        return int(next(s["maximum"] for s in prop.get("anyOf", [prop]) if "maximum" in s))

    assert maximum("Budget", "hard_cap_micros") == MAX_CAP_MICROS
    assert maximum("Budget", "soft_cap_micros") == MAX_CAP_MICROS
    assert maximum("Style", "cost_estimate_micros") == MAX_EDIT_COST_MICROS
    assert maximum("SettingsUpdate", "expected_version") == MAX_VERSION
    assert maximum("UploadRequest", "size") == MAX_UPLOAD_BYTES_CEILING
    assert maximum("PhotoUploadRequest", "size") == MAX_UPLOAD_BYTES_CEILING
