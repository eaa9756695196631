"""The check chain that admits an edit request.

The chain runs in the seed system's order, with the guest links before the budget, and
stops at the first refusal, each with its own machine code:

    unknown photo/style (404), photo not ready (409)
    → `feature_disabled` → `feature_locked` → `event_policy`      (no I/O: read already)
    → guests only: `abuse_blocked` → `rate_limited` (429) → `quota_exceeded`
    → `budget_exceeded` → `style_not_allowed` → `prompt_blocked` → stored, queued

The refusals that cost nothing come first. The guest links (`_guest_links`): the abuse
counter counts every guest create that gets that far, refused ones included, so hammering
past the rate limit is what escalates to a block; the rate limit (`GuestLimits
.edits_per_minute`) is one conditional write; the daily allowances of the guest and of its
network are reserved in one transaction (`aiimage.edits.allowance`). Tenant users pass
none of them. The budget is reserved next to the allowances.

Every reservation (allowances, budget) is given back by any later refusal or failure, so a
refused request never holds money or allowance. Only a prompt-safety refusal is stored
(status `blocked`, for the moderation view); every other refusal leaves nothing behind. An
admitted edit keeps its allowance even if the provider fails it later (see
`aiimage.edits.allowance`). Admitted requests go to `aiimage.edits.request_store`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from aiimage.edits import abuse, request_store
from aiimage.edits.allowance import Allowance, AllowanceReservation, edit_allowances
from aiimage.edits.budget import budget_store
from aiimage.edits.catalog_store import (
    EditInputs,
    PhotoAwaitingApprovalError,
    UnknownPhotoError,
    UnknownStyleError,
    UnknownTenantError,
    catalog,
)
from aiimage.edits.entitlements import resolve_entitlement, style_allowed_by_entitlement
from aiimage.edits.models import (
    Addon,
    AiEditingSettings,
    EditRequest,
    Event,
    GuestLimits,
    Package,
    Style,
    Tenant,
)
from aiimage.errors import ConflictError, FeatureLockedError, ForbiddenError
from aiimage.limits import rate_limiter
from aiimage.observability import LogEvent, logger
from aiimage.safety import PromptBlockedError, check_prompt

MAX_PROMPT_LENGTH = 500


class EditCreate(BaseModel):
    """The body of a create: a style, and a custom prompt where the event allows one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    style_key: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    prompt: str | None = Field(default=None, max_length=MAX_PROMPT_LENGTH)
    photo_id: str | None = Field(default=None, max_length=64)  # tenant creates name the photo


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: a guest of the event (by its hashed scope, and the hashed network it asks
    from, where known) or a tenant user."""

    kind: str  # "guest" | "tenant"
    scope_hash: str
    user_id: str | None = None
    network_hash: str | None = None

    @property
    def requested_by(self) -> str:
        return f"tenant:{self.user_id}" if self.kind == "tenant" else f"guest:{self.scope_hash}"


class FeatureDisabledError(ForbiddenError):
    default_code = "feature_disabled"
    default_message = "AI editing is switched off"


class EventPolicyError(ForbiddenError):
    default_code = "event_policy"
    default_message = "This event does not allow this AI edit"


class StyleNotAllowedError(ForbiddenError):
    default_code = "style_not_allowed"
    default_message = "This style is not available for this event"


_LOG_KEYS = ("scope_hash", "event_id", "tenant_id")


def create_edit(actor: Actor, event: Event, photo_id: str, body: EditCreate) -> EditRequest:
    """Admit one edit request through the chain; the stored request, or the first refusal.
    Every log line of the create (budget and abuse signals included) carries the scope,
    event and tenant; the keys are removed afterwards, so a process serving many requests
    (a warm function, the local stack) never lends them to another request's lines."""
    logger.append_keys(
        scope_hash=actor.scope_hash, event_id=event.event_id, tenant_id=event.tenant_id
    )
    try:
        return _create_edit(actor, event, photo_id, body)
    finally:
        logger.remove_keys(list(_LOG_KEYS))


def _create_edit(actor: Actor, event: Event, photo_id: str, body: EditCreate) -> EditRequest:
    store = catalog()
    inputs = store.edit_inputs(event, photo_id, body.style_key)
    style = _checked_inputs(inputs)
    # Read with the inputs, not from the per-process cache: the kill switch (and a new term
    # list) holds for every create from the moment it is written, in every warm function.
    settings = inputs.settings
    now = datetime.now(UTC)
    tenant = _admitted_tenant(event, inputs, settings, body, now)
    request_id = request_store.new_request_id()
    # Each reservation registers its give-back; an admitted request keeps them all.
    with ExitStack() as give_back:
        allowance = _guest_links(actor, event, request_id)
        if allowance is not None:
            give_back.callback(edit_allowances().release, allowance)
        reservation = budget_store().reserve(
            event.tenant_id,
            tenant.budget,
            request_id,
            style.cost_estimate_micros,
            event_slug=event.slug,
        )
        give_back.callback(budget_store().release, reservation)
        if not _style_allowed(style, event, inputs.package, inputs.addons, now):
            raise StyleNotAllowedError()
        request = _new_request(actor, event, photo_id, style, body, request_id, now, settings)
        request = request.model_copy(update={"budget_month": reservation.month})
        if _blocked(request, settings):
            # Stored for the moderation view; the money goes back with the refusal below.
            request_store.insert(
                request.model_copy(update={"status": "blocked", "block_reason": "blocked_term"})
            )
            logger.warning(LogEvent.AI_EDIT_BLOCKED, request_id=request_id, event_id=event.event_id)
            raise PromptBlockedError(details={"requestId": request_id})
        stored = request_store.insert(request, dispatched=settings.queue_auto_dispatch)
        give_back.pop_all()
    if settings.queue_auto_dispatch:
        request_store.dispatch_or_defer(stored)
    return stored


def _blocked(request: EditRequest, settings: AiEditingSettings) -> bool:
    """The wish in its style template (after substitution) or the style's negative prompt
    holds a term of the list in force (`aiimage.safety`)."""
    terms = settings.terms_in_force()
    return any(check_prompt(text, terms) for text in (request.prompt, request.negative_prompt))


def _guest_links(actor: Actor, event: Event, request_id: str) -> AllowanceReservation | None:
    """The links only guests pass: not blocked for abuse (this request counted), within the
    event's create rate, and one edit reserved from the guest's and its network's daily
    allowances. None for a tenant user, whom the guest limits do not hold."""
    if actor.kind != "guest":
        return None
    limits = event.ai_editing.guest_limits
    abuse.record_request(actor.scope_hash, event_id=event.event_id, tenant_id=event.tenant_id)
    rate_limiter().hit(
        "edit-creates",
        f"{event.event_id}#{actor.scope_hash}",
        limit=limits.edits_per_minute,
        window_seconds=60,
    )
    allowances = [Allowance("guest", actor.scope_hash, limits.edits_per_day)]
    if actor.network_hash is not None:
        allowances.append(Allowance("network", actor.network_hash, limits.network_edits_per_day))
    return edit_allowances().reserve(tuple(allowances), request_id)


def _checked_inputs(inputs: EditInputs) -> Style:
    """The style of a create whose photo and style exist and whose photo is uploaded.
    Input comes first: unknown photos and styles are 404s, not links of the chain."""
    if inputs.photo is None:
        raise UnknownPhotoError()
    if inputs.photo.status != "ready":
        raise ConflictError("The photo's upload has not been completed", code="photo_not_ready")
    if inputs.photo.review in ("pending", "rejected"):
        raise PhotoAwaitingApprovalError()
    if inputs.style is None:
        raise UnknownStyleError()
    return inputs.style


def _admitted_tenant(
    event: Event, inputs: EditInputs, settings: AiEditingSettings, body: EditCreate, now: datetime
) -> Tenant:
    """The first links of the chain: switched on, entitled, allowed by the event's policy;
    the tenant whose budget the next link reserves from."""
    if not settings.is_enabled:
        # The message as set, and by language for the pages (`status_messages`).
        raise FeatureDisabledError(
            settings.status_message or None,
            details={"statusMessages": settings.status_messages},
        )
    if not resolve_entitlement(event, inputs.package, inputs.addons, now=now).granted:
        raise FeatureLockedError(
            "AI editing is not included in this event's package", details={"feature": "ai_styling"}
        )
    policy = event.ai_editing
    if not policy.enabled:
        raise EventPolicyError(policy.policy_message or None)
    if body.prompt and not policy.allow_custom_prompt:
        raise EventPolicyError(
            policy.policy_message or "This event does not allow custom prompts",
            details={"field": "prompt"},
        )
    if inputs.tenant is None:
        raise UnknownTenantError()
    return inputs.tenant


def service_paused() -> bool:
    """The kill switch is on: queued requests wait (their guests are told so). From the
    per-process cache: a status poll may lag the switch by `edits_settings_cache_seconds`."""
    return not catalog().cached_settings().is_enabled


def pause_messages() -> dict[str, str]:
    """While the kill switch is on, the operator's text by language (`status_messages`) for
    the queued guests; empty otherwise or when none was set (the page's generic text)."""
    settings = catalog().cached_settings()
    return {} if settings.is_enabled else dict(settings.status_messages)


def update_guest_limits(event: Event, limits: GuestLimits) -> GuestLimits:
    """Replace the event's guest limits (a tenant admin's change), keeping the rest of its
    policy."""
    policy = event.ai_editing.model_copy(update={"guest_limits": limits})
    return catalog().put_event_policy(event.tenant_id, event.slug, policy).ai_editing.guest_limits


def available_styles(event: Event) -> list[Style]:
    """The styles a create for `event` could use: active, allowed by the event's policy and
    by its entitlements (what the guest's and tenant's style pickers show)."""
    store = catalog()
    package = store.get_package(event.package_key) if event.package_key else None
    addons = store.addons(event.tenant_id, event.slug)
    now = datetime.now(UTC)
    return [
        s for s in store.styles(active_only=True) if _style_allowed(s, event, package, addons, now)
    ]


def _style_allowed(
    style: Style, event: Event, package: Package | None, addons: Sequence[Addon], now: datetime
) -> bool:
    allowed_keys = event.ai_editing.allowed_style_keys
    return (
        style.is_active
        and (not allowed_keys or style.key in allowed_keys)
        and style_allowed_by_entitlement(style, package, addons, now=now)
    )


def _prompt(style: Style, custom: str | None) -> str:
    return compose_prompt(style.prompt_template, custom)


def compose_prompt(prompt_template: str, custom: str | None) -> str:
    """The prompt a request sends (the superadmin console previews it with this)."""
    # A custom prompt fills the template's {prompt} slot, or follows the template.
    custom = (custom or "").strip()
    if "{prompt}" in prompt_template:
        return prompt_template.replace("{prompt}", custom).strip()
    return f"{prompt_template} {custom}".strip()


@dataclass(frozen=True, slots=True)
class PromptPreview:
    """What a style's templates send for a guest's wish, and which field the terms in force
    would block (`prompt`, `negative_prompt`; None: neither)."""

    prompt: str
    negative_prompt: str | None
    blocked_field: str | None


def preview_prompt(
    prompt_template: str, negative_prompt_template: str | None, custom: str | None
) -> PromptPreview:
    prompt = compose_prompt(prompt_template, custom)
    terms = catalog().get_settings().terms_in_force()
    texts = (("prompt", prompt), ("negative_prompt", negative_prompt_template))
    blocked = next((name for name, text in texts if check_prompt(text, terms) is not None), None)
    return PromptPreview(prompt, negative_prompt_template, blocked)


def _new_request(
    actor: Actor,
    event: Event,
    photo_id: str,
    style: Style,
    body: EditCreate,
    request_id: str,
    now: datetime,
    settings: AiEditingSettings,
) -> EditRequest:
    provider = style.provider
    if settings.runware_mode == "fake" and provider == "runware":
        provider = "fake"
    return EditRequest(
        request_id=request_id,
        tenant_id=event.tenant_id,
        event_id=event.event_id,
        event_slug=event.slug,
        photo_id=photo_id,
        style_key=style.key,
        prompt=_prompt(style, body.prompt),
        negative_prompt=style.negative_prompt_template,
        provider=provider,
        provider_model=style.provider_model,
        status="queued",
        cost_estimate_micros=style.cost_estimate_micros,
        requested_by=actor.requested_by,
        created_at=now,
        updated_at=now,
    )
