"""`Report.item`: one item's failure is counted and logged, and the run goes on."""

from __future__ import annotations

import pytest

from aiimage.errors import NotFoundError
from aiimage.ops.report import Report


def test_a_failing_item_is_counted_logged_and_the_run_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    report = Report("sweep-reservations")
    for n in range(3):
        with report.item(request_id=f"r{n}"):
            if n == 1:
                raise NotFoundError("gone")
            report.changed += 1
    assert (report.changed, report.failed) == (2, 1)
    [record] = [r for r in caplog.records if r.getMessage() == "ops_command_failed"]
    assert (record.command, record.request_id) == ("sweep-reservations", "r1")  # type: ignore[attr-defined]


def test_only_the_named_errors_are_swallowed() -> None:
    report = Report("backfill-storage")
    with report.item(also=(ValueError,)):
        raise ValueError("bad bytes")
    assert report.failed == 1
    with pytest.raises(ZeroDivisionError), report.item():
        raise ZeroDivisionError  # a bug, not an item's failure: it stops the run
    assert report.failed == 1
