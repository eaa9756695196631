"""`recover-stuck`: requests in `queued` or `processing` without progress for N minutes,
found through the sparse index `ByActiveStatus` (never a scan).

- list (the default, a dry run): what is stuck, since when;
- `requeue`: a queued request goes to the submit queue again; a processing one is
  resubmitted if it has no provider task yet, otherwise its next status poll is queued
  (the poll worker acts only on the attempt it expects, so a duplicate is a no-op);
- `fail`: the request fails with `stuck` and its budget reservation is released.

Each request is claimed (its `active_at` moved to now, one conditional write) before it is
acted on, so two runs never requeue the same request and it is not found again at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from aiimage import aws
from aiimage.edits import request_store, runner
from aiimage.edits.models import EditRequest
from aiimage.errors import ConfigurationError, NotFoundError
from aiimage.observability import LogEvent, MetricName, logger, metrics
from aiimage.ops import index
from aiimage.ops.report import Report, progress
from aiimage.settings import get_settings

Mode = Literal["list", "requeue", "fail"]
STUCK_CODE = "stuck"


def recover_stuck(
    *,
    minutes: int = 30,
    mode: Mode = "list",
    now: datetime | None = None,
    show_progress: bool = False,
) -> Report:
    if minutes < 1:
        raise ValueError("minutes must be at least 1")
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(minutes=minutes)
    verb = {"list": "listed", "requeue": "requeued", "fail": "failed"}[mode]
    report = Report("recover-stuck", dry_run=mode == "list", verb=verb)
    keys = [
        key
        for partition in index.ACTIVE_PARTITIONS
        for key in index.active_requests(partition, older_than=cutoff)
    ]
    report.found = len(keys)
    for key in progress(keys, total=len(keys), desc="recover-stuck", enabled=show_progress):
        try:
            request = request_store.load_edit(key.tenant_id, key.event_slug, key.request_id)
        except NotFoundError:
            report.skipped += 1
            continue
        if request.status not in ("queued", "processing"):
            report.skipped += 1  # finished since (the index is eventually consistent)
            continue
        report.details.append(
            f"{request.tenant_id}/{request.event_slug}/{request.request_id} {request.status} "
            f"({key.active_status}) since {key.active_at} polls={request.polls}"
        )
        logger.info(
            LogEvent.OPS_STUCK_REQUEST,
            tenant_id=request.tenant_id,
            event_id=request.event_id,
            request_id=request.request_id,
            status=request.status,
            since=key.active_at,
        )
        if mode == "list":
            report.changed += 1
            continue
        # A claimed but unsent request is found again by the next run.
        with report.item(request_id=key.request_id):
            if _act(key, request, mode, now):
                report.changed += 1
            else:
                report.skipped += 1
    if report.found:
        metrics.add_metric(name=MetricName.AI_STUCK_REQUESTS, unit="Count", value=report.found)
    return report


def _act(key: index.ActiveKey, request: EditRequest, mode: Mode, now: datetime) -> bool:
    if mode == "fail":
        runner.fail(request, STUCK_CODE, "No progress within the recovery window")
        return (
            request_store.load_edit(
                request.tenant_id, request.event_slug, request.request_id
            ).status
            == "failed"
        )
    to_active = "dispatched" if request.status == "queued" else "processing"
    if not index.claim(key, status=request.status, to_active_status=to_active, now=now):
        return False
    if request.status == "queued" or request.provider_job_id is None:
        request_store.dispatch(request)  # the submit worker takes queued, or resubmits processing
        return True
    queue_url = get_settings().edits_poll_queue_url
    if queue_url is None:
        raise ConfigurationError("EDITS_POLL_QUEUE_URL is not configured")
    message = runner.PollMessage(
        request.tenant_id, request.event_slug, request.request_id, request.polls
    )
    aws.sqs().send_message(QueueUrl=queue_url, MessageBody=message.to_json())
    return True
