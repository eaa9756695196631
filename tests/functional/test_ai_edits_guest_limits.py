"""The guest limits through the Magic Edits API: the photo-slot and create rate limits (429
in the envelope with Retry-After), the daily allowance (403 `quota_exceeded`), the abuse
block (403 `abuse_blocked`) and a tenant admin who lists and lifts it (and another tenant
who cannot), and the guest-limits policy route with its bounds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ai_edits_api.app import app
from aiimage.edits.budget import budget_store
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import EventAiEditing, GuestLimits
from aiimage.singletons import reset_singletons
from tests.conftest import ORIGIN, make_token
from tests.functional.edits_world import COST, TOKEN_A

pytestmark = pytest.mark.usefixtures("aws_stack")
LIMITS = "/api/v1/tenant/events/party/guest-limits"
BLOCKS = "/api/v1/tenant/events/party/abuse-blocks"


@pytest.fixture
def admin_a(world: None) -> Iterator[TestClient]:
    with TestClient(app, base_url=ORIGIN) as client:
        client.headers["Authorization"] = f"Bearer {make_token('admin-a', tenant_id='tenant-a')}"
        yield client


@pytest.fixture
def admin_b(world: None) -> Iterator[TestClient]:
    with TestClient(app, base_url=ORIGIN) as client:
        client.headers["Authorization"] = f"Bearer {make_token('admin-b', tenant_id='tenant-b')}"
        yield client


def create(client: TestClient) -> Any:
    return client.post(
        f"/api/v1/events/{TOKEN_A}/photos/photo-party/ai-edits", json={"style_key": "watercolor"}
    )


def error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert body["success"] is False, response.text
    return dict(body["error"])


def test_the_photo_slot_rate_limit_refuses_with_429_in_the_envelope(guest: TestClient) -> None:
    # Room for 11 open slots, so the rate limit is what refuses (the cap: test_photo_slots).
    catalog().put_event_policy(
        "tenant-a", "party", EventAiEditing(guest_limits=GuestLimits(open_photo_slots=20))
    )
    slots = [
        guest.post(
            f"/api/v1/events/{TOKEN_A}/photos", json={"content_type": "image/jpeg", "size": 1000}
        )
        for _ in range(11)
    ]
    assert [r.status_code for r in slots] == [201] * 10 + [429]
    refused = slots[-1]
    assert error(refused)["type"] == "rate_limited"
    assert error(refused)["code"] == "rate_limited"
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert error(refused)["details"] == {"retryAfter": retry_after}


def test_the_create_rate_limit_and_the_daily_allowance(
    guest: TestClient, admin_a: TestClient
) -> None:
    answers = [create(guest) for _ in range(6)]
    assert [r.status_code for r in answers] == [201] * 5 + [429]
    assert error(answers[-1])["type"] == "rate_limited"

    # A tenant admin lifts the rate and sets the daily allowance to what the guest has used.
    relaxed = admin_a.put(LIMITS, json={"edits_per_minute": 100, "edits_per_day": 5})
    assert relaxed.status_code == 200
    refused = create(guest)
    assert refused.status_code == 403
    assert error(refused)["code"] == "quota_exceeded"
    assert error(refused)["details"]["scope"] == "guest"
    assert error(refused)["details"]["limit"] == 5
    # Only the admitted creates hold budget: 5 estimates.
    assert budget_store().month_usage("tenant-a").reserved_micros == 5 * COST


def test_the_abuse_block_refuses_until_the_tenant_lifts_it(
    guest: TestClient, admin_a: TestClient, admin_b: TestClient, settings_env: Any
) -> None:
    settings_env(ABUSE_ESCALATION_THRESHOLD_PER_HOUR="3")
    reset_singletons()
    assert [create(guest).status_code for _ in range(3)] == [201, 201, 201]
    blocked = create(guest)
    assert blocked.status_code == 403
    assert error(blocked)["code"] == "abuse_blocked"
    assert error(blocked)["details"]["scope"] == "guest"
    assert isinstance(error(blocked)["details"]["resetAt"], int)
    assert error(create(guest))["code"] == "abuse_blocked"

    listed = admin_a.get(BLOCKS)
    assert listed.status_code == 200
    [block] = listed.json()["data"]
    scope = block["scope_hash"]

    # Another tenant's admin neither sees nor lifts it: the event is not theirs.
    assert admin_b.get(BLOCKS).status_code == 404
    other = admin_b.delete(f"{BLOCKS}/{scope}")
    assert other.status_code == 404
    assert error(other)["code"] == "unknown_event"
    assert error(create(guest))["code"] == "abuse_blocked"
    # A guest cannot lift its own block (tenant routes need a bearer token).
    assert guest.delete(f"{BLOCKS}/{scope}").status_code == 401

    lifted = admin_a.delete(f"{BLOCKS}/{scope}")
    assert lifted.status_code == 200
    assert lifted.json()["data"] == {"scope_hash": scope, "lifted": True}
    assert admin_a.get(BLOCKS).json()["data"] == []
    assert create(guest).status_code == 201

    again = admin_a.delete(f"{BLOCKS}/{scope}")
    assert again.status_code == 404
    assert error(again)["code"] == "unknown_block"
    assert admin_a.delete(f"{BLOCKS}/not-a-hash").status_code in (400, 422)


def test_the_guest_limits_route_keeps_its_bounds(admin_a: TestClient, admin_b: TestClient) -> None:
    assert admin_a.get(LIMITS).json()["data"] == {
        "edits_per_minute": 5,
        "photo_slots_per_minute": 10,
        "network_photo_slots_per_minute": 30,
        "event_photo_slots_per_minute": 100,
        "open_photo_slots": 5,
        "edits_per_day": 10,
        "network_edits_per_day": 30,
    }
    for bad in (
        {"edits_per_day": 0},
        {"edits_per_minute": 101},
        {"network_edits_per_day": -1},
        {"photo_slots_per_minute": "many"},
        {"unknown": 1},
    ):
        refused = admin_a.put(LIMITS, json=bad)
        assert refused.status_code in (400, 422), bad
        assert error(refused)["type"] == "validation_error"
    assert admin_a.get(LIMITS).json()["data"]["edits_per_day"] == 10

    changed = admin_a.put(LIMITS, json={"edits_per_day": 3, "network_edits_per_day": 100})
    assert changed.json()["data"]["network_edits_per_day"] == 100
    assert admin_a.get(LIMITS).json()["data"]["edits_per_day"] == 3
    assert admin_b.put(LIMITS, json={"edits_per_day": 3}).status_code == 404
