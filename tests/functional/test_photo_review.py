"""The approval step for guest uploads (`EventAiEditing.require_photo_approval`): a guest's
completed photo waits, seen by its uploader only and open to no edit, until a tenant admin
approves or rejects it with one conditional write."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiimage.edits import photos
from aiimage.edits.catalog_store import PhotoAlreadyReviewedError, catalog
from aiimage.edits.models import EventAiEditing
from tests.functional.edits_world import TOKEN_A
from tests.functional.test_ai_edits_api import code, create, tenant_client
from tests.functional.test_event_photos import complete, other_guest, photo_bytes, upload
from tests.unit.edits_fixtures import run_concurrently

pytestmark = pytest.mark.usefixtures("aws_stack")
REVIEW = "/api/v1/tenant/events/party/photos"


def require_approval() -> None:
    catalog().put_event_policy("tenant-a", "party", EventAiEditing(require_photo_approval=True))


def gallery(client: TestClient) -> dict[str, Any]:
    response = client.get(f"/api/v1/events/{TOKEN_A}/photos")
    assert response.status_code == 200
    return {item["photo_id"]: item["review"] for item in response.json()["data"]}


def pending_upload(guest: TestClient) -> str:
    require_approval()
    photo_id = upload(guest, photo_bytes())
    answer = complete(guest, photo_id)
    assert answer.status_code == 200
    assert answer.json()["data"]["review"] == "pending"
    return photo_id


def test_without_the_policy_an_upload_is_everyones_at_once(guest: TestClient) -> None:
    photo_id = upload(guest, photo_bytes())
    assert complete(guest, photo_id).json()["data"]["review"] is None
    assert gallery(other_guest())[photo_id] is None
    assert create(other_guest(), {"style_key": "watercolor"}, photo=photo_id).status_code == 201


def test_a_pending_photo_is_its_uploaders_alone_and_open_to_no_edit(guest: TestClient) -> None:
    photo_id = pending_upload(guest)
    stranger = other_guest()
    assert gallery(guest) == {"photo-party": None, photo_id: "pending"}
    assert gallery(stranger) == {"photo-party": None}
    image = f"/api/v1/events/{TOKEN_A}/photos/{photo_id}/image"
    assert guest.get(image).status_code == 200
    assert stranger.get(image).status_code == 404
    for client in (guest, stranger):
        refused = create(client, {"style_key": "watercolor"}, photo=photo_id)
        assert (refused.status_code, code(refused)) == (409, "photo_pending_approval")
    tenant = tenant_client("tenant-a")
    refused = tenant.post(
        "/api/v1/tenant/events/party/ai-edits",
        json={"style_key": "watercolor", "photo_id": photo_id},
    )
    assert (refused.status_code, code(refused)) == (409, "photo_pending_approval")
    # A tenant's own photos need no review.
    assert gallery(stranger)["photo-party"] is None


def test_the_tenant_lists_approves_and_the_gallery_follows(guest: TestClient) -> None:
    photo_id = pending_upload(guest)
    tenant = tenant_client("tenant-a")
    listed = tenant.get(REVIEW, params={"status": "pending"})
    assert listed.status_code == 200
    [item] = listed.json()["data"]
    assert item["photo_id"] == photo_id
    assert item["review"] == "pending"
    assert item["uploaded_by"].startswith("guest:")
    assert tenant.get(item["url"]).headers["content-type"] == "image/webp"

    approved = tenant.post(f"{REVIEW}/{photo_id}/approve")
    assert approved.status_code == 200
    assert approved.json()["data"]["review"] == "approved"
    assert approved.json()["data"]["changed"] is True
    assert tenant.get(REVIEW, params={"status": "pending"}).json()["data"] == []
    assert gallery(other_guest())[photo_id] == "approved"
    assert create(other_guest(), {"style_key": "watercolor"}, photo=photo_id).status_code == 201
    # Approving again changes nothing; rejecting now is a conflict.
    again = tenant.post(f"{REVIEW}/{photo_id}/approve")
    assert (again.status_code, again.json()["data"]["changed"]) == (200, False)
    late = tenant.post(f"{REVIEW}/{photo_id}/reject")
    assert (late.status_code, code(late)) == (409, "photo_already_reviewed")


def test_a_rejected_photo_stays_hidden_and_cannot_be_approved(guest: TestClient) -> None:
    photo_id = pending_upload(guest)
    tenant = tenant_client("tenant-a")
    rejected = tenant.post(f"{REVIEW}/{photo_id}/reject")
    assert rejected.json()["data"]["review"] == "rejected"
    late = tenant.post(f"{REVIEW}/{photo_id}/approve")
    assert (late.status_code, code(late)) == (409, "photo_already_reviewed")
    assert photo_id not in gallery(other_guest())
    assert gallery(guest)[photo_id] == "rejected"
    refused = create(guest, {"style_key": "watercolor"}, photo=photo_id)
    assert (refused.status_code, code(refused)) == (409, "photo_pending_approval")


def test_review_refusals_are_clear_4xx(guest: TestClient) -> None:
    photo_id = pending_upload(guest)
    tenant = tenant_client("tenant-a")
    wrong = tenant.get(REVIEW, params={"status": "approved"})
    assert (wrong.status_code, code(wrong)) == (422, "invalid_parameters")
    unknown = tenant.post(f"{REVIEW}/photo-nope/approve")
    assert (unknown.status_code, code(unknown)) == (404, "unknown_photo")
    # A photo that needs no review has none to decide.
    seeded = tenant.post(f"{REVIEW}/photo-party/approve")
    assert (seeded.status_code, code(seeded)) == (409, "photo_already_reviewed")
    # Another tenant's admin reaches neither the list nor the photo.
    other = tenant_client("tenant-b")
    for refused in (other.get(REVIEW), other.post(f"{REVIEW}/{photo_id}/approve")):
        assert (refused.status_code, code(refused)) == (404, "unknown_event")
    # A guest is no reviewer.
    anonymous = guest.post(f"{REVIEW}/{photo_id}/approve")
    assert (anonymous.status_code, code(anonymous)) == (401, "unauthenticated")
    assert catalog().get_photo("tenant-a", "party", photo_id).review == "pending"


def test_parallel_decisions_of_one_photo_exactly_one_wins(guest: TestClient) -> None:
    photo_id = pending_upload(guest)
    event = catalog().get_event("tenant-a", "party")
    decisions = ["approved" if index % 2 else "rejected" for index in range(16)]

    def decide(index: int) -> tuple[str, bool] | str:
        try:
            photo, changed = photos.review_photo(event, photo_id, decisions[index])  # type: ignore[arg-type]
        except PhotoAlreadyReviewedError:
            return "conflict"
        return (str(photo.review), changed)

    outcomes = run_concurrently(16, decide)
    winners = [o for o in outcomes if isinstance(o, tuple) and o[1]]
    assert len(winners) == 1
    final = catalog().get_photo("tenant-a", "party", photo_id).review
    assert winners[0][0] == final
    # The 7 others of the winner's side agree unchanged; the 8 of the other side conflict.
    assert outcomes.count((final, False)) == 7
    assert outcomes.count("conflict") == 8
