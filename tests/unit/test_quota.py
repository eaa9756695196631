"""Usage quotas: reserve -> commit | refund, daily and monthly, exact under concurrency."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from aiimage.errors import QuotaExceededError
from aiimage.limits.plans import Entitlements
from aiimage.limits.quota import QuotaStore, Reservation
from tests.unit.edits_fixtures import Clock

pytestmark = pytest.mark.usefixtures("aws_stack")

TABLE = os.environ["LIMITS_TABLE"]
GUEST = Entitlements(monthly_images=None, daily_burst_cap=3, max_upscale=2, face_enhance=False)
USER = Entitlements(monthly_images=100, daily_burst_cap=20, max_upscale=4, face_enhance=False)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 23, 15, 30, tzinfo=UTC))


@pytest.fixture
def store(clock: Clock) -> QuotaStore:
    return QuotaStore(TABLE, clock)


def test_guest_gets_three_a_day(store: QuotaStore) -> None:
    for _ in range(3):
        store.reserve("guest#g", GUEST)
    with pytest.raises(QuotaExceededError) as info:
        store.reserve("guest#g", GUEST)
    error = info.value
    assert (error.status, error.type, error.code) == (403, "forbidden", "quota_exceeded")
    assert error.details == {
        "scope": "daily",
        "used": 3,
        "limit": 3,
        "resetAt": int(datetime(2026, 11, 24, tzinfo=UTC).timestamp() * 1000),
    }


def test_usage_counts_reservations_and_resets_daily(store: QuotaStore, clock: Clock) -> None:
    store.reserve("guest#g", GUEST)
    snapshot = store.usage("guest#g", GUEST)
    assert (snapshot.daily.used, snapshot.daily.limit) == (1, 3)
    assert snapshot.daily.reset_at == datetime(2026, 11, 24, tzinfo=UTC)
    assert snapshot.monthly.reset_at == datetime(2026, 12, 1, tzinfo=UTC)

    clock.now += timedelta(days=1)
    snapshot = store.usage("guest#g", GUEST)
    assert (snapshot.daily.used, snapshot.monthly.used) == (0, 1)


def test_a_guests_month_is_bounded_by_its_days_only(store: QuotaStore, clock: Clock) -> None:
    # 3 a day on every day of November: 90 in the month, and no monthly cap of its own.
    for day in range(30):
        clock.now = datetime(2026, 11, 1 + day, 12, tzinfo=UTC)
        for _ in range(3):
            store.reserve("guest#g", GUEST)
    november = store.usage("guest#g", GUEST)
    assert (november.monthly.used, november.monthly.limit, november.monthly.remaining) == (
        90,
        None,
        None,
    )
    assert november.own_remaining == 0  # today's 3 are spent: the day binds, not the month
    with pytest.raises(QuotaExceededError) as info:
        store.reserve("guest#g", GUEST)
    assert (info.value.details or {}).get("scope") == "daily"


def test_refund_gives_the_slot_back_exactly_once(store: QuotaStore) -> None:
    reservations = [store.reserve("guest#g", GUEST) for _ in range(3)]
    assert store.refund(reservations[0]) is True
    assert store.refund(reservations[0]) is False  # a retried refund gives nothing back
    assert store.usage("guest#g", GUEST).daily.used == 2
    store.reserve("guest#g", GUEST)
    with pytest.raises(QuotaExceededError):
        store.reserve("guest#g", GUEST)


def test_committed_reservation_cannot_be_refunded(store: QuotaStore) -> None:
    reservation = store.reserve("guest#g", GUEST)
    assert store.commit(reservation) is True
    assert store.commit(reservation) is False
    assert store.refund(reservation) is False
    assert store.usage("guest#g", GUEST).daily.used == 1


def test_refund_after_midnight_returns_the_original_day(store: QuotaStore, clock: Clock) -> None:
    reservation = store.reserve("guest#g", GUEST)
    clock.now += timedelta(hours=10)  # past midnight
    assert store.refund(reservation)
    clock.now -= timedelta(hours=10)
    assert store.usage("guest#g", GUEST).daily.used == 0


def test_monthly_limit_binds_across_days(store: QuotaStore, clock: Clock) -> None:
    clock.now = datetime(2026, 11, 1, 9, tzinfo=UTC)
    for _day in range(5):
        for _ in range(20):
            store.reserve("user#u", USER)
        with pytest.raises(QuotaExceededError) as daily:
            store.reserve("user#u", USER)
        assert daily.value.details is not None
        assert daily.value.details["scope"] == "daily"
        clock.now += timedelta(days=1)
    with pytest.raises(QuotaExceededError) as monthly:
        store.reserve("user#u", USER)
    assert monthly.value.details == {
        "scope": "monthly",
        "used": 100,
        "limit": 100,
        "resetAt": int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000),
    }
    clock.now = datetime(2026, 12, 1, tzinfo=UTC)
    store.reserve("user#u", USER)  # a new month


def test_fifty_concurrent_reservations_grant_exactly_three(store: QuotaStore) -> None:
    start = threading.Barrier(50)

    def attempt(_: int) -> Reservation | None:
        start.wait()
        try:
            return store.reserve("guest#crowd", GUEST)
        except QuotaExceededError:
            return None

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(attempt, range(50)))

    granted = [r for r in outcomes if r is not None]
    assert len(granted) == 3
    assert len({r.reservation_id for r in granted}) == 3
    assert store.usage("guest#crowd", GUEST).daily.used == 3


def test_concurrent_reserve_and_refund_keeps_counts_exact(store: QuotaStore) -> None:
    """20 workers each reserve then refund, 3 of them committing: the count ends at 3."""
    start = threading.Barrier(20)
    roomy = Entitlements(
        monthly_images=1000, daily_burst_cap=1000, max_upscale=2, face_enhance=False
    )

    def work(index: int) -> None:
        start.wait()
        reservation = store.reserve("guest#mix", roomy)
        if index < 3:
            store.commit(reservation)
        store.refund(reservation)  # no-op after a commit
        store.refund(reservation)  # duplicate delivery

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(work, range(20)))
    snapshot = store.usage("guest#mix", roomy)
    assert (snapshot.daily.used, snapshot.monthly.used) == (3, 3)
