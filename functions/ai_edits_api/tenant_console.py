"""The tenant control room's routes beyond the seed's (`tenant`): the tenant's events with
their capability, one event with its policy (at a revision) and its tenant's budget caps,
the policy change, the event's ready photos, and a request's timeline."""

from __future__ import annotations

from ai_edits_api.views import (
    BudgetView,
    Id,
    PolicyUpdate,
    Slug,
    TenantEventDetail,
    TenantEventList,
    TenantEventView,
    TransitionView,
)
from aiimage.edits import console
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
        require_photo_approval=body.require_photo_approval,
        include_prompt_in_manifest=body.include_prompt_in_manifest,
    )
    return Envelope(data=_detail(console.update_policy(event, change)))


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
