"""What the Magic Edits routes take and answer: the path and header parameters, the request
bodies, and the views of the layer's values (only what the caller may see of them)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Header, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from aiimage.edits.access import GuestEventView
from aiimage.edits.models import (
    MAX_VERSION,
    EditRequest,
    EditStatus,
    Photo,
    PhotoReview,
    Style,
)
from aiimage.edits.photos import PhotoUpload
from aiimage.settings import MAX_UPLOAD_BYTES_CEILING

if TYPE_CHECKING:
    from aiimage.edits.console import EventOverview
    from aiimage.edits.request_store import Transition
    from aiimage.storage.objects import StoredObject

# --- parameters ---------------------------------------------------------------------------

Token = Annotated[str, Path(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Slug = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
ScopeHash = Annotated[str, Path(min_length=32, max_length=32, pattern=r"^[0-9a-f]{32}$")]
IdempotencyKey = Annotated[str | None, Header(max_length=128, alias="Idempotency-Key")]

# --- bodies -------------------------------------------------------------------------------


class PhotoUploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_type: str = Field(max_length=100)
    size: int = Field(le=MAX_UPLOAD_BYTES_CEILING)


class SettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expected_version: int = Field(ge=0, le=MAX_VERSION)
    changes: dict[str, Any]


# --- views --------------------------------------------------------------------------------
# No docstrings on the models that had none: pydantic publishes a docstring as the schema's
# description, and the OpenAPI document must not change with the move.


class StyleView(BaseModel):
    key: str
    name: str
    names: dict[str, str] = Field(
        default_factory=dict, description="The name by language (`de`, `en`); `name` otherwise"
    )
    is_premium: bool
    preview_url: str | None = Field(
        default=None, description="A small WebP showing the style; null where it has none"
    )

    @classmethod
    def of(cls, style: Style, *, token: str | None = None) -> StyleView:
        """With a guest link's `token`, the preview's URL through that link."""
        preview_url = None
        if token is not None and style.preview_key is not None:
            preview_url = f"/api/v1/events/{token}/ai-styles/{style.key}/preview"
        return cls(
            key=style.key,
            name=style.name,
            names=style.names,
            is_premium=style.is_premium,
            preview_url=preview_url,
        )


class GuestEventInfo(BaseModel):
    """What a guest link shows of its event: its name and the policy text by language."""

    name: str
    policy_messages: dict[str, str]

    @classmethod
    def of(cls, event: GuestEventView) -> GuestEventInfo:
        return cls(name=event.name, policy_messages=event.policy_messages)


class EditPage(BaseModel):
    requests: list[EditRequest]
    next_cursor: str | None


GUEST_FAILURE_CODE = "generation_failed"
GUEST_FAILURE_MESSAGE = "The edit could not be processed; nothing was charged"


class GuestEdit(BaseModel):
    """What a guest sees of their request: no tenant, event or provider internals, no costs."""

    request_id: str
    photo_id: str
    style_key: str
    status: EditStatus
    created_at: datetime
    updated_at: datetime
    block_reason: str | None
    error_code: str | None
    error_message: str | None
    result_url: str | None  # once it has succeeded
    paused: bool = Field(
        default=False,
        description="Queued while the service is paused: it goes on when it is switched on",
    )
    estimated_seconds: int | None = Field(
        default=None,
        description="While queued or processing: about how many seconds an edit of its style "
        "takes now (the recent latency of its provider and model); null without recent data",
    )
    pause_messages: dict[str, str] = Field(
        default_factory=dict,
        description="While paused: the operator's message by language (`de`, `en`), if set",
    )

    @classmethod
    def of(
        cls,
        request: EditRequest,
        token: str,
        *,
        paused: bool = False,
        estimated_seconds: int | None = None,
        pause_messages: dict[str, str] | None = None,
    ) -> GuestEdit:
        result_url = None
        if request.status == "succeeded":
            result_url = f"/api/v1/events/{token}/ai-edits/{request.request_id}/result"
        # A failure is ours or the provider's: the guest learns that it failed and that
        # nothing was charged, never which provider or key or setting was at fault.
        failed = request.status == "failed"
        return cls(
            request_id=request.request_id,
            photo_id=request.photo_id,
            style_key=request.style_key,
            status=request.status,
            created_at=request.created_at,
            updated_at=request.updated_at,
            block_reason=request.block_reason,
            error_code=GUEST_FAILURE_CODE if failed else None,
            error_message=GUEST_FAILURE_MESSAGE if failed else None,
            result_url=result_url,
            paused=paused and request.status == "queued",
            estimated_seconds=estimated_seconds,
            pause_messages=(pause_messages or {}) if paused and request.status == "queued" else {},
        )


class PhotoUploadView(BaseModel):
    photo_id: str
    url: str
    method: str
    headers: dict[str, str]
    expires_at: datetime

    @classmethod
    def of(cls, upload: PhotoUpload) -> PhotoUploadView:
        return cls(
            photo_id=upload.photo.photo_id,
            url=upload.presigned.url,
            method="PUT",
            headers=upload.presigned.headers,
            expires_at=upload.presigned.expires_at,
        )


class PhotoView(BaseModel):
    photo_id: str
    url: str  # the watermarked display copy
    review: PhotoReview | None = Field(
        default=None,
        description="Under the event's approval step: `pending` (only its uploader sees it, "
        "awaiting approval), `approved` or `rejected`; null when no review applies",
    )

    @classmethod
    def of(cls, photo: Photo, token: str) -> PhotoView:
        return cls(
            photo_id=photo.photo_id,
            url=f"/api/v1/events/{token}/photos/{photo.photo_id}/image",
            review=photo.review,
        )


class ReviewedPhotoView(BaseModel):
    """A photo of the tenant's event under the approval step, as its reviewer sees it."""

    photo_id: str
    uploaded_by: str
    review: PhotoReview | None
    url: str  # the watermarked display copy, for the reviewer
    changed: bool = Field(default=False, description="This call decided the review")

    @classmethod
    def of(cls, photo: Photo, slug: str, *, changed: bool = False) -> ReviewedPhotoView:
        return cls(
            photo_id=photo.photo_id,
            uploaded_by=photo.uploaded_by,
            review=photo.review,
            url=f"/api/v1/tenant/events/{slug}/photos/{photo.photo_id}/image",
            changed=changed,
        )


class WebhookResult(BaseModel):
    completed: int


class AbuseBlockView(BaseModel):
    """A guest scope of the event blocked for abuse, until `blocked_until` (lift it with
    DELETE …/abuse-blocks/{scope_hash})."""

    scope_hash: str
    blocked_until: datetime


class AbuseBlockLifted(BaseModel):
    scope_hash: str
    lifted: bool


# --- images -------------------------------------------------------------------------------

PHOTO_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/webp": {}}, "description": "The watermarked display copy"},
    304: {"description": "Not modified"},
}
PREVIEW_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/webp": {}}, "description": "The style's preview image"},
    304: {"description": "Not modified"},
}
RESULT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/webp": {}}, "description": "The watermarked result"}
}


def result_response(stored: StoredObject) -> Response:
    """A request's watermarked result (guest and tenant alike)."""
    return Response(
        stored.body,
        media_type=stored.content_type,
        headers={"ETag": stored.etag, "Cache-Control": "private, max-age=3600"},
    )


# --- the tenant control room (ai_edits_api.tenant_console) ---------------------------------


# How a locked event gets `ai_styling` (the seed's entitlement rule, aiimage.edits.entitlements).
UNLOCK_PATHS = ("package:ai_styling", "addon:ai_styling_unlock")


class CapabilityView(BaseModel):
    """Whether the event has `ai_styling`, and through what; locked: how to unlock it."""

    granted: bool
    granted_by: str | None = Field(description="`package` or `addon` when granted")
    unlock: list[str] = Field(
        default_factory=list,
        description="When locked: a package with the feature `ai_styling`, or the add-on "
        "`ai_styling_unlock` (completed, unexpired)",
    )


class PolicyView(BaseModel):
    """The four fields of the seed's event policy (`settings.ai_editing`), and ours."""

    enabled: bool
    allow_custom_prompt: bool
    allowed_style_keys: list[str] = Field(description="Empty: every active style")
    policy_message: str | None
    require_photo_approval: bool = Field(
        description="A guest's upload shows in the gallery once a tenant admin approved it"
    )
    include_prompt_in_manifest: bool = Field(
        description="The result's C2PA manifest holds the final prompt (guests' consent)"
    )


class BudgetView(BaseModel):
    soft_cap_micros: int | None
    hard_cap_micros: int | None
    override_until: datetime | None


class TenantEventView(BaseModel):
    """An event as its tenant's control room shows it; `revision` goes back with a policy
    change, which is refused (409 `event_conflict`) if the event changed in between."""

    slug: str
    name: str
    revision: int
    capability: CapabilityView
    policy: PolicyView

    @classmethod
    def of(cls, overview: EventOverview) -> TenantEventView:
        event, capability = overview.event, overview.capability
        policy = event.ai_editing
        return cls(
            slug=event.slug,
            name=event.name,
            revision=overview.revision,
            capability=CapabilityView(
                granted=capability.granted,
                granted_by=capability.granted_by,
                unlock=[] if capability.granted else list(UNLOCK_PATHS),
            ),
            policy=PolicyView(
                enabled=policy.enabled,
                allow_custom_prompt=policy.allow_custom_prompt,
                allowed_style_keys=list(policy.allowed_style_keys),
                policy_message=policy.policy_message,
                require_photo_approval=policy.require_photo_approval,
                include_prompt_in_manifest=policy.include_prompt_in_manifest,
            ),
        )


class TenantEventList(BaseModel):
    events: list[TenantEventView]


class TenantEventDetail(TenantEventView):
    budget: BudgetView


class PolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expected_revision: int = Field(ge=0, le=MAX_VERSION)
    enabled: bool
    allow_custom_prompt: bool
    allowed_style_keys: list[
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    ] = Field(default_factory=list, max_length=100)
    policy_message: str | None = Field(default=None, max_length=500)
    # Ours, beside the seed's four: left out (null), unchanged.
    require_photo_approval: bool | None = None
    include_prompt_in_manifest: bool | None = None


class TransitionView(BaseModel):
    """One change of a request's status; `from_status` is null for its creation."""

    from_status: EditStatus | None
    to_status: EditStatus
    at: datetime
    code: str | None = Field(
        description="The error code or block reason of a failed or blocked end"
    )

    @classmethod
    def of(cls, transition: Transition) -> TransitionView:
        return cls(
            from_status=transition.from_status,
            to_status=transition.to_status,
            at=transition.at,
            code=transition.code,
        )
