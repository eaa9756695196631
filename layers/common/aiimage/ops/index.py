"""Queries of the edits table's two operations indexes (docs/architecture.md), and the
claim that lets exactly one operator or schedule act on a request in flight.

- `ByActiveStatus` (sparse, keys only): `active_status` = `queued` (waiting for dispatch),
  `dispatched` (sent to the submit queue) or `processing`; `active_at` = the last progress.
  Terminal requests are not in it, so it only ever holds the requests in flight.
- `ByMonth` (`month`, `at`): requests as `edit#YYYY-MM` with their creation time, ledger
  lines as `YYYY-MM` with their settlement time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from aiimage import aws, dynamo
from aiimage.edits.request_store import request_key
from aiimage.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import QueryInputTypeDef

ACTIVE_PARTITIONS = ("queued", "dispatched", "processing")


@dataclass(frozen=True, slots=True)
class ActiveKey:
    tenant_id: str
    event_slug: str
    request_id: str
    active_status: str
    active_at: str


def parse_request_key(pk: str, sk: str) -> tuple[str, str, str] | None:
    """(tenant, slug, request id) of `tenant#{t}` / `event#{slug}#edit#{id}`, else None."""
    if not pk.startswith("tenant#") or not sk.startswith("event#"):
        return None
    slug, marker, request_id = sk.removeprefix("event#").partition("#edit#")
    if not marker or not slug or not request_id:
        return None
    return pk.removeprefix("tenant#"), slug, request_id


def active_requests(
    active_status: str, *, older_than: datetime | None = None, limit: int | None = None
) -> Iterator[ActiveKey]:
    """Requests in one active partition, oldest progress first (before `older_than`)."""
    condition = "active_status = :s"
    values: dict[str, Any] = {":s": {"S": active_status}}
    if older_than is not None:
        condition += " AND active_at < :cutoff"
        values[":cutoff"] = {"S": dynamo.stamp(older_than)}
    request: QueryInputTypeDef = {
        "TableName": get_settings().edits_table,
        "IndexName": "ByActiveStatus",
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
    }
    if limit is not None:
        request["Limit"] = limit
    found = 0
    for item in aws.query_items(request):
        address = parse_request_key(item["pk"]["S"], item["sk"]["S"])
        if address is None:
            continue
        yield ActiveKey(*address, active_status, item["active_at"]["S"])
        found += 1
        if limit is not None and found >= limit:
            return


def by_month(
    month: str, *, before: datetime, projection: str | None = None
) -> Iterator[dict[str, Any]]:
    """Items of one `ByMonth` partition older than `before`."""
    request: QueryInputTypeDef = {
        "TableName": get_settings().edits_table,
        "IndexName": "ByMonth",
        "KeyConditionExpression": "#month = :m AND #at < :before",
        "ExpressionAttributeNames": {"#month": "month", "#at": "at"},
        "ExpressionAttributeValues": {":m": {"S": month}, ":before": {"S": dynamo.stamp(before)}},
    }
    if projection:
        request["ProjectionExpression"] = projection
    yield from aws.query_items(request)


def months_between(start: datetime, end: datetime) -> list[str]:
    """`YYYY-MM` of every month from `start` to `end`, both included."""
    year, month = start.astimezone(UTC).year, start.astimezone(UTC).month
    last = (end.astimezone(UTC).year, end.astimezone(UTC).month)
    months = []
    while (year, month) <= last:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def claim(key: ActiveKey, *, status: str, to_active_status: str, now: datetime) -> bool:
    """Move a request's index entry (`dispatched`, or fresh progress) if it is still the
    one this run saw: one conditional write, so of two runs exactly one acts on it."""
    try:
        aws.dynamodb().update_item(
            TableName=get_settings().edits_table,
            Key=request_key(key.tenant_id, key.event_slug, key.request_id),
            UpdateExpression="SET active_status = :to, active_at = :now",
            ConditionExpression=(
                "#status = :status AND active_status = :seen AND active_at = :seen_at"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":to": {"S": to_active_status},
                ":now": {"S": dynamo.stamp(now)},
                ":status": {"S": status},
                ":seen": {"S": key.active_status},
                ":seen_at": {"S": key.active_at},
            },
        )
    except ClientError as exc:
        if dynamo.condition_failed(exc):
            return False
        raise
    return True
