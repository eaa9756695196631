"""The tenant control room's API (ai_edits_api.tenant_console) against moto: the tenant's
events by index, one event with its revision and budget, the policy change with its
conflict (409) under concurrency, paging by status through index ByListing, a request's
timeline written by its transitions, the event's photos, and every refusal."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ai_edits_api.app import app
from aiimage import aws
from aiimage.edits import request_store
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import Package
from tests.conftest import ORIGIN, make_token
from tests.functional.edits_world import COST, TOKEN_A

pytestmark = pytest.mark.usefixtures("aws_stack", "world")

EVENTS = "/api/v1/tenant/events"


def tenant_client(tenant_id: str | None, **claims: Any) -> TestClient:
    client = TestClient(app, base_url=ORIGIN)
    if tenant_id is not None:
        claims["tenant_id"] = tenant_id
    token = make_token(f"admin-{tenant_id}", **claims)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def error(response: Any) -> tuple[int, str]:
    body = response.json()
    assert body["success"] is False, response.text
    return response.status_code, body["error"]["code"]


def guest_create(guest: TestClient, **body: Any) -> dict[str, Any]:
    response = guest.post(
        f"/api/v1/events/{TOKEN_A}/photos/photo-party/ai-edits",
        json={"style_key": "watercolor", **body},
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


POLICY = {
    "enabled": True,
    "allow_custom_prompt": True,
    "allowed_style_keys": [],
    "policy_message": None,
}
# What a tenant reads: the seed's four, and ours (off by default).
POLICY_VIEW = {**POLICY, "require_photo_approval": False, "include_prompt_in_manifest": False}
GRANTED = {"granted": True, "granted_by": "package", "unlock": []}


def test_a_tenant_lists_its_own_events_only() -> None:
    answer = tenant_client("tenant-a").get(EVENTS)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"] == {
        "events": [
            {
                "slug": "party",
                "name": "party",
                "revision": 0,
                "capability": GRANTED,
                "policy": POLICY_VIEW,
            }
        ]
    }
    assert [e["slug"] for e in tenant_client("tenant-b").get(EVENTS).json()["data"]["events"]] == [
        "gala"
    ]
    assert tenant_client("tenant-c").get(EVENTS).json()["data"] == {"events": []}


def test_the_event_list_is_one_query_of_the_listing_index(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    real = aws.dynamodb().query

    def spy(**request: Any) -> Any:
        calls.append(request)
        return real(**request)

    monkeypatch.setattr(aws.dynamodb(), "query", spy)
    tenant_client("tenant-a").get(EVENTS)
    [listing] = [c for c in calls if c.get("IndexName") == "ByListing"]
    assert listing["ExpressionAttributeValues"] == {":list": {"S": "tenant#tenant-a#events"}}
    assert "FilterExpression" not in listing
    assert not [c for c in calls if c.get("IndexName") is None and ":pk" in str(c)]


def test_a_locked_event_says_how_to_unlock_it() -> None:
    catalog().put_event_package("tenant-a", "party", "basic")
    catalog().put_package(Package(package_key="basic", name="Basic", features=()))
    [event] = tenant_client("tenant-a").get(EVENTS).json()["data"]["events"]
    assert event["capability"] == {
        "granted": False,
        "granted_by": None,
        "unlock": ["package:ai_styling", "addon:ai_styling_unlock"],
    }
    assert event["revision"] == 1  # the package change


def test_the_event_detail_carries_the_budget_caps() -> None:
    answer = tenant_client("tenant-a").get(f"{EVENTS}/party")
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["budget"] == {
        "soft_cap_micros": None,
        "hard_cap_micros": 5 * COST,
        "override_until": None,
    }
    assert (data["slug"], data["revision"], data["capability"]) == ("party", 0, GRANTED)


@pytest.mark.parametrize(
    "path",
    [
        "/party",
        "/party/photos",
        "/party/ai-edits/0000000000000aaaaaaaaaaaaaaaa/transitions",
        "/party/photos/photo-party/image",
    ],
)
def test_another_tenants_event_is_refused(path: str) -> None:
    # Another tenant's event is indistinguishable from a missing one (access.tenant_event).
    assert error(tenant_client("tenant-b").get(EVENTS + path)) == (404, "unknown_event")


def test_a_tenant_route_needs_a_tenant_bearer_token() -> None:
    assert error(TestClient(app, base_url=ORIGIN).get(EVENTS)) == (401, "unauthenticated")
    assert error(tenant_client(None).get(EVENTS)) == (403, "not_a_tenant")
    body = {**POLICY, "expected_revision": 0}
    assert error(tenant_client(None).put(f"{EVENTS}/party/policy", json=body)) == (
        403,
        "not_a_tenant",
    )


def put_policy(client: TestClient, revision: int, **changes: Any) -> Any:
    return client.put(
        f"{EVENTS}/party/policy", json={**POLICY, "expected_revision": revision, **changes}
    )


def test_a_policy_change_holds_for_the_next_guest_request(guest: TestClient) -> None:
    client = tenant_client("tenant-a")
    answer = put_policy(client, 0, enabled=False, policy_message="  Heute keine KI  ")
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["revision"] == 1
    assert data["policy"] == {
        **POLICY_VIEW,
        "enabled": False,
        "policy_message": "Heute keine KI",
    }
    refused = guest.post(
        f"/api/v1/events/{TOKEN_A}/photos/photo-party/ai-edits", json={"style_key": "watercolor"}
    )
    assert error(refused) == (403, "event_policy")
    assert refused.json()["error"]["message"] == "Heute keine KI"
    # Guest limits and watermark are not the form's: they stay.
    event = catalog().get_event("tenant-a", "party")
    assert event.ai_editing.guest_limits == type(event.ai_editing.guest_limits)()


def test_our_policy_fields_change_when_named_and_stay_when_left_out() -> None:
    client = tenant_client("tenant-a")
    named = put_policy(client, 0, require_photo_approval=True, include_prompt_in_manifest=True)
    assert named.status_code == 200, named.text
    assert named.json()["data"]["policy"] == {
        **POLICY_VIEW,
        "require_photo_approval": True,
        "include_prompt_in_manifest": True,
    }
    # The seed's form sends its four fields only: ours stay as they are.
    left_out = put_policy(client, 1, policy_message="Willkommen")
    assert left_out.status_code == 200, left_out.text
    policy = catalog().get_event("tenant-a", "party").ai_editing
    assert (policy.require_photo_approval, policy.include_prompt_in_manifest) == (True, True)
    assert policy.policy_message == "Willkommen"
    off = put_policy(client, 2, include_prompt_in_manifest=False)
    assert off.json()["data"]["policy"]["include_prompt_in_manifest"] is False
    assert off.json()["data"]["policy"]["require_photo_approval"] is True


def test_a_stale_revision_is_a_conflict_and_changes_nothing() -> None:
    client = tenant_client("tenant-a")
    assert put_policy(client, 0, allowed_style_keys=["watercolor"]).status_code == 200
    stale = put_policy(client, 0, enabled=False)
    assert error(stale) == (409, "event_conflict")
    assert stale.json()["error"]["details"] == {"revision": 1}
    policy = catalog().get_event("tenant-a", "party").ai_editing
    assert (policy.enabled, policy.allowed_style_keys) == (True, ("watercolor",))


def test_concurrent_policy_changes_at_one_revision_only_one_wins() -> None:
    clients = [tenant_client("tenant-a") for _ in range(12)]
    statuses: list[int] = []
    barrier = threading.Barrier(len(clients))

    def change(index: int) -> None:
        barrier.wait()
        response = put_policy(clients[index], 0, policy_message=f"message {index}")
        statuses.append(response.status_code)

    threads = [threading.Thread(target=change, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [409] * 11
    detail = tenant_client("tenant-a").get(f"{EVENTS}/party").json()["data"]
    assert detail["revision"] == 1
    assert detail["policy"]["policy_message"].startswith("message ")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"allowed_style_keys": ["watercolor", "no-such-style"]}, (400, "unknown_style")),
        ({"allowed_style_keys": ["bad key!"]}, (422, "validation_error")),
        ({"policy_message": "x" * 501}, (422, "validation_error")),
        ({"surprise": True}, (422, "validation_error")),
        ({"expected_revision": -1}, (422, "validation_error")),
    ],
)
def test_bad_policy_changes_are_refused(changes: dict[str, Any], expected: tuple[int, str]) -> None:
    response = put_policy(tenant_client("tenant-a"), 0, **changes)
    status, code = error(response)
    assert status == expected[0]
    if expected[1] != "validation_error":
        assert code == expected[1]
    assert catalog().get_event("tenant-a", "party").ai_editing.allowed_style_keys == ()


def fail(request_id: str) -> None:
    request = request_store.load_edit("tenant-a", "party", request_id)
    taken = request_store.transition(request, from_status=("queued",), to_status="processing")
    assert taken is not None
    request_store.transition(
        taken, from_status=("processing",), to_status="failed", error_code="provider_error"
    )


def test_the_requests_page_by_status_through_the_index(guest: TestClient) -> None:
    made = [guest_create(guest)["request_id"] for _ in range(5)]
    fail(made[1])
    fail(made[3])
    client = tenant_client("tenant-a")
    first = client.get(f"{EVENTS}/party/ai-edits", params={"status": "queued", "limit": 2})
    assert first.status_code == 200, first.text
    page = first.json()["data"]
    assert [r["request_id"] for r in page["requests"]] == [made[4], made[2]]
    second = client.get(
        f"{EVENTS}/party/ai-edits",
        params={"status": "queued", "limit": 2, "cursor": page["next_cursor"]},
    ).json()["data"]
    assert [r["request_id"] for r in second["requests"]] == [made[0]]
    assert second["next_cursor"] is None
    failed = client.get(f"{EVENTS}/party/ai-edits", params={"status": "failed"}).json()["data"]
    assert [r["request_id"] for r in failed["requests"]] == [made[3], made[1]]
    assert {r["status"] for r in failed["requests"]} == {"failed"}
    everything = client.get(f"{EVENTS}/party/ai-edits").json()["data"]
    assert [r["request_id"] for r in everything["requests"]] == made[::-1]
    assert everything["next_cursor"] is None


def test_a_status_page_is_one_query_by_key(
    guest: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    guest_create(guest)
    calls: list[dict[str, Any]] = []
    real = aws.dynamodb().query

    def spy(**request: Any) -> Any:
        calls.append(request)
        return real(**request)

    monkeypatch.setattr(aws.dynamodb(), "query", spy)
    tenant_client("tenant-a").get(f"{EVENTS}/party/ai-edits", params={"status": "queued"})
    [listing] = calls
    assert listing["IndexName"] == "ByListing"
    assert listing["ExpressionAttributeValues"] == {
        ":list": {"S": "tenant#tenant-a#event#party#status#queued"}
    }
    assert "FilterExpression" not in listing


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"status": "exploded"}, 422),
        ({"status": "queued", "cursor": "!!!"}, 400),
        ({"status": "queued", "cursor": "bm90IGFuIGlk"}, 400),  # "not an id"
        ({"cursor": "!!!"}, 400),
    ],
)
def test_a_bad_status_or_cursor_is_refused(params: dict[str, str], status: int) -> None:
    response = tenant_client("tenant-a").get(f"{EVENTS}/party/ai-edits", params=params)
    assert response.status_code == status, response.text
    assert response.json()["success"] is False


def test_a_request_timeline_is_written_by_its_transitions(guest: TestClient) -> None:
    request_id = guest_create(guest)["request_id"]
    fail(request_id)
    answer = tenant_client("tenant-a").get(f"{EVENTS}/party/ai-edits/{request_id}/transitions")
    assert answer.status_code == 200, answer.text
    steps = [(t["from_status"], t["to_status"], t["code"]) for t in answer.json()["data"]]
    assert steps == [
        (None, "queued", None),
        ("queued", "processing", None),
        ("processing", "failed", "provider_error"),
    ]
    times = [t["at"] for t in answer.json()["data"]]
    assert times == sorted(times)
    # The timeline is no field of the request itself.
    detail = tenant_client("tenant-a").get(f"{EVENTS}/party/ai-edits/{request_id}").json()
    assert "transitions" not in detail["data"]


def test_a_lost_transition_writes_no_timeline_entry(guest: TestClient) -> None:
    request_id = guest_create(guest)["request_id"]
    stale = request_store.load_edit("tenant-a", "party", request_id)
    assert request_store.transition(stale, from_status=("queued",), to_status="processing")
    # A second delivery with the same stale copy loses its condition.
    assert request_store.transition(stale, from_status=("queued",), to_status="processing") is None
    answer = tenant_client("tenant-a").get(f"{EVENTS}/party/ai-edits/{request_id}/transitions")
    assert [t["to_status"] for t in answer.json()["data"]] == ["queued", "processing"]


def test_an_unknown_request_has_no_timeline() -> None:
    response = tenant_client("tenant-a").get(f"{EVENTS}/party/ai-edits/ffff0000/transitions")
    assert error(response) == (404, "unknown_request")


def test_the_event_photos_for_the_tenant() -> None:
    answer = tenant_client("tenant-a").get(f"{EVENTS}/party/photos")
    assert answer.status_code == 200, answer.text
    [photo] = answer.json()["data"]
    assert photo["photo_id"] == "photo-party"
    assert photo["url"] == "/api/v1/tenant/events/party/photos/photo-party/image"
    assert photo["review"] is None  # the event needs no approval
    # The seeded photo has no display copy: its image is not found, as for guests.
    image = tenant_client("tenant-a").get(f"{EVENTS}/party/photos/photo-party/image")
    assert error(image) == (404, "unknown_photo")
