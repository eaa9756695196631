"""Who may use AI styling for an event, and which premium styles (seed runbook §2).

The feature is granted by the event's package (feature `ai_styling`) or by a completed,
unexpired `ai_styling_unlock` add-on of that event. Premium styles may ask for more
(`style.entitlements`):

- `required_feature` must be among the event package's features;
- `required_addon` must be a completed, unexpired add-on of the event;
- both given: both are needed;
- neither given: the premium style needs the package feature `ai_styling` itself. An event
  unlocked only by the add-on buys the feature, not the premium tier, so it cannot use
  premium styles without an explicit `required_addon` that it holds.

The resolvers are pure (the caller passes `now`); `entitlement_for_event` does the I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import FEATURE, UNLOCK_ADDON, Addon, Entitlement, Event, Package, Style


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def addon_active(addon: Addon, key: str, *, now: datetime) -> bool:
    """Completed and not yet expired; an add-on that expires exactly now has expired."""
    return (
        addon.key == key
        and addon.status == "completed"
        and (addon.expires_at is None or _utc(addon.expires_at) > _utc(now))
    )


def _has_addon(addons: Sequence[Addon], key: str, now: datetime) -> bool:
    return any(addon_active(addon, key, now=now) for addon in addons)


def _features(package: Package | None) -> tuple[str, ...]:
    return package.features if package is not None else ()


def resolve_entitlement(
    event: Event, package: Package | None, addons: Sequence[Addon], *, now: datetime
) -> Entitlement:
    """The package wins over the add-on (it is what the seed reports as `granted_by`).
    Only the event's own package and add-ons count: a package other than
    `event.package_key`, or an add-on bought for another event, grants nothing."""
    if (
        package is not None
        and package.package_key == event.package_key
        and FEATURE in package.features
    ):
        return Entitlement(granted=True, granted_by="package")
    own = [addon for addon in addons if addon.event_id == event.event_id]
    if _has_addon(own, UNLOCK_ADDON, now):
        return Entitlement(granted=True, granted_by="addon")
    return Entitlement(granted=False)


def style_allowed_by_entitlement(
    style: Style, event_package: Package | None, addons: Sequence[Addon], *, now: datetime
) -> bool:
    """Whether the event's package and add-ons cover `style` (rules in the module doc).
    Whether the event has the feature at all is `resolve_entitlement`'s question."""
    if not style.is_premium:
        return True
    required_feature = style.entitlements.required_feature
    required_addon = style.entitlements.required_addon
    features = _features(event_package)
    if required_feature is None and required_addon is None:
        return FEATURE in features
    return (required_feature is None or required_feature in features) and (
        required_addon is None or _has_addon(addons, required_addon, now)
    )


def entitlement_for_event(tenant_id: str, slug: str, *, now: datetime) -> Entitlement:
    """Load the event, its package and add-ons, and resolve (NotFoundError if no event)."""
    store = catalog()
    event = store.get_event(tenant_id, slug)
    package = store.get_package(event.package_key) if event.package_key else None
    return resolve_entitlement(event, package, store.addons(tenant_id, slug), now=now)
