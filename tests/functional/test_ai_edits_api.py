"""Magic Edits through the function's app against moto: the check chain in the seed's
order (a request failing two checks reports the first), tenant and guest isolation,
Idempotency-Key, and bad input."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from ai_edits_api.app import app
from aiimage import aws
from aiimage.edits import request_store
from aiimage.edits.budget import budget_store
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import (
    Addon,
    Budget,
    EventAiEditing,
)
from aiimage.storage.keys import quarantined
from tests.conftest import ORIGIN, TEST_ENV, make_token
from tests.functional.edits_world import COST, TOKEN_A, TOKEN_B

pytestmark = pytest.mark.usefixtures("aws_stack")


def tenant_client(tenant_id: str, **claims: Any) -> TestClient:
    client = TestClient(app, base_url=ORIGIN)
    token = make_token(f"admin-{tenant_id}", tenant_id=tenant_id, **claims)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def create(
    client: TestClient, body: dict[str, Any], token: str = TOKEN_A, photo: str = "photo-party"
) -> Any:
    return client.post(f"/api/v1/events/{token}/photos/{photo}/ai-edits", json=body)


def jpeg_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (40, 120, 200)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def code(response: Any) -> str:
    assert response.json()["success"] is False, response.text
    return str(response.json()["error"]["code"])


def stored_requests() -> int:
    items = aws.dynamodb().scan(TableName=TEST_ENV["EDITS_TABLE"])["Items"]
    return sum("#edit#" in item["sk"]["S"] for item in items)


def test_a_guest_creates_a_queued_request(guest: TestClient) -> None:
    response = create(guest, {"style_key": "watercolor", "prompt": "sunset"})
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["status"] == "queued"
    assert data["result_url"] is None
    # Guests see their request, not the tenant's internals (prompt template, costs, ids).
    assert not {"prompt", "tenant_id", "requested_by", "cost_estimate_micros"} & data.keys()
    stored = request_store.load_edit("tenant-a", "party", data["request_id"])
    assert stored.prompt == "a sunset watercolor painting"
    assert budget_store().month_usage("tenant-a").reserved_micros == COST
    again = guest.get(f"/api/v1/events/{TOKEN_A}/ai-edits/{data['request_id']}")
    assert again.json()["data"] == data


# Each chain test breaks two links: the earlier one must be reported.


def test_chain_order_disabled_before_locked(guest: TestClient) -> None:
    catalog().update_settings(
        {"is_enabled": False, "status_message": "Back soon"}, expected_version=1
    )
    _relock_event_a()
    response = create(guest, {"style_key": "watercolor"})
    assert response.status_code == 403
    assert code(response) == "feature_disabled"
    assert response.json()["error"]["message"] == "Back soon"


def _relock_event_a(**policy: Any) -> None:
    store = catalog()
    event = store.get_event("tenant-a", "party")
    store.put_event_policy("tenant-a", "party", event.ai_editing.model_copy(update=policy))
    # Move the event to a package without the feature: the entitlement is gone.
    store.put_event_package("tenant-a", "party", "basic")


def test_chain_order_locked_before_policy(guest: TestClient) -> None:
    _relock_event_a(enabled=False, policy_message="Closed")
    assert code(create(guest, {"style_key": "watercolor"})) == "feature_locked"


def test_an_addon_unlocks_and_its_expiry_locks_again(guest: TestClient) -> None:
    _relock_event_a()
    now = datetime.now(UTC)
    addon = Addon(addon_id="a1", event_id="evt-party", key="ai_styling_unlock", status="completed")
    catalog().put_addon("tenant-a", "party", addon)
    assert create(guest, {"style_key": "watercolor"}).status_code == 201
    expired = addon.model_copy(update={"expires_at": now - timedelta(minutes=1)})
    catalog().put_addon("tenant-a", "party", expired)
    assert code(create(guest, {"style_key": "watercolor"})) == "feature_locked"
    pending = addon.model_copy(update={"status": "pending"})
    catalog().put_addon("tenant-a", "party", pending)
    assert code(create(guest, {"style_key": "watercolor"})) == "feature_locked"


def test_chain_order_policy_before_budget(guest: TestClient) -> None:
    catalog().update_budget("tenant-a", Budget(hard_cap_micros=0))
    catalog().put_event_policy(
        "tenant-a", "party", EventAiEditing(enabled=False, policy_message="No AI here")
    )
    response = create(guest, {"style_key": "watercolor"})
    assert code(response) == "event_policy"
    assert response.json()["error"]["message"] == "No AI here"


def test_custom_prompt_not_allowed_is_event_policy(guest: TestClient) -> None:
    catalog().put_event_policy("tenant-a", "party", EventAiEditing(allow_custom_prompt=False))
    assert code(create(guest, {"style_key": "watercolor", "prompt": "x"})) == "event_policy"
    assert create(guest, {"style_key": "watercolor"}).status_code == 201


def test_chain_order_budget_before_style(guest: TestClient) -> None:
    catalog().update_budget("tenant-a", Budget(hard_cap_micros=COST // 2))
    assert code(create(guest, {"style_key": "retired"})) == "budget_exceeded"


def test_an_override_lifts_the_hard_cap(guest: TestClient) -> None:
    until = datetime.now(UTC) + timedelta(hours=1)
    catalog().update_budget("tenant-a", Budget(hard_cap_micros=0, override_until=until))
    assert create(guest, {"style_key": "watercolor"}).status_code == 201


def test_chain_order_style_before_prompt_and_no_money_held(guest: TestClient) -> None:
    assert code(create(guest, {"style_key": "retired", "prompt": "nude"})) == "style_not_allowed"
    assert code(create(guest, {"style_key": "oil", "prompt": "nude"})) == "style_not_allowed"
    catalog().put_event_policy(
        "tenant-a", "party", EventAiEditing(allow_custom_prompt=True, allowed_style_keys=("oil",))
    )
    assert code(create(guest, {"style_key": "watercolor"})) == "style_not_allowed"
    assert budget_store().month_usage("tenant-a").reserved_micros == 0
    assert stored_requests() == 0


def test_a_blocked_prompt_is_stored_as_blocked_and_costs_nothing(guest: TestClient) -> None:
    response = create(guest, {"style_key": "watercolor", "prompt": "N.U.D.E beach"})
    assert response.status_code == 403
    assert code(response) == "prompt_blocked"
    request_id = response.json()["error"]["details"]["requestId"]
    stored = guest.get(f"/api/v1/events/{TOKEN_A}/ai-edits/{request_id}").json()["data"]
    assert stored["status"] == "blocked"
    assert budget_store().month_usage("tenant-a").reserved_micros == 0


def test_idempotency_key_returns_the_first_answer_and_reserves_once(guest: TestClient) -> None:
    headers = {"Idempotency-Key": "create-0001-abcdef"}
    body = {"style_key": "watercolor"}
    first = guest.post(
        f"/api/v1/events/{TOKEN_A}/photos/photo-party/ai-edits", json=body, headers=headers
    )
    second = guest.post(
        f"/api/v1/events/{TOKEN_A}/photos/photo-party/ai-edits", json=body, headers=headers
    )
    assert first.status_code == second.status_code == 201
    assert first.json()["data"]["request_id"] == second.json()["data"]["request_id"]
    assert budget_store().month_usage("tenant-a").reserved_micros == COST
    assert stored_requests() == 1
    other = guest.post(
        f"/api/v1/events/{TOKEN_A}/photos/photo-party/ai-edits",
        json={"style_key": "watercolor", "prompt": "different"},
        headers=headers,
    )
    assert other.status_code == 422
    assert code(other) == "idempotency_key_reused"


def test_a_tenant_never_reaches_another_tenants_events(world: None) -> None:
    with tenant_client("tenant-a") as a:
        assert a.get("/api/v1/tenant/events/party/ai-edits").status_code == 200
        for path in ("ai-edits", "ai-edits/summary", "ai-styles"):
            response = a.get(f"/api/v1/tenant/events/gala/{path}")
            assert response.status_code == 404, path
        created = a.post(
            "/api/v1/tenant/events/gala/ai-edits",
            json={"style_key": "watercolor", "photo_id": "photo-gala"},
        )
        assert created.status_code == 404
    assert stored_requests() == 0


def test_a_guest_token_cannot_touch_another_events_photos(guest: TestClient) -> None:
    response = create(guest, {"style_key": "watercolor"}, token=TOKEN_A, photo="photo-gala")
    assert response.status_code == 404
    assert code(response) == "unknown_photo"
    b_request = create(guest, {"style_key": "watercolor"}, token=TOKEN_B, photo="photo-gala")
    request_id = b_request.json()["data"]["request_id"]
    assert guest.get(f"/api/v1/events/{TOKEN_A}/ai-edits/{request_id}").status_code == 404


def test_a_request_is_its_guests_and_its_tenants_not_another_guests(guest: TestClient) -> None:
    request_id = create(guest, {"style_key": "watercolor"}).json()["data"]["request_id"]
    edit = f"/api/v1/events/{TOKEN_A}/ai-edits/{request_id}"
    assert guest.get(edit).status_code == 200
    mine = guest.get(f"{edit}/result")
    assert (mine.status_code, code(mine)) == (404, "no_result")  # its own, not finished yet
    with TestClient(app, base_url=ORIGIN) as other:  # another guest of the same event
        for path in (edit, f"{edit}/result"):
            response = other.get(path)
            assert (response.status_code, code(response)) == (404, "unknown_request"), path
    with tenant_client("tenant-a") as a:
        edit = f"/api/v1/tenant/events/party/ai-edits/{request_id}"
        assert a.get(edit).json()["data"]["request_id"] == request_id
        result = a.get(f"{edit}/result")
        assert (result.status_code, code(result)) == (404, "no_result")


def test_tenant_lists_filters_and_summarises(world: None) -> None:
    with tenant_client("tenant-a") as a:
        for _ in range(3):
            assert (
                a.post(
                    "/api/v1/tenant/events/party/ai-edits",
                    json={"style_key": "watercolor", "photo_id": "photo-party"},
                ).status_code
                == 201
            )
        page = a.get("/api/v1/tenant/events/party/ai-edits", params={"limit": 2}).json()["data"]
        assert len(page["requests"]) == 2
        rest = a.get(
            "/api/v1/tenant/events/party/ai-edits",
            params={"limit": 2, "cursor": page["next_cursor"]},
        ).json()["data"]
        assert len(rest["requests"]) == 1
        assert rest["next_cursor"] is None
        queued = a.get("/api/v1/tenant/events/party/ai-edits", params={"status": "queued"})
        assert len(queued.json()["data"]["requests"]) == 3
        summary = a.get("/api/v1/tenant/events/party/ai-edits/summary").json()["data"]
        assert summary["counts"]["queued"] == 3
        assert summary["total"] == 3


def test_only_superadmins_change_settings(world: None) -> None:
    with tenant_client("tenant-a") as a:
        assert a.get("/api/v1/admin/ai-editing/settings").status_code == 403
    with tenant_client("tenant-a", roles=["superadmin"]) as admin:
        current = admin.get("/api/v1/admin/ai-editing/settings").json()["data"]
        updated = admin.put(
            "/api/v1/admin/ai-editing/settings",
            json={"expected_version": current["version"], "changes": {"queue_auto_dispatch": True}},
        )
        assert updated.status_code == 200, updated.text
        assert updated.json()["data"]["queue_auto_dispatch"] is True
        stale = admin.put(
            "/api/v1/admin/ai-editing/settings",
            json={"expected_version": current["version"], "changes": {"is_enabled": False}},
        )
        assert stale.status_code in (400, 409)
        bad = admin.put(
            "/api/v1/admin/ai-editing/settings",
            json={
                "expected_version": current["version"] + 1,
                "changes": {"queue_max_polls": "many"},
            },
        )
        assert bad.status_code == 400


def test_auto_dispatch_sends_the_request_to_the_queue(guest: TestClient) -> None:
    catalog().update_settings({"queue_auto_dispatch": True}, expected_version=1)
    request_id = create(guest, {"style_key": "watercolor"}).json()["data"]["request_id"]
    messages = aws.sqs().receive_message(QueueUrl=TEST_ENV["EDITS_QUEUE_URL"])["Messages"]
    assert request_id in messages[0]["Body"]


@pytest.mark.parametrize(
    ("body", "status", "error_code"),
    [
        ({"style_key": "unknown-style"}, 404, "unknown_style"),
        ({"style_key": "watercolor", "prompt": "x" * 501}, 422, "invalid_parameters"),
        ({"style_key": 42}, 422, "invalid_parameters"),
        ({"style_key": "watercolor", "extra": 1}, 422, "invalid_parameters"),
        ({}, 422, "invalid_parameters"),
    ],
)
def test_bad_input_is_a_clear_4xx(
    guest: TestClient, body: dict[str, Any], status: int, error_code: str
) -> None:
    response = create(guest, body)
    assert response.status_code == status, response.text
    assert code(response) == error_code
    assert stored_requests() == 0


def test_unknown_token_photo_and_malformed_json(guest: TestClient) -> None:
    assert (
        code(create(guest, {"style_key": "watercolor"}, token="no-such-token")) == "unknown_event"
    )
    assert code(create(guest, {"style_key": "watercolor"}, photo="nope")) == "unknown_photo"
    malformed = guest.post(
        f"/api/v1/events/{TOKEN_A}/photos/photo-party/ai-edits",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert malformed.status_code == 422
    assert stored_requests() == 0


def test_a_guest_uploads_a_photo_then_edits_it(guest: TestClient) -> None:
    response = guest.post(
        f"/api/v1/events/{TOKEN_A}/photos", json={"content_type": "image/jpeg", "size": 2048}
    )
    assert response.status_code == 201, response.text
    upload = response.json()["data"]
    assert upload["headers"] == {"Content-Type": "image/jpeg", "Content-Length": "2048"}
    assert "content-length%3Bcontent-type" in upload["url"]
    photo = catalog().get_photo("tenant-a", "party", upload["photo_id"])
    assert photo.object_key.startswith("events/party/photos/")
    assert photo.status == "uploading"
    not_ready = create(guest, {"style_key": "watercolor"}, photo=upload["photo_id"])
    assert (not_ready.status_code, code(not_ready)) == (409, "photo_not_ready")
    # The browser's PUT to the presigned URL (a quarantine key), then the completion call.
    aws.s3().put_object(
        Bucket=TEST_ENV["IMAGES_BUCKET"],
        Key=quarantined(photo.object_key),
        Body=jpeg_bytes(),
        ContentType="image/jpeg",
    )
    completed = guest.post(f"/api/v1/events/{TOKEN_A}/photos/{upload['photo_id']}/complete")
    assert completed.status_code == 200, completed.text
    created = create(guest, {"style_key": "watercolor"}, photo=upload["photo_id"])
    assert created.status_code == 201
    # Another event's token cannot use it.
    assert (
        create(
            guest, {"style_key": "watercolor"}, token=TOKEN_B, photo=upload["photo_id"]
        ).status_code
        == 404
    )
    for body, status in (
        ({"content_type": "image/gif", "size": 10}, 415),
        ({"content_type": "image/png", "size": 11 * 2**20}, 413),
        ({"content_type": "image/png", "size": 0}, 400),
        ({"content_type": "image/png"}, 422),
    ):
        assert guest.post(f"/api/v1/events/{TOKEN_A}/photos", json=body).status_code == status


def test_style_pickers_show_only_usable_styles(guest: TestClient) -> None:
    keys = [s["key"] for s in guest.get(f"/api/v1/events/{TOKEN_A}/ai-styles").json()["data"]]
    assert keys == ["watercolor"]  # "retired" is inactive, "oil" needs a feature it lacks
    catalog().put_event_policy("tenant-a", "party", EventAiEditing(allowed_style_keys=("retired",)))
    assert guest.get(f"/api/v1/events/{TOKEN_A}/ai-styles").json()["data"] == []
