"""A per-provider circuit breaker on DynamoDB, shared by every worker instance.

Each retryable provider failure counts (one `UpdateItem ADD`); the failure that reaches the
threshold opens the circuit for a cool-down (one conditional write, so concurrent workers
open it once). While it is open, requests go to the `fallback_provider`; a success closes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiimage import aws
from aiimage.observability import LogEvent, logger
from aiimage.settings import get_settings
from aiimage.singletons import singleton

FAILURE_THRESHOLD = 5
OPEN_SECONDS = 60


class CircuitBreaker:
    def __init__(self, table: str, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    def _key(self, provider: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"circuit#{provider}"}, "sk": {"S": "state"}}

    def is_open(self, provider: str) -> bool:
        item = aws.dynamodb().get_item(TableName=self._table, Key=self._key(provider)).get("Item")
        opened_until = float(item["opened_until"]["N"]) if item and "opened_until" in item else 0
        return opened_until > self._clock()

    def failure(self, provider: str) -> None:
        now = self._clock()
        updated = aws.dynamodb().update_item(
            TableName=self._table,
            Key=self._key(provider),
            UpdateExpression="ADD failures :one SET expires_at = :ttl",
            ExpressionAttributeValues={":one": {"N": "1"}, ":ttl": {"N": str(int(now) + 3600)}},
            ReturnValues="UPDATED_NEW",
        )
        # Every FAILURE_THRESHOLD-th failure in a row (re)opens it: exactly one writer does.
        if int(updated["Attributes"]["failures"]["N"]) % FAILURE_THRESHOLD == 0:
            aws.dynamodb().update_item(
                TableName=self._table,
                Key=self._key(provider),
                UpdateExpression="SET opened_until = :until",
                ExpressionAttributeValues={":until": {"N": str(now + OPEN_SECONDS)}},
            )
            logger.warning(LogEvent.PROVIDER_CIRCUIT_OPEN, provider=provider)

    def success(self, provider: str) -> None:
        aws.dynamodb().update_item(
            TableName=self._table,
            Key=self._key(provider),
            UpdateExpression="SET failures = :zero REMOVE opened_until",
            ExpressionAttributeValues={":zero": {"N": "0"}},
        )


@singleton
def circuit_breaker() -> CircuitBreaker:
    return CircuitBreaker(get_settings().limits_table)
