"""Tenant budgets: reserve -> settle | release, hard cap exact under concurrency, the ledger,
the soft-cap alert once per cooldown, month rollover."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from pydantic import ValidationError as PydanticValidationError

from aiimage import aws
from aiimage.edits import budget as budget_module
from aiimage.edits.budget import (
    BUDGET_THRESHOLD_MESSAGE,
    BudgetExceededError,
    BudgetReservation,
    BudgetStore,
    budget_store,
)
from aiimage.edits.models import Budget
from tests.unit.edits_fixtures import Clock, Warnings, run_concurrently
from tests.unit.edits_fixtures import clock_fixture as clock_fixture  # the `clock` fixture
from tests.unit.edits_fixtures import warnings_fixture as warnings_fixture  # `warnings_logged`

pytestmark = pytest.mark.usefixtures("aws_stack")

TABLE = os.environ["EDITS_TABLE"]
DOLLAR = 1_000_000


@pytest.fixture
def store(clock: Clock) -> BudgetStore:
    return BudgetStore(TABLE, clock, alert_cooldown=timedelta(minutes=30))


def month_item(tenant_id: str, month: str) -> dict[str, Any]:
    return aws.dynamodb().get_item(
        TableName=TABLE,
        Key={"pk": {"S": f"budget#{tenant_id}"}, "sk": {"S": f"m#{month}"}},
        ConsistentRead=True,
    )["Item"]


def reserve_or_none(
    store: BudgetStore, tenant: str, budget: Budget, request_id: str, cost: int
) -> BudgetReservation | None:
    try:
        return store.reserve(tenant, budget, request_id, cost)
    except BudgetExceededError:
        return None


def test_hundred_threads_against_a_hard_cap_get_exactly_seven(store: BudgetStore) -> None:
    budget = Budget(hard_cap_micros=7 * DOLLAR)
    outcomes = run_concurrently(
        100, lambda i: reserve_or_none(store, "t1", budget, f"req-{i}", DOLLAR)
    )
    granted = [r for r in outcomes if r is not None]
    assert len(granted) == 7
    assert len({r.request_id for r in granted}) == 7
    assert outcomes.count(None) == 93
    usage = store.month_usage("t1")
    assert (usage.spent_micros, usage.reserved_micros) == (0, 7 * DOLLAR)


def test_refusal_reports_the_cap_and_usage(store: BudgetStore) -> None:
    budget = Budget(hard_cap_micros=2 * DOLLAR + 500)
    first = store.reserve("t1", budget, "a", DOLLAR)
    store.reserve("t1", budget, "b", DOLLAR)
    assert store.settle(first, DOLLAR - 200, event_id="e1", provider="fake")
    # 999_800 spent + 1_000_000 reserved + 1_000 = 2_000_800 > 2_000_500
    with pytest.raises(BudgetExceededError) as info:
        store.reserve("t1", budget, "c", 1_000)
    error = info.value
    assert (error.status, error.type, error.code) == (403, "forbidden", "budget_exceeded")
    assert error.details == {
        "hardCapMicros": 2 * DOLLAR + 500,
        "spentMicros": DOLLAR - 200,
        "reservedMicros": DOLLAR,
    }
    store.reserve("t1", budget, "d", 700)  # exactly up to the cap: 2_000_500
    with pytest.raises(BudgetExceededError):
        store.reserve("t1", budget, "e", 1)
    store.reserve("t1", budget, "free", 0)  # a free request still fits


def test_cost_above_the_cap_on_an_empty_month_is_refused(store: BudgetStore) -> None:
    with pytest.raises(BudgetExceededError) as info:
        store.reserve("t1", Budget(hard_cap_micros=DOLLAR), "big", DOLLAR + 1)
    assert info.value.details == {"hardCapMicros": DOLLAR, "spentMicros": 0, "reservedMicros": 0}
    store.reserve("t1", Budget(hard_cap_micros=DOLLAR), "exact", DOLLAR)


def test_override_in_the_future_lets_all_hundred_through(store: BudgetStore, clock: Clock) -> None:
    budget = Budget(hard_cap_micros=7 * DOLLAR, override_until=clock.now + timedelta(hours=1))
    outcomes = run_concurrently(
        100, lambda i: reserve_or_none(store, "t1", budget, f"req-{i}", DOLLAR)
    )
    assert all(r is not None for r in outcomes)
    assert store.month_usage("t1").reserved_micros == 100 * DOLLAR


def test_expired_override_enforces_the_cap(store: BudgetStore, clock: Clock) -> None:
    budget = Budget(hard_cap_micros=DOLLAR, override_until=clock.now - timedelta(seconds=1))
    store.reserve("t1", budget, "a", DOLLAR)
    with pytest.raises(BudgetExceededError):
        store.reserve("t1", budget, "b", 1)


def test_no_hard_cap_means_no_limit(store: BudgetStore) -> None:
    for i in range(5):
        store.reserve("t1", Budget(), f"r{i}", 10 * DOLLAR)
    assert store.month_usage("t1").reserved_micros == 50 * DOLLAR


def test_settle_and_release_leave_exact_spend_and_ledger(store: BudgetStore, clock: Clock) -> None:
    budget = Budget(hard_cap_micros=100 * DOLLAR)
    reservations = run_concurrently(
        40, lambda i: store.reserve("t1", budget, f"req-{i:02d}", DOLLAR)
    )
    actual = {f"req-{i:02d}": 250_000 + 1_337 * i for i in range(0, 40, 3)}

    def finish(index: int) -> bool:
        reservation = reservations[index]
        if reservation.request_id in actual:
            return store.settle(
                reservation, actual[reservation.request_id], event_id="e1", provider="runware"
            )
        return store.release(reservation)

    assert all(run_concurrently(40, finish))
    usage = store.month_usage("t1")
    assert usage.spent_micros == sum(actual.values())
    assert usage.reserved_micros == 0
    item = month_item("t1", "2026-11")
    assert int(item["total"]["N"]) == sum(actual.values())
    assert not [name for name in item if name.startswith("r_")]

    entries = store.ledger("t1")
    assert sorted(e.request_id for e in entries) == sorted(actual)
    assert {e.request_id: e.cost_micros for e in entries} == actual
    assert {(e.tenant_id, e.event_id, e.provider, e.at) for e in entries} == {
        ("t1", "e1", "runware", clock.now)
    }


def test_double_settle_and_release_are_no_ops(store: BudgetStore) -> None:
    budget = Budget(hard_cap_micros=10 * DOLLAR)
    settled = store.reserve("t1", budget, "s", DOLLAR)
    released = store.reserve("t1", budget, "r", DOLLAR)
    assert store.settle(settled, 400_000, event_id="e1", provider="fake") is True
    assert store.settle(settled, 400_000, event_id="e1", provider="fake") is False
    assert store.release(settled) is False
    assert store.release(released) is True
    assert store.release(released) is False
    assert store.settle(released, 999, event_id="e1", provider="fake") is False
    usage = store.month_usage("t1")
    assert (usage.spent_micros, usage.reserved_micros) == (400_000, 0)
    assert [e.request_id for e in store.ledger("t1")] == ["s"]


def test_concurrent_duplicate_settles_write_one_ledger_line(store: BudgetStore) -> None:
    reservation = store.reserve("t1", Budget(), "dup", DOLLAR)
    outcomes = run_concurrently(
        20, lambda _: store.settle(reservation, 123, event_id="e1", provider="fake")
    )
    assert outcomes.count(True) == 1
    assert store.month_usage("t1").spent_micros == 123
    assert len(store.ledger("t1")) == 1


def test_reserving_the_same_request_twice_counts_once(store: BudgetStore) -> None:
    budget = Budget(hard_cap_micros=DOLLAR)
    first = store.reserve("t1", budget, "same", DOLLAR)
    again = store.reserve("t1", budget, "same", DOLLAR)  # at the cap: still the same one
    assert again == first
    outcomes = run_concurrently(20, lambda _: store.reserve("t1", budget, "same", DOLLAR))
    assert all(r == first for r in outcomes)
    assert store.month_usage("t1").reserved_micros == DOLLAR
    assert store.settle(first, DOLLAR, event_id="e1", provider="fake")
    assert store.settle(again, DOLLAR, event_id="e1", provider="fake") is False
    assert store.month_usage("t1").spent_micros == DOLLAR


def test_soft_cap_alert_is_logged_once_per_cooldown(
    store: BudgetStore, clock: Clock, warnings_logged: Warnings
) -> None:
    budget = Budget(soft_cap_micros=10 * DOLLAR, hard_cap_micros=1000 * DOLLAR)
    store.reserve("t1", budget, "below", 9 * DOLLAR)
    assert warnings_logged == []  # 9 < 10

    # 50 threads cross the soft cap at once: one alert.
    run_concurrently(50, lambda i: store.reserve("t1", budget, f"crowd-{i}", DOLLAR))
    assert [m for m, _ in warnings_logged] == [BUDGET_THRESHOLD_MESSAGE]
    _, fields = warnings_logged[0]
    assert fields["tenant_id"] == "t1"
    assert fields["soft_cap_micros"] == 10 * DOLLAR
    assert fields["spent_micros"] == 0
    assert 10 * DOLLAR <= fields["reserved_micros"] <= 59 * DOLLAR

    clock.now += timedelta(minutes=29)
    store.reserve("t1", budget, "within-cooldown", DOLLAR)
    assert len(warnings_logged) == 1

    clock.now += timedelta(minutes=2)  # past the cooldown
    run_concurrently(50, lambda i: store.reserve("t1", budget, f"later-{i}", DOLLAR))
    assert [m for m, _ in warnings_logged] == [BUDGET_THRESHOLD_MESSAGE] * 2


def test_a_tenants_own_cooldown_wins_over_the_deployments(
    store: BudgetStore, clock: Clock, warnings_logged: Warnings
) -> None:
    # The store's (deployment) cooldown is 30 minutes; this tenant's is 5.
    budget = Budget(soft_cap_micros=DOLLAR, hard_cap_micros=1000 * DOLLAR, alert_cooldown_minutes=5)
    run_concurrently(20, lambda i: store.reserve("t1", budget, f"first-{i}", DOLLAR))
    assert len(warnings_logged) == 1
    clock.now += timedelta(minutes=4, seconds=59)
    store.reserve("t1", budget, "within", DOLLAR)
    assert len(warnings_logged) == 1
    clock.now += timedelta(seconds=2)  # past 5 minutes, well within 30
    run_concurrently(20, lambda i: store.reserve("t1", budget, f"after-{i}", DOLLAR))
    assert len(warnings_logged) == 2


@pytest.mark.parametrize("minutes", [0, -1, 7 * 24 * 60 + 1])
def test_a_cooldown_outside_one_minute_to_a_week_is_refused(minutes: int) -> None:
    with pytest.raises(PydanticValidationError):
        Budget(alert_cooldown_minutes=minutes)


def test_soft_cap_counts_spend_and_reservations(
    store: BudgetStore, warnings_logged: Warnings
) -> None:
    budget = Budget(soft_cap_micros=2 * DOLLAR)
    first = store.reserve("t1", budget, "a", DOLLAR)
    store.settle(first, DOLLAR, event_id="e1", provider="fake")
    assert warnings_logged == []
    store.reserve("t1", budget, "b", DOLLAR)  # 1 spent + 1 reserved = the soft cap
    assert len(warnings_logged) == 1
    assert warnings_logged[0][1]["spent_micros"] == DOLLAR
    assert warnings_logged[0][1]["reserved_micros"] == DOLLAR


def test_a_refused_reservation_does_not_alert(
    store: BudgetStore, warnings_logged: Warnings
) -> None:
    budget = Budget(soft_cap_micros=DOLLAR, hard_cap_micros=DOLLAR)
    with pytest.raises(BudgetExceededError):
        store.reserve("t1", budget, "a", 2 * DOLLAR)
    assert warnings_logged == []


def test_month_rollover_starts_a_new_month(store: BudgetStore, clock: Clock) -> None:
    budget = Budget(hard_cap_micros=2 * DOLLAR)
    clock.now = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    december = store.reserve("t1", budget, "dec-1", DOLLAR)
    store.reserve("t1", budget, "dec-2", DOLLAR)
    with pytest.raises(BudgetExceededError):
        store.reserve("t1", budget, "dec-3", 1)

    clock.now = datetime(2027, 1, 1, tzinfo=UTC)
    assert store.month_usage("t1") == budget_module.BudgetUsage(0, 0, "2027-01")
    january = store.reserve("t1", budget, "jan-1", 2 * DOLLAR)
    assert january.month == "2027-01"

    # A December reservation settled in January is booked against December.
    assert store.settle(december, 800_000, event_id="e1", provider="fake")
    assert store.month_usage("t1", month="2026-12") == budget_module.BudgetUsage(
        800_000, DOLLAR, "2026-12"
    )
    assert store.month_usage("t1").reserved_micros == 2 * DOLLAR
    item = month_item("t1", "2027-01")
    assert int(item["expires_at"]["N"]) == int(
        (datetime(2027, 2, 1, tzinfo=UTC) + timedelta(days=400)).timestamp()
    )


def test_ledger_since_and_pagination(store: BudgetStore, clock: Clock) -> None:
    budget = Budget()
    start = clock.now
    # Long ids make the ledger lines big enough for several 1 MB query pages.
    padding = "x" * 1000
    for i in range(60):
        clock.now = start + timedelta(minutes=i)
        reservation = store.reserve("t1", budget, f"{i:03d}", i)
        assert store.settle(reservation, i, event_id=padding * 20, provider="fake")
    client = aws.dynamodb()
    with mock.patch.object(client, "query", wraps=client.query) as query:
        entries = store.ledger("t1")
    assert query.call_count >= 2  # more than one page
    assert [e.cost_micros for e in entries] == list(range(60))
    since = store.ledger("t1", since=start + timedelta(minutes=45))
    assert [e.cost_micros for e in since] == list(range(45, 60))
    assert store.ledger("other") == []
    ledger_item = aws.dynamodb().query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "ledger#t1"}},
        Limit=1,
    )["Items"][0]
    assert int(ledger_item["expires_at"]["N"]) == int((start + timedelta(days=365)).timestamp())


def test_invalid_amounts_are_rejected(store: BudgetStore) -> None:
    with pytest.raises(ValueError, match="cost_micros"):
        store.reserve("t1", Budget(), "a", -1)
    with pytest.raises(ValueError, match="request_id"):
        store.reserve("t1", Budget(), "", 1)
    reservation = store.reserve("t1", Budget(), "a", 1)
    with pytest.raises(ValueError, match="actual_cost_micros"):
        store.settle(reservation, -5, event_id="e1", provider="fake")


def test_budget_store_uses_the_edits_table() -> None:
    budget_store.cache_clear()
    try:
        assert budget_store() is budget_store()
        assert budget_store()._table == TABLE
    finally:
        budget_store.cache_clear()


def test_each_ledger_line_says_why_the_bill_was_kept(store: BudgetStore) -> None:
    budget = Budget()
    kept = store.reserve("t1", budget, "ok", 10_000)
    flagged = store.reserve("t1", budget, "nsfw", 10_000)
    lost = store.reserve("t1", budget, "broken", 10_000)

    assert store.settle(kept, 6_500, event_id="e1", provider="runware")  # "succeeded"
    assert store.settle(flagged, 6_500, event_id="e1", provider="runware", reason="blocked")
    assert store.settle(lost, 1_845, event_id="e1", provider="replicate", reason="store_failed")

    lines = {e.request_id: (e.cost_micros, e.reason) for e in store.ledger("t1")}
    assert lines == {
        "ok": (6_500, "succeeded"),
        "nsfw": (6_500, "blocked"),
        "broken": (1_845, "store_failed"),
    }
    usage = store.month_usage("t1")
    assert (usage.spent_micros, usage.reserved_micros) == (14_845, 0)


def test_a_ledger_line_written_before_reasons_reads_as_succeeded(store: BudgetStore) -> None:
    reservation = store.reserve("t1", Budget(), "old", 10_000)
    assert store.settle(reservation, 4_000, event_id="e1", provider="fake")
    (line,) = aws.dynamodb().query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "ledger#t1"}},
    )["Items"]
    aws.dynamodb().update_item(
        TableName=TABLE,
        Key={"pk": line["pk"], "sk": line["sk"]},
        UpdateExpression="REMOVE reason",
    )

    (entry,) = store.ledger("t1")

    assert (entry.request_id, entry.cost_micros, entry.reason) == ("old", 4_000, "succeeded")
