"""The jobs worker's use case: run, or keep polling, one job per SQS message.

Idempotent on the job id: a message for a finished job, or one a parallel delivery has
already taken, does nothing. A provider still working re-queues the message with a delay
(and counts the poll) instead of holding the Lambda; a provider that is down raises, so
SQS redelivers the message, and on its last delivery the job fails and is refunded rather
than being left to the dead-letter queue half done.

Spend: the provider call a job waits for holds a reservation on its provider's daily
ceiling (`Job.spend`, handed over by a generate or taken by this worker's own dispatch).
It is settled when the provider answers with a finished outcome (stored or not: it billed),
at the estimate when the job gives up on a started run, and released when the job fails
without a billable answer.
"""

from __future__ import annotations

import time
from contextlib import ExitStack

from aiimage.enhancer import jobs
from aiimage.enhancer.dispatch import (
    DispatchTimeoutError,
    SpendScope,
    dispatch,
    release_spend,
    settle_spend,
    spend_reason,
)
from aiimage.enhancer.generate import store_result
from aiimage.enhancer.model_catalog import ProviderName, stored
from aiimage.errors import AppError, NotFoundError, ValidationError
from aiimage.imaging.provenance import Original, Provenance, check_signing_ready
from aiimage.limits import latency, quota_store
from aiimage.limits.spend import SpendReservation
from aiimage.observability import LogEvent, MetricName, logger, metrics
from aiimage.providers.base import ImageInput, Outcome, ProviderRejectedError
from aiimage.providers.registry import get_provider
from aiimage.storage.keys import parse_key
from aiimage.storage.objects import object_store

MAX_POLLS = 90
POLL_DELAY_SECONDS = 10
# A worker invocation may wait far longer than an API request (function timeout: 5 min).
WORKER_BUDGET_SECONDS = 120.0


def process(message: jobs.JobMessage, *, last_attempt: bool = False) -> None:
    try:
        job = jobs.load(message.owner_type, message.owner_id, message.job_id)
    except NotFoundError:
        logger.warning(LogEvent.JOB_MISSING, job_id=message.job_id)
        return
    if job.status == "queued":
        taken = jobs.transition(job, from_status=("queued",), to_status="processing")
        if taken is None:
            return  # another delivery took it
        job = taken
    if job.status != "processing":
        # Finished or canceled: a duplicate delivery, or the redelivery after a worker died
        # between the final transition and the settlement. Settle again: both are single
        # conditional writes on the reservation, so this is a no-op if it already happened.
        _settle(job)
        return
    try:
        provider, outcome, spend = _advance(job)
    except (ProviderRejectedError, ValidationError) as exc:
        _fail(job, exc.code, exc.message)
        return
    except AppError as exc:
        if last_attempt:
            _fail(job, exc.code, exc.message)
            return
        raise
    if outcome.status == "pending":
        _keep_polling(job, message, provider, outcome, spend)
    elif outcome.status == "failed":
        settle_spend(spend, outcome, "failed")
        _fail(job, "generation_failed", outcome.error or "The provider could not process it")
    else:
        _succeed(job, outcome, spend, provider)


def _advance(job: jobs.Job) -> tuple[ProviderName, Outcome, SpendReservation | None]:
    """Poll the provider's run if there is one, else start one; with the spend reservation
    of the call whose outcome it is."""
    check_signing_ready()  # no provider call for a result that could not be signed
    if job.provider and job.provider_job_id:
        outcome = get_provider(job.provider).poll(job.provider_job_id)
        return job.provider, outcome, job.spend_reservation
    key = parse_key(job.original_key)
    image = ImageInput(
        data=object_store().read(key),
        content_type=key.content_type,
        url=object_store().presign_get(key),
    )
    payer = SpendScope(
        owner_key=job.owner_key,
        quota_reservation_id=job.reservation_id,
        guest=job.owner_type == "guest",
    )
    try:
        dispatched = dispatch(
            stored(job.params), image, spend=payer, budget_seconds=WORKER_BUDGET_SECONDS
        )
    except DispatchTimeoutError as exc:
        # Nothing to poll: the next delivery calls again (reserving the same id anew).
        release_spend(exc.spend)
        raise
    if dispatched.spend != job.spend_reservation:
        # A generate's timed-out call handed over on another route (or day): not ours.
        release_spend(job.spend_reservation)
    return dispatched.route.provider, dispatched.outcome, dispatched.spend


def _keep_polling(
    job: jobs.Job,
    message: jobs.JobMessage,
    provider: ProviderName,
    outcome: Outcome,
    spend: SpendReservation | None,
) -> None:
    if job.polls >= MAX_POLLS:
        if outcome.job_id:
            get_provider(provider).cancel(outcome.job_id)
        settle_spend(spend, None, "timeout")  # it ran (and billed) all this time
        _fail(job, "provider_timeout", "The provider did not finish in time")
        return
    spend_record = jobs.JobSpend.of(spend)
    updated = jobs.transition(
        job,
        from_status=("processing",),
        to_status="processing",
        provider=provider,
        provider_job_id=outcome.job_id,
        polls=job.polls + 1,
        spend=spend_record.model_dump() if spend_record else None,
    )
    if updated is not None:
        jobs.enqueue(message, delay_seconds=POLL_DELAY_SECONDS)


def _provenance(job: jobs.Job, provider: ProviderName) -> Provenance:
    """The job's result, made by its model from its original (named by hash alone)."""
    key = parse_key(job.original_key)
    original = Original.of(object_store().read(key), key.content_type)
    return Provenance(job.params.model, provider, original)


def _succeed(
    job: jobs.Job, outcome: Outcome, spend: SpendReservation | None, provider: ProviderName
) -> None:
    with ExitStack() as undo:
        try:
            result_key = store_result(undo, job, outcome, _provenance(job, provider))
        except Exception:
            settle_spend(spend, outcome, spend_reason(outcome))
            raise
        settle_spend(spend, outcome, "succeeded")
        done = jobs.transition(
            job, from_status=("processing",), to_status="succeeded", result_key=str(result_key)
        )
        if done is None and not _holds_result(job, str(result_key)):
            return  # canceled meanwhile: the result is deleted, the cancel already refunded
        undo.pop_all()
    quota_store().commit(job.reservation)
    # The job's time from its creation to its result: the Enhancer page's estimate.
    latency.record_duration(provider, job.params.model, int(time.time() * 1000) - job.created_at)
    logger.info(LogEvent.GENERATE_SUCCESS, job_id=job.id, model=job.params.model)
    metrics.add_metric(name=MetricName.GENERATE_SUCCESS, unit="Count", value=1)


def _holds_result(job: jobs.Job, result_key: str) -> bool:
    """Whether the job already points at `result_key`: the transition was applied but its
    answer lost, and the SDK's retry then failed the condition. The key is new and random,
    so only this worker's own write can have stored it."""
    current = jobs.load(job.owner_type, job.owner_id, job.id)
    return current.status == "succeeded" and current.result_key == result_key


def _settle(job: jobs.Job) -> None:
    if job.status == "succeeded":
        quota_store().commit(job.reservation)
        settle_spend(job.spend_reservation, None, "succeeded")
    elif job.status in ("failed", "canceled"):
        quota_store().refund(job.reservation)
        release_spend(job.spend_reservation)


def _fail(job: jobs.Job, code: str, message: str) -> None:
    failed = jobs.transition(
        job, from_status=("processing",), to_status="failed", error_code=code, error_message=message
    )
    if failed is not None:
        quota_store().refund(job.reservation)
        # A billed call was settled before this; what is still open was never billed.
        release_spend(failed.spend_reservation)
        logger.warning(LogEvent.GENERATE_FAILED, job_id=job.id, code=code)
        metrics.add_metric(name=MetricName.GENERATE_FAILED, unit="Count", value=1)
