"""The tenant routes: a tenant admin, by bearer token, lists, creates and reads the edits of
its own events, and their summary; sets the limits its guests are held to, and sees and
lifts the blocks of guests that went past the abuse threshold."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from ai_edits_api.views import (
    RESULT_RESPONSES,
    AbuseBlockLifted,
    AbuseBlockView,
    EditPage,
    Id,
    IdempotencyKey,
    ScopeHash,
    Slug,
    StyleView,
    result_response,
)
from aiimage.edits import abuse, admission, request_store, stats
from aiimage.edits.access import tenant_event, visible_edit, visible_result
from aiimage.edits.idempotency import idempotent_create
from aiimage.edits.models import EditRequest, EditStatus, GuestLimits
from aiimage.errors import ValidationError
from aiimage.http.app import CurrentIdentity, api_router
from aiimage.http.models import Envelope

router = api_router(prefix="/api/v1/tenant/events/{event_slug}", tags=["tenant"])


@router.get("/ai-edits", response_model=Envelope[EditPage])
def tenant_list(
    identity: CurrentIdentity,
    event_slug: Slug,
    status: Annotated[EditStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Envelope[EditPage]:
    event, _ = tenant_event(identity, event_slug)
    page = request_store.list_edits(event, status=status, limit=limit, cursor=cursor)
    return Envelope(data=EditPage(requests=page.requests, next_cursor=page.next_cursor))


@router.post("/ai-edits", status_code=201, response_model=Envelope[EditRequest])
def tenant_create(
    identity: CurrentIdentity,
    event_slug: Slug,
    body: admission.EditCreate,
    idempotency_key: IdempotencyKey = None,
) -> Envelope[EditRequest]:
    event, actor = tenant_event(identity, event_slug)
    if body.photo_id is None:
        raise ValidationError("photo_id is required", code="photo_missing")
    photo_id = body.photo_id
    created = idempotent_create(
        idempotency_key,
        scope=f"{actor.requested_by}:{event.event_id}",
        payload=body.model_dump(),
        create=lambda: admission.create_edit(actor, event, photo_id, body),
    )
    return Envelope(data=created)


# Declared before `/ai-edits/{request_id}`, which would otherwise take "summary" for an id.
@router.get("/ai-edits/summary", response_model=Envelope[stats.Summary])
def tenant_summary(identity: CurrentIdentity, event_slug: Slug) -> Envelope[stats.Summary]:
    event, _ = tenant_event(identity, event_slug)
    return Envelope(data=stats.summarize(event))


@router.get("/ai-edits/{request_id}", response_model=Envelope[EditRequest])
def tenant_get(
    identity: CurrentIdentity, event_slug: Slug, request_id: Id
) -> Envelope[EditRequest]:
    event, actor = tenant_event(identity, event_slug)
    return Envelope(data=visible_edit(event, actor, request_id))


@router.get("/ai-edits/{request_id}/result", response_class=Response, responses=RESULT_RESPONSES)
def tenant_result(identity: CurrentIdentity, event_slug: Slug, request_id: Id) -> Response:
    event, actor = tenant_event(identity, event_slug)
    return result_response(visible_result(event, actor, request_id))


@router.get("/ai-styles", response_model=Envelope[list[StyleView]])
def tenant_styles(identity: CurrentIdentity, event_slug: Slug) -> Envelope[list[StyleView]]:
    event, _ = tenant_event(identity, event_slug)
    return Envelope(data=[StyleView.of(style) for style in admission.available_styles(event)])


@router.get("/guest-limits", response_model=Envelope[GuestLimits])
def tenant_guest_limits(identity: CurrentIdentity, event_slug: Slug) -> Envelope[GuestLimits]:
    event, _ = tenant_event(identity, event_slug)
    return Envelope(data=event.ai_editing.guest_limits)


@router.put("/guest-limits", response_model=Envelope[GuestLimits])
def tenant_update_guest_limits(
    identity: CurrentIdentity, event_slug: Slug, body: GuestLimits
) -> Envelope[GuestLimits]:
    event, _ = tenant_event(identity, event_slug)
    return Envelope(data=admission.update_guest_limits(event, body))


@router.get("/abuse-blocks", response_model=Envelope[list[AbuseBlockView]])
def tenant_abuse_blocks(
    identity: CurrentIdentity, event_slug: Slug
) -> Envelope[list[AbuseBlockView]]:
    event, _ = tenant_event(identity, event_slug)
    return Envelope(
        data=[
            AbuseBlockView(scope_hash=block.scope_hash, blocked_until=block.blocked_until)
            for block in abuse.blocks(event.event_id)
        ]
    )


@router.delete("/abuse-blocks/{scope_hash}", response_model=Envelope[AbuseBlockLifted])
def tenant_lift_abuse_block(
    identity: CurrentIdentity, event_slug: Slug, scope_hash: ScopeHash
) -> Envelope[AbuseBlockLifted]:
    event, _ = tenant_event(identity, event_slug)
    abuse.lift(scope_hash, event_id=event.event_id)
    return Envelope(data=AbuseBlockLifted(scope_hash=scope_hash, lifted=True))
