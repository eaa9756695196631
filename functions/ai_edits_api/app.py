"""AiEditsApiFunction: Magic Edits for event guests, tenant admins and superadmins (adapter
only: the chain, the catalog and the budgets are in `aiimage.edits`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from mangum import Mangum
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from aiimage.edits import admission, photos, request_store, runner, stats
from aiimage.edits.access import guest_event, require_superadmin, tenant_event
from aiimage.edits.catalog_store import catalog
from aiimage.edits.idempotency import idempotent_create, register_lambda_context
from aiimage.edits.models import (
    Addon,
    AiEditingSettings,
    Budget,
    EditRequest,
    EditStatus,
    Event,
    Package,
    Photo,
    Style,
)
from aiimage.errors import NotFoundError, ValidationError
from aiimage.http.app import CurrentIdentity, create_app, observed
from aiimage.http.models import Envelope
from aiimage.settings import get_settings
from aiimage.storage.objects import object_store

Token = Annotated[str, Path(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Slug = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
IdempotencyKey = Annotated[str | None, Header(max_length=128, alias="Idempotency-Key")]

guest = APIRouter(prefix="/api/v1/events/{token}", tags=["guest"])
tenant = APIRouter(prefix="/api/v1/tenant/events/{event_slug}", tags=["tenant"])
admin = APIRouter(prefix="/api/v1/admin", tags=["superadmin"])
webhooks = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


class StyleView(BaseModel):
    key: str
    name: str
    is_premium: bool


class EditPage(BaseModel):
    requests: list[EditRequest]
    next_cursor: str | None


class SummaryAlerts(BaseModel):
    failure_rate_threshold_reached: bool
    latency_threshold_reached: bool


class SummaryThresholds(BaseModel):
    failure_rate: float
    failure_rate_min_samples: int
    latency_warning_ms: int


class SummaryObservability(BaseModel):
    alerts: SummaryAlerts
    thresholds: SummaryThresholds


class SummarySamples(BaseModel):
    finished: int  # succeeded + failed + blocked: the base of failure and moderation rates
    provider_runs: int  # requests the provider finished or gave up on
    latency: int  # provider calls timed


class SummarySpend(BaseModel):
    month: str
    event_spent_micros: int
    tenant_spent_micros: int
    tenant_reserved_micros: int


class Summary(BaseModel):
    counts: dict[str, int]
    total: int
    failure_rate: float | None
    moderation_hit_rate: float | None
    provider_failure_rate: float | None
    average_provider_latency_ms: float | None
    samples: SummarySamples
    spend: SummarySpend
    observability: SummaryObservability


def styles_for(event: Event) -> list[StyleView]:
    return [
        StyleView(key=s.key, name=s.name, is_premium=s.is_premium)
        for s in admission.available_styles(event)
    ]


# --- guests -------------------------------------------------------------------------------


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

    @classmethod
    def of(cls, request: EditRequest, token: str) -> GuestEdit:
        result_url = None
        if request.status == "succeeded":
            result_url = f"/api/v1/events/{token}/ai-edits/{request.request_id}/result"
        return cls(
            request_id=request.request_id,
            photo_id=request.photo_id,
            style_key=request.style_key,
            status=request.status,
            created_at=request.created_at,
            updated_at=request.updated_at,
            block_reason=request.block_reason,
            error_code=request.error_code,
            error_message=request.error_message,
            result_url=result_url,
        )


@guest.post("/photos/{photo}/ai-edits", status_code=201, response_model=Envelope[GuestEdit])
def guest_create(
    identity: CurrentIdentity,
    token: Token,
    photo: Id,
    body: admission.EditCreate,
    idempotency_key: IdempotencyKey = None,
) -> Envelope[GuestEdit]:
    event, actor = guest_event(identity, token)
    if body.photo_id is not None:
        raise ValidationError("photo_id belongs in the path", code="param_not_supported")
    created = idempotent_create(
        idempotency_key,
        scope=f"{actor.requested_by}:{event.event_id}",
        payload={"photo": photo, **body.model_dump()},
        create=lambda: admission.create_edit(actor, event, photo, body),
    )
    return Envelope(data=GuestEdit.of(created, token))


class PhotoUploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_type: str = Field(max_length=100)
    size: int


class PhotoUploadView(BaseModel):
    photo_id: str
    url: str
    method: str
    headers: dict[str, str]
    expires_at: datetime


@guest.post("/photos", status_code=201, response_model=Envelope[PhotoUploadView])
def guest_upload_photo(
    identity: CurrentIdentity, token: Token, body: PhotoUploadRequest
) -> Envelope[PhotoUploadView]:
    event, actor = guest_event(identity, token)
    upload = photos.create_photo_upload(
        actor, event, content_type=body.content_type, size=body.size
    )
    return Envelope(
        data=PhotoUploadView(
            photo_id=upload.photo.photo_id,
            url=upload.presigned.url,
            method="PUT",
            headers=upload.presigned.headers,
            expires_at=upload.presigned.expires_at,
        )
    )


class PhotoView(BaseModel):
    photo_id: str
    url: str  # the watermarked display copy


def photo_view(token: str, photo: Photo) -> PhotoView:
    return PhotoView(
        photo_id=photo.photo_id, url=f"/api/v1/events/{token}/photos/{photo.photo_id}/image"
    )


@guest.post("/photos/{photo}/complete", response_model=Envelope[PhotoView])
def guest_complete_photo(identity: CurrentIdentity, token: Token, photo: Id) -> Envelope[PhotoView]:
    event, actor = guest_event(identity, token)
    return Envelope(data=photo_view(token, photos.complete_photo_upload(actor, event, photo)))


@guest.get("/photos", response_model=Envelope[list[PhotoView]])
def guest_photos(identity: CurrentIdentity, token: Token) -> Envelope[list[PhotoView]]:
    event, _ = guest_event(identity, token)
    return Envelope(data=[photo_view(token, photo) for photo in photos.gallery(event)])


PHOTO_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/webp": {}}, "description": "The watermarked display copy"},
    304: {"description": "Not modified"},
}


@guest.get("/photos/{photo}/image", response_class=Response, responses=PHOTO_RESPONSES)
def guest_photo_image(
    identity: CurrentIdentity,
    token: Token,
    photo: Id,
    if_none_match: Annotated[str | None, Header(max_length=256)] = None,
) -> Response:
    event, _ = guest_event(identity, token)
    stored = photos.display_image(event, photo, if_none_match=if_none_match)
    headers = {"ETag": stored.etag, "Cache-Control": "private, max-age=3600"}
    if stored.body is None:
        return Response(status_code=304, headers=headers)
    return Response(stored.body, media_type=stored.content_type, headers=headers)


@guest.get("/ai-edits/{request_id}", response_model=Envelope[GuestEdit])
def guest_get(identity: CurrentIdentity, token: Token, request_id: Id) -> Envelope[GuestEdit]:
    event, actor = guest_event(identity, token)
    request = request_store.get_edit(event, request_id)
    if request.requested_by != actor.requested_by:
        raise NotFoundError("No such AI edit", code="unknown_request")
    return Envelope(data=GuestEdit.of(request, token))


RESULT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/webp": {}}, "description": "The watermarked result"}
}


@guest.get("/ai-edits/{request_id}/result", response_class=Response, responses=RESULT_RESPONSES)
def guest_result(identity: CurrentIdentity, token: Token, request_id: Id) -> Response:
    event, actor = guest_event(identity, token)
    request = request_store.get_edit(event, request_id)
    if request.requested_by != actor.requested_by:
        raise NotFoundError("No such AI edit", code="unknown_request")
    return result_response(request)


def result_response(request: EditRequest) -> Response:
    if request.status != "succeeded" or request.result_key is None:
        raise NotFoundError("The edit has no result yet", code="no_result")
    stored = object_store().get(request.result_key)
    return Response(
        stored.body,
        media_type=stored.content_type,
        headers={"ETag": stored.etag, "Cache-Control": "private, max-age=3600"},
    )


@guest.get("/ai-styles", response_model=Envelope[list[StyleView]])
def guest_styles(identity: CurrentIdentity, token: Token) -> Envelope[list[StyleView]]:
    event, _ = guest_event(identity, token)
    return Envelope(data=styles_for(event))


# --- tenants ------------------------------------------------------------------------------


@tenant.get("/ai-edits", response_model=Envelope[EditPage])
def tenant_list(
    identity: CurrentIdentity,
    event_slug: Slug,
    status: Annotated[EditStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Envelope[EditPage]:
    event, _ = tenant_event(identity, event_slug)
    page = request_store.list_edits(event, status=status, limit=limit, cursor=cursor)
    return Envelope(data=EditPage(requests=page.requests, next_cursor=page.next_cursor))


@tenant.post("/ai-edits", status_code=201, response_model=Envelope[EditRequest])
def tenant_create(
    identity: CurrentIdentity,
    event_slug: Slug,
    body: admission.EditCreate,
    idempotency_key: IdempotencyKey = None,
) -> Envelope[EditRequest]:
    event, actor = tenant_event(identity, event_slug)
    if body.photo_id is None:
        raise ValidationError("photo_id is required", code="photo_missing")
    photo_id = body.photo_id
    created = idempotent_create(
        idempotency_key,
        scope=f"{actor.requested_by}:{event.event_id}",
        payload=body.model_dump(),
        create=lambda: admission.create_edit(actor, event, photo_id, body),
    )
    return Envelope(data=created)


@tenant.get("/ai-edits/summary", response_model=Envelope[Summary])
def tenant_summary(identity: CurrentIdentity, event_slug: Slug) -> Envelope[Summary]:
    event, _ = tenant_event(identity, event_slug)
    summary = stats.summarize(event)
    settings = get_settings()
    assert summary.spend is not None
    return Envelope(
        data=Summary(
            counts=summary.counts,
            total=summary.total,
            failure_rate=summary.failure_rate,
            moderation_hit_rate=summary.moderation_hit_rate,
            provider_failure_rate=summary.provider_failure_rate,
            average_provider_latency_ms=summary.average_provider_latency_ms,
            samples=SummarySamples(
                finished=summary.finished,
                provider_runs=summary.provider_runs,
                latency=summary.latency_samples,
            ),
            spend=SummarySpend(
                month=summary.spend.month,
                event_spent_micros=summary.spend.event_spent_micros,
                tenant_spent_micros=summary.spend.tenant_spent_micros,
                tenant_reserved_micros=summary.spend.tenant_reserved_micros,
            ),
            observability=SummaryObservability(
                alerts=SummaryAlerts(
                    failure_rate_threshold_reached=summary.alerts.failure_rate_threshold_reached,
                    latency_threshold_reached=summary.alerts.latency_threshold_reached,
                ),
                thresholds=SummaryThresholds(
                    failure_rate=settings.ai_failure_rate_alert_threshold,
                    failure_rate_min_samples=settings.ai_failure_rate_min_samples,
                    latency_warning_ms=settings.ai_latency_warning_ms,
                ),
            ),
        )
    )


@tenant.get("/ai-edits/{request_id}", response_model=Envelope[EditRequest])
def tenant_get(
    identity: CurrentIdentity, event_slug: Slug, request_id: Id
) -> Envelope[EditRequest]:
    event, _ = tenant_event(identity, event_slug)
    return Envelope(data=request_store.get_edit(event, request_id))


@tenant.get("/ai-edits/{request_id}/result", response_class=Response, responses=RESULT_RESPONSES)
def tenant_result(identity: CurrentIdentity, event_slug: Slug, request_id: Id) -> Response:
    event, _ = tenant_event(identity, event_slug)
    return result_response(request_store.get_edit(event, request_id))


@tenant.get("/ai-styles", response_model=Envelope[list[StyleView]])
def tenant_styles(identity: CurrentIdentity, event_slug: Slug) -> Envelope[list[StyleView]]:
    event, _ = tenant_event(identity, event_slug)
    return Envelope(data=styles_for(event))


# --- superadmins --------------------------------------------------------------------------


class SettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expected_version: int = Field(ge=0)
    changes: dict[str, Any]


@admin.get("/ai-editing/settings", response_model=Envelope[AiEditingSettings])
def admin_settings(identity: CurrentIdentity) -> Envelope[AiEditingSettings]:
    require_superadmin(identity)
    return Envelope(data=catalog().get_settings())


@admin.put("/ai-editing/settings", response_model=Envelope[AiEditingSettings])
def admin_update_settings(
    identity: CurrentIdentity, body: SettingsUpdate
) -> Envelope[AiEditingSettings]:
    require_superadmin(identity)
    updated = catalog().update_settings(body.changes, expected_version=body.expected_version)
    return Envelope(data=updated)


@admin.get("/ai-styles", response_model=Envelope[list[Style]])
def admin_styles(identity: CurrentIdentity) -> Envelope[list[Style]]:
    require_superadmin(identity)
    return Envelope(data=catalog().styles(active_only=False))


@admin.put("/ai-styles/{style_key}", response_model=Envelope[Style])
def admin_put_style(identity: CurrentIdentity, style_key: Id, body: Style) -> Envelope[Style]:
    require_superadmin(identity)
    if body.key != style_key:
        raise ValidationError("The body's key must match the path", code="key_mismatch")
    catalog().put_style(body)
    return Envelope(data=body)


@admin.put("/packages/{package_key}", response_model=Envelope[Package])
def admin_put_package(
    identity: CurrentIdentity, package_key: Id, body: Package
) -> Envelope[Package]:
    require_superadmin(identity)
    if body.package_key != package_key:
        raise ValidationError("The body's key must match the path", code="key_mismatch")
    catalog().put_package(body)
    return Envelope(data=body)


@admin.put(
    "/tenants/{tenant_id}/events/{event_slug}/addons/{addon_id}", response_model=Envelope[Addon]
)
def admin_put_addon(
    identity: CurrentIdentity, tenant_id: Id, event_slug: Slug, addon_id: Id, body: Addon
) -> Envelope[Addon]:
    require_superadmin(identity)
    event = catalog().get_event(tenant_id, event_slug)
    if body.addon_id != addon_id or body.event_id != event.event_id:
        raise ValidationError("The body must name this add-on and event", code="key_mismatch")
    catalog().put_addon(tenant_id, event_slug, body)
    return Envelope(data=body)


@admin.put("/tenants/{tenant_id}/budget", response_model=Envelope[Budget])
def admin_put_budget(identity: CurrentIdentity, tenant_id: Id, body: Budget) -> Envelope[Budget]:
    require_superadmin(identity)
    return Envelope(data=catalog().update_budget(tenant_id, body).budget)


# --- provider webhooks --------------------------------------------------------------------


class WebhookResult(BaseModel):
    completed: int


@webhooks.post("/runware", response_model=Envelope[WebhookResult])
async def runware_webhook(
    request: Request, token: Annotated[str, Query(min_length=1, max_length=200)]
) -> Envelope[WebhookResult]:
    body = await request.body()
    completed = await run_in_threadpool(runner.runware_webhook, token, body)
    return Envelope(data=WebhookResult(completed=completed))


@webhooks.post("/replicate", response_model=Envelope[WebhookResult])
async def replicate_webhook(request: Request) -> Envelope[WebhookResult]:
    body = await request.body()
    completed = await run_in_threadpool(runner.replicate_webhook, request.headers, body)
    return Envelope(data=WebhookResult(completed=completed))


app = create_app("AI Magic Edits", guest, tenant, admin, webhooks)
_handler = observed(Mangum(app, lifespan="off"))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    register_lambda_context(context)
    return _handler(event, context)
