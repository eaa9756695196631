"""Daily allowances of Magic Edits guests: edits per guest and event, and edits per network
and event, shared by every guest behind one address (an IPv4 address or an IPv6 /64).

Why the network: a guest is a cookie, and cookies are free to mint. Every guest create
counts against both allowances (a simple rule with no cookie history to keep: a script
minting fresh cookies meets the network allowance however many it mints); a guest whose
network is unknown counts against its own only. Tenant users count against neither.

Items (limits table), one per allowance and UTC day: `pk=edit-allowance#guest#{scope_hash}`
or `pk=edit-allowance#network#{network_hash}`, `sk=d#{YYYY-MM-DD}`, `used`, `expires_at`
(TTL: two days after the day). Both hashes are keyed (`abuse.scope_hash`) and bind the event,
so no raw address or guest id reaches a key.

- reserve: ONE TransactWriteItems of `ADD used :one` per allowance, each only while
  `used < :limit`: both are taken or neither. A refusal names the allowance that binds
  (the transaction's cancellation reasons): 403 `quota_exceeded`, `details` {scope
  (`guest` | `network`), limit, resetAt}.
- release: the same transaction with `ADD used :minus_one`. Its ClientRequestToken is
  derived from the reservation, so a release retried (by the SDK, or called twice within
  DynamoDB's ten-minute idempotency window) is applied once: the counts given back equal
  the counts taken.

An admitted edit stays counted, even if the provider fails it later: the tenant's budget is
what a failed edit refunds, and a guest whose edits fail cannot retry without bound.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from aiimage import aws, dynamo
from aiimage.errors import QuotaExceededError
from aiimage.settings import get_settings
from aiimage.singletons import singleton

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

_TTL_AFTER_DAY = timedelta(days=2)
_TOKEN_NAMESPACE = uuid.UUID("5b0c7c8e-4f3e-4b8e-9d51-0d7a8f3c2e11")


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Allowance:
    """One daily allowance: whose (`scope`: guest | network), keyed by `key_hash`."""

    scope: str
    key_hash: str
    limit: int


@dataclass(frozen=True, slots=True)
class AllowanceReservation:
    reservation_id: str
    day: str
    allowances: tuple[Allowance, ...]


class EditAllowances:
    def __init__(
        self,
        table: str,
        clock: Callable[[], datetime] = _utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table
        self._clock = clock
        self._sleep = sleep

    def reserve(
        self, allowances: tuple[Allowance, ...], reservation_id: str
    ) -> AllowanceReservation:
        """Take one edit from every allowance of `allowances`, or raise `QuotaExceededError`
        naming the first that binds."""
        now = self._clock().astimezone(UTC)
        reservation = AllowanceReservation(reservation_id, f"{now:%Y-%m-%d}", allowances)
        expires_at = int((_next_day(now) + _TTL_AFTER_DAY).timestamp())
        items: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": self._key(allowance, reservation.day),
                    "UpdateExpression": "ADD used :one SET expires_at = :ttl",
                    "ConditionExpression": "attribute_not_exists(used) OR used < :limit",
                    "ExpressionAttributeValues": {
                        ":one": {"N": "1"},
                        ":limit": {"N": str(allowance.limit)},
                        ":ttl": {"N": str(expires_at)},
                    },
                }
            }
            for allowance in allowances
        ]
        try:
            self._transact(items, self._token("reserve", reservation))
        except ClientError as exc:
            if not dynamo.condition_failed(exc):
                raise
            binding = next(
                (a for i, a in enumerate(allowances) if dynamo.condition_failed(exc, item=i)),
                allowances[0],
            )
            raise _exceeded(binding, now) from None
        return reservation

    def release(self, reservation: AllowanceReservation) -> None:
        """Give the edit back to every allowance it was taken from (exactly once)."""
        items: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": self._key(allowance, reservation.day),
                    "UpdateExpression": "ADD used :minus_one",
                    "ConditionExpression": "used >= :one",
                    "ExpressionAttributeValues": {":minus_one": {"N": "-1"}, ":one": {"N": "1"}},
                }
            }
            for allowance in reservation.allowances
        ]
        self._transact(items, self._token("release", reservation))

    def _transact(self, items: list[TransactWriteItemTypeDef], token: str) -> None:
        # Guests of one network write its item in overlapping transactions: a conflict is
        # tried again (the same token: applied at most once), as the Enhancer's quota does.
        dynamo.retry_conflicts(
            lambda: aws.dynamodb().transact_write_items(
                TransactItems=items, ClientRequestToken=token
            ),
            sleep=self._sleep,
        )

    def used(self, allowance: Allowance) -> int:
        """Today's count of one allowance (a consistent read; for views and tests)."""
        day = f"{self._clock().astimezone(UTC):%Y-%m-%d}"
        item = (
            aws.dynamodb()
            .get_item(TableName=self._table, Key=self._key(allowance, day), ConsistentRead=True)
            .get("Item", {})
        )
        return int(item.get("used", {}).get("N", "0"))

    @staticmethod
    def _key(allowance: Allowance, day: str) -> dict[str, dict[str, str]]:
        return {
            "pk": {"S": f"edit-allowance#{allowance.scope}#{allowance.key_hash}"},
            "sk": {"S": f"d#{day}"},
        }

    @staticmethod
    def _token(action: str, reservation: AllowanceReservation) -> str:
        return str(uuid.uuid5(_TOKEN_NAMESPACE, f"{action}:{reservation.reservation_id}"))


def _next_day(now: datetime) -> datetime:
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)


def _exceeded(allowance: Allowance, now: datetime) -> QuotaExceededError:
    whose = "this guest" if allowance.scope == "guest" else "guests on this network"
    return QuotaExceededError(
        f"The daily allowance of {allowance.limit} AI edits for {whose} is used up",
        details={
            "scope": allowance.scope,
            "limit": allowance.limit,
            "resetAt": int(_next_day(now).timestamp() * 1000),
        },
    )


@singleton
def edit_allowances() -> EditAllowances:
    return EditAllowances(get_settings().limits_table)
