"""The scheduled runs (EventBridge schedules of `OpsScheduledFunction`): the same code as
the CLI, with the schedule's choices.

- `dispatch` every minute: queued requests to the submit queue;
- `recover-stuck` every 15 minutes in `requeue` mode with 30 minutes: a request without
  progress is sent on again (bounded: submits go to the DLQ after 5 receives and fail on the
  last, polls stop at `queue_max_polls`); the count is the `AiStuckRequests` metric. The
  same run sweeps the Enhancer's stale quota reservations (`sweep-reservations`, 30
  minutes): what a killed generate left reserved is refunded and its original deleted,
  and sweeps the quarantine (`sweep-quarantine`): direct uploads never consumed;
- `prune` daily at 02:30 UTC with the retention settings.

A run with failed items is not an error of the invocation: `handle` logs it, counts it in
the `OpsScheduledFailures` metric (its alarm pages) and returns. Raising would make Lambda's
asynchronous invocation retry it, overlapping the next run; the items that failed are found
again by the next scheduled run anyway. An invocation that does fail (a crash, a timeout,
an unknown command) is not retried either (the template's `MaximumRetryAttempts: 0`) and
lands in `OpsScheduledDeadLetterQueue`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiimage.observability import LogEvent, MetricName, logger, metrics
from aiimage.ops.recover import Mode
from aiimage.ops.report import Report

RECOVER_MINUTES = 30
SWEEP_MINUTES = 30


def handle(event: Mapping[str, Any]) -> dict[str, Any]:
    """The scheduled invocation: the run's report as the answer, its failures as a metric."""
    report = run(event)
    if not report.ok:
        metrics.add_metric(
            name=MetricName.OPS_SCHEDULED_FAILURES, unit="Count", value=report.failed
        )
    return {"ok": report.ok, **report.as_dict()}


def run(event: Mapping[str, Any]) -> Report:
    command = str(event.get("command", ""))
    if command == "dispatch":
        from aiimage.ops.dispatch import dispatch_queued

        report = dispatch_queued()
    elif command == "recover-stuck":
        from aiimage.ops.recover import recover_stuck

        minutes = int(event.get("minutes", RECOVER_MINUTES))
        mode: Mode = "list" if event.get("mode") == "list" else "requeue"
        report = recover_stuck(minutes=minutes, mode=mode)
        _fold(report, _sweep(pretend=mode == "list"))
        _fold(report, _sweep_quarantine(pretend=mode == "list"))
    elif command == "sweep-reservations":
        from aiimage.ops.reservations import sweep_reservations

        report = sweep_reservations(
            minutes=int(event.get("minutes", SWEEP_MINUTES)), pretend=bool(event.get("pretend"))
        )
    elif command == "prune":
        from aiimage.ops.prune import prune

        report = prune()
    else:
        raise ValueError(f"Unknown scheduled command: {command!r}")
    _log(report)
    return report


def _sweep(*, pretend: bool) -> Report:
    from aiimage.ops.reservations import sweep_reservations

    report = sweep_reservations(minutes=SWEEP_MINUTES, pretend=pretend)
    _log(report)
    return report


def _sweep_quarantine(*, pretend: bool) -> Report:
    from aiimage.ops.quarantine import sweep_quarantine

    report = sweep_quarantine(pretend=pretend)
    _log(report)
    return report


def _fold(report: Report, sweep: Report) -> None:
    """The sweeps ride on the recover-stuck schedule (no schedule of their own in the
    template): their failures count as the run's (`OpsScheduledFailures`), their summaries
    make the note."""
    report.failed += sweep.failed
    report.note = sweep.summary() if report.note is None else f"{report.note}; {sweep.summary()}"


def _log(report: Report) -> None:
    """One line per command run: its summary and counts."""
    if report.ok:
        logger.info(LogEvent.OPS_COMMAND_DONE, summary=report.summary(), report=report.as_dict())
    else:
        logger.error(LogEvent.OPS_COMMAND_FAILED, summary=report.summary(), report=report.as_dict())
