"""Abuse counting and blocking: requests per guest scope and UTC hour; the request that
goes above `abuse_escalation_threshold_per_hour` logs the escalation once and BLOCKS the
scope for `abuse_block_minutes` (403 `abuse_blocked`, with `resetAt`). A tenant admin sees
the blocks of an event and can lift one early.

Scopes are keyed hashes (`scope_hash`), so a raw IP or guest id never reaches a key or a log
line. Items (limits table):

- the counter `pk=abuse#{scope_hash}`, `sk=counter`: `hour` (YYYYMMDDHH), `hits` in that
  hour, `blocked_until` (epoch seconds, while blocked) and `expires_at` (TTL: two hours
  after the hour, or after the block, ends);
- the event's list of blocks `pk=abuse-blocks#{event_id}`, `sk={scope_hash}`:
  `blocked_until`, `expires_at` (the tenant's view; the counter is what is enforced).

Counting is ONE UpdateItem on the admitted path: `ADD hits :one`, only while the item is
new or of this hour, and not blocked, returning the new count. When the condition fails,
the same call returns the item (`ReturnValuesOnConditionCheckFailure`): a block refuses at
once; a new hour starts the count again with a second conditional write (once per scope
and hour, and only for a scope already seen in an earlier hour).
Each request gets a distinct count, so exactly one request sees `threshold + 1`: it logs
the escalation and writes the block (its count back to 0, and the list entry, in one
transaction); requests counted above it in the same instant are refused too. A blocked
request is not counted, so when the block ends (or is lifted, which also zeroes the count)
the scope starts afresh.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from aiimage import aws, credentials, dynamo
from aiimage.errors import ForbiddenError, NotFoundError, ServiceUnavailableError
from aiimage.observability import LogEvent, MetricName, logger, metrics
from aiimage.settings import get_settings
from aiimage.singletons import singleton

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

ABUSE_ESCALATION_MESSAGE = LogEvent.AI_ABUSE_ESCALATION
METRIC_ABUSE_ESCALATION = MetricName.AI_ABUSE_ESCALATION

_TTL_AFTER = timedelta(hours=2)
_SCOPE_HASH_LENGTH = 32
# A count attempt and a new-hour reset can each lose a race to another request at most once.
_ATTEMPTS = 3
_NOT_BLOCKED = "(attribute_not_exists(blocked_until) OR blocked_until <= :now)"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def scope_hash(*parts: str) -> str:
    """A stable, keyed pseudonym for a scope (HMAC-SHA256 with the guest cookie secret, hex,
    32 characters). The parts are JSON-encoded, so ("a", "bc") and ("ab", "c") differ."""
    key = credentials.guest_cookie_secret().get_secret_value().encode()
    message = b"ai-abuse-scope:v1:" + json.dumps(list(parts)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:_SCOPE_HASH_LENGTH]


class AbuseBlockedError(ForbiddenError):
    default_code = "abuse_blocked"
    default_message = "Too many requests; this guest is blocked for a while"

    def __init__(self, until: datetime) -> None:
        super().__init__(details={"scope": "guest", "resetAt": int(until.timestamp() * 1000)})


class UnknownAbuseBlockError(NotFoundError):
    default_code = "unknown_block"
    default_message = "This event has no active block of that guest"


@dataclass(frozen=True, slots=True)
class AbuseBlock:
    scope_hash: str
    blocked_until: datetime


class AbuseCounter:
    def __init__(
        self,
        table: str,
        *,
        threshold_per_hour: int,
        block_minutes: int = 60,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._table = table
        self._threshold = threshold_per_hour
        self._block = timedelta(minutes=block_minutes)
        self._clock = clock

    @staticmethod
    def _counter_key(scope_hash: str) -> dict[str, AttributeValueTypeDef]:
        return {"pk": {"S": f"abuse#{scope_hash}"}, "sk": {"S": "counter"}}

    @staticmethod
    def _list_key(scope_hash: str, event_id: str) -> dict[str, AttributeValueTypeDef]:
        return {"pk": {"S": f"abuse-blocks#{event_id}"}, "sk": {"S": scope_hash}}

    def record_request(self, scope_hash: str, *, event_id: str, tenant_id: str) -> int:
        """Count one request of `scope_hash` in this UTC hour and return the hour's count;
        raise `AbuseBlockedError` while the scope is blocked, and for the request that
        passes the threshold (which blocks it)."""
        now = self._clock().astimezone(UTC)
        hits = self._count(scope_hash, now)
        if hits <= self._threshold:
            return hits
        until = now + self._block
        if hits == self._threshold + 1:
            logger.warning(
                ABUSE_ESCALATION_MESSAGE,
                scope_hash=scope_hash,
                event_id=event_id,
                tenant_id=tenant_id,
                hits=hits,
                threshold_per_hour=self._threshold,
                blocked_until=until.isoformat(),
            )
            metrics.add_metric(name=METRIC_ABUSE_ESCALATION, unit="Count", value=1)
            self._write_block(scope_hash, event_id, until)
        # Above the threshold + 1: counted in the instant before the block was written.
        raise AbuseBlockedError(until)

    def _count(self, scope_hash: str, now: datetime) -> int:
        hour = now.replace(minute=0, second=0, microsecond=0)
        for _ in range(_ATTEMPTS):
            for new_hour in (False, True):
                hits = self._try_count(scope_hash, now, hour, new_hour=new_hour)
                if hits is not None:
                    return hits
        # Only if the item changed hour under every attempt: clocks far apart, not load.
        raise ServiceUnavailableError("The abuse counter is busy; try again", code="abuse_busy")

    def _try_count(
        self, scope_hash: str, now: datetime, hour: datetime, *, new_hour: bool
    ) -> int | None:
        """One conditional count: of this hour (`ADD`), or the first of a new hour (`SET`).
        None when the item is not in the expected hour; raises while blocked."""
        if new_hour:
            update = "SET #hour = :hour, hits = :one, expires_at = :ttl"
            condition = f"#hour <> :hour AND {_NOT_BLOCKED}"
        else:  # also a scope's first request: ADD starts a missing count from 0
            update = "ADD hits :one SET #hour = :hour, expires_at = :ttl"
            condition = f"(attribute_not_exists(#hour) OR #hour = :hour) AND {_NOT_BLOCKED}"
        ttl = hour + timedelta(hours=1) + _TTL_AFTER
        try:
            result = aws.dynamodb().update_item(
                TableName=self._table,
                Key=self._counter_key(scope_hash),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#hour": "hour"},
                ExpressionAttributeValues={
                    ":one": _n(1),
                    ":hour": {"S": f"{hour:%Y%m%d%H}"},
                    ":now": _n(int(now.timestamp())),
                    ":ttl": _n(int(ttl.timestamp())),
                },
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not dynamo.condition_failed(exc):
                raise
            # ReturnValuesOnConditionCheckFailure: the item as it was, in the error.
            old: Any = exc.response.get("Item", {})
            _raise_if_blocked(old, now)
            return None
        return int(result["Attributes"]["hits"]["N"])

    def _write_block(self, scope_hash: str, event_id: str, until: datetime) -> None:
        """The block on the counter (its count back to 0) and in the event's list, together."""
        blocked_until = _n(int(until.timestamp()))
        ttl = _n(int((until + _TTL_AFTER).timestamp()))
        aws.dynamodb().transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": self._counter_key(scope_hash),
                        "UpdateExpression": (
                            "SET blocked_until = :until, hits = :zero, expires_at = :ttl"
                        ),
                        "ExpressionAttributeValues": {
                            ":until": blocked_until,
                            ":zero": _n(0),
                            ":ttl": ttl,
                        },
                    }
                },
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            **self._list_key(scope_hash, event_id),
                            "blocked_until": blocked_until,
                            "expires_at": ttl,
                        },
                    }
                },
            ]
        )

    def blocks(self, event_id: str) -> list[AbuseBlock]:
        """The event's active blocks, the latest ending first."""
        now = int(self._clock().timestamp())
        items = aws.query_items(
            {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": f"abuse-blocks#{event_id}"}},
                "ConsistentRead": True,
            }
        )
        active = [
            AbuseBlock(
                scope_hash=item["sk"]["S"],
                blocked_until=datetime.fromtimestamp(int(item["blocked_until"]["N"]), UTC),
            )
            for item in items
            if int(item["blocked_until"]["N"]) > now
        ]
        return sorted(active, key=lambda block: block.blocked_until, reverse=True)

    def lift(self, scope_hash: str, *, event_id: str) -> bool:
        """End an active block of the event early, and zero the scope's count. False when
        the event has no active block of that scope (another event's scope included)."""
        now = _n(int(self._clock().timestamp()))
        try:
            aws.dynamodb().transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": self._list_key(scope_hash, event_id),
                            "ConditionExpression": "blocked_until > :now",
                            "ExpressionAttributeValues": {":now": now},
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": self._counter_key(scope_hash),
                            "UpdateExpression": "REMOVE blocked_until SET hits = :zero",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": {":zero": _n(0)},
                        }
                    },
                ]
            )
        except ClientError as exc:
            if dynamo.condition_failed(exc):
                return False
            raise
        logger.info(LogEvent.AI_ABUSE_BLOCK_LIFTED, scope_hash=scope_hash, event_id=event_id)
        return True


def _raise_if_blocked(item: dict[str, Any], now: datetime) -> None:
    until = int(item.get("blocked_until", {}).get("N", "0"))
    if until > int(now.timestamp()):
        raise AbuseBlockedError(datetime.fromtimestamp(until, UTC))


@singleton
def abuse_counter() -> AbuseCounter:
    settings = get_settings()
    return AbuseCounter(
        settings.limits_table,
        threshold_per_hour=settings.abuse_escalation_threshold_per_hour,
        block_minutes=settings.abuse_block_minutes,
    )


def record_request(scope_hash: str, *, event_id: str, tenant_id: str) -> int:
    """Count one request of the scope in this UTC hour, or refuse a blocked scope (see
    `AbuseCounter`)."""
    return abuse_counter().record_request(scope_hash, event_id=event_id, tenant_id=tenant_id)


def blocks(event_id: str) -> list[AbuseBlock]:
    return abuse_counter().blocks(event_id)


def lift(scope_hash: str, *, event_id: str) -> None:
    """A tenant admin's early end of a block of its event (404 when there is none)."""
    if not abuse_counter().lift(scope_hash, event_id=event_id):
        raise UnknownAbuseBlockError()
