"""`backfill-storage`: succeeded requests that only have the provider's URL (`provider_url`,
no `result_key`) get their stored, watermarked copy, as the poll worker stores results:
the output is fetched only under that provider's output policy (no SSRF), the event's
watermark is applied, and the WebP goes to `events/{slug}/ai-edits/{requestId}.webp`.
The key is recorded with one conditional write (`status = succeeded AND no result_key`), so
two runs store at most the same object twice and record it once.

Candidates come from the `ByMonth` index within the request retention (newest month
first), filtered on status and attributes: an operations run, not a scan of the table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError

from aiimage import aws, dynamo
from aiimage.edits import request_store, runner
from aiimage.edits.models import EditRequest
from aiimage.errors import NotFoundError
from aiimage.observability import MetricName, metrics
from aiimage.ops import index
from aiimage.ops.report import Report, progress
from aiimage.providers import registry
from aiimage.providers.outputs import (
    MAX_OUTPUT_BYTES,
    OutputDownloadingProvider,
    OutputPolicy,
    fetch_output,
    output_client,
)
from aiimage.settings import get_settings

# Fetches the provider's output: (url, provider) → bytes. Tests replace it.
Fetcher = Callable[[str, str], bytes]


def output_policy(provider: str) -> OutputPolicy:
    """Where the provider's own client downloads outputs from."""
    client = registry.get_provider(provider)  # type: ignore[arg-type]
    # Providers that answer with the image itself (Workers AI, local) download nothing.
    if isinstance(client, OutputDownloadingProvider):
        return client.outputs
    return OutputPolicy(origins=frozenset())


def fetch(url: str, provider: str) -> bytes:
    policy = output_policy(provider)
    with output_client(30.0, policy) as client:
        data, _ = fetch_output(client, url, policy=policy, max_bytes=MAX_OUTPUT_BYTES)
    return data


def _candidates(request_id: str | None) -> Iterator[EditRequest]:
    now = datetime.now(UTC)
    if request_id is not None:
        # Request ids begin with their creation time in ms (hex): that names the month.
        try:
            created = datetime.fromtimestamp(int(request_id[:13], 16) / 1000, UTC)
        except ValueError:
            return
        months = [f"{created:%Y-%m}"]
    else:
        days = get_settings().ai_editing_request_retention_days
        months = index.months_between(now - timedelta(days=days), now)[::-1]
    for month in months:
        for item in index.by_month(f"edit#{month}", before=now + timedelta(days=1)):
            if request_id is not None and item.get("request_id", {}).get("S") != request_id:
                continue
            address = index.parse_request_key(item["pk"]["S"], item["sk"]["S"])
            if address is None or "result_key" in item:
                continue
            try:
                request = request_store.load_edit(*address)
            except NotFoundError:
                continue
            if request.status == "succeeded" and request.provider_url and not request.result_key:
                yield request


def backfill_storage(
    *,
    limit: int = 200,
    request_id: str | None = None,
    pretend: bool = False,
    show_progress: bool = False,
    fetcher: Fetcher = fetch,
) -> Report:
    report = Report("backfill-storage", dry_run=pretend, verb="stored")
    found: list[EditRequest] = []
    for request in _candidates(request_id):
        found.append(request)
        if len(found) >= limit:
            break
    report.found = len(found)
    report.details = [f"{r.tenant_id}/{r.event_slug}/{r.request_id} {r.provider}" for r in found]
    if pretend:
        return report
    for request in progress(found, total=len(found), desc="backfill", enabled=show_progress):
        # The provider's copy may have expired: the request keeps its URL, the run says so.
        with report.item(also=(OSError, ValueError), request_id=request.request_id):
            if _store(request, fetcher):
                report.changed += 1
            else:
                report.skipped += 1
    if report.changed:
        metrics.add_metric(
            name=MetricName.AI_OUTPUTS_BACKFILLED, unit="Count", value=report.changed
        )
    return report


def _store(request: EditRequest, fetcher: Fetcher) -> bool:
    if request.provider_url is None:  # _candidates yields none without one
        return False
    key = runner.store_result(request, fetcher(request.provider_url, request.provider))
    try:
        aws.dynamodb().update_item(
            TableName=get_settings().edits_table,
            Key=request_store.request_key(
                request.tenant_id, request.event_slug, request.request_id
            ),
            UpdateExpression="SET result_key = :key, updated_at = :now",
            ConditionExpression="#status = :succeeded AND attribute_not_exists(result_key)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":key": {"S": key},
                ":now": {"S": datetime.now(UTC).isoformat()},
                ":succeeded": {"S": "succeeded"},
            },
        )
    except ClientError as exc:
        if dynamo.condition_failed(exc):
            return False
        raise
    return True
