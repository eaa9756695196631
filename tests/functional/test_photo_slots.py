"""Bounded photo slots through the guest API (issue 15, finding 3): a script minting a fresh
cookie per request is held by its network's rate, every guest together by the event's, a
guest holds at most `open_photo_slots` uncompleted slots, an expired slot is gone (for
complete too), and the gallery's read does not grow with open slots."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ai_edits_api.app import app
from aiimage import aws
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import Photo
from tests.conftest import ORIGIN, make_token
from tests.functional.edits_world import TOKEN_A
from tests.functional.enhancer_support import CSRF
from tests.functional.test_event_photos import complete, photo_bytes, upload

pytestmark = pytest.mark.usefixtures("aws_stack")
PHOTOS = f"/api/v1/events/{TOKEN_A}/photos"
LIMITS = "/api/v1/tenant/events/party/guest-limits"
IP_HEADER = "CF-Connecting-IP"
SLOT = {"content_type": "image/jpeg", "size": 1000}


@pytest.fixture
def behind_cdn(settings_env: Callable[..., None]) -> None:
    """Addresses come from one trusted header, so a test can speak from any network."""
    settings_env(CLIENT_IP_HEADER=IP_HEADER)


def fresh_guest(address: str) -> TestClient:
    """A new browser (no guest cookie yet) calling from `address`."""
    client = TestClient(
        app,
        base_url=ORIGIN,
        headers={"Origin": ORIGIN, "X-CSRF-Token": CSRF, IP_HEADER: address},
    )
    client.cookies.set("csrf_token", CSRF)
    return client


@pytest.fixture
def admin(world: None) -> Iterator[TestClient]:
    with TestClient(app, base_url=ORIGIN) as client:
        client.headers["Authorization"] = f"Bearer {make_token('admin-a', tenant_id='tenant-a')}"
        yield client


def error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert body["success"] is False, response.text
    return dict(body["error"])


@pytest.mark.usefixtures("aws_stack", "world", "behind_cdn")
def test_fresh_cookies_from_one_network_get_30_slots_a_minute() -> None:
    answers = [fresh_guest("198.51.100.7").post(PHOTOS, json=SLOT) for _ in range(31)]
    assert [a.status_code for a in answers] == [201] * 30 + [429]
    assert error(answers[-1])["type"] == "rate_limited"
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    # An IPv6 host cannot escape by picking another address of its /64.
    v6 = [fresh_guest(f"2001:db8:1:2::{n:x}").post(PHOTOS, json=SLOT) for n in range(31)]
    assert [a.status_code for a in v6] == [201] * 30 + [429]
    # Another network is not held by the first one's use.
    assert fresh_guest("203.0.113.9").post(PHOTOS, json=SLOT).status_code == 201


@pytest.mark.usefixtures("behind_cdn")
def test_every_network_together_is_held_to_the_event_limit(admin: TestClient) -> None:
    changed = admin.put(LIMITS, json={"event_photo_slots_per_minute": 20})
    assert changed.status_code == 200, changed.text
    answers = [fresh_guest(f"198.51.100.{n}").post(PHOTOS, json=SLOT) for n in range(1, 22)]
    assert [a.status_code for a in answers] == [201] * 20 + [429]
    assert error(answers[-1])["type"] == "rate_limited"


def test_a_guest_holds_at_most_five_open_slots(guest: TestClient) -> None:
    first = upload(guest, photo_bytes())  # a slot whose bytes are there, not completed yet
    opened = [guest.post(PHOTOS, json=SLOT) for _ in range(5)]
    assert [a.status_code for a in opened] == [201] * 4 + [429]
    refused = error(opened[-1])
    assert (refused["type"], refused["code"]) == ("rate_limited", "too_many_open_photo_slots")
    assert int(opened[-1].headers["Retry-After"]) >= 60
    # Completing one frees its place, once.
    assert complete(guest, first).status_code == 200
    assert guest.post(PHOTOS, json=SLOT).status_code == 201
    assert complete(guest, first).status_code == 200
    assert error(guest.post(PHOTOS, json=SLOT))["code"] == "too_many_open_photo_slots"


def test_bad_slot_requests_are_4xx_and_count_nothing(guest: TestClient) -> None:
    for bad in (
        {"content_type": "text/html", "size": 1000},
        {"content_type": "image/jpeg", "size": 0},
        {"content_type": "image/jpeg", "size": 10**12},
        {"content_type": "image/jpeg"},
        {"content_type": "image/jpeg", "size": "big"},
    ):
        refused = guest.post(PHOTOS, json=bad)
        assert 400 <= refused.status_code < 500, (bad, refused.text)
        assert error(refused)["type"] == "validation_error"
    assert [guest.post(PHOTOS, json=SLOT).status_code for _ in range(5)] == [201] * 5


def test_an_expired_slot_is_gone_for_complete_and_edits(
    guest: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo_id = upload(guest, photo_bytes())
    store = catalog()
    later = store.wall_clock() + 3600
    monkeypatch.setattr(store, "wall_clock", lambda: later)
    refused = complete(guest, photo_id)
    assert (refused.status_code, error(refused)["code"]) == (404, "unknown_photo")
    created = guest.post(f"{PHOTOS}/{photo_id}/ai-edits", json={"style_key": "watercolor"})
    assert (created.status_code, error(created)["code"]) == (404, "unknown_photo")
    # Its place is free again: five new slots fit.
    assert [guest.post(PHOTOS, json=SLOT).status_code for _ in range(5)] == [201] * 5


def test_open_slots_do_not_change_what_the_gallery_reads(guest: TestClient) -> None:
    store = catalog()
    client = aws.dynamodb()
    scanned: list[int] = []

    def record(parsed: dict[str, Any], **_: Any) -> None:
        scanned.append(int(parsed.get("ScannedCount", 0)))

    def gallery_reads() -> tuple[list[str], int]:
        scanned.clear()
        client.meta.events.register("after-call.dynamodb.Query", record)
        try:
            listed = guest.get(PHOTOS).json()["data"]
        finally:
            client.meta.events.unregister("after-call.dynamodb.Query", record)
        return [p["photo_id"] for p in listed], sum(scanned)

    listed, reads = gallery_reads()
    for n in range(1000):
        store.put_photo(
            "tenant-a",
            "party",
            Photo(
                photo_id=f"open-{n:04d}",
                event_id="evt-party",
                object_key=f"events/party/photos/open-{n:04d}.jpg",
                uploaded_by=f"guest:{n}",
                status="uploading",
            ),
        )
    assert listed == ["photo-party"]
    assert gallery_reads() == (listed, reads)
    assert reads == 1
