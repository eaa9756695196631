"""`summary TENANT EVENT`: the tenant summary of one event, for an operator's terminal (the
same numbers as `GET /api/v1/tenant/events/{eventSlug}/ai-edits/summary`)."""

from __future__ import annotations

from aiimage.edits import stats
from aiimage.edits.catalog_store import catalog
from aiimage.ops.report import Report


def event_summary(tenant_id: str, event_slug: str) -> Report:
    summary = stats.summarize(catalog().get_event(tenant_id, event_slug))
    samples, spend = summary.samples, summary.spend
    report = Report("summary", verb="events")
    report.found = report.changed = 1
    report.details = [
        f"counts {summary.counts} total {summary.total}",
        f"failure_rate {summary.failure_rate} (of {samples.finished} finished)",
        f"moderation_hit_rate {summary.moderation_hit_rate}",
        f"provider_failure_rate {summary.provider_failure_rate} (of {samples.provider_runs} runs)",
        f"average_provider_latency_ms {summary.average_provider_latency_ms} "
        f"(of {samples.latency} calls)",
        f"spend {spend.month}: event {spend.event_spent_micros} micros, "
        f"tenant {spend.tenant_spent_micros} micros (+{spend.tenant_reserved_micros} reserved)",
    ]
    alerts = summary.observability.alerts
    report.note = (
        f"alerts: failure_rate={alerts.failure_rate_threshold_reached} "
        f"latency={alerts.latency_threshold_reached}"
    )
    return report
