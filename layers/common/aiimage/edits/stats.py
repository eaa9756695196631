"""Per-event counters of Magic Edits requests, so the tenant summary costs O(1) reads.

One item per event on the edits table, `pk=tenant#{tenantId}`, `sk=event#{slug}#stats`:

| attribute | what it counts |
|---|---|
| `n_queued` … `n_blocked` | requests in each status now |
| `provider_runs` | requests that left `processing` for a terminal status |
| `provider_failures` | of those, the ones that ended `failed` |
| `moderation_hits` | requests `blocked` (prompt safety, or the provider's moderation) |
| `latency_ms_sum`, `latency_samples` | provider calls (submit, poll) and their duration |
| `spent_{YYYY-MM}` | settled micro-USD of the event per budget month |
| `failure_alerted_until` | epoch seconds: the failure-rate alert's cooldown |

The status counters move in the SAME `TransactWriteItems` as the request's conditional
status write (`requests.transition`, `requests._put`): when the condition fails (a
duplicate or late delivery), the whole transaction is cancelled and no counter moves, so
they are exact under at-least-once delivery. Latency is not a state transition: every
provider call really happened, so each adds its own sample with one `ADD`.

The summary reads this item and the tenant's budget month: two GetItems, however many
requests the event has. A request that succeeds also adds its duration (creation to result)
to the recent latency of its provider and model (`aiimage.limits.latency`, in LimitsTable):
what `estimated_seconds` of a queued or processing request is read from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from aiimage import aws, dynamo
from aiimage.edits.budget import budget_store
from aiimage.edits.models import EditRequest, EditStatus, Event
from aiimage.limits import latency
from aiimage.observability import LogEvent, MetricName, logger, metrics
from aiimage.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

STATUSES: tuple[EditStatus, ...] = ("queued", "processing", "succeeded", "failed", "blocked")
ACTIVE: tuple[EditStatus, ...] = ("queued", "processing")
TERMINAL: tuple[EditStatus, ...] = ("succeeded", "failed", "blocked")
# The failure-rate log line is written at most once per event in this window.
FAILURE_ALERT_COOLDOWN = timedelta(minutes=30)

_OUTCOME_METRICS: Mapping[str, MetricName] = {
    "succeeded": MetricName.AI_EDIT_SUCCEEDED,
    "failed": MetricName.AI_EDIT_FAILED,
    "blocked": MetricName.AI_EDIT_BLOCKED,
}


def stats_key(tenant_id: str, slug: str) -> dict[str, AttributeValueTypeDef]:
    return {"pk": {"S": f"tenant#{tenant_id}"}, "sk": {"S": f"event#{slug}#stats"}}


def scope_of(request: EditRequest) -> str | None:
    """The hashed guest scope that asked, for log correlation (tenant users have none)."""
    kind, _, value = request.requested_by.partition(":")
    return value if kind == "guest" else None


# --- increments ---------------------------------------------------------------------------


def increments(
    old: EditStatus | None, new: EditStatus, changes: Mapping[str, Any], request: EditRequest
) -> dict[str, int]:
    """What a move from `old` (None: a new request) to `new` adds to the counters."""
    delta: dict[str, int] = {}
    if old != new:
        if old is not None:
            delta[f"n_{old}"] = -1
        delta[f"n_{new}"] = 1
    if old == "processing" and new in TERMINAL:
        delta["provider_runs"] = 1
        if new == "failed":
            delta["provider_failures"] = 1
    if new == "blocked" and old != "blocked":
        delta["moderation_hits"] = 1
    cost = changes.get("actual_cost_micros")
    if new == "succeeded" and old != "succeeded" and isinstance(cost, int) and cost > 0:
        month = request.budget_month or request.created_at.strftime("%Y-%m")
        delta[f"spent_{month}"] = cost
    return delta


def update_item(
    table: str, tenant_id: str, slug: str, delta: Mapping[str, int]
) -> TransactWriteItemTypeDef:
    """The counters' part of a transaction: one `ADD` per counter (a missing one is 0)."""
    names = {f"#c{i}": name for i, name in enumerate(delta)}
    values: dict[str, AttributeValueTypeDef] = {
        f":c{i}": {"N": str(value)} for i, value in enumerate(delta.values())
    }
    return {
        "Update": {
            "TableName": table,
            "Key": stats_key(tenant_id, slug),
            "UpdateExpression": "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(delta))),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


# --- signals after a transition -----------------------------------------------------------


def after_transition(request: EditRequest, old: EditStatus | None, new: EditStatus) -> None:
    """Metrics for a transition that won (runs once per real transition), and the
    failure-rate alert when a failure may have crossed the threshold."""
    if old == new:
        return
    name = _OUTCOME_METRICS.get(new)
    if name is not None:
        metrics.add_metric(name=name, unit="Count", value=1)
    if old == "processing" and new == "failed":
        metrics.add_metric(name=MetricName.AI_PROVIDER_FAILURE, unit="Count", value=1)
    if old == "processing" and new == "succeeded":
        record_duration(request)
    if new == "failed":
        try:
            check_failure_rate(request)
        except (ClientError, BotoCoreError):
            # An alert that cannot be evaluated must not undo a transition that happened.
            logger.exception(LogEvent.AI_STATS_UNAVAILABLE, event_id=request.event_id)


def record_duration(request: EditRequest) -> None:
    """A request that just succeeded: its time from its creation to now, into the recent
    latency of its provider and model (the guests' estimate)."""
    duration = datetime.now(UTC) - request.created_at
    latency.record_duration(
        request.provider, request.provider_model, int(duration.total_seconds() * 1000)
    )


def estimated_seconds(request: EditRequest) -> int | None:
    """About how long a queued or processing request takes, from the recent latency of its
    provider and model; None for a finished one or without recent data."""
    if request.status not in ACTIVE:
        return None
    return latency.estimate(request.provider, request.provider_model)


def check_failure_rate(request: EditRequest, *, now: datetime | None = None) -> bool:
    """Log `AI failure-rate alert threshold reached` once per cooldown window when the
    event's failure rate is at or above the threshold (from the minimum sample count)."""
    now = now or datetime.now(UTC)
    failures = FailureRate.of(_counts(_read(request.tenant_id, request.event_slug)))
    if not failures.alerting:
        return False
    try:
        aws.dynamodb().update_item(
            TableName=get_settings().edits_table,
            Key=stats_key(request.tenant_id, request.event_slug),
            UpdateExpression="SET failure_alerted_until = :until",
            ConditionExpression=(
                "attribute_not_exists(failure_alerted_until) OR failure_alerted_until < :now"
            ),
            ExpressionAttributeValues={
                ":until": {"N": str(int((now + FAILURE_ALERT_COOLDOWN).timestamp()))},
                ":now": {"N": str(int(now.timestamp()))},
            },
        )
    except ClientError as exc:
        if dynamo.condition_failed(exc):
            return False  # alerted within the cooldown: one line per window, not per failure
        raise
    logger.warning(
        LogEvent.AI_FAILURE_RATE_ALERT,
        tenant_id=request.tenant_id,
        event_id=request.event_id,
        scope_hash=scope_of(request),
        failure_rate=failures.rate,
        samples=failures.finished,
        threshold=get_settings().ai_failure_rate_alert_threshold,
    )
    metrics.add_metric(name=MetricName.AI_FAILURE_RATE_ALERT, unit="Count", value=1)
    return True


def record_latency(request: EditRequest, provider: str, latency_ms: int) -> None:
    """Count one provider call's duration; a slow one is logged (`AI provider latency
    warning`). Best effort: a lost sample must not fail (and re-run) the provider call."""
    latency_ms = max(0, latency_ms)
    metrics.add_metric(name=MetricName.AI_PROVIDER_LATENCY, unit="Milliseconds", value=latency_ms)
    threshold = get_settings().ai_latency_warning_ms
    if latency_ms >= threshold:
        logger.warning(
            LogEvent.AI_PROVIDER_LATENCY_WARNING,
            tenant_id=request.tenant_id,
            event_id=request.event_id,
            scope_hash=scope_of(request),
            request_id=request.request_id,
            provider=provider,
            latency_ms=latency_ms,
            threshold_ms=threshold,
        )
    try:
        aws.dynamodb().update_item(
            TableName=get_settings().edits_table,
            Key=stats_key(request.tenant_id, request.event_slug),
            UpdateExpression="ADD latency_ms_sum :ms, latency_samples :one",
            ExpressionAttributeValues={":ms": {"N": str(latency_ms)}, ":one": {"N": "1"}},
        )
    except (ClientError, BotoCoreError):
        logger.exception(LogEvent.AI_STATS_UNAVAILABLE, event_id=request.event_id)


# --- the summary --------------------------------------------------------------------------
# The summary's value types are also the response of `GET …/ai-edits/summary`: the route
# wraps `summarize(event)` in the envelope and has nothing to map. (No docstrings on them:
# pydantic would publish a docstring as the schema's description in the OpenAPI document.)


class SummarySamples(BaseModel):
    finished: int  # succeeded + failed + blocked: the base of failure and moderation rates
    provider_runs: int  # requests the provider finished or gave up on
    latency: int  # provider calls timed


class SummarySpend(BaseModel):
    month: str
    event_spent_micros: int  # this event's settled cost in the month
    tenant_spent_micros: int  # the tenant's settled cost in the month (the budget ledger)
    tenant_reserved_micros: int  # the tenant's requests in flight


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


@dataclass(frozen=True, slots=True)
class FailureRate:
    """failed / finished, the figure behind the failure-rate alert (of the summary, and of
    `check_failure_rate` after each failure, which reads only the counters)."""

    failed: int
    finished: int  # succeeded + failed + blocked

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> FailureRate:
        return cls(failed=counts["failed"], finished=sum(counts[s] for s in TERMINAL))

    @property
    def rate(self) -> float | None:
        return _rate(self.failed, self.finished)

    @property
    def alerting(self) -> bool:
        """At or above the threshold, from the minimum sample count on (on the unrounded
        share, so 0.34996 does not alert at 0.35)."""
        settings = get_settings()
        share = self.failed / self.finished if self.finished else 0.0
        return (
            self.finished >= settings.ai_failure_rate_min_samples
            and share >= settings.ai_failure_rate_alert_threshold
        )


def _read(tenant_id: str, slug: str) -> dict[str, int]:
    item = (
        aws.dynamodb()
        .get_item(
            TableName=get_settings().edits_table,
            Key=stats_key(tenant_id, slug),
            ConsistentRead=True,
        )
        .get("Item", {})
    )
    return {name: int(value["N"]) for name, value in item.items() if "N" in value}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _counts(counters: Mapping[str, int]) -> dict[str, int]:
    return {s: max(0, counters.get(f"n_{s}", 0)) for s in STATUSES}


def _summary_from(counters: Mapping[str, int], *, spend: SummarySpend) -> Summary:
    settings = get_settings()
    counts = _counts(counters)
    failures = FailureRate.of(counts)
    runs = counters.get("provider_runs", 0)
    samples = counters.get("latency_samples", 0)
    latency_sum = counters.get("latency_ms_sum", 0)
    average = round(latency_sum / samples, 1) if samples else None
    return Summary(
        counts=counts,
        total=sum(counts.values()),
        failure_rate=failures.rate,
        moderation_hit_rate=_rate(counters.get("moderation_hits", 0), failures.finished),
        provider_failure_rate=_rate(counters.get("provider_failures", 0), runs),
        average_provider_latency_ms=average,
        samples=SummarySamples(finished=failures.finished, provider_runs=runs, latency=samples),
        spend=spend,
        observability=SummaryObservability(
            alerts=SummaryAlerts(
                failure_rate_threshold_reached=failures.alerting,
                latency_threshold_reached=average is not None
                and latency_sum >= settings.ai_latency_warning_ms * samples,
            ),
            thresholds=SummaryThresholds(
                failure_rate=settings.ai_failure_rate_alert_threshold,
                failure_rate_min_samples=settings.ai_failure_rate_min_samples,
                latency_warning_ms=settings.ai_latency_warning_ms,
            ),
        ),
    )


def summarize(event: Event) -> Summary:
    """The event's summary: its counters item and the tenant's budget month (2 reads)."""
    counters = _read(event.tenant_id, event.slug)
    usage = budget_store().month_usage(event.tenant_id)
    spend = SummarySpend(
        month=usage.month,
        event_spent_micros=counters.get(f"spent_{usage.month}", 0),
        tenant_spent_micros=usage.spent_micros,
        tenant_reserved_micros=usage.reserved_micros,
    )
    return _summary_from(counters, spend=spend)
