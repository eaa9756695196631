"""`spend [--day YYYY-MM-DD]`: a UTC day's provider spend against the daily ceilings.

One consistent read per paid provider (`SpendLedger.day`). Per provider: settled and
reserved (in flight) USD, the ceiling and how much of it is taken, the guests' part against
their share, and the settled calls by reason (`succeeded`, `failed`, `store_failed`, ...).
USD are printed with micro precision (6 decimals): the ledger's integer micro-USD, exactly.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from aiimage.limits import spend_ledger
from aiimage.limits.spend import PAID_PROVIDERS, DaySpend, day_of
from aiimage.ops.report import Report


def usd(micros: int | None) -> str:
    """Integer micro-USD as USD with 6 decimals, exactly ("none" for no ceiling)."""
    if micros is None:
        return "none"
    return f"{Decimal(micros).scaleb(-6):.6f}"


def _share(used: int, ceiling: int | None) -> str:
    if ceiling is None:
        return ""
    if ceiling == 0:
        return " (100.0% taken)"
    return f" ({Decimal(used * 100) / Decimal(ceiling):.1f}% taken)"


def _line(day: DaySpend) -> str:
    taken = day.spent_micros + day.reserved_micros
    guest_taken = day.guest_spent_micros + day.guest_reserved_micros
    reasons = ", ".join(
        f"{reason} {day.calls_by_reason.get(reason, 0)} = {usd(micros)}"
        for reason, micros in day.by_reason.items()
    )
    return (
        f"{day.provider}: settled {usd(day.spent_micros)}, reserved {usd(day.reserved_micros)}"
        f", ceiling {usd(day.ceiling_micros)}{_share(taken, day.ceiling_micros)}"
        f"; guests settled {usd(day.guest_spent_micros)}, reserved "
        f"{usd(day.guest_reserved_micros)}, share {usd(day.guest_ceiling_micros)}"
        f"{_share(guest_taken, day.guest_ceiling_micros)}"
        f"; calls: {reasons or 'none settled'}; released {day.released}"
        f", open {day.open_reservations}"
    )


def spend_report(day: str | None = None) -> Report:
    """The day's spend per paid provider (today, UTC, by default)."""
    if day is not None:
        date.fromisoformat(day)  # a ValueError for anything that is not YYYY-MM-DD
    day = day or day_of(datetime.now(UTC))
    report = Report("spend", verb="at ceiling")
    ledger = spend_ledger()
    total = 0
    for provider in PAID_PROVIDERS:
        spent = ledger.day(provider, day)
        report.found += 1
        total += spent.spent_micros
        ceiling = spent.ceiling_micros
        if ceiling is not None and spent.spent_micros + spent.reserved_micros >= ceiling:
            report.changed += 1
        report.details.append(_line(spent))
    report.note = f"{day} (UTC): settled {usd(total)} USD in all"
    return report
