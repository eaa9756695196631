"""Entitlement resolution (seed runbook §2) and premium-style rules: pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiimage.edits.entitlements import (
    addon_active,
    resolve_entitlement,
    style_allowed_by_entitlement,
)
from aiimage.edits.models import (
    FEATURE,
    UNLOCK_ADDON,
    Addon,
    Entitlement,
    Event,
    Package,
    Style,
    StyleEntitlements,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
EVENT = Event(event_id="e1", tenant_id="t1", slug="party", join_token="join-token-1", name="Party")
PACKAGED = EVENT.model_copy(update={"package_key": "premium"})
PREMIUM = Package(package_key="premium", name="Premium", features=(FEATURE,))
BASIC = Package(package_key="premium", name="Basic", features=("gallery",))
LOCKED = Entitlement(granted=False)
Status = Literal["pending", "completed", "canceled", "refunded"]


def addon(
    status: Status = "completed",
    *,
    key: str = UNLOCK_ADDON,
    expires_at: datetime | None = None,
    event_id: str = "e1",
) -> Addon:
    return Addon(addon_id="a1", event_id=event_id, key=key, status=status, expires_at=expires_at)


def style(*, premium: bool = True, **entitlements: Any) -> Style:
    return Style(
        key="oil",
        name="Oil",
        provider="local",
        provider_model="style:vivid",
        prompt_template="oil {prompt}",
        is_premium=premium,
        cost_estimate_micros=20_000,
        entitlements=StyleEntitlements(**entitlements),
    )


# --- resolve_entitlement ----------------------------------------------------------------------


def test_package_feature_grants() -> None:
    assert resolve_entitlement(PACKAGED, PREMIUM, [], now=NOW) == Entitlement(
        granted=True, granted_by="package"
    )


def test_package_wins_over_addon() -> None:
    assert resolve_entitlement(PACKAGED, PREMIUM, [addon()], now=NOW).granted_by == "package"


def test_package_without_feature_locks() -> None:
    assert resolve_entitlement(PACKAGED, BASIC, [], now=NOW) == LOCKED


def test_only_the_events_own_package_counts() -> None:
    other = PREMIUM.model_copy(update={"package_key": "someone-elses"})
    assert resolve_entitlement(PACKAGED, other, [], now=NOW) == LOCKED
    assert resolve_entitlement(EVENT, PREMIUM, [], now=NOW) == LOCKED  # event has no package


def test_no_package_no_addon_locks() -> None:
    assert resolve_entitlement(EVENT, None, [], now=NOW) == LOCKED


@pytest.mark.parametrize("expires_at", [None, NOW + timedelta(seconds=1), NOW + timedelta(days=30)])
def test_completed_unexpired_addon_grants(expires_at: datetime | None) -> None:
    assert resolve_entitlement(EVENT, BASIC, [addon(expires_at=expires_at)], now=NOW) == (
        Entitlement(granted=True, granted_by="addon")
    )


@pytest.mark.parametrize("status", ["pending", "canceled", "refunded"])
def test_unfinished_or_reversed_addon_locks(status: Status) -> None:
    assert resolve_entitlement(EVENT, None, [addon(status)], now=NOW) == LOCKED


def test_expired_addon_locks() -> None:
    expired = addon(expires_at=NOW - timedelta(seconds=1))
    assert resolve_entitlement(EVENT, None, [expired], now=NOW) == LOCKED


def test_addon_expiring_exactly_now_locks() -> None:
    assert resolve_entitlement(EVENT, None, [addon(expires_at=NOW)], now=NOW) == LOCKED


def test_other_addon_key_locks() -> None:
    assert resolve_entitlement(EVENT, None, [addon(key="extra_photos")], now=NOW) == LOCKED


def test_addon_of_another_event_locks() -> None:
    assert resolve_entitlement(EVENT, None, [addon(event_id="e2")], now=NOW) == LOCKED


def test_one_valid_addon_among_dead_ones_grants() -> None:
    addons = [addon("refunded"), addon(expires_at=NOW - timedelta(days=1)), addon()]
    assert resolve_entitlement(EVENT, None, addons, now=NOW).granted_by == "addon"


def test_naive_datetimes_are_utc() -> None:
    naive_now = NOW.replace(tzinfo=None)
    assert addon_active(addon(expires_at=naive_now + timedelta(minutes=1)), UNLOCK_ADDON, now=NOW)
    assert not addon_active(addon(expires_at=NOW), UNLOCK_ADDON, now=naive_now)


@given(
    status=st.sampled_from(["pending", "completed", "canceled", "refunded"]),
    offset=st.one_of(st.none(), st.integers(min_value=-(10**6), max_value=10**6)),
    has_feature=st.booleans(),
)
def test_entitlement_property(status: Status, offset: int | None, has_feature: bool) -> None:
    """Granted iff the package has the feature, or the add-on is completed and unexpired;
    the source is the package whenever the package qualifies."""
    expires_at = None if offset is None else NOW + timedelta(seconds=offset)
    package = PREMIUM if has_feature else BASIC
    result = resolve_entitlement(PACKAGED, package, [addon(status, expires_at=expires_at)], now=NOW)
    addon_ok = status == "completed" and (offset is None or offset > 0)
    assert result.granted == (has_feature or addon_ok)
    expected_by = "package" if has_feature else "addon" if addon_ok else None
    assert result.granted_by == expected_by


# --- premium styles ---------------------------------------------------------------------------


def test_non_premium_style_always_allowed() -> None:
    assert style_allowed_by_entitlement(style(premium=False), None, [], now=NOW)


def test_premium_without_requirements_needs_the_package_feature() -> None:
    assert style_allowed_by_entitlement(style(), PREMIUM, [], now=NOW)
    assert not style_allowed_by_entitlement(style(), BASIC, [], now=NOW)
    # Add-on-only events cannot use premium styles: the add-on unlocks the feature only.
    assert not style_allowed_by_entitlement(style(), None, [addon()], now=NOW)


def test_premium_required_feature() -> None:
    needs = style(required_feature="premium_styles")
    rich = Package(package_key="p", name="P", features=("premium_styles",))
    assert style_allowed_by_entitlement(needs, rich, [], now=NOW)
    assert not style_allowed_by_entitlement(needs, PREMIUM, [], now=NOW)
    assert not style_allowed_by_entitlement(needs, None, [addon()], now=NOW)


def test_premium_required_addon() -> None:
    needs = style(required_addon="premium_pack")
    bought = addon(key="premium_pack")
    assert style_allowed_by_entitlement(needs, None, [bought], now=NOW)
    assert not style_allowed_by_entitlement(needs, PREMIUM, [], now=NOW)
    assert not style_allowed_by_entitlement(
        needs, None, [addon("pending", key="premium_pack")], now=NOW
    )
    expired = addon(key="premium_pack", expires_at=NOW)
    assert not style_allowed_by_entitlement(needs, None, [expired], now=NOW)


def test_premium_feature_and_addon_both_needed() -> None:
    needs = style(required_feature="premium_styles", required_addon="premium_pack")
    rich = Package(package_key="p", name="P", features=("premium_styles",))
    bought = addon(key="premium_pack")
    assert style_allowed_by_entitlement(needs, rich, [bought], now=NOW)
    assert not style_allowed_by_entitlement(needs, rich, [], now=NOW)
    assert not style_allowed_by_entitlement(needs, PREMIUM, [bought], now=NOW)
