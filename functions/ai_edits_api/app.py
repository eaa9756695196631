"""AiEditsApiFunction: Magic Edits for event guests, tenant admins and superadmins (adapter
only: the chain, the catalog and the budgets are in `aiimage.edits`). One router a module:
`guest`, `tenant`, `admin`, `webhooks`; what they take and answer is in `views`."""

from __future__ import annotations

from typing import Any

from mangum import Mangum

from ai_edits_api import admin, guest, photo_review, tenant, webhooks
from aiimage.edits.idempotency import register_lambda_context
from aiimage.http.app import create_app, observed

app = create_app(
    "AI Magic Edits",
    guest.router,
    tenant.router,
    photo_review.router,
    admin.router,
    webhooks.router,
    needs_provider=True,
)
_handler = observed(Mangum(app, lifespan="off"))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    register_lambda_context(context)
    return _handler(event, context)
