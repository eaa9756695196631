"""The DynamoDB rate limiter: exact under concurrency, retry-after from the window."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from aiimage import aws
from aiimage.errors import RateLimitedError
from aiimage.limits.rate_limiter import RateLimiter

pytestmark = pytest.mark.usefixtures("aws_stack")

TABLE = os.environ["LIMITS_TABLE"]
MINUTE = 1_699_999_980.0  # the start of a minute window (divisible by 60)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_admits_up_to_the_limit_then_refuses_until_the_window_ends() -> None:
    clock = Clock(MINUTE + 10)  # 10 s into a minute window
    limiter = RateLimiter(TABLE, clock)
    decisions = [limiter.hit("generate", "guest#a", limit=3, window_seconds=60) for _ in range(3)]
    assert [d.remaining for d in decisions] == [2, 1, 0]
    with pytest.raises(RateLimitedError) as info:
        limiter.hit("generate", "guest#a", limit=3, window_seconds=60)
    assert info.value.retry_after == 50
    assert info.value.headers["Retry-After"] == "50"
    assert info.value.status == 429

    clock.now += 50  # the next window
    assert limiter.hit("generate", "guest#a", limit=3, window_seconds=60).remaining == 2


def test_owners_and_buckets_are_independent() -> None:
    limiter = RateLimiter(TABLE, Clock(MINUTE))
    limiter.hit("generate", "guest#a", limit=1, window_seconds=60)
    limiter.hit("generate", "guest#b", limit=1, window_seconds=60)
    limiter.hit("jobs", "guest#a", limit=1, window_seconds=60)
    with pytest.raises(RateLimitedError):
        limiter.hit("generate", "guest#a", limit=1, window_seconds=60)


def test_window_items_expire_through_ttl() -> None:
    RateLimiter(TABLE, Clock(MINUTE)).hit("g", "guest#a", limit=5, window_seconds=60)
    items = aws.dynamodb().scan(TableName=TABLE)["Items"]
    assert len(items) == 1
    assert int(items[0]["expires_at"]["N"]) > MINUTE + 60


def test_retry_after_is_at_least_one_second() -> None:
    limiter = RateLimiter(TABLE, Clock(MINUTE + 59.9))
    limiter.hit("g", "guest#a", limit=1, window_seconds=60)
    with pytest.raises(RateLimitedError) as info:
        limiter.hit("g", "guest#a", limit=1, window_seconds=60)
    assert info.value.retry_after == 1


def test_two_hundred_concurrent_requests_admit_exactly_fifteen() -> None:
    limiter = RateLimiter(TABLE, Clock(MINUTE))
    start = threading.Barrier(200)

    def attempt(_: int) -> int | None:
        start.wait()
        try:
            limiter.hit("generate", "guest#crowd", limit=15, window_seconds=60)
        except RateLimitedError as exc:
            return exc.retry_after
        return None

    with ThreadPoolExecutor(max_workers=200) as pool:
        outcomes = list(pool.map(attempt, range(200)))

    admitted = [o for o in outcomes if o is None]
    refused = [o for o in outcomes if o is not None]
    assert len(admitted) == 15
    assert len(refused) == 185
    assert all(retry_after == 60 for retry_after in refused)
    item = aws.dynamodb().scan(TableName=TABLE)["Items"][0]
    assert item["hits"]["N"] == "15"
