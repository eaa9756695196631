"""`GET /api/ai-image/usage` through the function's app, against moto."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from aiimage.identity import guest, user_from_bearer
from aiimage.limits import quota_store
from aiimage.limits.plans import resolve_plan
from aiimage.settings import get_settings
from tests.conftest import assert_security_headers, make_token
from usage_api.app import app

pytestmark = pytest.mark.usefixtures("aws_stack")


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(app, base_url="https://app.test") as c:
        yield c


def next_midnight_ms() -> int:
    now = datetime.now(UTC)
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    return int(midnight.timestamp() * 1000)


def test_guest_usage(client: TestClient) -> None:
    response = client.get("/api/ai-image/usage")
    assert response.status_code == 200
    assert response.headers["x-usage-limit"] == "3"
    assert_security_headers(response.headers)
    data = response.json()["data"]
    assert data["ownerType"] == "guest"
    assert data["plan"] == "guest"
    assert data["usage"] == {"used": 0, "limit": 3, "resetAt": next_midnight_ms()}
    assert data["limits"] == {"user": 20, "guest": 3}
    assert data["entitlements"] == {
        "monthlyImages": None,  # a guest has no monthly quota: its daily cap binds
        "dailyBurstCap": 3,
        "maxUpscale": 2,
        "faceEnhance": False,
    }


def test_usage_reflects_reservations(client: TestClient) -> None:
    client.get("/api/ai-image/usage")
    guest_id = client.cookies["guest_id"].split(".")[0]
    identity = guest(guest_id)
    _, entitlements = resolve_plan(identity, get_settings())
    quota_store().reserve(identity.owner_key, entitlements)
    data = client.get("/api/ai-image/usage").json()["data"]
    assert data["usage"]["used"] == 1
    assert data["monthlyUsage"]["used"] == 1


@pytest.mark.parametrize(
    ("plan", "daily", "monthly"),
    [("free", 20, 100), ("pro", 40, 400), ("premium", 100, 1500), ("unknown-plan", 20, 100)],
)
def test_user_usage_follows_the_plan_claim(
    client: TestClient, plan: str, daily: int, monthly: int
) -> None:
    token = make_token("user-7", plan=plan)
    response = client.get("/api/ai-image/usage", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["ownerType"] == "user"
    assert data["plan"] == (plan if plan != "unknown-plan" else "free")
    assert data["usage"]["limit"] == daily
    assert data["monthlyUsage"]["limit"] == monthly
    assert response.headers["x-usage-limit"] == str(daily)
    # Bearer callers get no guest cookie.
    assert "guest_id" not in response.headers.get("set-cookie", "")
    assert user_from_bearer(token).owner_key == "user#user-7"


def test_limits_follow_settings(client: TestClient, settings_env: Callable[..., None]) -> None:
    settings_env(GUEST_DAILY_LIMIT="5", USER_DAILY_LIMIT="30")
    data = client.get("/api/ai-image/usage").json()["data"]
    assert data["usage"]["limit"] == 5
    assert data["limits"] == {"user": 30, "guest": 5}


def test_post_without_csrf_is_forbidden(client: TestClient) -> None:
    response = client.post("/api/ai-image/usage")
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "forbidden"
    assert_security_headers(response.headers)


def test_other_methods_are_405(client: TestClient) -> None:
    token = make_token()
    response = client.put("/api/ai-image/usage", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


@pytest.mark.parametrize(("plan", "daily"), [("free", 20), ("pro", 40), ("enterprise", 500)])
def test_limits_user_is_the_signed_in_callers_own_daily_cap(
    client: TestClient, plan: str, daily: int
) -> None:
    token = make_token(f"user-{plan}", plan=plan)
    data = client.get("/api/ai-image/usage", headers={"Authorization": f"Bearer {token}"}).json()
    assert data["data"]["usage"]["limit"] == daily
    assert data["data"]["limits"] == {"user": daily, "guest": 3}


def _models(client: TestClient, plan: str | None) -> dict[str, dict[str, object]]:
    headers = {} if plan is None else {"Authorization": f"Bearer {make_token(plan=plan)}"}
    response = client.get("/api/ai-image/models", headers=headers)
    assert response.status_code == 200, response.text
    return {model["id"]: model for model in response.json()["data"]}


def test_models_say_for_a_guest_what_signing_in_or_pro_unlocks(client: TestClient) -> None:
    models = _models(client, None)
    assert list(models) == [
        "@cf/runwayml/stable-diffusion-v1-5-img2img",
        "@cf/stabilityai/stable-diffusion-xl-base-1.0",
        "nightmareai/real-esrgan",
        "tencentarc/gfpgan",
        "sczhou/codeformer",
    ]
    esrgan = models["nightmareai/real-esrgan"]
    assert esrgan == {
        "id": "nightmareai/real-esrgan",
        "name": "Upscale (Real-ESRGAN)",
        "kind": "upscale",
        "scales": [2],  # a guest upscales 2x at most
        "faceEnhance": False,
        "plans": ["guest", "free", "pro", "premium", "enterprise"],
        "available": True,
        "unlockedBy": None,
    }
    for face_model in ("tencentarc/gfpgan", "sczhou/codeformer"):
        assert models[face_model]["available"] is False
        assert models[face_model]["plans"] == ["pro", "premium", "enterprise"]
        assert models[face_model]["unlockedBy"] == "pro"
    assert models["@cf/runwayml/stable-diffusion-v1-5-img2img"]["scales"] == []


def test_models_for_pro_are_all_available_with_faces_and_4x(client: TestClient) -> None:
    models = _models(client, "pro")
    assert all(model["available"] and model["unlockedBy"] is None for model in models.values())
    assert models["nightmareai/real-esrgan"]["scales"] == [2, 4]
    assert models["nightmareai/real-esrgan"]["faceEnhance"] is True
    free = _models(client, "free")
    assert free["nightmareai/real-esrgan"]["faceEnhance"] is False
    assert free["tencentarc/gfpgan"]["unlockedBy"] == "pro"
