"""The spend ledger: daily ceilings per provider exact under concurrency, the guest share,
settle/release as single conditional writes, the ledger lines by reason, the ceiling alert
once per cooldown, free providers never written."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from pydantic import ValidationError as PydanticValidationError

from aiimage import aws
from aiimage.errors import CapacityExhaustedError
from aiimage.limits import spend_ledger
from aiimage.limits.spend import SpendLedger, SpendReservation, seconds_to_midnight
from aiimage.observability import LogEvent
from aiimage.settings import get_settings
from tests.unit.edits_fixtures import START, Clock, Warnings, run_concurrently
from tests.unit.edits_fixtures import clock_fixture as clock_fixture  # the `clock` fixture
from tests.unit.edits_fixtures import warnings_fixture as warnings_fixture  # `warnings_logged`

pytestmark = pytest.mark.usefixtures("aws_stack")

TABLE = os.environ["LIMITS_TABLE"]
CENT = 10_000  # micro-USD
# 70 cents on Replicate (guests: 30 % = 21 cents), no ceiling on Workers AI.
CEILINGS = {"replicate": 70 * CENT, "workers_ai": 0}
DAY = "2026-11-23"  # START's UTC day


@pytest.fixture
def ledger(clock: Clock) -> SpendLedger:
    return SpendLedger(
        TABLE,
        CEILINGS,
        guest_share_percent=30,
        alert_cooldown=timedelta(minutes=30),
        clock=clock,
    )


def day_item(provider: str, day: str = DAY) -> dict[str, Any]:
    return dict(
        aws.dynamodb()
        .get_item(
            TableName=TABLE,
            Key={"pk": {"S": f"spend#{provider}"}, "sk": {"S": f"d#{day}"}},
            ConsistentRead=True,
        )
        .get("Item", {})
    )


def reserve_or_none(
    ledger: SpendLedger, rid: str, cost: int, *, guest: bool = False
) -> SpendReservation | None:
    try:
        return ledger.reserve("replicate", cost, reservation_id=rid, guest=guest)
    except CapacityExhaustedError:
        return None


def test_hundred_threads_against_a_ceiling_of_seven_estimates_get_exactly_seven(
    ledger: SpendLedger,
) -> None:
    outcomes = run_concurrently(100, lambda i: reserve_or_none(ledger, f"call-{i}", 10 * CENT))
    granted = [r for r in outcomes if r is not None]
    assert len(granted) == 7
    day = ledger.day("replicate")
    assert (day.reserved_micros, day.spent_micros, day.open_reservations) == (700_000, 0, 7)
    for reservation in granted:
        assert ledger.settle(reservation, 93_000, reason="succeeded")
    day = ledger.day("replicate")
    assert (day.reserved_micros, day.spent_micros) == (0, 7 * 93_000)
    assert day.by_reason == {"succeeded": 651_000}
    assert day.calls_by_reason == {"succeeded": 7}


def test_guests_stop_at_their_share_while_users_go_on_to_the_ceiling(
    ledger: SpendLedger,
) -> None:
    # The guest share is 21 cents: two 10-cent guest calls fit, the third does not.
    assert reserve_or_none(ledger, "g1", 10 * CENT, guest=True)
    assert reserve_or_none(ledger, "g2", 10 * CENT, guest=True)
    with pytest.raises(CapacityExhaustedError) as refused:
        ledger.reserve("replicate", 10 * CENT, reservation_id="g3", guest=True)
    assert refused.value.status == 503
    assert refused.value.code == "capacity_exhausted"
    assert refused.value.details == {
        "provider": "replicate",
        "scope": "guest",
        "ceilingMicros": 210_000,
        "retryAfter": 8 * 3600 + 30 * 60,  # START is 15:30 UTC
    }
    assert refused.value.headers == {"Retry-After": str(8 * 3600 + 30 * 60)}
    # Signed-in users have the other 50 cents.
    for i in range(5):
        assert reserve_or_none(ledger, f"u{i}", 10 * CENT), i
    # The whole ceiling is reached: everyone is refused, users too.
    for guest in (False, True):
        with pytest.raises(CapacityExhaustedError) as full:
            ledger.reserve("replicate", 1, reservation_id=f"late-{guest}", guest=guest)
        assert full.value.details is not None
        assert full.value.details["scope"] == "provider"
        assert full.value.details["ceilingMicros"] == 700_000
    item = day_item("replicate")
    assert (int(item["total"]["N"]), int(item["guest_total"]["N"])) == (700_000, 200_000)


def test_hundred_guest_threads_get_exactly_their_share(ledger: SpendLedger) -> None:
    outcomes = run_concurrently(
        100, lambda i: reserve_or_none(ledger, f"g-{i}", 3 * CENT, guest=True)
    )
    assert sum(1 for r in outcomes if r is not None) == 7  # 7 x 3 cents = the 21-cent share
    assert ledger.day("replicate").guest_reserved_micros == 210_000


def test_settle_counts_the_actual_cost_under_its_reason(ledger: SpendLedger) -> None:
    a = ledger.reserve("replicate", 10 * CENT, reservation_id="a", guest=True)
    b = ledger.reserve("replicate", 10 * CENT, reservation_id="b", guest=False)
    c = ledger.reserve("replicate", 10 * CENT, reservation_id="c", guest=False)
    assert a
    assert b
    assert c
    assert ledger.settle(a, 4_321, reason="succeeded")
    assert ledger.settle(b, 123_456, reason="store_failed")  # more than its estimate
    assert ledger.release(c)
    assert not ledger.settle(a, 4_321, reason="succeeded")  # once only
    assert not ledger.release(a)
    assert not ledger.settle(c, 1, reason="succeeded")
    day = ledger.day("replicate")
    assert (day.spent_micros, day.reserved_micros) == (127_777, 0)
    assert (day.guest_spent_micros, day.guest_reserved_micros) == (4_321, 0)
    assert day.by_reason == {"store_failed": 123_456, "succeeded": 4_321}
    assert day.calls_by_reason == {"store_failed": 1, "succeeded": 1}
    assert (day.released, day.open_reservations) == (1, 0)
    item = day_item("replicate")
    assert int(item["total"]["N"]) == int(item["spent"]["N"]) + int(item["reserved"]["N"])


def test_concurrent_duplicate_settles_count_once(ledger: SpendLedger) -> None:
    reservation = ledger.reserve("replicate", 10 * CENT, reservation_id="dup", guest=False)
    assert reservation
    outcomes = run_concurrently(20, lambda i: ledger.settle(reservation, 5_000, reason="succeeded"))
    assert outcomes.count(True) == 1
    assert ledger.day("replicate").spent_micros == 5_000


def test_reserving_an_open_id_again_counts_once(ledger: SpendLedger) -> None:
    first = ledger.reserve("replicate", 10 * CENT, reservation_id="same", guest=True)
    again = ledger.reserve("replicate", 99 * CENT, reservation_id="same", guest=False)
    assert again == first
    assert ledger.day("replicate").reserved_micros == 100_000


def test_free_providers_and_free_calls_without_a_ceiling_write_nothing(
    ledger: SpendLedger,
) -> None:
    for provider in ("local", "fake"):
        assert ledger.reserve(provider, 10 * CENT, reservation_id="x", guest=True) is None
        assert day_item(provider) == {}
    assert ledger.reserve("workers_ai", 0, reservation_id="x", guest=True) is None
    assert day_item("workers_ai") == {}
    # No ceiling: counted, never refused.
    for i in range(50):
        assert ledger.reserve("workers_ai", 22_000, reservation_id=f"w{i}", guest=True)
    assert ledger.day("workers_ai").reserved_micros == 50 * 22_000


def test_an_estimate_above_the_whole_ceiling_is_refused_on_a_fresh_day(
    ledger: SpendLedger,
) -> None:
    with pytest.raises(CapacityExhaustedError):
        ledger.reserve("replicate", 71 * CENT, reservation_id="big", guest=False)
    assert "total" not in day_item("replicate")


def test_the_ceiling_resets_with_the_utc_day(ledger: SpendLedger, clock: Clock) -> None:
    for i in range(7):
        assert reserve_or_none(ledger, f"d1-{i}", 10 * CENT)
    clock.now = START.replace(hour=23, minute=59, second=59)
    with pytest.raises(CapacityExhaustedError) as refused:
        ledger.reserve("replicate", 10 * CENT, reservation_id="late", guest=False)
    assert refused.value.headers == {"Retry-After": "1"}
    clock.now = START + timedelta(days=1)
    reservation = ledger.reserve("replicate", 10 * CENT, reservation_id="late", guest=False)
    assert reservation is not None
    assert reservation.day == "2026-11-24"
    # A reservation settles on its own day's item, even after midnight.
    assert ledger.settle(reservation, 1_000, reason="succeeded")
    assert ledger.day("replicate", "2026-11-24").spent_micros == 1_000
    assert ledger.day("replicate", DAY).spent_micros == 0


def test_the_ceiling_alert_is_logged_once_per_cooldown(
    ledger: SpendLedger, clock: Clock, warnings_logged: Warnings
) -> None:
    for i in range(7):
        assert reserve_or_none(ledger, f"a{i}", 10 * CENT)
    with mock.patch("aiimage.limits.spend.metrics.add_metric") as metric:
        run_concurrently(20, lambda i: reserve_or_none(ledger, f"r{i}", 10 * CENT))
    assert metric.call_count == 20
    alerts = [kw for msg, kw in warnings_logged if msg == LogEvent.AI_SPEND_CEILING_REACHED]
    assert len(alerts) == 1
    assert alerts[0]["provider"] == "replicate"
    assert alerts[0]["reserved_micros"] == 700_000
    clock.now = START + timedelta(minutes=31)
    assert reserve_or_none(ledger, "later", 10 * CENT) is None
    alerts = [kw for msg, kw in warnings_logged if msg == LogEvent.AI_SPEND_CEILING_REACHED]
    assert len(alerts) == 2


def test_open_reservations_lists_the_old_ones_with_their_holder(
    ledger: SpendLedger, clock: Clock
) -> None:
    ledger.reserve(
        "replicate",
        10 * CENT,
        reservation_id="q1-0",
        guest=True,
        owner_key="guest#g1",
        quota_reservation_id="q1",
    )
    clock.now = START + timedelta(minutes=20)
    ledger.reserve("replicate", 10 * CENT, reservation_id="young", guest=False)
    found = list(ledger.open_reservations(older_than=START + timedelta(minutes=10), days=[DAY]))
    assert [(f.reservation.reservation_id, f.owner_key, f.quota_reservation_id) for f in found] == [
        ("q1-0", "guest#g1", "q1")
    ]
    assert found[0].reservation == SpendReservation("replicate", DAY, "q1-0", 100_000, True)


def test_bad_arguments_are_refused(ledger: SpendLedger) -> None:
    with pytest.raises(ValueError, match="negative"):
        ledger.reserve("replicate", -1, reservation_id="x", guest=False)
    with pytest.raises(ValueError, match="empty"):
        ledger.reserve("replicate", 1, reservation_id="", guest=False)
    reservation = ledger.reserve("replicate", 1, reservation_id="x", guest=False)
    assert reservation
    with pytest.raises(ValueError, match="negative"):
        ledger.settle(reservation, -1, reason="succeeded")
    with pytest.raises(ValueError, match="reason"):
        ledger.settle(reservation, 1, reason="Not A Reason")


def test_seconds_to_midnight() -> None:
    assert seconds_to_midnight(START) == 8 * 3600 + 30 * 60
    assert seconds_to_midnight(START.replace(hour=0, minute=0)) == 24 * 3600


def test_the_singleton_reads_the_ceilings_from_settings(
    settings_env: Any,
) -> None:
    settings_env(
        REPLICATE_DAILY_CEILING_USD="0.35",
        WORKERS_AI_DAILY_CEILING_USD="12.345678",
        GUEST_SPEND_SHARE_PERCENT="50",
    )
    ledger = spend_ledger()
    assert ledger.ceiling("replicate") == 350_000
    assert ledger.guest_ceiling("replicate") == 175_000
    assert ledger.ceiling("workers_ai") == 12_345_678
    assert ledger.ceiling("runware") is None


def test_a_ceiling_finer_than_a_micro_usd_is_refused(settings_env: Any) -> None:
    settings_env(REPLICATE_DAILY_CEILING_USD="0.0000001")
    with pytest.raises(PydanticValidationError, match="decimal"):
        get_settings()
