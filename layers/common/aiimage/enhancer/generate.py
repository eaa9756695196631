"""`POST /api/ai-image/generate`: one image in, one enhanced image out, paid exactly once.

The order is the seed system's, made exact: parameters are checked against the catalog
and the plan (free), the rate limit counts the attempt, the quota is *reserved*, and only
then is the image read, validated, stored and sent to a provider. The reservation is
committed when the result is stored and refunded on any failure, and every object written
on the way is deleted again, so a failed generate costs nothing and leaves nothing.

Money: the provider call itself reserves its estimate on the provider's daily ceiling
(`aiimage.enhancer.dispatch`); a ceiling without room is 503 `capacity_exhausted` and the
quota is refunded. Once the provider answered, its bill is settled even when the image is
not delivered (reason `failed` or `store_failed`): the ledger counts what was spent.

When the provider cannot finish within the API's deadline, the work is handed to an
asynchronous job instead of timing out: the reservation and the stored original go with
it, and the caller gets 202 and the job to poll.

A Lambda killed outright (timeout, out of memory) runs none of that clean-up. Its traces
are findable without an extra write: the reservation stays on the quota item with its time
(`r_{id}`), and the original's object name starts with the reservation id
(`original_key`), so `sweep-reservations` (`aiimage.ops.reservations`) refunds a
reservation no job holds once it is older than any invocation can live, and deletes the
original by that prefix.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Literal

from aiimage.enhancer import jobs
from aiimage.enhancer.dispatch import (
    Dispatched,
    DispatchTimeoutError,
    SpendScope,
    dispatch,
    release_spend,
    routes_for,
    settle_spend,
    spend_reason,
)
from aiimage.enhancer.intake import (
    ImageSource,
    check_prompts,
    check_source,
    discard_upload,
    refund,
    store,
    store_original,
)
from aiimage.enhancer.model_catalog import GenerateParams, ResolvedParams, resolve
from aiimage.enhancer.usage import UsageView, get_usage
from aiimage.errors import (
    ServiceUnavailableError,
    UpstreamError,
)
from aiimage.identity import Identity
from aiimage.imaging import provenance, webp
from aiimage.imaging.provenance import Original, Provenance
from aiimage.limits import quota_store, rate_limiter
from aiimage.limits.plans import resolve_plan
from aiimage.limits.quota import Reservation, network_allowance
from aiimage.observability import LogEvent, MetricName, logger, metrics
from aiimage.providers.base import ImageInput, Outcome, ProviderUnavailableError
from aiimage.settings import get_settings
from aiimage.storage.keys import ObjectKey, Owner, new_key
from aiimage.storage.objects import object_store

RESULT_CONTENT_TYPE = "image/webp"
RESULT_QUALITY = 90


@dataclass(frozen=True, slots=True)
class Charge:
    images: int
    provider: str
    cost_usd: float | None


@dataclass(frozen=True, slots=True)
class Generated:
    model: str
    result_key: ObjectKey
    original_key: ObjectKey
    usage: UsageView
    charge: Charge
    status: Literal["succeeded"] = "succeeded"


@dataclass(frozen=True, slots=True)
class Deferred:
    job: jobs.Job
    status: Literal["deferred"] = "deferred"


def generate(
    identity: Identity, params: GenerateParams, source: ImageSource
) -> Generated | Deferred:
    settings = get_settings()
    _, entitlements = resolve_plan(identity, settings)
    resolved = resolve(params, entitlements)
    routes_for(resolved, settings)  # a misconfiguration fails before anything is counted
    provenance.check_signing_ready()  # so does a result that could not be signed
    check_prompts(resolved, settings)
    check_source(source)
    rate_limiter().hit(
        "generate",
        identity.owner_key,
        limit=settings.generate_rate_limit_per_minute,
        window_seconds=60,
    )
    logger.info(LogEvent.GENERATE_START, model=resolved.spec.slug, owner_type=identity.owner_type)
    reservation = quota_store().reserve(
        identity.owner_key, entitlements, network_allowance(identity)
    )
    with ExitStack() as undo:
        undo.callback(refund, reservation)
        clean, original_key = store_original(undo, identity, reservation, source, resolved)
        logger.info(LogEvent.R2_PUT_ORIGINAL, key=str(original_key), bytes=len(clean.data))
        started = time.monotonic()
        try:
            image = ImageInput(clean.data, clean.content_type, _input_url(original_key, resolved))
            dispatched = dispatch(resolved, image, spend=_payer(identity, reservation))
        except DispatchTimeoutError as exc:
            # The provider may still be working: finish in the background instead.
            job = jobs.create(identity, resolved, original_key, reservation, spend=exc.spend)
            undo.pop_all()
            return _deferred(job)
        outcome = dispatched.outcome
        if outcome.status == "pending":
            job = _hand_over(identity, resolved, original_key, reservation, dispatched)
            undo.pop_all()
            return _deferred(job)
        made = Provenance(
            resolved.spec.slug,
            dispatched.route.provider,
            Original.of(clean.data, clean.content_type),
        )
        result_key = _store_paid_result(undo, identity, dispatched, made)
        if not quota_store().commit(reservation) and quota_store().swept(reservation):
            # Refunded under us: this invocation outlived the sweep's grace period. Not
            # charged, so not delivered either: the clean-up deletes both objects. (A commit
            # whose first attempt was applied and only its answer lost is not swept.)
            raise ServiceUnavailableError(
                "The image took too long and was not charged; try again",
                code="generation_expired",
            )
        undo.pop_all()
    discard_upload(identity, source)
    logger.info(
        LogEvent.GENERATE_SUCCESS,
        model=resolved.spec.slug,
        provider=dispatched.route.provider,
        provider_ms=round((time.monotonic() - started) * 1000),
    )
    metrics.add_metric(name=MetricName.GENERATE_SUCCESS, unit="Count", value=1)
    return Generated(
        model=resolved.spec.slug,
        result_key=result_key,
        original_key=original_key,
        usage=get_usage(identity),
        charge=Charge(
            images=1,
            provider=dispatched.route.provider,
            cost_usd=None if outcome.cost_micros is None else outcome.cost_micros / 1_000_000,
        ),
    )


def _payer(identity: Identity, reservation: Reservation) -> SpendScope:
    return SpendScope(
        owner_key=identity.owner_key,
        quota_reservation_id=reservation.reservation_id,
        guest=identity.owner_type == "guest",
    )


def _hand_over(
    identity: Identity,
    resolved: ResolvedParams,
    original_key: ObjectKey,
    reservation: Reservation,
    dispatched: Dispatched,
) -> jobs.Job:
    """A provider still working: its job polls on and settles the spend when it ends."""
    outcome = dispatched.outcome
    if outcome.job_id is None:  # nothing to poll, nothing billed: a malformed answer
        release_spend(dispatched.spend)
        raise ProviderUnavailableError(code="pending_without_job_id")
    try:
        return jobs.create(
            identity,
            resolved,
            original_key,
            reservation,
            provider_job=jobs.ProviderJob(dispatched.route.provider, outcome.job_id),
            spend=dispatched.spend,
        )
    except Exception:
        # No job will poll the run we started: pay for it at the estimate.
        settle_spend(dispatched.spend, None, "abandoned")
        raise


def _store_paid_result(
    undo: ExitStack, identity: Identity, dispatched: Dispatched, made: Provenance
) -> ObjectKey:
    """Store the result; the provider billed the call either way, so its spend is settled
    with the reason (`succeeded`, or why we could not deliver it)."""
    outcome = dispatched.outcome
    try:
        result_key = store_result(undo, identity, outcome, made)
    except Exception:
        settle_spend(dispatched.spend, outcome, spend_reason(outcome))
        raise
    settle_spend(dispatched.spend, outcome, "succeeded")
    return result_key


def store_result(undo: ExitStack, owner: Owner, outcome: Outcome, made: Provenance) -> ObjectKey:
    """The provider's image as WebP, marked as AI-made (C2PA + XMP, `made`), stored."""
    if outcome.status != "succeeded" or not outcome.image:
        logger.warning(LogEvent.GENERATE_FAILED, reason=outcome.error or outcome.status)
        metrics.add_metric(name=MetricName.GENERATE_FAILED, unit="Count", value=1)
        raise UpstreamError(
            "The image provider could not process this image", code="generation_failed"
        )
    data = outcome.image
    if outcome.content_type != RESULT_CONTENT_TYPE:
        data = webp.encode(webp.decode(data), "WEBP", quality=RESULT_QUALITY)
    data = provenance.sign(data, RESULT_CONTENT_TYPE, made)
    key = store(undo, new_key("results", owner, RESULT_CONTENT_TYPE), data)
    logger.info(LogEvent.R2_PUT_RESULT, key=str(key), bytes=len(data))
    return key


def _input_url(original_key: ObjectKey, params: ResolvedParams) -> str | None:
    # Replicate fetches large inputs itself; a short-lived URL keeps them off the request.
    if any(route.provider == "replicate" for route in params.spec.routes):
        return object_store().presign_get(original_key)
    return None


def _deferred(job: jobs.Job) -> Deferred:
    logger.info(LogEvent.GENERATE_DEFERRED, job_id=job.id)
    metrics.add_metric(name=MetricName.GENERATE_DEFERRED, unit="Count", value=1)
    return Deferred(job=job)
