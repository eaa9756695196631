"""AiEditsApiFunction: Magic Edits for event guests, tenant admins and superadmins (adapter
only: the chain, the catalog and the budgets are in `aiimage.edits`). One router a module:
`guest`, `provenance`, `webhooks`, and `tenant`, `tenant_console`, `photo_review`,
`admin`, `admin_console`; what they take and answer is in `views` and `admin_views`.

The guests' and the providers' routes are the cold start of nearly every invocation; the
tenant and superadmin routers (most of the import) come with the first request under their
prefix (`aiimage.http.app.DeferredRouters`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from mangum import Mangum

from ai_edits_api import guest, provenance, webhooks
from aiimage.edits.idempotency import register_lambda_context
from aiimage.http.app import create_app, observed


def _tenant_routers() -> Sequence[APIRouter]:
    from ai_edits_api import photo_review, tenant, tenant_console

    return (tenant.router, tenant_console.router, photo_review.router)


def _superadmin_routers() -> Sequence[APIRouter]:
    from ai_edits_api import admin, admin_console

    return (admin.router, admin_console.router)


app = create_app(
    "AI Magic Edits",
    guest.router,
    webhooks.router,
    provenance.router,
    needs_provider=True,
    signs=True,
    deferred={"/api/v1/tenant/": _tenant_routers, "/api/v1/admin/": _superadmin_routers},
)
_handler = observed(Mangum(app, lifespan="off"))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    register_lambda_context(context)
    return _handler(event, context)
