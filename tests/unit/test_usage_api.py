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
        "monthlyImages": 93,
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
