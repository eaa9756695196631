"""AiEditsApiFunction: Magic Edits for event guests, tenant admins and superadmins (adapter
only: the chain, the catalog and the budgets are in `aiimage.edits`). One router a module:
`guest`, `provenance`, `webhooks`, and `tenant`, `tenant_console`, `photo_review`,
`admin`, `admin_console`; what they take and answer is in `views` and `admin_views`.

The guests' and the providers' routes are the cold start of nearly every invocation; the
tenant and superadmin routers (most of the import) and the guests' manifest route come with
the first request for one of their paths (`aiimage.http.app.DeferredRouters`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from mangum import Mangum

from ai_edits_api import guest, webhooks
from aiimage.edits.idempotency import register_lambda_context
from aiimage.http.app import create_app, observed


def _tenant_routers() -> Sequence[APIRouter]:
    from ai_edits_api import photo_review, provenance, tenant, tenant_console

    return (tenant.router, tenant_console.router, photo_review.router, provenance.tenant_router)


def _guest_provenance_routers() -> Sequence[APIRouter]:
    from ai_edits_api import provenance

    return (provenance.guest_router,)


def _superadmin_routers() -> Sequence[APIRouter]:
    from ai_edits_api import admin, admin_console

    return (admin.router, admin_console.router)


app = create_app(
    "AI Magic Edits",
    guest.router,
    webhooks.router,
    needs_provider=True,
    signs=True,
    deferred={
        "/api/v1/tenant/": _tenant_routers,
        "/api/v1/admin/": _superadmin_routers,
        # A manifest's JSON (and the C2PA reader's models): rare, and 50 ms of the import.
        "/api/v1/events/[^/]+/ai-edits/[^/]+/provenance$": _guest_provenance_routers,
    },
)
_handler = observed(Mangum(app, lifespan="off"))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    register_lambda_context(context)
    return _handler(event, context)
