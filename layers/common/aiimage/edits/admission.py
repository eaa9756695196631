"""The check chain that admits an edit request.

The chain runs in the seed system's order and stops at the first refusal, each with its
own machine code: `feature_disabled` → `feature_locked` → `event_policy` →
`budget_exceeded` → `style_not_allowed` → `prompt_blocked`. Only a prompt-safety refusal
is stored (status `blocked`, for the moderation view); every other refusal leaves nothing
behind. The budget is reserved at its link and released by any later refusal or failure,
so a refused request never holds money. Admitted requests go to `aiimage.edits.request_store`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from aiimage.edits import abuse, request_store, safety
from aiimage.edits.budget import budget_store
from aiimage.edits.catalog_store import (
    EditInputs,
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
    Package,
    Style,
    Tenant,
)
from aiimage.errors import ConflictError, FeatureLockedError, ForbiddenError
from aiimage.observability import LogEvent, logger

MAX_PROMPT_LENGTH = 500


class EditCreate(BaseModel):
    """The body of a create: a style, and a custom prompt where the event allows one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    style_key: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    prompt: str | None = Field(default=None, max_length=MAX_PROMPT_LENGTH)
    photo_id: str | None = Field(default=None, max_length=64)  # tenant creates name the photo


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: a guest of the event (by its hashed scope) or a tenant user."""

    kind: str  # "guest" | "tenant"
    scope_hash: str
    user_id: str | None = None

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


class PromptBlockedError(ForbiddenError):
    default_code = "prompt_blocked"
    default_message = "The prompt contains a blocked term"


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
    abuse.record_request(actor.scope_hash, event_id=event.event_id, tenant_id=event.tenant_id)
    settings = store.cached_settings()
    now = datetime.now(UTC)
    tenant = _admitted_tenant(event, inputs, settings, body, now)
    request_id = request_store.new_request_id()
    reservation = budget_store().reserve(
        event.tenant_id,
        tenant.budget,
        request_id,
        style.cost_estimate_micros,
        event_slug=event.slug,
    )
    try:
        if not _style_allowed(style, event, inputs.package, inputs.addons, now):
            raise StyleNotAllowedError()
        request = _new_request(actor, event, photo_id, style, body, request_id, now, settings)
        request = request.model_copy(update={"budget_month": reservation.month})
        if safety.check_prompt(request.prompt, settings.blocked_terms) is not None:
            # Stored for the moderation view; the money goes back with the refusal below.
            request_store.insert(
                request.model_copy(update={"status": "blocked", "block_reason": "blocked_term"})
            )
            logger.warning(LogEvent.AI_EDIT_BLOCKED, request_id=request_id, event_id=event.event_id)
            raise PromptBlockedError(details={"requestId": request_id})
        stored = request_store.insert(request, dispatched=settings.queue_auto_dispatch)
    except BaseException:
        budget_store().release(reservation)
        raise
    if settings.queue_auto_dispatch:
        request_store.dispatch_or_defer(stored)
    return stored


def _checked_inputs(inputs: EditInputs) -> Style:
    """The style of a create whose photo and style exist and whose photo is uploaded.
    Input comes first: unknown photos and styles are 404s, not links of the chain."""
    if inputs.photo is None:
        raise UnknownPhotoError()
    if inputs.photo.status != "ready":
        raise ConflictError("The photo's upload has not been completed", code="photo_not_ready")
    if inputs.style is None:
        raise UnknownStyleError()
    return inputs.style


def _admitted_tenant(
    event: Event, inputs: EditInputs, settings: AiEditingSettings, body: EditCreate, now: datetime
) -> Tenant:
    """The first links of the chain: switched on, entitled, allowed by the event's policy;
    the tenant whose budget the next link reserves from."""
    if not settings.is_enabled:
        raise FeatureDisabledError(settings.status_message or None)
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
    # A custom prompt fills the template's {prompt} slot, or follows the template.
    custom = (custom or "").strip()
    if "{prompt}" in style.prompt_template:
        return style.prompt_template.replace("{prompt}", custom).strip()
    return f"{style.prompt_template} {custom}".strip()


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
