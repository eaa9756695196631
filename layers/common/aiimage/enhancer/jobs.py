"""Asynchronous enhancer jobs: created by `POST /api/ai-image/jobs` or handed over by a
generate that ran out of time, run by the SQS worker, polled and canceled by their owner.

Table layout (JobsTable): `pk = owner#{ownerType}#{ownerId}`, `sk = job#{jobId}`. Job ids
start with the creation time, so one Query lists an owner's jobs newest first, and every
read is scoped to the caller's own partition: nobody can even address another's job.

States: queued → processing → succeeded | failed | canceled. Every transition is one
conditional UpdateItem on the current state, so a duplicate SQS delivery, a racing
cancel and a worker retry can never both win; the quota reservation taken at creation is
committed by the one transition into `succeeded` and refunded by the one into `failed`
or `canceled`.

A job may also hold the spend reservation of a provider call that is still running (a
`pending` outcome, or a generate whose provider timed out): the worker settles it when the
call ends (`aiimage.enhancer.runner`), a cancel settles it at the estimate (a started
provider run is billed) or releases it (none was started).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from aiimage import aws, dynamo, pagination
from aiimage.enhancer.dispatch import release_spend, settle_spend
from aiimage.enhancer.model_catalog import GenerateParams, ProviderName, ResolvedParams
from aiimage.errors import AppError, ConfigurationError, NotFoundError
from aiimage.identity import Identity
from aiimage.limits import quota_store, rate_limiter
from aiimage.limits.quota import Reservation
from aiimage.limits.spend import SpendReservation
from aiimage.observability import LogEvent, logger
from aiimage.settings import get_settings
from aiimage.storage.keys import ObjectKey

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import QueryInputTypeDef

JobStatus = Literal["queued", "processing", "succeeded", "failed", "canceled"]
JOB_STATUSES: tuple[str, ...] = get_args(JobStatus)
ACTIVE: tuple[JobStatus, ...] = ("queued", "processing")
_RETENTION_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True, slots=True)
class ProviderJob:
    provider: ProviderName
    job_id: str


class JobSpend(BaseModel):
    """The open spend reservation of the provider call a job waits for."""

    model_config = ConfigDict(frozen=True)

    provider: str
    day: str
    reservation_id: str
    estimate_micros: int
    guest: bool

    @classmethod
    def of(cls, reservation: SpendReservation | None) -> JobSpend | None:
        if reservation is None:
            return None
        return cls(
            provider=reservation.provider,
            day=reservation.day,
            reservation_id=reservation.reservation_id,
            estimate_micros=reservation.estimate_micros,
            guest=reservation.guest,
        )

    @property
    def reservation(self) -> SpendReservation:
        return SpendReservation(
            provider=self.provider,
            day=self.day,
            reservation_id=self.reservation_id,
            estimate_micros=self.estimate_micros,
            guest=self.guest,
        )


class Job(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    owner_type: Literal["guest", "user"]
    owner_id: str
    status: JobStatus
    params: GenerateParams  # flat: the model and its settings, resolved at creation
    original_key: str
    reservation_id: str
    reservation_month: str
    reservation_day: str
    # The hashed network the quota reservation also counts against (a guest's): its
    # refund gives the network its image back too.
    reservation_network: str | None = None
    created_at: int  # epoch ms
    updated_at: int
    result_key: str | None = None
    provider: ProviderName | None = None
    provider_job_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    polls: int = 0
    spend: JobSpend | None = None

    @property
    def spend_reservation(self) -> SpendReservation | None:
        return self.spend.reservation if self.spend else None

    @property
    def owner_key(self) -> str:
        return f"{self.owner_type}#{self.owner_id}"

    @property
    def reservation(self) -> Reservation:
        return Reservation(
            owner_key=self.owner_key,
            month=self.reservation_month,
            day=self.reservation_day,
            reservation_id=self.reservation_id,
            network=self.reservation_network,
        )


@dataclass(frozen=True, slots=True)
class JobMessage:
    """The SQS message body: enough to address the job, nothing the job itself holds."""

    job_id: str
    owner_type: Literal["guest", "user"]
    owner_id: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, body: str) -> JobMessage:
        data = json.loads(body)
        if data.get("owner_type") not in ("guest", "user"):
            raise ValueError("bad owner_type")
        return cls(
            job_id=str(data["job_id"]),
            owner_type=data["owner_type"],
            owner_id=str(data["owner_id"]),
        )


@dataclass(frozen=True, slots=True)
class JobPage:
    jobs: list[Job]
    next_cursor: str | None


def _now_ms() -> int:
    return int(time.time() * 1000)


def new_job_id() -> str:
    # Creation time first (sorts newest-last as a string), then 64 random bits.
    return f"{_now_ms():013x}{secrets.token_hex(8)}"


def _key(owner_type: str, owner_id: str, job_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"owner#{owner_type}#{owner_id}"}, "sk": {"S": f"job#{job_id}"}}


def _table() -> str:
    return get_settings().jobs_table


def _to_item(job: Job) -> dict[str, Any]:
    item = dynamo.to_item(job.model_dump(mode="json"))
    item.update(_key(job.owner_type, job.owner_id, job.id))
    item["expires_at"] = {"N": str(job.created_at // 1000 + _RETENTION_SECONDS)}
    return item


def _from_item(item: Mapping[str, Any]) -> Job:
    return Job.model_validate(dynamo.from_item(item, without=("pk", "sk", "expires_at")))


# --- creation -----------------------------------------------------------------------------


def create(
    identity: Identity,
    params: ResolvedParams,
    original_key: ObjectKey,
    reservation: Reservation,
    *,
    provider_job: ProviderJob | None = None,
    spend: SpendReservation | None = None,
) -> Job:
    """Record a job and queue it. A job that already has a provider job starts as
    `processing` (the worker only polls it); otherwise it is `queued`. `spend`: the open
    reservation of the provider call it takes over."""
    now = _now_ms()
    job = Job(
        id=new_job_id(),
        owner_type=identity.owner_type,
        owner_id=identity.owner_id,
        status="processing" if provider_job else "queued",
        params=params.as_requested(),
        original_key=str(original_key),
        reservation_id=reservation.reservation_id,
        reservation_month=reservation.month,
        reservation_day=reservation.day,
        reservation_network=reservation.network,
        created_at=now,
        updated_at=now,
        provider=provider_job.provider if provider_job else None,
        provider_job_id=provider_job.job_id if provider_job else None,
        spend=JobSpend.of(spend),
    )
    try:
        aws.dynamodb().put_item(
            TableName=_table(),
            Item=_to_item(job),
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as exc:
        # The id is new and random: an existing item is this very put, applied by an
        # attempt whose answer was lost before the SDK retried it.
        if not dynamo.condition_failed(exc):
            raise
    try:
        enqueue(JobMessage(job.id, job.owner_type, job.owner_id))
    except Exception:
        # Without its message the job would never run: take it back, let the caller refund.
        aws.dynamodb().delete_item(
            TableName=_table(), Key=_key(job.owner_type, job.owner_id, job.id)
        )
        raise
    return job


def enqueue(message: JobMessage, *, delay_seconds: int = 0) -> None:
    queue_url = get_settings().jobs_queue_url
    if queue_url is None:
        raise ConfigurationError("JOBS_QUEUE_URL is not configured")
    aws.sqs().send_message(
        QueueUrl=queue_url, MessageBody=message.to_json(), DelaySeconds=delay_seconds
    )


# --- reads --------------------------------------------------------------------------------


def get(identity: Identity, job_id: str) -> Job:
    return load(identity.owner_type, identity.owner_id, job_id)


def read(identity: Identity, job_id: str) -> Job:
    """`GET /api/ai-image/jobs/{id}`: a poll, counted like the seed's (10 a minute per owner)."""
    count_job_read(identity)
    return get(identity, job_id)


def count_job_read(identity: Identity) -> None:
    """Reading one job and listing them share one budget per owner, so a client held back on
    one cannot poll through the other."""
    rate_limiter().hit(
        "job_reads",
        identity.owner_key,
        limit=get_settings().job_reads_rate_limit_per_minute,
        window_seconds=60,
    )


def load(owner_type: str, owner_id: str, job_id: str) -> Job:
    if not job_id.isalnum() or len(job_id) > 64:
        raise NotFoundError("No such job")
    item = (
        aws.dynamodb()
        .get_item(TableName=_table(), Key=_key(owner_type, owner_id, job_id), ConsistentRead=True)
        .get("Item")
    )
    if item is None:
        raise NotFoundError("No such job")
    return _from_item(item)


def list_jobs(
    identity: Identity,
    *,
    status: JobStatus | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> JobPage:
    """The caller's jobs, newest first. The cursor is opaque to the caller and only ever
    addresses the caller's own partition (a cursor from another owner is refused)."""
    count_job_read(identity)
    page = pagination.newest_first(
        _table(),
        f"owner#{identity.owner_type}#{identity.owner_id}",
        "job#",
        status=status,
        limit=limit,
        cursor=cursor,
    )
    return JobPage(jobs=[_from_item(item) for item in page.items], next_cursor=page.next_cursor)


def reservation_holder(owner_key: str, reservation_id: str) -> str | None:
    """The id of the owner's job that holds `reservation_id` (its worker settles it), or
    None. One Query of the owner's own partition (its jobs of the last 30 days, the TTL),
    filtered on the reservation: the sweep asks this only for stale reservations."""
    owner_type, _, owner_id = owner_key.partition("#")
    request: QueryInputTypeDef = {
        "TableName": _table(),
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :job)",
        "FilterExpression": "reservation_id = :rid",
        "ProjectionExpression": "#id",
        "ExpressionAttributeNames": {"#id": "id"},
        "ExpressionAttributeValues": {
            ":pk": {"S": f"owner#{owner_type}#{owner_id}"},
            ":job": {"S": "job#"},
            ":rid": {"S": reservation_id},
        },
        "ConsistentRead": True,
    }
    for item in aws.query_items(request):
        return str(item["id"]["S"])
    return None


# --- transitions --------------------------------------------------------------------------


def transition(
    job: Job, *, from_status: tuple[JobStatus, ...], to_status: JobStatus, **changes: Any
) -> Job | None:
    """Move `job` to `to_status` if it is still in one of `from_status`; None if it is not
    (another delivery, a cancel or a retry got there first)."""
    update = dynamo.status_update(
        _table(),
        _key(job.owner_type, job.owner_id, job.id),
        from_status=from_status,
        changes={"status": to_status, "updated_at": _now_ms(), **changes},
    )
    try:
        response = aws.dynamodb().update_item(**update, ReturnValues="ALL_NEW")
    except ClientError as exc:
        if dynamo.condition_failed(exc):
            return None
        raise
    return _from_item(response["Attributes"])


def cancel(identity: Identity, job_id: str) -> Job:
    """Cancel a queued or running job and give its image back. A job that already finished
    (succeeded, failed or canceled) is answered as it is, as the seed system does: cancel is
    idempotent, and the caller reads from the job's `status` whether it took effect."""
    job = get(identity, job_id)
    if job.status == "canceled":
        # Canceling again also finishes a refund that a crash interrupted (a no-op otherwise).
        quota_store().refund(job.reservation)
        _cancel_spend(job)
        return job
    canceled = transition(job, from_status=ACTIVE, to_status="canceled")
    if canceled is None:
        return get(identity, job_id)  # it finished meanwhile: unchanged, nothing to give back
    quota_store().refund(job.reservation)
    _cancel_spend(job)
    if job.provider and job.provider_job_id:
        from aiimage.providers.registry import get_provider

        try:
            get_provider(job.provider).cancel(job.provider_job_id)
        except AppError as exc:
            # The job is canceled for us either way; the provider run ends on its own.
            logger.warning(LogEvent.PROVIDER_ERROR, provider=job.provider, code=exc.code)
    return canceled


def _cancel_spend(job: Job) -> None:
    """A provider run that was started is billed for its time: settled at the estimate.
    Without one, nothing was billed."""
    if job.provider_job_id:
        settle_spend(job.spend_reservation, None, "canceled")
    else:
        release_spend(job.spend_reservation)
