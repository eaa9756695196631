"""A reduced run of the load test (`bench/load.py`) on its own local stack: concurrent
guests with their own cookies and CSRF tokens, then a burst past the rate limit. Exact
counts and no 5xx are asserted; latencies never are."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from bench.load import RATE_LIMIT, local_stack, run_load, write_section
from tests.conftest import PRISTINE_ENV

pytestmark = pytest.mark.stack


def test_guests_get_exactly_their_quota_and_the_burst_exactly_the_rate_limit() -> None:
    with local_stack(PRISTINE_ENV) as base:
        report = asyncio.run(run_load(base, guests=4, extra=2, burst=RATE_LIMIT + 4, duration=0))

    assert report.problems() == []
    assert report.server_errors == 0
    assert report.daily_limit == 3  # the guest default of the template
    # The lone guest of the baseline, then the four concurrent ones.
    assert [g.generated for g in report.guest_results] == [3] * 5
    assert [g.refused_quota for g in report.guest_results] == [2] * 5
    assert [g.usage_after for g in report.guest_results] == [3] * 5
    assert report.burst_statuses == Counter({200: 3, 403: RATE_LIMIT - 3, 429: 4})
    # Every request was recorded: per guest usage twice and five generates, plus the burst.
    assert len(report.samples) == 5 * (2 + 5) + 1 + RATE_LIMIT + 4
    assert len(report.alone) == 2 + 5


def test_the_load_section_replaces_only_itself(tmp_path: Path) -> None:
    document = tmp_path / "reliability.md"
    write_section("## Load\n\nfirst", document)
    assert document.read_text() == "# Reliability\n\n## Load\n\nfirst\n"
    document.write_text("# Reliability\n\n## Faults\n\nA\n\n## Load\n\nold\n\n## Fuzzing\n\nB\n")
    write_section("## Load\n\nnew", document)
    assert document.read_text() == (
        "# Reliability\n\n## Faults\n\nA\n\n## Load\n\nnew\n\n## Fuzzing\n\nB\n"
    )
    document.write_text("# Reliability\n\n## Faults\n\nA\n\n## Open points\n\n- x\n")
    write_section("## Load\n\nfresh", document)
    assert document.read_text() == (
        "# Reliability\n\n## Faults\n\nA\n\n## Load\n\nfresh\n\n## Open points\n\n- x\n"
    )
