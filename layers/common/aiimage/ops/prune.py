"""`prune`: retention. Requests older than `AI_EDITING_REQUEST_RETENTION_DAYS` (90) go,
with their stored images; ledger lines older than `AI_EDITING_USAGE_LEDGER_RETENTION_DAYS`
(365) go. Both are found through the `ByMonth` index, one Query per month partition, never
a scan. Scheduled daily at 02:30 UTC; a DynamoDB TTL (`expires_at`, a week after the
retention for requests) is the second line should a run be missed.

The event counters (`aiimage.edits.stats`) are a lifetime record of the event and are not
reduced: they hold counts and sums, nothing personal.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from aiimage import aws
from aiimage.observability import MetricName, metrics
from aiimage.ops import index
from aiimage.ops.report import Report, progress
from aiimage.settings import get_settings
from aiimage.storage.objects import object_store

# How far before the cutoff a run looks: past the TTL (which removes what is older), with
# room for retention settings that were longer when the items were written.
_LOOKBACK_FACTOR = 2
_LOOKBACK_EXTRA = timedelta(days=60)


def _candidates(
    prefix: str, cutoff: datetime, days: int, default_days: int
) -> Iterator[dict[str, Any]]:
    oldest = cutoff - timedelta(days=max(days, default_days) * _LOOKBACK_FACTOR) - _LOOKBACK_EXTRA
    for month in index.months_between(oldest, cutoff):
        yield from index.by_month(f"{prefix}{month}", before=cutoff)


def prune(
    *,
    request_days: int | None = None,
    ledger_days: int | None = None,
    pretend: bool = False,
    now: datetime | None = None,
    show_progress: bool = False,
) -> Report:
    settings = get_settings()
    request_days = request_days or settings.ai_editing_request_retention_days
    ledger_days = ledger_days or settings.ai_editing_usage_ledger_retention_days
    if request_days < 1 or ledger_days < 1:
        raise ValueError("retention days must be at least 1")
    now = now or datetime.now(UTC)
    report = Report("prune", dry_run=pretend, verb="deleted")

    requests = list(
        _candidates(
            "edit#",
            now - timedelta(days=request_days),
            request_days,
            settings.ai_editing_request_retention_days,
        )
    )
    ledger = [
        item
        for item in _candidates(
            "",
            now - timedelta(days=ledger_days),
            ledger_days,
            settings.ai_editing_usage_ledger_retention_days,
        )
        if item["pk"]["S"].startswith("ledger#")
    ]
    objects = [item["result_key"]["S"] for item in requests if "result_key" in item]
    report.found = len(requests) + len(ledger)
    report.note = (
        f"{len(requests)} requests older than {request_days} days ({len(objects)} stored "
        f"images), {len(ledger)} ledger lines older than {ledger_days} days"
    )
    if pretend:
        report.details += [f"request {i['pk']['S']} {i['sk']['S']}" for i in requests]
        report.details += [f"ledger {i['pk']['S']} {i['sk']['S']}" for i in ledger]
        return report
    for item in progress(
        requests, total=len(requests), desc="prune requests", enabled=show_progress
    ):
        with report.item(key=item["sk"]["S"]):
            # The image first: a request is never gone while its image stays behind.
            if "result_key" in item:
                object_store().delete(item["result_key"]["S"])
            _delete(item)
            report.changed += 1
    for item in progress(ledger, total=len(ledger), desc="prune ledger", enabled=show_progress):
        with report.item(key=item["sk"]["S"]):
            _delete(item)
            report.changed += 1
    if report.changed:
        metrics.add_metric(name=MetricName.AI_EDITS_PRUNED, unit="Count", value=report.changed)
    return report


def _delete(item: dict[str, Any]) -> None:
    aws.dynamodb().delete_item(
        TableName=get_settings().edits_table, Key={"pk": item["pk"], "sk": item["sk"]}
    )
