"""The superadmin console's routes beside `admin`: the lists and reads a screen needs, the
blocked terms on their own, the prompt preview, an event's package, and the operations of
the CLI that make sense from a screen (dry run by default; prune only as a dry run). Each
calls the same layer function the CLI and the schedule call."""

from __future__ import annotations

from ai_edits_api.admin_views import (
    BlockedTermsUpdate,
    BlockedTermsView,
    DispatchRequest,
    EventAccessView,
    EventPackageUpdate,
    OpsReportView,
    PromptPreviewRequest,
    PromptPreviewView,
    PruneRequest,
    RecoverRequest,
    TenantBudgetView,
)
from ai_edits_api.views import Id, Slug
from aiimage.edits.access import require_superadmin
from aiimage.edits.admin_reads import event_access, tenant_budget
from aiimage.edits.admission import preview_prompt
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import Package
from aiimage.http.app import CurrentIdentity, api_router
from aiimage.http.models import Envelope

router = api_router(prefix="/api/v1/admin", tags=["superadmin"])


@router.get("/packages", response_model=Envelope[list[Package]])
def admin_packages(identity: CurrentIdentity) -> Envelope[list[Package]]:
    require_superadmin(identity)
    return Envelope(data=catalog().packages())


@router.get("/ai-editing/blocked-terms", response_model=Envelope[BlockedTermsView])
def admin_blocked_terms(identity: CurrentIdentity) -> Envelope[BlockedTermsView]:
    require_superadmin(identity)
    return Envelope(data=_terms_view())


@router.put("/ai-editing/blocked-terms", response_model=Envelope[BlockedTermsView])
def admin_put_blocked_terms(
    identity: CurrentIdentity, body: BlockedTermsUpdate
) -> Envelope[BlockedTermsView]:
    """Replace the list (or drop it for the platform's: `terms: null`): one write on the
    settings' version, 409 `settings_conflict` with the current version otherwise."""
    require_superadmin(identity)
    terms = None if body.terms is None else _clean_terms(body.terms)
    catalog().update_settings({"blocked_terms": terms}, expected_version=body.expected_version)
    return Envelope(data=_terms_view())


def _clean_terms(terms: list[str]) -> list[str]:
    """Trimmed, without blanks and repeats, in the order given."""
    return list(dict.fromkeys(term.strip() for term in terms if term.strip()))


def _terms_view() -> BlockedTermsView:
    settings = catalog().get_settings()
    return BlockedTermsView(
        terms=list(settings.terms_in_force()),
        platform_default=settings.blocked_terms is None,
        version=settings.version,
    )


@router.post("/prompt-preview", response_model=Envelope[PromptPreviewView])
def admin_prompt_preview(
    identity: CurrentIdentity, body: PromptPreviewRequest
) -> Envelope[PromptPreviewView]:
    """The prompt a style's templates send for `custom_prompt`, composed as a request's is,
    and whether the terms in force would block it. Stores nothing."""
    require_superadmin(identity)
    preview = preview_prompt(
        body.prompt_template, body.negative_prompt_template, body.custom_prompt
    )
    return Envelope(data=PromptPreviewView.of(preview))


@router.get("/tenants/{tenant_id}/budget", response_model=Envelope[TenantBudgetView])
def admin_budget(identity: CurrentIdentity, tenant_id: Id) -> Envelope[TenantBudgetView]:
    require_superadmin(identity)
    return Envelope(data=TenantBudgetView.of(tenant_budget(tenant_id)))


@router.get("/tenants/{tenant_id}/events/{event_slug}", response_model=Envelope[EventAccessView])
def admin_event(
    identity: CurrentIdentity, tenant_id: Id, event_slug: Slug
) -> Envelope[EventAccessView]:
    """The event's package, its add-ons (any status) and what they grant now."""
    require_superadmin(identity)
    return Envelope(data=EventAccessView.of(event_access(tenant_id, event_slug)))


@router.put(
    "/tenants/{tenant_id}/events/{event_slug}/package", response_model=Envelope[EventAccessView]
)
def admin_put_event_package(
    identity: CurrentIdentity, tenant_id: Id, event_slug: Slug, body: EventPackageUpdate
) -> Envelope[EventAccessView]:
    require_superadmin(identity)
    catalog().put_event_package(tenant_id, event_slug, body.package_key)
    return Envelope(data=EventAccessView.of(event_access(tenant_id, event_slug)))


# The operations import on first use: the API's cold start does not pay for them.


@router.post("/ops/recover-stuck", response_model=Envelope[OpsReportView])
def admin_recover_stuck(identity: CurrentIdentity, body: RecoverRequest) -> Envelope[OpsReportView]:
    """`mode=list` (the default) is the dry run; `requeue` and `fail` act on what it lists."""
    require_superadmin(identity)
    from aiimage.ops.recover import recover_stuck

    return Envelope(data=OpsReportView.of(recover_stuck(minutes=body.minutes, mode=body.mode)))


@router.post("/ops/dispatch", response_model=Envelope[OpsReportView])
def admin_dispatch(identity: CurrentIdentity, body: DispatchRequest) -> Envelope[OpsReportView]:
    """Send up to `limit` queued requests to the submit queue; `dry_run` (the default) lists."""
    require_superadmin(identity)
    from aiimage.ops.dispatch import dispatch_queued

    return Envelope(data=OpsReportView.of(dispatch_queued(limit=body.limit, pretend=body.dry_run)))


@router.post("/ops/prune", response_model=Envelope[OpsReportView])
def admin_prune(identity: CurrentIdentity, body: PruneRequest) -> Envelope[OpsReportView]:
    """What retention would delete now; always a dry run."""
    require_superadmin(identity)
    from aiimage.ops.prune import prune

    report = prune(request_days=body.request_days, ledger_days=body.ledger_days, pretend=True)
    return Envelope(data=OpsReportView.of(report))
