"""A scheduled run with failed items answers, counts them in a metric and does not raise:
a raise would make Lambda's asynchronous invocation retry the run on top of the next one."""

from __future__ import annotations

from typing import Any

import pytest
from ops_scheduled.app import handler

from aiimage.observability import MetricName, metrics
from aiimage.ops import dispatch, scheduled
from aiimage.ops.report import Report
from infra.sqs_poller import LambdaContext


@pytest.fixture
def added(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(metrics, "add_metric", lambda **kwargs: calls.append(kwargs))
    return calls


def test_a_partial_failure_returns_with_its_count_as_a_metric(
    monkeypatch: pytest.MonkeyPatch, added: list[dict[str, Any]]
) -> None:
    report = Report(command="dispatch", found=5, changed=3, failed=2, verb="dispatched")
    monkeypatch.setattr(dispatch, "dispatch_queued", lambda: report)
    result = handler({"command": "dispatch"}, LambdaContext("OpsScheduledFunction"))
    assert result == {
        "ok": False,
        "command": "dispatch",
        "dry_run": False,
        "found": 5,
        "dispatched": 3,
        "skipped": 0,
        "failed": 2,
        "note": None,
    }
    assert added == [{"name": MetricName.OPS_SCHEDULED_FAILURES, "unit": "Count", "value": 2}]


def test_a_clean_run_adds_no_failure_metric(
    monkeypatch: pytest.MonkeyPatch, added: list[dict[str, Any]]
) -> None:
    monkeypatch.setattr(
        dispatch, "dispatch_queued", lambda: Report(command="dispatch", verb="dispatched")
    )
    assert scheduled.handle({"command": "dispatch"})["ok"] is True
    assert added == []


def test_an_unknown_command_is_still_an_invocation_error() -> None:
    # A schedule whose input no command reads is a deployment bug: the Errors alarm and the
    # function's dead-letter queue show it (the template retries it 0 times).
    with pytest.raises(ValueError, match="Unknown scheduled command"):
        scheduled.handle({"command": "nope"})
