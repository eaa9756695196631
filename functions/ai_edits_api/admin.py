"""The superadmin routes: the runtime settings, the styles, the packages, an event's add-ons
and a tenant's budget."""

from __future__ import annotations

from ai_edits_api.views import Id, SettingsUpdate, Slug
from aiimage.edits.access import require_superadmin
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import Addon, AiEditingSettings, Budget, Package, Style
from aiimage.errors import ValidationError
from aiimage.http.app import CurrentIdentity, api_router
from aiimage.http.models import Envelope

router = api_router(prefix="/api/v1/admin", tags=["superadmin"])


@router.get("/ai-editing/settings", response_model=Envelope[AiEditingSettings])
def admin_settings(identity: CurrentIdentity) -> Envelope[AiEditingSettings]:
    require_superadmin(identity)
    return Envelope(data=catalog().get_settings())


@router.put("/ai-editing/settings", response_model=Envelope[AiEditingSettings])
def admin_update_settings(
    identity: CurrentIdentity, body: SettingsUpdate
) -> Envelope[AiEditingSettings]:
    require_superadmin(identity)
    updated = catalog().update_settings(body.changes, expected_version=body.expected_version)
    return Envelope(data=updated)


@router.get("/ai-styles", response_model=Envelope[list[Style]])
def admin_styles(identity: CurrentIdentity) -> Envelope[list[Style]]:
    require_superadmin(identity)
    return Envelope(data=catalog().styles(active_only=False))


@router.put("/ai-styles/{style_key}", response_model=Envelope[Style])
def admin_put_style(identity: CurrentIdentity, style_key: Id, body: Style) -> Envelope[Style]:
    require_superadmin(identity)
    if body.key != style_key:
        raise ValidationError("The body's key must match the path", code="key_mismatch")
    catalog().put_style(body)
    return Envelope(data=body)


@router.put("/packages/{package_key}", response_model=Envelope[Package])
def admin_put_package(
    identity: CurrentIdentity, package_key: Id, body: Package
) -> Envelope[Package]:
    require_superadmin(identity)
    if body.package_key != package_key:
        raise ValidationError("The body's key must match the path", code="key_mismatch")
    catalog().put_package(body)
    return Envelope(data=body)


@router.put(
    "/tenants/{tenant_id}/events/{event_slug}/addons/{addon_id}", response_model=Envelope[Addon]
)
def admin_put_addon(
    identity: CurrentIdentity, tenant_id: Id, event_slug: Slug, addon_id: Id, body: Addon
) -> Envelope[Addon]:
    require_superadmin(identity)
    event = catalog().get_event(tenant_id, event_slug)
    if body.addon_id != addon_id or body.event_id != event.event_id:
        raise ValidationError("The body must name this add-on and event", code="key_mismatch")
    catalog().put_addon(tenant_id, event_slug, body)
    return Envelope(data=body)


@router.put("/tenants/{tenant_id}/budget", response_model=Envelope[Budget])
def admin_put_budget(identity: CurrentIdentity, tenant_id: Id, body: Budget) -> Envelope[Budget]:
    require_superadmin(identity)
    return Envelope(data=catalog().update_budget(tenant_id, body).budget)
