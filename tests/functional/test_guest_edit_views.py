"""What a guest page reads from the guest API (issue 19): the event's name and policy text,
"my edits" across reloads (only the guest's own), a failed edit without provider or
configuration text, the kill switch at once for new requests and said to queued ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ai_edits_api.app import app
from ai_edits_api.views import GUEST_FAILURE_CODE, GUEST_FAILURE_MESSAGE
from aiimage.edits import request_store
from aiimage.edits.catalog_store import Catalog, catalog
from aiimage.settings import get_settings
from tests.conftest import ORIGIN
from tests.functional.edits_world import TOKEN_A, TOKEN_B
from tests.functional.enhancer_support import CSRF

pytestmark = pytest.mark.usefixtures("aws_stack")
BASE = f"/api/v1/events/{TOKEN_A}"


@pytest.fixture
def other_guest(world: None) -> Iterator[TestClient]:
    """A second browser: another `guest_id` cookie."""
    with TestClient(app, base_url=ORIGIN, headers={"Origin": ORIGIN, "X-CSRF-Token": CSRF}) as c:
        c.cookies.set("csrf_token", CSRF)
        yield c


def create(client: TestClient, style_key: str = "watercolor") -> dict[str, Any]:
    response = client.post(f"{BASE}/photos/photo-party/ai-edits", json={"style_key": style_key})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def test_the_event_route_names_the_event_and_its_policy_text(guest: TestClient) -> None:
    event = catalog().get_event("tenant-a", "party")
    policy = event.ai_editing.model_copy(
        update={"policy_messages": {"de": "Bitte freundlich bleiben", "en": "Please be kind"}}
    )
    catalog().put_event_policy("tenant-a", "party", policy)
    response = guest.get(BASE)
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "data": {
            "name": "party",
            "policy_messages": {"de": "Bitte freundlich bleiben", "en": "Please be kind"},
        },
    }


def test_a_single_language_policy_message_is_the_german_text(guest: TestClient) -> None:
    event = catalog().get_event("tenant-a", "party")
    policy = event.ai_editing.model_copy(update={"policy_message": "Nur freundliche Bilder"})
    catalog().put_event_policy("tenant-a", "party", policy)
    data = guest.get(BASE).json()["data"]
    assert data["policy_messages"] == {"de": "Nur freundliche Bilder"}


@pytest.mark.parametrize("token", ["not-a-real-token", "short", "bad.token.value!"])
def test_an_unknown_event_is_404_in_the_envelope(guest: TestClient, token: str) -> None:
    response = guest.get(f"/api/v1/events/{token}")
    body = response.json()
    assert body["success"] is False
    if token == "not-a-real-token":
        assert response.status_code == 404
        assert body["error"]["code"] == "unknown_event"
    else:  # malformed: refused by the path's pattern, in the envelope
        assert response.status_code in (400, 422)
        assert body["error"]["type"] == "validation_error"


def test_my_edits_lists_only_the_callers_own_newest_first(
    guest: TestClient, other_guest: TestClient
) -> None:
    mine = [create(guest)["request_id"] for _ in range(3)]
    theirs = create(other_guest)["request_id"]
    listed = guest.get(f"{BASE}/ai-edits").json()["data"]
    assert [edit["request_id"] for edit in listed] == list(reversed(mine))
    assert theirs not in {edit["request_id"] for edit in listed}
    assert [e["request_id"] for e in other_guest.get(f"{BASE}/ai-edits").json()["data"]] == [theirs]
    # A reload is the same cookie: the same list; a limit keeps the newest.
    limited = guest.get(f"{BASE}/ai-edits", params={"limit": 2}).json()["data"]
    assert [edit["request_id"] for edit in limited] == list(reversed(mine))[:2]
    # The same guest at another event is another scope: nothing there.
    assert guest.get(f"/api/v1/events/{TOKEN_B}/ai-edits").json()["data"] == []


@pytest.mark.parametrize("limit", ["0", "51", "many"])
def test_a_bad_limit_is_a_4xx_in_the_envelope(guest: TestClient, limit: str) -> None:
    response = guest.get(f"{BASE}/ai-edits", params={"limit": limit})
    assert response.status_code in (400, 422)  # the validation status the envelope maps to
    assert response.json()["error"]["type"] == "validation_error"


def test_a_failed_edit_shows_no_provider_or_configuration_text(guest: TestClient) -> None:
    created = create(guest)
    stored = request_store.load_edit("tenant-a", "party", created["request_id"])
    request_store.transition(
        stored,
        from_status=("queued",),
        to_status="failed",
        error_code="misconfigured",
        error_message="No API token is configured for runware",
    )
    for data in (
        guest.get(f"{BASE}/ai-edits/{created['request_id']}").json()["data"],
        guest.get(f"{BASE}/ai-edits").json()["data"][0],
    ):
        assert data["status"] == "failed"
        assert data["error_code"] == GUEST_FAILURE_CODE
        assert data["error_message"] == GUEST_FAILURE_MESSAGE
        assert "runware" not in str(data).lower()
        assert "token" not in str(data).lower()


def test_the_kill_switch_holds_at_once_for_new_requests(guest: TestClient) -> None:
    assert get_settings().edits_settings_cache_seconds > 0
    create(guest)  # this process has the settings (switched on) in its cache now
    # Another process (the admin API, the ops CLI) switches it off: this one's cache is not
    # told, yet the next create reads through.
    other = Catalog(get_settings().edits_table)
    version = other.get_settings().version
    other.update_settings({"is_enabled": False}, expected_version=version)
    response = guest.post(f"{BASE}/photos/photo-party/ai-edits", json={"style_key": "watercolor"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "feature_disabled"


def test_requests_queued_while_paused_are_told_so(guest: TestClient) -> None:
    queued = create(guest)
    assert queued["paused"] is False
    store = catalog()
    store.update_settings({"is_enabled": False}, expected_version=store.get_settings().version)
    seen = guest.get(f"{BASE}/ai-edits/{queued['request_id']}").json()["data"]
    assert seen["status"] == "queued"
    assert seen["paused"] is True
    assert guest.get(f"{BASE}/ai-edits").json()["data"][0]["paused"] is True
    store.update_settings({"is_enabled": True}, expected_version=store.get_settings().version)
    assert guest.get(f"{BASE}/ai-edits/{queued['request_id']}").json()["data"]["paused"] is False
