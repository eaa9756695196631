"""Fixed-window rate limiter on DynamoDB.

One conditional UpdateItem per check: the hit is counted only while the window's count is
below the limit, so concurrent callers can never be admitted more than `limit` times per
window. Window items expire through the table's TTL attribute.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import ClientError

from aiimage import aws, dynamo
from aiimage.errors import RateLimitedError

# Keep window items a little past their end so late readers still see them.
_TTL_SLACK_SECONDS = 300


@dataclass(frozen=True, slots=True)
class RateDecision:
    limit: int
    remaining: int
    reset_at: float


class RateLimiter:
    def __init__(self, table: str, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    def hit(self, bucket: str, owner_key: str, *, limit: int, window_seconds: int) -> RateDecision:
        """Count one request, or raise `RateLimitedError` with the seconds until the window ends."""
        now = self._clock()
        window_start = int(now // window_seconds) * window_seconds
        window_end = window_start + window_seconds
        try:
            result = aws.dynamodb().update_item(
                TableName=self._table,
                Key={"pk": {"S": f"rate#{bucket}#{owner_key}"}, "sk": {"S": f"w#{window_start}"}},
                UpdateExpression="ADD hits :one SET expires_at = :ttl",
                ConditionExpression="attribute_not_exists(hits) OR hits < :limit",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(limit)},
                    ":ttl": {"N": str(window_end + _TTL_SLACK_SECONDS)},
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if not dynamo.condition_failed(exc):
                raise
            raise RateLimitedError(math.ceil(window_end - now)) from None
        hits = int(result["Attributes"]["hits"]["N"])
        return RateDecision(limit=limit, remaining=max(0, limit - hits), reset_at=window_end)
