"""Powertools Logger, Metrics and Tracer in one place, and the names of log events and
metrics, so that a dashboard or an alarm never depends on a string typed twice.

Structured logs carry identifiers (hashed where they identify a person), never a secret,
a cookie, a token or a raw prompt.
"""

from __future__ import annotations

import functools
import warnings
from enum import StrEnum

from aws_lambda_powertools import Logger, Metrics, Tracer

from aiimage.settings import get_settings

_settings = get_settings()
# What X-Ray traces: the AWS SDK's calls.
TRACED_MODULES = ("botocore",)

# Most requests add no metric; powertools would warn about that on every invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger(service=_settings.powertools_service_name, level=_settings.powertools_log_level)
metrics = Metrics(
    namespace=_settings.powertools_metrics_namespace, service=_settings.powertools_service_name
)


@functools.cache
def trace_aws_calls() -> None:
    """Patch botocore for X-Ray, once, before the first client: patching at import would
    import botocore's client machinery into every cold start.

    The Tracer is built here too: patching is all it does, and building it imports the
    X-Ray SDK (its recorder, sampler and wrapt), which a cold start need not pay before an
    AWS call. Disabled locally (POWERTOOLS_TRACE_DISABLED). In Lambda it patches botocore
    only: every AWS call gets a subsegment, and no other library (httpx, requests, sqlite3
    …) is imported just to be patched. Provider calls (httpx) are not auto-traced: an
    explicit subsegment would trace one."""
    tracer = Tracer(
        service=_settings.powertools_service_name,
        disabled=_settings.powertools_trace_disabled,
        auto_patch=False,
    )
    tracer.patch(TRACED_MODULES)


class LogEvent(StrEnum):
    REQUEST_FAILED = "request_failed"
    GUEST_ISSUED = "guest_issued"
    GUEST_COOKIE_REJECTED = "guest_cookie_rejected"
    JWT_REJECTED = "jwt_rejected"
    CSRF_REJECTED = "csrf_rejected"
    # CDN mode: a request without CloudFront's origin secret (it went around the CDN).
    ORIGIN_UNVERIFIED = "origin_unverified"
    # A cold start refused: the deployment cannot serve (no usable provider, say). Logged
    # with code "misconfigured", as every ConfigurationError answer is (alarmed).
    DEPLOYMENT_MISCONFIGURED = "deployment_misconfigured"
    # A signing function's cold start found no usable C2PA bundle (aiimage.imaging.provenance):
    # logged with code "misconfigured" (alarmed), the parameter and the reason; it serves on.
    CONFIGURATION_ERROR = "configuration_error"
    # SnapStart (aiimage.snapstart): the init state made safe to share, and a copy resumed.
    SNAPSHOT_PREPARED = "snapshot_prepared"
    SNAPSHOT_RESTORED = "snapshot_restored"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXCEEDED = "quota_exceeded"
    PROVIDER_RETRY = "provider_retry"
    PROVIDER_ERROR = "provider_error"
    PROVIDER_FALLBACK = "provider_fallback"
    # A provider refused our own credentials: a deployment fault, never the caller's.
    PROVIDER_MISCONFIGURED = "provider_misconfigured"
    GENERATE_START = "generate_start"
    R2_PUT_ORIGINAL = "r2_put_original"
    R2_PUT_RESULT = "r2_put_result"
    GENERATE_SUCCESS = "generate_success"
    GENERATE_FAILED = "generate_failed"
    GENERATE_DEFERRED = "generate_deferred"
    JOB_MISSING = "job_missing"
    JOB_MESSAGE_INVALID = "job_message_invalid"
    AI_EDIT_BLOCKED = "ai_edit_blocked"
    AI_EDIT_SUCCEEDED = "ai_edit_succeeded"
    AI_EDIT_FAILED = "ai_edit_failed"
    AI_EDIT_MISSING = "ai_edit_missing"
    AI_EDIT_MESSAGE_INVALID = "ai_edit_message_invalid"
    AI_EDIT_DISPATCH_DEFERRED = "ai_edit_dispatch_deferred"
    AI_EDIT_WAITING_FOR_CAPACITY = "ai_edit_waiting_for_capacity"
    # A provider webhook we acknowledge without acting: its task is not ours, or its
    # webhook id was already processed (a replay or a concurrent duplicate).
    WEBHOOK_UNMATCHED = "webhook_unmatched"
    WEBHOOK_REPLAYED = "webhook_replayed"
    PROVIDER_CIRCUIT_OPEN = "provider_circuit_open"
    WATERMARK_UNAVAILABLE = "watermark_unavailable"
    # The seed system's log signals, verbatim: operators search for these texts.
    AI_BUDGET_THRESHOLD_REACHED = "AI budget threshold reached"
    AI_BUDGET_HARD_CAP_REACHED = "AI budget hard cap reached"
    AI_SPEND_CEILING_REACHED = "AI spend ceiling reached"
    SPEND_SETTLED = "spend_settled"
    OPS_SPEND_RELEASED = "ops_spend_released"
    AI_ABUSE_ESCALATION = "AI abuse escalation threshold reached"
    AI_ABUSE_BLOCK_LIFTED = "ai_abuse_block_lifted"
    AI_PROVIDER_LATENCY_WARNING = "AI provider latency warning"
    AI_FAILURE_RATE_ALERT = "AI failure-rate alert threshold reached"
    AI_STATS_UNAVAILABLE = "ai_stats_unavailable"
    LATENCY_UNAVAILABLE = "latency_unavailable"
    OPS_COMMAND_DONE = "ops_command_done"
    OPS_COMMAND_FAILED = "ops_command_failed"
    SQS_BACKOFF_FAILED = "sqs_backoff_failed"
    OPS_STUCK_REQUEST = "ops_stuck_request"
    OPS_RESERVATION_REFUNDED = "ops_reservation_refunded"


class MetricName(StrEnum):
    RATE_LIMITED = "RateLimited"
    QUOTA_EXCEEDED = "QuotaExceeded"
    CSRF_REJECTED = "CsrfRejected"
    PROVIDER_ERROR = "ProviderError"
    PROVIDER_FALLBACK = "ProviderFallback"
    PROVIDER_AUTH_FAILED = "ProviderAuthFailed"  # alarmed: ProviderAuthFailedAlarm
    GENERATE_SUCCESS = "GenerateSuccess"
    GENERATE_FAILED = "GenerateFailed"
    GENERATE_DEFERRED = "GenerateDeferred"
    AI_BUDGET_SOFT_CAP_REACHED = "AiBudgetSoftCapReached"
    AI_BUDGET_HARD_CAP_REJECTED = "AiBudgetHardCapRejected"
    # A paid call refused by a provider's daily money ceiling (alarmed: SpendCeilingAlarm).
    SPEND_CEILING_REACHED = "SpendCeilingReached"
    AI_ABUSE_ESCALATION = "AiAbuseEscalation"
    # Magic Edits outcomes (the failure-rate alarm divides these), provider signals.
    AI_EDIT_SUCCEEDED = "AiEditSucceeded"
    AI_EDIT_FAILED = "AiEditFailed"
    AI_EDIT_BLOCKED = "AiEditBlocked"
    AI_PROVIDER_FAILURE = "AiProviderFailure"
    AI_PROVIDER_LATENCY = "AiProviderLatency"
    AI_FAILURE_RATE_ALERT = "AiFailureRateAlert"
    # Operations commands.
    AI_STUCK_REQUESTS = "AiStuckRequests"
    AI_EDITS_DISPATCHED = "AiEditsDispatched"
    AI_EDITS_PRUNED = "AiEditsPruned"
    AI_OUTPUTS_BACKFILLED = "AiOutputsBackfilled"
    QUOTA_RESERVATIONS_REFUNDED = "QuotaReservationsRefunded"
    QUARANTINE_OBJECTS_SWEPT = "QuarantineObjectsSwept"
    # A scheduled run with failures (alarmed: OpsScheduledFailuresAlarm); it returns, not
    # raises, so that EventBridge does not invoke it again.
    OPS_SCHEDULED_FAILURES = "OpsScheduledFailures"
