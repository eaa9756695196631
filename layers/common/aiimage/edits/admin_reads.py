"""What the superadmin console reads in one call each: an event's access (its package, its
add-ons and the entitlement they resolve to) and a tenant's budget with this month's spend.
The writes stay in the catalog (`catalog_store`), as for the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aiimage.edits.budget import BudgetUsage, budget_store
from aiimage.edits.catalog_store import catalog
from aiimage.edits.entitlements import resolve_entitlement
from aiimage.edits.models import Addon, Entitlement, Event, Package, Tenant
from aiimage.settings import get_settings


@dataclass(frozen=True, slots=True)
class EventAccess:
    event: Event
    package: Package | None
    addons: list[Addon]
    entitlement: Entitlement


def event_access(tenant_id: str, slug: str, *, now: datetime | None = None) -> EventAccess:
    """The event (404 `unknown_event`), its package and add-ons, and whether they grant
    `ai_styling` now, exactly as the check chain resolves it."""
    store = catalog()
    event = store.get_event(tenant_id, slug)
    package = store.get_package(event.package_key) if event.package_key else None
    addons = store.addons(tenant_id, slug)
    entitlement = resolve_entitlement(event, package, addons, now=now or datetime.now(UTC))
    return EventAccess(event, package, addons, entitlement)


@dataclass(frozen=True, slots=True)
class TenantBudget:
    tenant: Tenant
    usage: BudgetUsage
    # The soft-cap alert's cooldown in effect: the tenant's, else the deployment's.
    alert_cooldown_minutes: int


def tenant_budget(tenant_id: str) -> TenantBudget:
    """The tenant (404 `unknown_tenant`) with its caps and this month's settled and
    reserved spend."""
    tenant = catalog().get_tenant(tenant_id)
    return TenantBudget(
        tenant,
        budget_store().month_usage(tenant_id),
        tenant.budget.alert_cooldown_minutes or get_settings().budget_alert_cooldown_minutes,
    )
