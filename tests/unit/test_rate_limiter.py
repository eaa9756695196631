"""The DynamoDB sliding-log rate limiter: no span of a window admits more than the limit
(across window boundaries too), exact under concurrency, retry-after to the next unit."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from aiimage import aws
from aiimage.errors import RateLimitedError
from aiimage.limits.rate_limiter import MAX_LIMIT, RateDecision, RateLimiter, track_decisions

pytestmark = pytest.mark.usefixtures("aws_stack")

TABLE = os.environ["LIMITS_TABLE"]
MINUTE = 1_699_999_980.0  # the start of a minute (divisible by 60)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def attempt(limiter: RateLimiter, owner: str = "guest#a", *, limit: int = 15) -> bool:
    try:
        limiter.hit("generate", owner, limit=limit, window_seconds=60)
    except RateLimitedError:
        return False
    return True


def max_in_any_span(admitted: list[float], span: float = 60.0) -> int:
    """The most admissions in one half-open span [t, t + span): the busiest span starts at
    an admission, so checking those starts covers every span."""
    ordered = sorted(admitted)
    return max((sum(1 for t in ordered if s <= t < s + span) for s in ordered), default=0)


def test_admits_up_to_the_limit_then_refuses_until_the_oldest_leaves_the_window() -> None:
    clock = Clock(MINUTE + 10)
    limiter = RateLimiter(TABLE, clock)
    decisions = [limiter.hit("generate", "guest#a", limit=3, window_seconds=60) for _ in range(3)]
    assert [d.remaining for d in decisions] == [2, 1, 0]
    with pytest.raises(RateLimitedError) as info:
        limiter.hit("generate", "guest#a", limit=3, window_seconds=60)
    assert info.value.retry_after == 60
    assert info.value.headers["Retry-After"] == "60"
    assert info.value.status == 429

    clock.now += 59.999  # the three are still inside the window that ends at +60
    with pytest.raises(RateLimitedError) as info:
        limiter.hit("generate", "guest#a", limit=3, window_seconds=60)
    assert info.value.retry_after == 1  # never 0, even with a millisecond to go
    clock.now = MINUTE + 70  # exactly one window after the first three: all three left it
    assert limiter.hit("generate", "guest#a", limit=3, window_seconds=60).remaining == 2


def test_the_issues_boundary_attack_admits_the_limit_and_no_more() -> None:
    # Limit 15: a burst of 30 at :59.9 and 30 more at :00.1 of the next minute. The fixed
    # window this replaced admitted 15 + 15 = 30 within 0.2 s.
    clock = Clock(MINUTE + 59.9)
    limiter = RateLimiter(TABLE, clock)
    first = sum(attempt(limiter) for _ in range(30))
    clock.now = MINUTE + 60.1
    second = sum(attempt(limiter) for _ in range(30))
    assert (first, second) == (15, 0)
    clock.now = MINUTE + 119.899  # still within 60 s of the first burst
    assert not attempt(limiter)
    clock.now = MINUTE + 119.9  # exactly 60 s after: the whole limit is back
    assert sum(attempt(limiter) for _ in range(30)) == 15


@pytest.mark.parametrize("offset", [0.0, 0.05, 29.999, 59.95, 59.999])
@pytest.mark.parametrize("step", [0.5, 2.9])
def test_no_span_of_sixty_seconds_admits_more_than_the_limit(offset: float, step: float) -> None:
    # A client that tries every `step` seconds for 150 seconds, starting `offset` into a
    # minute, and bursts of 20 at every minute boundary on top: the limit holds over every
    # span, not only over clock-aligned minutes.
    clock = Clock(MINUTE + offset)
    limiter = RateLimiter(TABLE, clock)
    owner = f"guest#sweep-{offset}-{step}"
    admitted: list[float] = []
    ticks = [MINUTE + offset + i * step for i in range(int(150 / step))]
    boundaries = [MINUTE + 60 * k + edge for k in range(1, 3) for edge in (-0.001, 0.0)]
    for now in sorted(ticks + boundaries * 20):
        clock.now = now
        if attempt(limiter, owner):
            admitted.append(now)
    assert max_in_any_span(admitted) == 15  # reached, never passed: X = 0
    assert len(admitted) >= 30  # and the limit is really available once per window


def test_the_decision_reports_limit_remaining_and_when_the_next_unit_returns() -> None:
    clock = Clock(MINUTE + 5)
    limiter = RateLimiter(TABLE, clock)
    first = limiter.hit("jobs", "guest#a", limit=10, window_seconds=60)
    assert first == RateDecision(
        limit=10,
        remaining=9,
        reset_at=MINUTE + 65,
        policy="jobs",
        window_seconds=60,
        reset_after_seconds=60,
    )
    clock.now = MINUTE + 25.5
    second = limiter.hit("jobs", "guest#a", limit=10, window_seconds=60)
    assert (second.remaining, second.reset_at, second.reset_after_seconds) == (8, MINUTE + 65, 40)
    clock.now = MINUTE + 66  # the first has left the window, the second not
    third = limiter.hit("jobs", "guest#a", limit=10, window_seconds=60)
    assert (third.remaining, third.reset_at, third.reset_after_seconds) == (8, MINUTE + 85.5, 20)


def test_retry_after_counts_to_the_oldest_admission_of_the_window() -> None:
    clock = Clock(MINUTE)
    limiter = RateLimiter(TABLE, clock)
    for now in (MINUTE, MINUTE + 10, MINUTE + 20):
        clock.now = now
        limiter.hit("g", "guest#a", limit=3, window_seconds=60)
    clock.now = MINUTE + 30.4
    with pytest.raises(RateLimitedError) as info:
        limiter.hit("g", "guest#a", limit=3, window_seconds=60)
    assert info.value.retry_after == 30  # 29.6 s until the one at MINUTE leaves, rounded up
    clock.now = MINUTE + 60
    assert limiter.hit("g", "guest#a", limit=3, window_seconds=60).remaining == 0
    clock.now = MINUTE + 60.5
    with pytest.raises(RateLimitedError) as info:
        limiter.hit("g", "guest#a", limit=3, window_seconds=60)
    assert info.value.retry_after == 10  # now the one at +10 is the oldest


def test_owners_buckets_and_windows_are_independent() -> None:
    limiter = RateLimiter(TABLE, Clock(MINUTE))
    limiter.hit("generate", "guest#a", limit=1, window_seconds=60)
    limiter.hit("generate", "guest#b", limit=1, window_seconds=60)
    limiter.hit("jobs", "guest#a", limit=1, window_seconds=60)
    limiter.hit("generate", "guest#a", limit=1, window_seconds=3600)
    with pytest.raises(RateLimitedError):
        limiter.hit("generate", "guest#a", limit=1, window_seconds=60)


def test_one_item_per_policy_that_expires_through_ttl() -> None:
    limiter = RateLimiter(TABLE, Clock(MINUTE))
    for _ in range(4):
        limiter.hit("g", "guest#a", limit=5, window_seconds=60)
    [item] = aws.dynamodb().scan(TableName=TABLE)["Items"]
    assert (item["pk"]["S"], item["sk"]["S"]) == ("rate#g#guest#a", "log#60")
    assert int(item["expires_at"]["N"]) > MINUTE + 60
    assert sorted(name for name in item if name.startswith("t")) == ["t0", "t1", "t2", "t3", "t4"]


def test_a_limit_the_register_cannot_hold_is_refused_before_any_write() -> None:
    limiter = RateLimiter(TABLE, Clock(MINUTE))
    assert limiter.hit("g", "guest#a", limit=MAX_LIMIT, window_seconds=60).remaining == 99
    for bad in (0, MAX_LIMIT + 1):
        with pytest.raises(ValueError, match="between 1 and 100"):
            limiter.hit("g", "guest#b", limit=bad, window_seconds=60)


def test_two_hundred_concurrent_requests_admit_exactly_fifteen() -> None:
    limiter = RateLimiter(TABLE, Clock(MINUTE))
    start = threading.Barrier(200)

    def one(_: int) -> int | None:
        start.wait()
        try:
            limiter.hit("generate", "guest#crowd", limit=15, window_seconds=60)
        except RateLimitedError as exc:
            return exc.retry_after
        return None

    with ThreadPoolExecutor(max_workers=200) as pool:
        outcomes = list(pool.map(one, range(200)))

    admitted = [o for o in outcomes if o is None]
    refused = [o for o in outcomes if o is not None]
    assert len(admitted) == 15
    assert len(refused) == 185
    assert all(retry_after == 60 for retry_after in refused)
    [item] = aws.dynamodb().scan(TableName=TABLE)["Items"]
    assert [item[f"t{i}"]["N"] for i in range(15)] == [str(int(MINUTE * 1000))] * 15


def test_concurrent_requests_straddling_a_boundary_admit_the_limit_once() -> None:
    # 50 threads at :59.95 and 50 at :00.05 of the next minute, racing each other.
    limiter_a = RateLimiter(TABLE, Clock(MINUTE + 59.95))
    limiter_b = RateLimiter(TABLE, Clock(MINUTE + 60.05))
    start = threading.Barrier(100)

    def one(index: int) -> bool:
        start.wait()
        return attempt(limiter_a if index % 2 else limiter_b, "guest#straddle")

    with ThreadPoolExecutor(max_workers=100) as pool:
        assert sum(pool.map(one, range(100))) == 15


def test_every_decision_of_the_request_is_recorded_refusals_included() -> None:
    recorded = track_decisions()
    limiter = RateLimiter(TABLE, Clock(MINUTE + 30))
    limiter.hit("generate", "guest#a", limit=1, window_seconds=60)
    with pytest.raises(RateLimitedError):
        limiter.hit("generate", "guest#a", limit=1, window_seconds=60)
    assert [(d.policy, d.remaining, d.reset_after_seconds) for d in recorded] == [
        ("generate", 0, 60),
        ("generate", 0, 60),
    ]
    assert track_decisions() == []  # the next request starts with none
