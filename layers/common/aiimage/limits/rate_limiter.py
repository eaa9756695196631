"""Sliding-log rate limiter on DynamoDB: exact over every span, one conditional write.

One item per (bucket, owner, window) holds the times of the last `limit` admissions,
newest first, in the attributes `t0 … t{limit-1}` (integer milliseconds). A request is
admitted when the `limit`-th most recent admission, `t{limit-1}`, is at least one window
old (or absent); admitting it shifts the register by one (`t{i} = t{i-1}`, `t0 = now`).
Condition and shift are ONE `UpdateItem`, so no read is needed and no race is possible:
DynamoDB applies conditional writes to one item one at a time.

The guarantee, with no fraction on top: no span of `window_seconds`, `[t, t + W)`, ever
admits more than `limit`. Proof: of `limit + 1` consecutive admissions, the last one was
checked against the first (it was then the `limit`-th most recent), so they are at least
`W` apart. (The times are each caller's clock; Lambda clocks are NTP-disciplined, so the
bound holds up to their skew, milliseconds.)

Why not the alternatives (see docs/architecture.md, "Rate limits"):
- a fixed window admits `2 * limit` across a boundary (the burst this module replaced);
- two weighted windows (admit while `previous * (1 - f) + current < limit`) still admit
  `2 * limit` within one span: `limit` at the very end of a window, then `ceil(limit * f)`
  more by fraction `f` of the next, all `limit` once `f > (limit - 1) / limit`; and the
  weighted bound is no DynamoDB condition without a prior read;
- a token bucket of `limit` tokens refilled at `limit / W` admits `2 * limit` in a span
  (a full bucket plus a window's refill), and its `max(tat, now)` needs two writes.

The cost is the register's size: the update expression names every slot, so a limit is at
most `MAX_LIMIT` (3.3 KB of DynamoDB's 4 KB expression limit); the item is about 1 KB at
that maximum and a few hundred bytes at the usual limits (one write unit).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from aiimage import aws, dynamo
from aiimage.errors import RateLimitedError

MAX_LIMIT = 100
# Keep an item a little past its last window so late readers still see it.
_TTL_SLACK_SECONDS = 300


@dataclass(frozen=True, slots=True)
class RateDecision:
    """One check of one policy: admitted (`remaining` ≥ 0 after it) or refused (0).

    `reset_at` is when the next unit comes back (the oldest admission in the window leaves
    it); `reset_after_seconds` is the same as a whole number of seconds (≥ 1 when refused).
    """

    limit: int
    remaining: int
    reset_at: float
    policy: str = "default"
    window_seconds: int = 60
    reset_after_seconds: int = 0


# The decisions of the current request, for the RateLimit headers (aiimage.http). A list
# that the limiter appends to rather than a value it sets: a sync route runs in a copy of
# the request's context (run_in_threadpool), where a `set` would not be seen outside.
_decisions: ContextVar[list[RateDecision] | None] = ContextVar("rate_decisions", default=None)


def track_decisions() -> list[RateDecision]:
    """Start recording the decisions of this request; the returned list fills as they come."""
    recorded: list[RateDecision] = []
    _decisions.set(recorded)
    return recorded


def _record(decision: RateDecision) -> None:
    recorded = _decisions.get()
    if recorded is not None:
        recorded.append(decision)


def _shift_expression(limit: int) -> str:
    # Oldest slot first, so the result is the same whether DynamoDB reads each operand
    # before or after the earlier assignments of the same expression.
    moves = [f"t{i} = if_not_exists(t{i - 1}, :none)" for i in range(limit - 1, 0, -1)]
    return "SET " + ", ".join([*moves, "t0 = :now", "expires_at = :ttl"])


class RateLimiter:
    def __init__(self, table: str, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    def hit(self, bucket: str, owner_key: str, *, limit: int, window_seconds: int) -> RateDecision:
        """Count one request, or raise `RateLimitedError` with the seconds until one more
        request would be admitted."""
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"a rate limit is between 1 and {MAX_LIMIT}, not {limit}")
        now_ms = round(self._clock() * 1000)
        window_ms = window_seconds * 1000
        cutoff = now_ms - window_ms  # an admission at or before it has left the window
        oldest = f"t{limit - 1}"
        try:
            result = aws.dynamodb().update_item(
                TableName=self._table,
                Key={
                    "pk": {"S": f"rate#{bucket}#{owner_key}"},
                    "sk": {"S": f"log#{window_seconds}"},
                },
                UpdateExpression=_shift_expression(limit),
                ConditionExpression=f"attribute_not_exists({oldest}) OR {oldest} <= :cutoff",
                ExpressionAttributeValues={
                    ":now": {"N": str(now_ms)},
                    ":cutoff": {"N": str(cutoff)},
                    ":ttl": {"N": str(now_ms // 1000 + window_seconds + _TTL_SLACK_SECONDS)},
                    # What a slot shifts in before it has held an admission (never with
                    # limit 1, whose register is `t0` alone: DynamoDB refuses unused values).
                    **({":none": {"N": "0"}} if limit > 1 else {}),
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not dynamo.condition_failed(exc):
                raise
            # The window is full: one more fits when its oldest admission leaves it.
            old = exc.response.get("Item")  # ReturnValuesOnConditionCheckFailure
            frees_at = (_slot(old, oldest) if isinstance(old, Mapping) else None) or now_ms
            refused = self._decision(bucket, limit, window_seconds, 0, frees_at + window_ms, now_ms)
            _record(refused)
            raise RateLimitedError(refused.reset_after_seconds) from None
        in_window = [t for t in _slots(result["Attributes"], limit) if t > cutoff]
        frees_at = min(in_window) + window_ms  # the oldest admission still counted leaves
        admitted = self._decision(
            bucket, limit, window_seconds, limit - len(in_window), frees_at, now_ms
        )
        _record(admitted)
        return admitted

    @staticmethod
    def _decision(
        policy: str, limit: int, window_seconds: int, remaining: int, frees_ms: int, now_ms: int
    ) -> RateDecision:
        return RateDecision(
            limit=limit,
            remaining=max(0, remaining),
            reset_at=frees_ms / 1000,
            policy=policy,
            window_seconds=window_seconds,
            reset_after_seconds=max(1, math.ceil((frees_ms - now_ms) / 1000)),
        )


def _slot(item: Mapping[str, Any], name: str) -> int | None:
    value = item.get(name)
    return None if value is None else int(value["N"])


def _slots(item: Mapping[str, Any], limit: int) -> list[int]:
    return [t for i in range(limit) if (t := _slot(item, f"t{i}")) is not None]
