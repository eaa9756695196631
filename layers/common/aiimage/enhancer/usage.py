"""`GET /api/ai-image/usage`: who the caller is, what they have used, what their plan allows."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from aiimage.enhancer.model_catalog import CATALOG, Kind, spec_allowed
from aiimage.http.models import ApiModel
from aiimage.identity import Identity
from aiimage.limits import quota_store
from aiimage.limits.plans import Entitlements, plan_entitlements, resolve_plan
from aiimage.limits.quota import Period, network_allowance
from aiimage.settings import get_settings


class UsageCounter(ApiModel):
    used: int
    # Null where the owner has no cap of its own in the period: a guest's month (only its
    # daily cap binds).
    limit: int | None
    # Epoch milliseconds (UTC), as the seed system's clients expect.
    reset_at: int

    @classmethod
    def of(cls, period: Period) -> UsageCounter:
        return cls(used=period.used, limit=period.limit, reset_at=_epoch_ms(period.reset_at))


class OwnerLimits(ApiModel):
    """The seed's daily limits: `user` is the caller's own daily cap when signed in (its
    plan's), else the free plan's; `guest` is a guest's."""

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
    own = snapshot.own_remaining
    network = snapshot.network
    network_left = None if network is None else network.remaining
    return UsageView(
        owner_type=identity.owner_type,
        usage=UsageCounter.of(snapshot.daily),
        monthly_usage=UsageCounter.of(snapshot.monthly),
        network_usage=UsageCounter.of(network)
        if network is not None and network_left is not None and network_left < own
        else None,
        limits=OwnerLimits(
            user=entitlements.daily_burst_cap
            if identity.owner_type == "user"
            else settings.user_daily_limit,
            guest=settings.guest_daily_limit,
        ),
        plan=plan,
        entitlements=entitlements,
    )


# Plans from the least to the most included: what unlocks a model is the first plan above
# the caller's that allows it (for a guest, signing in: the free plan).
PLAN_ORDER: tuple[str, ...] = ("guest", "free", "pro", "premium", "enterprise")


class ModelView(ApiModel):
    """A model of the catalog as the caller may use it (`GET /api/ai-image/models`)."""

    id: str
    name: str
    kind: Kind
    scales: list[int]  # the scales the caller's plan allows ([] for a model without scale)
    face_enhance: bool  # takes the face_enhance switch, and the plan allows it
    plans: list[str]  # every plan that may run it
    available: bool  # the caller's plan may run it
    unlocked_by: str | None  # the first plan above the caller's that may, when it may not


def list_models(identity: Identity) -> list[ModelView]:
    settings = get_settings()
    plan, entitlements = resolve_plan(identity, settings)
    every_plan = plan_entitlements(settings)
    views = []
    for spec in CATALOG.values():
        plans = [name for name in PLAN_ORDER if spec_allowed(spec, every_plan[name])]
        available = plan in plans
        above = PLAN_ORDER[PLAN_ORDER.index(plan) + 1 :]
        views.append(
            ModelView(
                id=spec.slug,
                name=spec.label,
                kind=spec.kind,
                scales=[s for s in spec.scales if s <= entitlements.max_upscale],
                face_enhance=spec.face_enhance and entitlements.face_enhance,
                plans=plans,
                available=available,
                unlocked_by=None if available else next((p for p in above if p in plans), None),
            )
        )
    return views
