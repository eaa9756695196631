"""The tenant control room's routes beyond the seed's (`tenant`): the tenant's events with
their capability, one event with its policy (at a revision) and its tenant's budget caps,
the policy change, the event's ready photos, and a request's timeline."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Response

from ai_edits_api.views import (
    PHOTO_RESPONSES,
    BudgetView,
    Id,
    PolicyUpdate,
    Slug,
    TenantEventDetail,
    TenantEventList,
    TenantEventView,
    TenantPhotoView,
    TransitionView,
)
from aiimage.edits import console, photos
from aiimage.edits.access import tenant_event, visible_edit
from aiimage.http.app import CurrentIdentity, api_router
from aiimage.http.models import Envelope

router = api_router(prefix="/api/v1/tenant", tags=["tenant"])


@router.get("/events", response_model=Envelope[TenantEventList])
def tenant_events(identity: CurrentIdentity) -> Envelope[TenantEventList]:
    events = console.tenant_events(console.tenant_of(identity))
    return Envelope(data=TenantEventList(events=[TenantEventView.of(e) for e in events]))


def _detail(overview: console.EventOverview) -> TenantEventDetail:
    budget = console.budget_of(overview.event.tenant_id)
    return TenantEventDetail(
        **TenantEventView.of(overview).model_dump(),
        budget=BudgetView(
            soft_cap_micros=budget.soft_cap_micros,
            hard_cap_micros=budget.hard_cap_micros,
            override_until=budget.override_until,
        ),
    )


@router.get("/events/{event_slug}", response_model=Envelope[TenantEventDetail])
def tenant_event_detail(identity: CurrentIdentity, event_slug: Slug) -> Envelope[TenantEventDetail]:
    event, _ = tenant_event(identity, event_slug)
    return Envelope(data=_detail(console.overview(event)))


@router.put("/events/{event_slug}/policy", response_model=Envelope[TenantEventDetail])
def tenant_update_policy(
    identity: CurrentIdentity, event_slug: Slug, body: PolicyUpdate
) -> Envelope[TenantEventDetail]:
    event, _ = tenant_event(identity, event_slug)
    change = console.PolicyChange(
        enabled=body.enabled,
        allow_custom_prompt=body.allow_custom_prompt,
        allowed_style_keys=tuple(body.allowed_style_keys),
        policy_message=body.policy_message,
        expected_revision=body.expected_revision,
    )
    return Envelope(data=_detail(console.update_policy(event, change)))


@router.get("/events/{event_slug}/photos", response_model=Envelope[list[TenantPhotoView]])
def tenant_photos(identity: CurrentIdentity, event_slug: Slug) -> Envelope[list[TenantPhotoView]]:
    event, _ = tenant_event(identity, event_slug)
    return Envelope(data=[TenantPhotoView.of(p, event.slug) for p in console.ready_photos(event)])


@router.get(
    "/events/{event_slug}/photos/{photo}/image", response_class=Response, responses=PHOTO_RESPONSES
)
def tenant_photo_image(
    identity: CurrentIdentity,
    event_slug: Slug,
    photo: Id,
    if_none_match: Annotated[str | None, Header(max_length=256)] = None,
) -> Response:
    event, _ = tenant_event(identity, event_slug)
    stored = photos.display_image(event, photo, if_none_match=if_none_match)
    headers = {"ETag": stored.etag, "Cache-Control": "private, max-age=3600"}
    if stored.body is None:
        return Response(status_code=304, headers=headers)
    return Response(stored.body, media_type=stored.content_type, headers=headers)


@router.get(
    "/events/{event_slug}/ai-edits/{request_id}/transitions",
    response_model=Envelope[list[TransitionView]],
)
def tenant_transitions(
    identity: CurrentIdentity, event_slug: Slug, request_id: Id
) -> Envelope[list[TransitionView]]:
    event, actor = tenant_event(identity, event_slug)
    visible_edit(event, actor, request_id)  # 404 for a request of another event
    return Envelope(
        data=[TransitionView.of(t) for t in console.request_timeline(event, request_id)]
    )
