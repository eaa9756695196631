"""`python -m aiimage.ops spend [--day YYYY-MM-DD]`: a day's reserved and settled spend per
provider against its ceiling and the guests' share, in USD with micro precision."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from aiimage.limits import spend_ledger
from aiimage.ops import cli
from aiimage.ops.cli import parser
from aiimage.ops.spend import spend_report, usd

pytestmark = pytest.mark.usefixtures("aws_stack")


@pytest.fixture
def ceilings(settings_env: Callable[..., None]) -> None:
    settings_env(
        REPLICATE_DAILY_CEILING_USD="0.5",
        WORKERS_AI_DAILY_CEILING_USD="12.345678",
        GUEST_SPEND_SHARE_PERCENT="30",
    )


def spend_today() -> str:
    ledger = spend_ledger()
    a = ledger.reserve("replicate", 100_000, reservation_id="a", guest=True)
    b = ledger.reserve("replicate", 100_000, reservation_id="b", guest=False)
    c = ledger.reserve("replicate", 100_000, reservation_id="c", guest=False)
    w = ledger.reserve("workers_ai", 22_000, reservation_id="w", guest=False)
    assert a and b and c and w  # noqa: PT018 - one precondition
    ledger.settle(a, 4_321, reason="succeeded")
    ledger.settle(b, 93_000, reason="store_failed")
    ledger.release(c)
    ledger.settle(w, 11_000, reason="succeeded")
    assert ledger.reserve("replicate", 123_457, reservation_id="d", guest=True)  # running
    return datetime.now(UTC).strftime("%Y-%m-%d")


def test_usd_is_exact_to_the_micro() -> None:
    assert [usd(0), usd(1), usd(4_321), usd(12_345_678), usd(None)] == [
        "0.000000",
        "0.000001",
        "0.004321",
        "12.345678",
        "none",
    ]


@pytest.mark.usefixtures("ceilings")
def test_the_report_shows_each_provider_against_its_ceiling() -> None:
    day = spend_today()
    report = spend_report()
    assert report.details == [
        "workers_ai: settled 0.011000, reserved 0.000000, ceiling 12.345678 (0.1% taken); "
        "guests settled 0.000000, reserved 0.000000, share 3.703703 (0.0% taken); "
        "calls: succeeded 1 = 0.011000; released 0, open 0",
        "replicate: settled 0.097321, reserved 0.123457, ceiling 0.500000 (44.2% taken); "
        "guests settled 0.004321, reserved 0.123457, share 0.150000 (85.2% taken); "
        "calls: store_failed 1 = 0.093000, succeeded 1 = 0.004321; released 1, open 1",
        "runware: settled 0.000000, reserved 0.000000, ceiling none; "
        "guests settled 0.000000, reserved 0.000000, share none; "
        "calls: none settled; released 0, open 0",
    ]
    assert report.summary() == (
        f"spend: found 3, at ceiling 0, failed 0 - {day} (UTC): settled 0.108321 USD in all"
    )


@pytest.mark.usefixtures("ceilings")
def test_the_cli_prints_the_report_and_another_day(capsys: pytest.CaptureFixture[str]) -> None:
    day = spend_today()
    assert cli.main(["spend"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    assert lines[1].startswith("replicate: settled 0.097321, reserved 0.123457")
    assert lines[-1].endswith(f"{day} (UTC): settled 0.108321 USD in all")
    assert cli.main(["--quiet", "spend", "--day", "2026-01-31"]) == 0
    assert capsys.readouterr().out.strip() == (
        "spend: found 3, at ceiling 0, failed 0 - 2026-01-31 (UTC): settled 0.000000 USD in all"
    )


@pytest.mark.usefixtures("ceilings")
def test_a_provider_at_its_ceiling_is_counted(capsys: pytest.CaptureFixture[str]) -> None:
    ledger = spend_ledger()
    for i in range(5):
        assert ledger.reserve("replicate", 100_000, reservation_id=f"r{i}", guest=False)
    assert cli.main(["--json", "--quiet", "spend"]) == 0
    assert '"at ceiling": 1' in capsys.readouterr().out


@pytest.mark.parametrize("day", ["2026-13-01", "yesterday", "2026-1-1"])
def test_a_bad_day_is_refused_as_a_usage_error(day: str) -> None:
    with pytest.raises(SystemExit) as refused:
        cli.main(["spend", "--day", day])
    assert refused.value.code == 2


def test_local_is_a_flag_before_spend() -> None:
    args = parser().parse_args(["--local", "spend", "--day", "2026-12-07"])
    assert (args.local, args.command, args.day) == (True, "spend", "2026-12-07")
