"""Running edit requests: the submit worker (`ProcessAiEditRequest`) and the poll worker
(`PollAiEditRequest`), and the persistence of a finished result.

At-least-once delivery is expected everywhere. A request is submitted only while it is
`queued`, or `processing` without a provider task (a worker died between taking it and
recording the task): the provider task id is derived from the request id, so that
resubmission is recognised by the provider, not run twice. A poll message names its
attempt and only the poll that still matches the stored count proceeds. Settlement is a
single conditional write on the budget reservation, done before the final transition, so
a duplicate can never charge twice and a crash in between is healed by the redelivery.

Money: a call to a paid provider first reserves its estimate under the provider's daily
ceiling (`aiimage.limits.spend`, shared with the Enhancer). Magic Edits is funded by the
tenant's budget, not by a guest's allowance, so its reservations count as not-guest: a
guest who asks for an edit spends the tenant's money, which the budget already bounds. A
ceiling with no room sends the request back to wait (`wait_for_capacity`), charging
nothing. What the provider billed is settled in both ledgers with the same amount and
reason: the reported cost (`Outcome.cost_micros`), else the request's estimate (a paid
provider never runs for free), also when we refuse the result afterwards (`blocked` for
moderation, `store_failed` for a result we cannot decode or watermark, `failed` for a run
that failed on the provider's hardware). Only a call the provider never billed (refused
before running, never reached, failed without a bill) is released.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from PIL import Image

from aiimage import aws, credentials
from aiimage.edits import photos, request_store, stats
from aiimage.edits.budget import BudgetReservation, budget_store
from aiimage.edits.catalog_store import catalog
from aiimage.edits.circuit import circuit_breaker
from aiimage.edits.models import AiEditingSettings, EditRequest, Event, ProviderName
from aiimage.edits.watermarking import watermark_for_event
from aiimage.errors import (
    AppError,
    CapacityExhaustedError,
    ConfigurationError,
    NotFoundError,
)
from aiimage.imaging import provenance, webp
from aiimage.limits import spend_ledger
from aiimage.limits.spend import SpendReservation
from aiimage.observability import LogEvent, logger
from aiimage.providers.base import (
    AiImageProvider,
    GenerationRequest,
    ImageInput,
    Outcome,
    ProviderRejectedError,
    is_retryable,
)
from aiimage.providers.params import GenerationParams
from aiimage.providers.pricing import FREE_PROVIDERS, estimate_micros
from aiimage.providers.registry import get_provider
from aiimage.settings import get_settings
from aiimage.storage.objects import object_store

POLL_BASE_DELAY_SECONDS = 5
POLL_MAX_DELAY_SECONDS = 900  # SQS's DelaySeconds limit
# The longest a submit waits for room under a provider's ceiling before it looks again.
CAPACITY_RETRY_MAX_SECONDS = POLL_MAX_DELAY_SECONDS
NSFW = "nsfw"
# How far an edit moves from the photo (img2img strength): a style, not a new picture.
EDIT_STRENGTH = 0.6
# How long a submit holds the worker for a synchronous answer (Replicate's `Prefer: wait`)
# before it hands the run over to polls and webhooks.
SUBMIT_WAIT_SECONDS = 5.0
# Why a settled call was billed: the ledger lines' `reason` (budget and provider spend).
SUCCEEDED, BLOCKED, FAILED, STORE_FAILED = "succeeded", "blocked", "failed", "store_failed"
# What decoding or watermarking a provider's bytes raises when they are no usable image.
UNUSABLE_IMAGE = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


@dataclass(frozen=True, slots=True)
class PollMessage:
    tenant_id: str
    event_slug: str
    request_id: str
    attempt: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, body: str) -> PollMessage:
        data = json.loads(body)
        return cls(
            tenant_id=str(data["tenant_id"]),
            event_slug=str(data["event_slug"]),
            request_id=str(data["request_id"]),
            attempt=int(data["attempt"]),
        )


def poll_delay(attempt: int) -> int:
    """Exponential backoff with full jitter, capped at SQS's 15 minutes."""
    ceiling = min(POLL_MAX_DELAY_SECONDS, POLL_BASE_DELAY_SECONDS * 2**attempt)
    return random.randint(max(1, ceiling // 2), ceiling)  # noqa: S311 - not cryptographic


def choose_provider(request: EditRequest, settings: AiEditingSettings) -> ProviderName:
    """The request's provider, or the fallback while its circuit is open."""
    if settings.fallback_provider and circuit_breaker().is_open(request.provider):
        return settings.fallback_provider
    return request.provider


# --- submit -------------------------------------------------------------------------------


def submit(message: request_store.EditMessage, *, last_attempt: bool = False) -> None:
    try:
        request = request_store.load_edit(message.tenant_id, message.event_slug, message.request_id)
    except NotFoundError:
        logger.warning(LogEvent.AI_EDIT_MISSING, request_id=message.request_id)
        return
    if request.status == "queued":
        taken = request_store.transition(request, from_status=("queued",), to_status="processing")
        if taken is None:
            return
        request = taken
    if request.status != "processing":
        settle_finished(request)
        return
    if request.provider_job_id is not None:
        return  # already submitted: its poll messages carry it on
    settings = catalog().cached_settings()
    provider = choose_provider(request, settings)
    try:
        provenance.check_signing_ready()  # no provider call for a result we could not sign
        generation = _generation_request(request, provider)
        request = _reserve_spend(request, provider, generation.model)
        outcome = _call_provider(request, provider, lambda client: client.submit(generation))
    except CapacityExhaustedError as exc:
        wait_for_capacity(request, exc)
        return
    except ProviderRejectedError as exc:
        fail(request, "provider_rejected", exc.message, provider=provider)
        return
    except AppError as exc:
        if not is_retryable(exc) or last_attempt:
            # A bad photo, refused credentials, a misconfiguration: retrying cannot help.
            fail(request, exc.code, exc.message, provider=provider)
            return
        circuit_breaker().failure(provider)
        _release_spend(request, provider)  # refused: the redelivery reserves again
        raise  # SQS redelivers with the queue's visibility timeout, then the DLQ
    circuit_breaker().success(provider)
    advance(request, provider, outcome, polled=False)


def _reserve_spend(request: EditRequest, provider: ProviderName, model: str) -> EditRequest:
    """Reserve the call's estimate under the provider's daily ceiling, before the call: one
    conditional write (none for a free provider); `CapacityExhaustedError` when it has no
    room. The request in hand then names the reservation, and the next transition stores
    it. Not-guest: Magic Edits is paid from the tenant's budget (see the module's doc)."""
    reserved = spend_ledger().reserve(
        provider,
        estimate_micros(provider, model),
        reservation_id=request.request_id,
        guest=False,
    )
    if reserved is None:
        return request
    return request.model_copy(
        update={"spend_day": reserved.day, "spend_estimate_micros": reserved.estimate_micros}
    )


def wait_for_capacity(request: EditRequest, exc: CapacityExhaustedError) -> None:
    """The provider's ceiling has no room today: nothing was reserved, sent or charged. The
    request stays `processing` without a task (what a resubmission looks for), marked as
    progressing so recover-stuck leaves it alone, and a new submit message brings it back
    after `Retry-After` (at most SQS's 15 minutes, then again until the ceiling resets at
    UTC midnight). A new message starts a new receive count: waiting never fails the
    request nor sends it to the dead-letter queue."""
    kept = request_store.transition(
        request,
        from_status=("processing",),
        to_status="processing",
        expected_polls=request.polls,
    )
    if kept is None:
        return  # another delivery moved it on
    queue_url = get_settings().edits_queue_url
    if queue_url is None:
        raise ConfigurationError("EDITS_QUEUE_URL is not configured")
    message = request_store.EditMessage(request.tenant_id, request.event_slug, request.request_id)
    delay = min(CAPACITY_RETRY_MAX_SECONDS, exc.retry_after)
    aws.sqs().send_message(QueueUrl=queue_url, MessageBody=message.to_json(), DelaySeconds=delay)
    logger.warning(
        LogEvent.AI_EDIT_WAITING_FOR_CAPACITY,
        request_id=request.request_id,
        provider=(exc.details or {}).get("provider"),
        retry_in_seconds=delay,
    )


def _call_provider(
    request: EditRequest, provider: ProviderName, call: Callable[[AiImageProvider], Outcome]
) -> Outcome:
    """One provider call, its duration counted on the event (`stats.record_latency`: the
    summary's average latency, the latency warning), whether it answered or failed."""
    client = get_provider(provider)
    started = time.monotonic()
    try:
        return call(client)
    finally:
        stats.record_latency(request, provider, round((time.monotonic() - started) * 1000))


def _generation_request(request: EditRequest, provider: ProviderName) -> GenerationRequest:
    photo = catalog().get_photo(request.tenant_id, request.event_slug, request.photo_id)
    # The published photo only: `complete` wrote it sanitised, and no presigned PUT names
    # it. The provider gets these bytes as they are, or a GET of that key.
    source = photos.provider_input(photo)
    model = request.provider_model
    if provider != request.provider:
        model = _fallback_model(provider, request)
    return GenerationRequest(
        model=model,
        image=ImageInput(
            source.data, source.content_type, url=object_store().presign_get(source.key)
        ),
        params=GenerationParams(
            prompt=request.prompt, negative_prompt=request.negative_prompt, strength=EDIT_STRENGTH
        ),
        idempotency_key=f"{request.request_id}:{provider}",
        output_format="WEBP",
        wait_seconds=SUBMIT_WAIT_SECONDS,
        webhook_url=webhook_url(provider),
    )


def webhook_url(provider: ProviderName) -> str | None:
    """Where the provider reports a finished task, when the stack is reachable
    (PUBLIC_BASE_URL): Replicate signs its webhooks with the account's secret; Runware's are
    unsigned, so they need a configured token in the URL (`aiimage.edits.webhooks` receives
    them). Polling stays the safety net."""
    base = get_settings().public_base_url
    if base is None:
        return None
    if provider == "replicate":
        return f"{base.rstrip('/')}/api/v1/webhooks/replicate"
    token = credentials.runware_webhook_token()
    if provider != "runware" or token is None:
        return None
    return f"{base.rstrip('/')}/api/v1/webhooks/runware?token={token.get_secret_value()}"


def _fallback_model(provider: ProviderName, request: EditRequest) -> str:
    # A fallback has no model of the style's provider; the local provider has one per style.
    if provider in ("local", "fake"):
        return "style:enhance"
    raise ConfigurationError(f"No model for {request.style_key} on {provider}")


# --- poll ---------------------------------------------------------------------------------


def poll(message: PollMessage, *, last_attempt: bool = False) -> None:
    try:
        request = request_store.load_edit(message.tenant_id, message.event_slug, message.request_id)
    except NotFoundError:
        return
    if request.status != "processing":
        settle_finished(request)
        return
    if request.polls != message.attempt:
        return  # a duplicate of an older poll
    if request.provider_job_id is None:
        return
    provider, job_id = request.provider, request.provider_job_id
    try:
        outcome = _call_provider(request, provider, lambda client: client.poll(job_id))
    except AppError as exc:
        if last_attempt or not is_retryable(exc):
            fail(request, exc.code, exc.message)
            return
        raise
    advance(request, provider, outcome, polled=True)


# --- outcomes -----------------------------------------------------------------------------


def advance(
    request: EditRequest, provider: ProviderName, outcome: Outcome, *, polled: bool
) -> None:
    if outcome.status == "succeeded":
        persist(request, provider, outcome)
    elif outcome.status == "failed":
        if outcome.error == NSFW:
            block(request, provider=provider, cost_micros=outcome.cost_micros)
        else:
            # A run that failed on the provider's hardware reports its bill; none: not billed.
            fail(
                request,
                "provider_failed",
                outcome.error or "The provider could not edit it",
                provider=provider,
                billed_micros=outcome.cost_micros,
            )
    else:
        _keep_polling(request, provider, outcome, polled=polled)


def _keep_polling(
    request: EditRequest, provider: ProviderName, outcome: Outcome, *, polled: bool
) -> None:
    """Record the provider task (and the poll just made) and queue the next poll."""
    settings = catalog().cached_settings()
    polls = request.polls + 1 if polled else request.polls
    if polls >= settings.queue_max_polls:
        fail(request, "poll_timeout", "The provider did not finish in time")
        return
    updated = request_store.transition(
        request,
        from_status=("processing",),
        to_status="processing",
        expected_polls=request.polls,
        provider_job_id=outcome.job_id,
        provider=provider,
        polls=polls,
        spend_day=request.spend_day,
        spend_estimate_micros=request.spend_estimate_micros,
    )
    if updated is None:
        return  # a duplicate delivery already moved it on
    if not polled and outcome.job_id is not None:
        request_store.record_task(updated, provider, outcome.job_id)
    queue_url = get_settings().edits_poll_queue_url
    if queue_url is None:
        raise ConfigurationError("EDITS_POLL_QUEUE_URL is not configured")
    message = PollMessage(request.tenant_id, request.event_slug, request.request_id, polls)
    aws.sqs().send_message(
        QueueUrl=queue_url, MessageBody=message.to_json(), DelaySeconds=poll_delay(polls)
    )


def _reservation(request: EditRequest) -> BudgetReservation:
    return BudgetReservation(
        tenant_id=request.tenant_id,
        month=request.budget_month or request.created_at.strftime("%Y-%m"),
        request_id=request.request_id,
        cost_micros=request.cost_estimate_micros,
        reserved_at=datetime.now(UTC),
    )


def store_result(request: EditRequest, image: bytes) -> str:
    """The provider's image with the event's watermark, stored as signed WebP; its key."""
    marked = _watermarked(request, image, request.provider)
    key = _result_key(request)
    object_store().put(key, marked, "image/webp")
    return key


def _watermarked(request: EditRequest, image: bytes, provider: ProviderName) -> bytes:
    """The result as stored: watermarked, encoded, and marked as AI-edited (C2PA + XMP)."""
    event = catalog().get_event(request.tenant_id, request.event_slug)
    marked = watermark_for_event(event, webp.decode(image), in_place=True)
    encoded = webp.encode(marked, "WEBP", quality=90, release=True)
    return provenance.sign(encoded, "image/webp", _provenance(request, provider, event))


def _provenance(
    request: EditRequest, provider: ProviderName, event: Event
) -> provenance.Provenance:
    """An edit of the event photo, by hash; no guest, and no prompt (a guest's own words)
    unless the event's policy says so (`include_prompt_in_manifest`)."""
    photo = catalog().get_photo(request.tenant_id, request.event_slug, request.photo_id)
    key = photos.published_key(photo)
    original = provenance.Original.of(object_store().read(key), photos.content_type_of(key))
    # The style's model, or on a fallback the local style; naming it never fails a result.
    model = request.provider_model
    if provider != request.provider:
        model = "style:enhance" if provider in ("local", "fake") else f"style:{request.style_key}"
    prompt = request.prompt if event.ai_editing.include_prompt_in_manifest else None
    return provenance.Provenance(model, provider, original, watermarked=True, prompt=prompt)


def _result_key(request: EditRequest) -> str:
    return f"events/{request.event_slug}/ai-edits/{request.request_id}.webp"


def persist(request: EditRequest, provider: ProviderName, outcome: Outcome) -> None:
    """Store the result, settle, then move to `succeeded`. Each step is safe to repeat (the
    key is the request's, the settlement a single conditional write), so a worker that dies
    anywhere in between is healed by the redelivery, or by `recover-stuck`'s poll. Bytes
    that are no usable image were billed all the same: settled as `store_failed`."""
    if outcome.image is None:
        # Outcome.succeeded always carries one; a provider answering otherwise failed.
        fail(request, "provider_failed", "The provider reported success without an image")
        return
    cost_micros = _billed_micros(request, provider, outcome.cost_micros)
    try:
        marked = _watermarked(request, outcome.image, provider)
    except UNUSABLE_IMAGE:
        fail(
            request,
            STORE_FAILED,
            "The provider's result could not be stored",
            provider=provider,
            billed_micros=cost_micros,
            reason=STORE_FAILED,
        )
        return
    key = _result_key(request)
    object_store().put(key, marked, "image/webp")
    _settle(request, provider, cost_micros, reason=SUCCEEDED)
    done = request_store.transition(
        request,
        from_status=("processing",),
        to_status="succeeded",
        result_key=key,
        actual_cost_micros=cost_micros,
        provider=provider,
        provider_url=outcome.url,
        **_spend_changes(request),
    )
    if done is not None:
        logger.info(LogEvent.AI_EDIT_SUCCEEDED, request_id=request.request_id, provider=provider)
        return
    # Lost the transition: a duplicate that already succeeded (or whose own write was
    # applied and only its answer lost) points at this very key and keeps it; a request
    # failed meanwhile (recover-stuck --fail, a poll timeout) must not keep an orphan image.
    try:
        current = request_store.load_edit(request.tenant_id, request.event_slug, request.request_id)
    except NotFoundError:
        current = None
    if current is None or current.status != "succeeded":
        object_store().delete(key)


# --- money --------------------------------------------------------------------------------


def _billed_micros(request: EditRequest, provider: ProviderName, reported: int | None) -> int:
    """What the provider billed for a run it finished: what it reported, else the request's
    estimate (a paid provider never runs for free); the in-process providers cost nothing."""
    if reported is not None:
        return reported
    return 0 if provider in FREE_PROVIDERS else request.cost_estimate_micros


def _spend(request: EditRequest, provider: ProviderName) -> SpendReservation | None:
    """The request's reservation under the provider's ceiling, if its call took one."""
    if request.spend_day is None or request.spend_estimate_micros is None:
        return None
    return SpendReservation(
        provider=provider,
        day=request.spend_day,
        reservation_id=request.request_id,
        estimate_micros=request.spend_estimate_micros,
        guest=False,
    )


def _spend_changes(request: EditRequest) -> dict[str, Any]:
    """The reservation's fields for a transition: a later delivery finds what to release."""
    if request.spend_day is None:
        return {}
    return {"spend_day": request.spend_day, "spend_estimate_micros": request.spend_estimate_micros}


def _settle(request: EditRequest, provider: ProviderName, cost_micros: int, *, reason: str) -> None:
    """The provider billed the call: `cost_micros` becomes spend of the tenant's budget and
    under the provider's ceiling, each with a ledger line saying why. Each is one conditional
    write, a no-op once done, so a redelivery settles nothing twice."""
    budget_store().settle(
        _reservation(request),
        cost_micros,
        event_id=request.event_id,
        provider=provider,
        reason=reason,
    )
    spend = _spend(request, provider)
    if spend is not None:
        spend_ledger().settle(spend, cost_micros, reason=reason)


def _release_spend(request: EditRequest, provider: ProviderName) -> None:
    spend = _spend(request, provider)
    if spend is not None:
        spend_ledger().release(spend)


def _release(request: EditRequest, provider: ProviderName) -> None:
    """The provider did not bill: the budget's and the ceiling's reservations go back."""
    budget_store().release(_reservation(request))
    _release_spend(request, provider)


def settle_finished(request: EditRequest) -> None:
    """A message for a finished request: a duplicate, or the redelivery after a worker died
    between its final transition and the release. Release again: a single conditional
    write on each reservation, a no-op when it already happened (a billed call settles
    before its transition, so it has nothing left to do)."""
    if request.status in ("failed", "blocked"):
        _release(request, request.provider)


def fail(
    request: EditRequest,
    code: str,
    message: str,
    *,
    provider: ProviderName | None = None,
    billed_micros: int | None = None,
    reason: str = FAILED,
) -> None:
    """Fail the request. A call the provider billed (`billed_micros`) is settled first, as
    a success is, with a ledger line giving `reason`; anything else is released."""
    provider = provider or request.provider
    if billed_micros is not None:
        _settle(request, provider, billed_micros, reason=reason)
    changes = _spend_changes(request)
    if changes:
        changes["provider"] = provider
    if billed_micros is not None:
        changes["actual_cost_micros"] = billed_micros
    done = request_store.transition(
        request,
        from_status=("queued", "processing"),
        to_status="failed",
        error_code=code,
        error_message=message[:500],
        **changes,
    )
    if done is not None:
        if billed_micros is None:
            _release(request, provider)
        logger.warning(LogEvent.AI_EDIT_FAILED, request_id=request.request_id, code=code)


def block(
    request: EditRequest,
    *,
    provider: ProviderName | None = None,
    cost_micros: int | None = None,
) -> None:
    """The provider's moderation refused the image it generated: it billed the run, so its
    cost (the reported one, else the estimate) is settled as `blocked`, never released."""
    provider = provider or request.provider
    billed = _billed_micros(request, provider, cost_micros)
    _settle(request, provider, billed, reason=BLOCKED)
    changes = _spend_changes(request)
    if changes:
        changes["provider"] = provider
    done = request_store.transition(
        request,
        from_status=("processing",),
        to_status="blocked",
        block_reason="provider_moderation",
        actual_cost_micros=billed,
        **changes,
    )
    if done is not None:
        logger.warning(LogEvent.AI_EDIT_BLOCKED, request_id=request.request_id)
