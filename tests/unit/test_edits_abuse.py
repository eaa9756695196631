"""Abuse counting and blocking: per scope and UTC hour, one escalation per block, the block
refusing until its cooldown ends or a tenant lifts it, hashed scopes."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aiimage import aws
from aiimage.edits import abuse
from aiimage.edits.abuse import (
    ABUSE_ESCALATION_MESSAGE,
    AbuseBlock,
    AbuseBlockedError,
    AbuseCounter,
    UnknownAbuseBlockError,
    scope_hash,
)
from aiimage.singletons import reset_singletons
from tests.unit.edits_fixtures import START, Clock, Warnings, run_concurrently
from tests.unit.edits_fixtures import clock_fixture as clock_fixture  # the `clock` fixture
from tests.unit.edits_fixtures import warnings_fixture as warnings_fixture  # `warnings_logged`

TABLE = os.environ["LIMITS_TABLE"]
pytestmark = pytest.mark.usefixtures("aws_stack")


@pytest.fixture
def counter(clock: Clock) -> AbuseCounter:
    return AbuseCounter(TABLE, threshold_per_hour=25, block_minutes=60, clock=clock)


def attempt(counter: AbuseCounter, scope: str, event_id: str = "e1") -> int | str:
    try:
        return counter.record_request(scope, event_id=event_id, tenant_id="t1")
    except AbuseBlockedError as exc:
        return f"{exc.status} {exc.code}".replace("403 abuse_blocked", "blocked")


def raw(pk: str, sk: str) -> dict[str, Any] | None:
    return (
        aws.dynamodb()
        .get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True)
        .get("Item")
    )


def test_forty_threads_escalate_exactly_once_and_block(
    counter: AbuseCounter, warnings_logged: Warnings
) -> None:
    scope = scope_hash("ip", "203.0.113.7")

    outcomes = run_concurrently(40, lambda _: attempt(counter, scope))

    assert sorted(o for o in outcomes if isinstance(o, int)) == list(range(1, 26))
    assert outcomes.count("blocked") == 15
    until = START + timedelta(minutes=60)
    assert warnings_logged == [
        (
            ABUSE_ESCALATION_MESSAGE,
            {
                "scope_hash": scope,
                "event_id": "e1",
                "tenant_id": "t1",
                "hits": 26,
                "threshold_per_hour": 25,
                "blocked_until": until.isoformat(),
            },
        )
    ]
    assert counter.blocks("e1") == [AbuseBlock(scope_hash=scope, blocked_until=until)]
    assert counter.blocks("e2") == []


def test_the_block_refuses_with_reset_at_until_the_cooldown_ends(
    counter: AbuseCounter, clock: Clock, warnings_logged: Warnings
) -> None:
    for expected in range(1, 26):
        assert attempt(counter, "scope-a") == expected
    with pytest.raises(AbuseBlockedError) as refused:
        counter.record_request("scope-a", event_id="e1", tenant_id="t1")
    until = START + timedelta(minutes=60)  # 16:30
    assert refused.value.details == {"scope": "guest", "resetAt": int(until.timestamp() * 1000)}

    clock.now += timedelta(minutes=59)
    with pytest.raises(AbuseBlockedError) as still:
        counter.record_request("scope-a", event_id="e1", tenant_id="t1")
    assert still.value.details == refused.value.details
    assert attempt(counter, "scope-b") == 1  # another scope is not blocked

    clock.now += timedelta(minutes=1)  # 16:30: the block has ended, a new hour counts afresh
    assert attempt(counter, "scope-a") == 1
    assert counter.blocks("e1") == []
    assert len(warnings_logged) == 1
    item = raw("abuse#scope-a", "counter")
    assert item is not None
    assert item["hour"] == {"S": "2026112316"}
    assert item["hits"] == {"N": "1"}
    assert item["expires_at"] == {"N": str(int(datetime(2026, 11, 23, 19, tzinfo=UTC).timestamp()))}


def test_blocked_requests_are_not_counted_so_a_short_block_ends_cleanly(clock: Clock) -> None:
    counter = AbuseCounter(TABLE, threshold_per_hour=3, block_minutes=10, clock=clock)
    assert [attempt(counter, "s") for _ in range(6)] == [1, 2, 3, "blocked", "blocked", "blocked"]
    clock.now += timedelta(minutes=10)  # 15:40, the same hour
    assert [attempt(counter, "s") for _ in range(4)] == [1, 2, 3, "blocked"]


def test_counts_per_hour_and_scope(counter: AbuseCounter, clock: Clock) -> None:
    for expected in range(1, 11):
        assert counter.record_request("scope-a", event_id="e1", tenant_id="t1") == expected
    clock.now += timedelta(minutes=30)  # 16:00: a new hour
    assert counter.record_request("scope-a", event_id="e1", tenant_id="t1") == 1
    assert counter.record_request("scope-a", event_id="e1", tenant_id="t1") == 2


def test_a_lift_admits_at_once_and_only_for_the_blocks_event(
    counter: AbuseCounter, clock: Clock
) -> None:
    for _ in range(26):
        attempt(counter, "scope-a")
    assert attempt(counter, "scope-a") == "blocked"

    assert counter.lift("scope-a", event_id="other-event") is False
    assert attempt(counter, "scope-a") == "blocked"

    assert counter.lift("scope-a", event_id="e1") is True
    assert counter.blocks("e1") == []
    assert attempt(counter, "scope-a") == 1  # the count was zeroed with the lift
    assert counter.lift("scope-a", event_id="e1") is False  # nothing left to lift

    for _ in range(25):
        attempt(counter, "scope-a")
    assert attempt(counter, "scope-a") == "blocked"  # and it can be blocked again


def test_an_ended_block_cannot_be_lifted(counter: AbuseCounter, clock: Clock) -> None:
    for _ in range(26):
        attempt(counter, "scope-a")
    clock.now += timedelta(minutes=61)
    assert counter.lift("scope-a", event_id="e1") is False


def test_module_functions_use_the_settings(settings_env: Any, warnings_logged: Warnings) -> None:
    settings_env(ABUSE_ESCALATION_THRESHOLD_PER_HOUR="2", ABUSE_BLOCK_MINUTES="5")
    reset_singletons()
    try:
        assert abuse.record_request("s", event_id="e", tenant_id="t") == 1
        assert abuse.record_request("s", event_id="e", tenant_id="t") == 2
        with pytest.raises(AbuseBlockedError):
            abuse.record_request("s", event_id="e", tenant_id="t")
        [block] = abuse.blocks("e")
        assert (
            timedelta(minutes=4) < block.blocked_until - datetime.now(UTC) <= timedelta(minutes=5)
        )
        with pytest.raises(UnknownAbuseBlockError):
            abuse.lift("s", event_id="another")
        abuse.lift("s", event_id="e")
        assert abuse.record_request("s", event_id="e", tenant_id="t") == 1
    finally:
        reset_singletons()
    assert [fields["hits"] for _, fields in warnings_logged] == [3]


def test_scope_hash_is_stable_keyed_and_opaque(settings_env: Any) -> None:
    first = scope_hash("guest", "9f6c1b2e-guest-id")
    assert first == scope_hash("guest", "9f6c1b2e-guest-id")
    assert len(first) == 32
    assert all(ch in "0123456789abcdef" for ch in first)
    assert "guest" not in first
    assert "9f6c1b2e" not in first
    assert scope_hash("203.0.113.7") != scope_hash("203.0.113.8")
    assert scope_hash("ab", "c") != scope_hash("a", "bc")

    settings_env(GUEST_COOKIE_SECRET="another-secret-of-at-least-32-characters!")
    assert scope_hash("guest", "9f6c1b2e-guest-id") != first
