"""`GET /api/ai-image/usage`: who the caller is, what they have used, what their plan allows."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from aiimage.http.models import ApiModel
from aiimage.identity import Identity
from aiimage.limits import quota_store
from aiimage.limits.plans import Entitlements, resolve_plan
from aiimage.limits.quota import Period, network_allowance
from aiimage.settings import get_settings


class UsageCounter(ApiModel):
    used: int
    limit: int
    # Epoch milliseconds (UTC), as the seed system's clients expect.
    reset_at: int

    @classmethod
    def of(cls, period: Period) -> UsageCounter:
        return cls(used=period.used, limit=period.limit, reset_at=_epoch_ms(period.reset_at))


class OwnerLimits(ApiModel):
    user: int
    guest: int


class UsageView(ApiModel):
    owner_type: Literal["guest", "user"]
    # Today's count against the daily cap (what the seed's usage pill shows).
    usage: UsageCounter
    # This month's count against `entitlements.monthlyImages`.
    monthly_usage: UsageCounter
    # A guest's network allowance (shared by every guest behind its address), only while it
    # leaves fewer images than the guest's own: then it is what binds. Else null.
    network_usage: UsageCounter | None = None
    limits: OwnerLimits
    plan: str
    entitlements: Entitlements


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def get_usage(identity: Identity) -> UsageView:
    settings = get_settings()
    plan, entitlements = resolve_plan(identity, settings)
    snapshot = quota_store().usage(identity.owner_key, entitlements, network_allowance(identity))
    own = min(snapshot.daily.remaining, snapshot.monthly.remaining)
    network = snapshot.network
    return UsageView(
        owner_type=identity.owner_type,
        usage=UsageCounter.of(snapshot.daily),
        monthly_usage=UsageCounter.of(snapshot.monthly),
        network_usage=UsageCounter.of(network)
        if network is not None and network.remaining < own
        else None,
        limits=OwnerLimits(user=settings.user_daily_limit, guest=settings.guest_daily_limit),
        plan=plan,
        entitlements=entitlements,
    )
