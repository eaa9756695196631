"""Plans and their entitlements (the seed system's `PlanEntitlements`).

Guests have one fixed plan; a signed-in user's plan comes from the token's `plan` claim.
The free plan's quotas and the guest quota are settings, so operators can tune them
without a code change; paid plans scale from there.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from aiimage.identity import Identity
from aiimage.settings import Settings


class Entitlements(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)

    # None: no monthly quota (a guest: only its daily cap binds).
    monthly_images: int | None = Field(ge=0)
    daily_burst_cap: int = Field(ge=0)
    max_upscale: int = Field(ge=1)
    face_enhance: bool


PAID_PLANS: dict[str, Entitlements] = {
    "pro": Entitlements(monthly_images=400, daily_burst_cap=40, max_upscale=4, face_enhance=True),
    "premium": Entitlements(
        monthly_images=1500, daily_burst_cap=100, max_upscale=4, face_enhance=True
    ),
    "enterprise": Entitlements(
        monthly_images=5000, daily_burst_cap=500, max_upscale=4, face_enhance=True
    ),
}


def guest_entitlements(settings: Settings) -> Entitlements:
    return Entitlements(
        monthly_images=None,  # a guest's month is bounded only by its daily cap
        daily_burst_cap=settings.guest_daily_limit,
        max_upscale=2,
        face_enhance=False,
    )


def free_entitlements(settings: Settings) -> Entitlements:
    return Entitlements(
        monthly_images=settings.user_monthly_limit,
        daily_burst_cap=settings.user_daily_limit,
        max_upscale=4,
        face_enhance=False,
    )


def resolve_plan(identity: Identity, settings: Settings) -> tuple[str, Entitlements]:
    """The effective plan name and its entitlements; an unknown plan claim means free."""
    if identity.owner_type == "guest":
        return "guest", guest_entitlements(settings)
    if identity.plan in PAID_PLANS:
        return identity.plan, PAID_PLANS[identity.plan]
    return "free", free_entitlements(settings)


def plan_entitlements(settings: Settings) -> dict[str, Entitlements]:
    """Every plan by name, the guest's and the free one's from the settings."""
    return {
        "guest": guest_entitlements(settings),
        "free": free_entitlements(settings),
        **PAID_PLANS,
    }
