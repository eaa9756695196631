"""The C2PA manifest of a Magic Edit's result, as JSON: for the guest who asked for it (its
join token and `guest_id` cookie) and for the event's tenant admin, as their `.../result`
routes authorise (adapter only: `aiimage.edits.result_provenance`)."""

from __future__ import annotations

from ai_edits_api.views import Id, Slug, Token
from aiimage.edits.access import guest_event, tenant_event
from aiimage.edits.result_provenance import ProvenanceView, edit_provenance
from aiimage.http.app import CurrentIdentity, api_router
from aiimage.http.models import Envelope

# Two routers: the guest's comes with the first guest request for a manifest, the tenant's
# with the tenant routes (`ai_edits_api.app`).
guest_router = api_router()
tenant_router = api_router()
SUMMARY = "The C2PA manifest of an edit's result, as the SDK validates it"
DESCRIPTION = (
    "The same view as `GET /api/ai-image/provenance`. The manifest names no guest or user; "
    "the final prompt is in it (the `c2pa.edited` action's `description`) only when the "
    "event's policy sets `include_prompt_in_manifest` (default false). 404 `unknown_request` "
    "for another guest's request, `no_result` before it succeeded."
)


@guest_router.get(
    "/api/v1/events/{token}/ai-edits/{request_id}/provenance",
    tags=["guest"],
    response_model=Envelope[ProvenanceView],
    response_model_by_alias=True,
    summary=SUMMARY,
    description=DESCRIPTION,
)
def guest_provenance(
    identity: CurrentIdentity, token: Token, request_id: Id
) -> Envelope[ProvenanceView]:
    event, actor = guest_event(identity, token)
    return Envelope(data=edit_provenance(event, actor, request_id))


@tenant_router.get(
    "/api/v1/tenant/events/{event_slug}/ai-edits/{request_id}/provenance",
    tags=["tenant"],
    response_model=Envelope[ProvenanceView],
    response_model_by_alias=True,
    summary=SUMMARY,
    description=DESCRIPTION,
)
def tenant_provenance(
    identity: CurrentIdentity, event_slug: Slug, request_id: Id
) -> Envelope[ProvenanceView]:
    event, actor = tenant_event(identity, event_slug)
    return Envelope(data=edit_provenance(event, actor, request_id))
