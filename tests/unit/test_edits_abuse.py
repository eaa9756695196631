"""Abuse counting: per scope and UTC hour, one escalation warning per hour, hashed scopes."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest

from aiimage import aws, observability
from aiimage.edits import abuse
from aiimage.edits.abuse import ABUSE_ESCALATION_MESSAGE, AbuseCounter, scope_hash

TABLE = os.environ["LIMITS_TABLE"]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 23, 15, 30, tzinfo=UTC))


@pytest.fixture
def counter(clock: Clock) -> AbuseCounter:
    return AbuseCounter(TABLE, threshold_per_hour=25, clock=clock)


@pytest.fixture
def warnings_logged() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    calls: list[tuple[str, dict[str, Any]]] = []
    lock = threading.Lock()

    def record(message: str, *args: Any, **kwargs: Any) -> None:
        with lock:
            calls.append((message, kwargs))

    with mock.patch.object(observability.logger, "warning", side_effect=record):
        yield calls


@pytest.mark.usefixtures("aws_stack")
def test_forty_threads_escalate_exactly_once(
    counter: AbuseCounter, warnings_logged: list[tuple[str, dict[str, Any]]]
) -> None:
    start = threading.Barrier(40)
    scope = scope_hash("ip", "203.0.113.7")

    def hit(_: int) -> int:
        start.wait()
        return counter.record_request(scope, event_id="e1", tenant_id="t1")

    with ThreadPoolExecutor(max_workers=40) as pool:
        counts = list(pool.map(hit, range(40)))

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
    counter: AbuseCounter, clock: Clock, warnings_logged: list[tuple[str, dict[str, Any]]]
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
def test_module_function_uses_the_settings(
    settings_env: Any, warnings_logged: list[tuple[str, dict[str, Any]]]
) -> None:
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
