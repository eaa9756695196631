"""`rebuild-stats TENANT EVENT`: recompute an event's counters from its requests (one pass
over the event's partition), put requests in flight that lack them into the
`ByActiveStatus` index, and the event and its requests that lack them into `ByListing`
(the control room's list of events and its list of requests by status). For data written
before the counters and the indexes existed, or to repair a drift. The counters are
overwritten with one write: run it while the event is quiet (a transition between the pass
and the write would be lost from the counts). A finished request counts as a provider run
when it has a provider task or a stored result. Provider latency samples cannot be
recomputed and are kept.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from aiimage import aws, dynamo
from aiimage.edits import request_store, stats
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import EditRequest
from aiimage.ops.report import Report
from aiimage.settings import get_settings


def rebuild_stats(tenant_id: str, event_slug: str, *, pretend: bool = False) -> Report:
    event = catalog().get_event(tenant_id, event_slug)
    counters: dict[str, int] = {f"n_{status}": 0 for status in stats.STATUSES}
    counters |= {"provider_runs": 0, "provider_failures": 0, "moderation_hits": 0}
    unindexed: list[EditRequest] = []
    every: list[EditRequest] = []
    cursor: str | None = None
    while True:
        page = request_store.list_edits(event, limit=100, cursor=cursor)
        every += page.requests
        for request in page.requests:
            counters[f"n_{request.status}"] += 1
            ran = request.provider_job_id is not None or request.result_key is not None
            if request.status in stats.TERMINAL and ran:
                counters["provider_runs"] += 1
                counters["provider_failures"] += request.status == "failed"
            counters["moderation_hits"] += request.status == "blocked"
            if request.status == "succeeded" and request.actual_cost_micros:
                month = request.budget_month or request.created_at.strftime("%Y-%m")
                counters[f"spent_{month}"] = (
                    counters.get(f"spent_{month}", 0) + request.actual_cost_micros
                )
            if request.status in stats.ACTIVE:
                unindexed.append(request)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    report = Report("rebuild-stats", dry_run=pretend, verb="written")
    report.found = sum(counters[f"n_{status}"] for status in stats.STATUSES)
    report.details = [f"{name} {value}" for name, value in sorted(counters.items())]
    if pretend:
        return report
    table = get_settings().edits_table
    names = {f"#c{i}": name for i, name in enumerate(counters)}
    values: dict[str, Any] = {f":c{i}": {"N": str(v)} for i, v in enumerate(counters.values())}
    aws.dynamodb().update_item(
        TableName=table,
        Key=stats.stats_key(tenant_id, event_slug),
        UpdateExpression="SET " + ", ".join(f"#c{i} = :c{i}" for i in range(len(counters))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )
    for request in unindexed:
        _index(table, tenant_id, event_slug, request)
    listed = _list_event(table, tenant_id, event_slug)
    listed += sum(_list(table, tenant_id, event_slug, request) for request in every)
    report.changed = 1
    report.note = (
        f"{len(unindexed)} requests in flight checked for the index; "
        f"{listed} items added to ByListing"
    )
    return report


def _list_event(table: str, tenant_id: str, event_slug: str) -> int:
    return _set_if_missing(
        table,
        {"pk": {"S": f"tenant#{tenant_id}"}, "sk": {"S": f"event#{event_slug}"}},
        f"tenant#{tenant_id}#events",
        condition="attribute_exists(#pk)",
        values={},
        names={"#pk": "pk"},
    )


def _list(table: str, tenant_id: str, event_slug: str, request: EditRequest) -> int:
    # Conditional on the status read: a request that moved on was listed by its transition.
    return _set_if_missing(
        table,
        request_store.request_key(tenant_id, event_slug, request.request_id),
        request_store.status_listing_key(tenant_id, event_slug, request.status),
        condition="#status = :s",
        values={":s": {"S": request.status}},
        names={"#status": "status"},
    )


def _set_if_missing(
    table: str,
    key: dict[str, Any],
    listing: str,
    *,
    condition: str,
    values: dict[str, Any],
    names: dict[str, str],
) -> int:
    """1 when `list_pk` was written, 0 when the item had it (or changed meanwhile)."""
    try:
        aws.dynamodb().update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET list_pk = :list",
            ConditionExpression=f"{condition} AND attribute_not_exists(list_pk)",
            ExpressionAttributeValues={":list": {"S": listing}, **values},
            ExpressionAttributeNames=names,
        )
    except ClientError as exc:
        if not dynamo.condition_failed(exc):
            raise
        return 0
    return 1


def _index(table: str, tenant_id: str, event_slug: str, request: EditRequest) -> None:
    try:
        aws.dynamodb().update_item(
            TableName=table,
            Key=request_store.request_key(tenant_id, event_slug, request.request_id),
            UpdateExpression="SET active_status = :s, active_at = :at",
            ConditionExpression="#status = :s AND attribute_not_exists(active_status)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":s": {"S": request.status},
                ":at": {"S": dynamo.stamp(request.updated_at)},
            },
        )
    except ClientError as exc:
        if not dynamo.condition_failed(exc):
            raise  # otherwise indexed already, or moved on meanwhile
