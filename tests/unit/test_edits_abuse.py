"""Abuse counting: per scope and UTC hour, one escalation warning per hour, hashed scopes."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aiimage import aws
from aiimage.edits import abuse
from aiimage.edits.abuse import ABUSE_ESCALATION_MESSAGE, AbuseCounter, scope_hash
from tests.unit.edits_fixtures import Clock, Warnings, run_concurrently
from tests.unit.edits_fixtures import clock_fixture as clock_fixture  # the `clock` fixture
from tests.unit.edits_fixtures import warnings_fixture as warnings_fixture  # `warnings_logged`

TABLE = os.environ["LIMITS_TABLE"]


@pytest.fixture
def counter(clock: Clock) -> AbuseCounter:
    return AbuseCounter(TABLE, threshold_per_hour=25, clock=clock)


@pytest.mark.usefixtures("aws_stack")
def test_forty_threads_escalate_exactly_once(
    counter: AbuseCounter, warnings_logged: Warnings
) -> None:
    scope = scope_hash("ip", "203.0.113.7")

    counts = run_concurrently(
        40, lambda _: counter.record_request(scope, event_id="e1", tenant_id="t1")
    )

    assert sorted(counts) == list(range(1, 41))
    assert warnings_logged == [
        (
            ABUSE_ESCALATION_MESSAGE,
            {
                "scope_hash": scope,
                "event_id": "e1",
                "tenant_id": "t1",
                "hits": 26,
                "threshold_per_hour": 25,
            },
        )
    ]


@pytest.mark.usefixtures("aws_stack")
def test_counts_per_hour_and_scope(
    counter: AbuseCounter, clock: Clock, warnings_logged: Warnings
) -> None:
    for expected in range(1, 27):
        assert counter.record_request("scope-a", event_id="e1", tenant_id="t1") == expected
    assert counter.record_request("scope-b", event_id="e1", tenant_id="t1") == 1
    assert len(warnings_logged) == 1
    counter.record_request("scope-a", event_id="e1", tenant_id="t1")  # 27: no second warning
    assert len(warnings_logged) == 1

    clock.now += timedelta(minutes=30)  # 16:00: a new hour
    assert counter.record_request("scope-a", event_id="e1", tenant_id="t1") == 1
    for _ in range(25):
        counter.record_request("scope-a", event_id="e2", tenant_id="t1")
    assert len(warnings_logged) == 2
    assert warnings_logged[1][1]["event_id"] == "e2"

    item = aws.dynamodb().get_item(
        TableName=TABLE,
        Key={"pk": {"S": "abuse#scope-a"}, "sk": {"S": "h#2026112316"}},
        ConsistentRead=True,
    )["Item"]
    assert item["hits"] == {"N": "26"}
    assert item["expires_at"] == {"N": str(int(datetime(2026, 11, 23, 19, tzinfo=UTC).timestamp()))}


@pytest.mark.usefixtures("aws_stack")
def test_module_function_uses_the_settings(settings_env: Any, warnings_logged: Warnings) -> None:
    settings_env(ABUSE_ESCALATION_THRESHOLD_PER_HOUR="2")
    abuse.abuse_counter.cache_clear()
    try:
        counts = [abuse.record_request("s", event_id="e", tenant_id="t") for _ in range(4)]
    finally:
        abuse.abuse_counter.cache_clear()
    assert counts == [1, 2, 3, 4]
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
