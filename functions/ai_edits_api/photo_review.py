"""The tenant's photos of an event: the ready ones (what a tenant edit may start from) and,
under an event policy with `require_photo_approval`, the guest photos awaiting review,
which a tenant admin approves or rejects (one conditional write: of two parallel decisions
exactly one holds); and the display copy of any ready photo, for its reviewer."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Header, Query, Response

from ai_edits_api.views import PHOTO_RESPONSES, Id, ReviewedPhotoView, Slug
from aiimage.edits import photos
from aiimage.edits.access import tenant_event
from aiimage.edits.models import PhotoReview
from aiimage.http.app import CurrentIdentity, api_router
from aiimage.http.models import Envelope

router = api_router(prefix="/api/v1/tenant/events/{event_slug}/photos", tags=["tenant"])


@router.get("", response_model=Envelope[list[ReviewedPhotoView]])
def tenant_review_queue(
    identity: CurrentIdentity,
    event_slug: Slug,
    status: Annotated[Literal["ready", "pending"], Query()] = "ready",
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Envelope[list[ReviewedPhotoView]]:
    """The event's photos, newest first: `ready`, those an edit may start from (approved, or
    needing no approval); `pending`, the guest photos awaiting approval."""
    event, _ = tenant_event(identity, event_slug)
    found = (
        photos.pending_photos(event, limit=limit)
        if status == "pending"
        else photos.editable_photos(event, limit=limit)
    )
    return Envelope(data=[ReviewedPhotoView.of(photo, event.slug) for photo in found])


def _decide(
    identity: CurrentIdentity, event_slug: str, photo: str, decision: PhotoReview
) -> Envelope[ReviewedPhotoView]:
    event, _ = tenant_event(identity, event_slug)
    reviewed, changed = photos.review_photo(event, photo, decision)
    return Envelope(data=ReviewedPhotoView.of(reviewed, event.slug, changed=changed))


@router.post("/{photo}/approve", response_model=Envelope[ReviewedPhotoView])
def tenant_approve_photo(
    identity: CurrentIdentity, event_slug: Slug, photo: Id
) -> Envelope[ReviewedPhotoView]:
    """Show the photo in the gallery and open it to edits (409 if it was rejected)."""
    return _decide(identity, event_slug, photo, "approved")


@router.post("/{photo}/reject", response_model=Envelope[ReviewedPhotoView])
def tenant_reject_photo(
    identity: CurrentIdentity, event_slug: Slug, photo: Id
) -> Envelope[ReviewedPhotoView]:
    """Keep the photo out of the gallery and of edits for good (409 if it was approved)."""
    return _decide(identity, event_slug, photo, "rejected")


@router.get("/{photo}/image", response_class=Response, responses=PHOTO_RESPONSES)
def tenant_photo_image(
    identity: CurrentIdentity,
    event_slug: Slug,
    photo: Id,
    if_none_match: Annotated[str | None, Header(max_length=256)] = None,
) -> Response:
    """The watermarked display copy of any ready photo of the event, for its reviewer."""
    event, _ = tenant_event(identity, event_slug)
    stored = photos.display_image(event, photo, None, if_none_match=if_none_match)
    headers = {"ETag": stored.etag, "Cache-Control": "private, max-age=3600"}
    if stored.body is None:
        return Response(status_code=304, headers=headers)
    return Response(stored.body, media_type=stored.content_type, headers=headers)
