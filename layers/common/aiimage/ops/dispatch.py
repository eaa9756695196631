"""`dispatch`: send `queued` requests to the submit queue (the seed's "separate dispatch
process" for `queue_auto_dispatch=false`). Scheduled every minute.

A request is claimed (`queued` → `dispatched` in the index, one conditional write) before
its message is sent, so overlapping runs never send it twice. While the kill switch is on
nothing is sent: the backlog waits for the provider to be back, instead of failing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiimage.edits import request_store
from aiimage.edits.catalog_store import catalog
from aiimage.errors import NotFoundError
from aiimage.observability import MetricName, metrics
from aiimage.ops import index
from aiimage.ops.report import Report, progress


def dispatch_queued(
    *, limit: int | None = None, pretend: bool = False, show_progress: bool = False
) -> Report:
    report = Report("dispatch", dry_run=pretend, verb="dispatched")
    settings = catalog().get_settings()
    keys = list(index.active_requests("queued", limit=limit))
    report.found = len(keys)
    if not settings.is_enabled:
        report.skipped = len(keys)
        report.note = "AI editing is switched off (kill switch): nothing sent"
        return report
    for key in progress(keys, total=len(keys), desc="dispatch", enabled=show_progress):
        report.details.append(f"{key.tenant_id}/{key.event_slug}/{key.request_id}")
        if pretend:
            continue
        # A claimed but unsent request is found again by recover-stuck.
        with report.item(request_id=key.request_id):
            try:
                if not index.claim(
                    key, status="queued", to_active_status="dispatched", now=datetime.now(UTC)
                ):
                    report.skipped += 1  # taken meanwhile (another run, or the worker)
                    continue
                request_store.dispatch(
                    request_store.load_edit(key.tenant_id, key.event_slug, key.request_id)
                )
                report.changed += 1
            except NotFoundError:
                report.skipped += 1  # gone meanwhile (pruned)
    if report.changed:
        metrics.add_metric(name=MetricName.AI_EDITS_DISPATCHED, unit="Count", value=report.changed)
    return report
