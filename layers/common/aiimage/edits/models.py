"""The Magic Edits domain as stored and as the API shows it (snake_case fields, the seed
system's names). Money is integer micro-US-dollars (`*_micros`): exact sums, no floats."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aiimage.safety import blocked_terms
from aiimage.settings import get_settings

ProviderName = Literal["runware", "replicate", "workers_ai", "local", "fake"]
EditStatus = Literal["queued", "processing", "succeeded", "failed", "blocked"]
GrantedBy = Literal["package", "addon"]

FEATURE = "ai_styling"  # the package feature
UNLOCK_ADDON = "ai_styling_unlock"  # the add-on that unlocks it per event


# The most a money field may hold (422 beyond; the bounds are in the OpenAPI description).
# Far inside DynamoDB's 38 significant digits, so no sum of them can overflow a number.
MAX_CAP_MICROS = 1_000_000_000_000  # a month's budget cap: 1,000,000 USD
MAX_EDIT_COST_MICROS = 1_000_000_000  # one edit's estimate: 1,000 USD
MAX_VERSION = 1_000_000_000  # settings revisions


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AiEditingSettings(Model):
    """The global runtime switches (the seed's `AI Editing Settings`)."""

    is_enabled: bool = True
    status_message: str | None = None
    # The paused text by language (`{"de": …, "en": …}`); `status_message` is the fallback.
    status_messages: dict[str, str] = Field(default_factory=dict)
    default_provider: ProviderName = "runware"
    fallback_provider: ProviderName | None = None
    runware_mode: Literal["live", "fake"] = "live"
    queue_auto_dispatch: bool = False
    queue_name: str = "ai-edits"
    queue_max_polls: int = Field(default=30, ge=1, le=500)
    # The prompt block list in force for Magic Edits; None: the platform's (`aiimage.safety`:
    # `BLOCKED_TERMS`, else the shipped baseline). A list replaces it, an empty one blocks
    # nothing.
    blocked_terms: tuple[str, ...] | None = None
    version: int = 0  # bumped by every update (optimistic concurrency, cache invalidation)

    def terms_in_force(self) -> tuple[str, ...]:
        if self.blocked_terms is not None:
            return self.blocked_terms
        return blocked_terms(get_settings().blocked_terms)


class Budget(Model):
    """`tenant.settings.ai_editing.budget`: per calendar month (UTC)."""

    soft_cap_micros: int | None = Field(default=None, ge=0, le=MAX_CAP_MICROS)
    hard_cap_micros: int | None = Field(default=None, ge=0, le=MAX_CAP_MICROS)
    override_until: datetime | None = None
    # At most one soft-cap alert per this many minutes; None: the deployment's
    # BUDGET_ALERT_COOLDOWN_MINUTES (seed: `alert_cooldown_minutes`, default 30). A week at most.
    alert_cooldown_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)


class Tenant(Model):
    tenant_id: str
    name: str
    budget: Budget = Budget()


class Watermark(Model):
    """How results of an event are marked: a text or an image (a key in the images bucket),
    at a corner or the centre, with an opacity and a size relative to the image's width."""

    enabled: bool = True
    text: str | None = Field(default=None, max_length=100)
    image_key: str | None = Field(default=None, max_length=512)
    position: Literal["bottom-right", "bottom-left", "top-right", "top-left", "center"] = (
        "bottom-right"
    )
    opacity: float = Field(default=0.5, ge=0, le=1)
    scale: float = Field(default=0.2, gt=0, le=1)


class GuestLimits(Model):
    """What one guest of an event may ask for (tenant users are not held to it).

    - `edits_per_minute`, `photo_slots_per_minute`: rate limits on creating edits and on
      photo upload slots, per guest (429 `rate_limited`);
    - `network_photo_slots_per_minute`, `event_photo_slots_per_minute`: the photo-slot rate
      of every guest behind one network (so fresh cookies do not multiply it) and of the
      whole event (429 `rate_limited`);
    - `open_photo_slots`: uploads a guest may have started and not completed at once (429
      `too_many_open_photo_slots`); completing, a rejected upload or the slot's expiry
      frees one;
    - `edits_per_day`: edits per guest and UTC day (403 `quota_exceeded`, scope `guest`);
    - `network_edits_per_day`: edits per UTC day shared by every guest behind one network
      (an IPv4 address or an IPv6 /64), so that minting fresh cookies does not multiply
      the allowance (403 `quota_exceeded`, scope `network`). Raise it for a venue whose
      guests share one Wi-Fi.
    """

    # At most 100: the most a rate limit counts (`aiimage.limits.rate_limiter`).
    edits_per_minute: int = Field(default=5, ge=1, le=100)
    photo_slots_per_minute: int = Field(default=10, ge=1, le=100)
    network_photo_slots_per_minute: int = Field(default=30, ge=1, le=100)
    event_photo_slots_per_minute: int = Field(default=100, ge=1, le=100)
    open_photo_slots: int = Field(default=5, ge=1, le=20)
    edits_per_day: int = Field(default=10, ge=1, le=1000)
    network_edits_per_day: int = Field(default=30, ge=1, le=5000)


class EventAiEditing(Model):
    """`event.settings.ai_editing`: the event's policy."""

    enabled: bool = True
    # Guests' uploads wait for a tenant admin's approval before others see or edit them.
    require_photo_approval: bool = False
    allow_custom_prompt: bool = False
    # The final prompt in each result's C2PA manifest (the `c2pa.edited` action's
    # `description`); off: a guest's words are personal data, and no manifest holds them.
    include_prompt_in_manifest: bool = False
    allowed_style_keys: tuple[str, ...] = ()  # empty: every active style
    policy_message: str | None = None
    # The policy text by language (`{"de": …, "en": …}`); `policy_message` is the fallback.
    policy_messages: dict[str, str] = Field(default_factory=dict)
    watermark: Watermark = Watermark()
    guest_limits: GuestLimits = GuestLimits()


class Event(Model):
    event_id: str
    tenant_id: str
    slug: str
    join_token: str
    name: str
    ai_editing: EventAiEditing = EventAiEditing()
    package_key: str | None = None  # the event's package (its features)


class Package(Model):
    package_key: str
    name: str
    features: tuple[str, ...] = ()


class Addon(Model):
    addon_id: str
    event_id: str
    key: str
    status: Literal["pending", "completed", "canceled", "refunded"]
    expires_at: datetime | None = None  # the seed keeps it in `metadata`


PhotoStatus = Literal["uploading", "ready"]
# A ready guest photo of an event that requires approval: `pending` until a tenant admin
# approves or rejects it (`photos.review_photo`). None: no review needed (shown to all).
PhotoReview = Literal["pending", "approved", "rejected"]


class SanitizedWith(Model):
    """The limits a photo's published bytes were sanitised under (`photos.prepare_photo`).
    The bytes themselves may be larger than `max_bytes`: that cap bounds what a caller may
    send; the re-encode is ours."""

    max_bytes: int = Field(ge=1)
    max_pixels: int = Field(ge=1)


class Photo(Model):
    photo_id: str
    event_id: str
    object_key: str
    # Who uploaded it: a hashed guest scope, or a tenant user id.
    uploaded_by: str
    # `uploading` from the presigned PUT until the upload is completed (sanitised, and a
    # watermarked display copy stored under `display_key`); only `ready` photos are edited.
    status: PhotoStatus = "ready"
    display_key: str | None = None
    # Set by `complete`: an edit sends the published bytes as they are. A photo without it
    # (stored before the mark existed) is sanitised again before it goes to a provider.
    sanitized_with: SanitizedWith | None = None
    review: PhotoReview | None = None


class StyleEntitlements(Model):
    """`style.metadata.entitlements`: what a premium style needs beyond `ai_styling`."""

    required_feature: str | None = None
    required_addon: str | None = None


class Style(Model):
    key: str
    name: str
    names: dict[str, str] = Field(default_factory=dict)  # by language; `name` is the fallback
    provider: ProviderName
    provider_model: str
    prompt_template: str
    negative_prompt_template: str | None = None
    is_active: bool = True
    is_premium: bool = False
    cost_estimate_micros: int = Field(ge=0, le=MAX_EDIT_COST_MICROS)
    entitlements: StyleEntitlements = StyleEntitlements()
    # A small WebP showing the style, in the bucket under `style-previews/` (public).
    preview_key: str | None = Field(default=None, max_length=256, pattern=r"^style-previews/")


class Entitlement(Model):
    granted: bool
    granted_by: GrantedBy | None = None


class EditRequest(Model):
    request_id: str
    tenant_id: str
    event_id: str
    event_slug: str
    photo_id: str
    style_key: str
    prompt: str | None = None
    negative_prompt: str | None = None
    provider: ProviderName
    provider_model: str
    status: EditStatus
    cost_estimate_micros: int
    requested_by: str  # "guest:<scope hash>" or "tenant:<user id>"
    created_at: datetime
    updated_at: datetime
    block_reason: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    # The budget month holding its reservation (YYYY-MM), settled there even if later.
    budget_month: str | None = None
    # Processing: the provider that ran it (after a failover, not the style's), its task,
    # how many status polls it took, the stored result and what it really cost.
    provider_job_id: str | None = None
    polls: int = 0
    result_key: str | None = None
    provider_url: str | None = None  # the provider's copy: a fallback while it lasts
    actual_cost_micros: int | None = None
    # Its call's reservation under the provider's daily ceiling (`aiimage.limits.spend`):
    # the UTC day it counts against and the estimate reserved, so that whichever worker
    # finishes the request settles (or releases) exactly that reservation.
    spend_day: str | None = None
    spend_estimate_micros: int | None = None
