"""The guest routes: a guest of an event, through its join token and the `guest_id` cookie,
uploads photos, asks for edits of them and fetches its own results."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Query, Response

from ai_edits_api.views import (
    PHOTO_RESPONSES,
    PREVIEW_RESPONSES,
    RESULT_RESPONSES,
    GuestEdit,
    GuestEventInfo,
    Id,
    IdempotencyKey,
    PhotoUploadRequest,
    PhotoUploadView,
    PhotoView,
    StyleView,
    Token,
    result_response,
)
from aiimage.edits import admission, photos, stats, style_previews
from aiimage.edits.access import (
    event_for_link,
    guest_event,
    own_edits,
    visible_edit,
    visible_result,
)
from aiimage.edits.idempotency import idempotent_create
from aiimage.errors import ValidationError
from aiimage.http.app import CurrentIdentity, api_router
from aiimage.http.models import Envelope
from aiimage.http.ratelimit_headers import rate_limited_responses

router = api_router(prefix="/api/v1/events/{token}", tags=["guest"])
# "My edits": the newest of the calling guest's own requests, as many as the page shows.
MY_EDITS_MAX = 50


@router.get("", response_model=Envelope[GuestEventInfo])
def guest_event_info(token: Token) -> Envelope[GuestEventInfo]:
    """The event a join token opens: its name and the policy text, for the guest page."""
    return Envelope(data=GuestEventInfo.of(event_for_link(token)))


@router.get("/ai-edits", response_model=Envelope[list[GuestEdit]])
def guest_own_edits(
    identity: CurrentIdentity,
    token: Token,
    limit: Annotated[int, Query(ge=1, le=MY_EDITS_MAX)] = 20,
) -> Envelope[list[GuestEdit]]:
    """The calling guest's own requests of the event (by its `guest_id` cookie), newest
    first: what "my edits" shows after a reload. Another guest's requests never appear."""
    event, actor = guest_event(identity, token)
    paused = admission.service_paused()
    edits = own_edits(event, actor, limit=limit)
    return Envelope(data=[GuestEdit.of(edit, token, paused=paused) for edit in edits])


@router.post(
    "/photos/{photo}/ai-edits",
    status_code=201,
    response_model=Envelope[GuestEdit],
    responses=rate_limited_responses(201),
)
def guest_create(
    identity: CurrentIdentity,
    token: Token,
    photo: Id,
    body: admission.EditCreate,
    idempotency_key: IdempotencyKey = None,
) -> Envelope[GuestEdit]:
    event, actor = guest_event(identity, token)
    if body.photo_id is not None:
        raise ValidationError("photo_id belongs in the path", code="param_not_supported")
    created = idempotent_create(
        idempotency_key,
        scope=f"{actor.requested_by}:{event.event_id}",
        payload={"photo": photo, **body.model_dump()},
        create=lambda: admission.create_edit(actor, event, photo, body),
    )
    # No estimate here: the create keeps its AWS-call budget; the first poll carries it.
    return Envelope(data=GuestEdit.of(created, token))


@router.post(
    "/photos",
    status_code=201,
    response_model=Envelope[PhotoUploadView],
    responses=rate_limited_responses(201),
)
def guest_upload_photo(
    identity: CurrentIdentity, token: Token, body: PhotoUploadRequest
) -> Envelope[PhotoUploadView]:
    event, actor = guest_event(identity, token)
    upload = photos.create_photo_upload(
        actor, event, content_type=body.content_type, size=body.size
    )
    return Envelope(data=PhotoUploadView.of(upload))


@router.post("/photos/{photo}/complete", response_model=Envelope[PhotoView])
def guest_complete_photo(identity: CurrentIdentity, token: Token, photo: Id) -> Envelope[PhotoView]:
    event, actor = guest_event(identity, token)
    return Envelope(data=PhotoView.of(photos.complete_photo_upload(actor, event, photo), token))


@router.get("/photos", response_model=Envelope[list[PhotoView]])
def guest_photos(identity: CurrentIdentity, token: Token) -> Envelope[list[PhotoView]]:
    event, actor = guest_event(identity, token)
    gallery = photos.gallery(event, actor.requested_by)
    return Envelope(data=[PhotoView.of(photo, token) for photo in gallery])


@router.get("/photos/{photo}/image", response_class=Response, responses=PHOTO_RESPONSES)
def guest_photo_image(
    identity: CurrentIdentity,
    token: Token,
    photo: Id,
    if_none_match: Annotated[str | None, Header(max_length=256)] = None,
) -> Response:
    event, actor = guest_event(identity, token)
    stored = photos.display_image(event, photo, actor.requested_by, if_none_match=if_none_match)
    headers = {"ETag": stored.etag, "Cache-Control": "private, max-age=3600"}
    if stored.body is None:
        return Response(status_code=304, headers=headers)
    return Response(stored.body, media_type=stored.content_type, headers=headers)


@router.get("/ai-edits/{request_id}", response_model=Envelope[GuestEdit])
def guest_get(identity: CurrentIdentity, token: Token, request_id: Id) -> Envelope[GuestEdit]:
    event, actor = guest_event(identity, token)
    request = visible_edit(event, actor, request_id)
    paused = request.status == "queued" and admission.service_paused()
    view = GuestEdit.of(
        request,
        token,
        paused=paused,
        estimated_seconds=stats.estimated_seconds(request),
        pause_messages=admission.pause_messages() if paused else None,
    )
    return Envelope(data=view)


@router.get("/ai-edits/{request_id}/result", response_class=Response, responses=RESULT_RESPONSES)
def guest_result(identity: CurrentIdentity, token: Token, request_id: Id) -> Response:
    event, actor = guest_event(identity, token)
    return result_response(visible_result(event, actor, request_id))


@router.get("/ai-styles", response_model=Envelope[list[StyleView]])
def guest_styles(identity: CurrentIdentity, token: Token) -> Envelope[list[StyleView]]:
    event, _ = guest_event(identity, token)
    styles = admission.available_styles(event)
    return Envelope(data=[StyleView.of(style, token=token) for style in styles])


@router.get("/ai-styles/{style}/preview", response_class=Response, responses=PREVIEW_RESPONSES)
def guest_style_preview(
    token: Token,
    style: Id,
    if_none_match: Annotated[str | None, Header(max_length=256)] = None,
) -> Response:
    """A style's preview image (no one's photo: cached publicly for a day)."""
    event_for_link(token)
    stored = style_previews.preview_image(style, if_none_match=if_none_match)
    headers = {"ETag": stored.etag, "Cache-Control": "public, max-age=86400"}
    if stored.body is None:
        return Response(status_code=304, headers=headers)
    return Response(stored.body, media_type=stored.content_type, headers=headers)
