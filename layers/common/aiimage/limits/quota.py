"""Usage quotas per owner: daily and monthly counters with reserve -> commit | refund.

Layout (limits table): one item per owner and UTC month, `pk=quota#{owner}`,
`sk=m#{YYYY-MM}`, holding `month_used`, one counter per day (`d01`..`d31`) and one
attribute per reservation in flight (`r_{id}` -> its day and time).

Every operation is a single conditional UpdateItem on that item, so it is atomic and
never conflicts the way transactions would under contention:
- reserve: count the image against both the day and the month, only while both are below
  their limits, and record the reservation;
- commit: drop the reservation record (the image stays counted);
- refund: drop the record and uncount the image, only if the record is still there, so a
  retried or duplicate refund can never give back more than was taken.
Counters include reservations in flight: a slot being used is never offered twice.

A reservation that neither commit nor refund ever reaches (the Lambda was killed) is found
by `stale_reservations` (a Scan: see its cost) and refunded by `refund_stale`: the same
single conditional write as a refund, which also leaves `s_{id}` (when it was swept), so a
late commit and the sweep can never both win, and a commit that finds its reservation gone
can tell "swept" (`swept`) from "my own earlier attempt was applied".
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from aiimage import aws, dynamo
from aiimage.errors import QuotaExceededError
from aiimage.limits.plans import Entitlements

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        ScanInputTypeDef,
        UpdateItemInputTypeDef,
    )

# Month items outlive their month by this much, then the table's TTL removes them.
_RETENTION = timedelta(days=35)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Period:
    used: int
    limit: int
    reset_at: datetime


@dataclass(frozen=True, slots=True)
class UsageSnapshot:
    daily: Period
    monthly: Period


@dataclass(frozen=True, slots=True)
class Reservation:
    owner_key: str
    month: str
    day: str
    reservation_id: str


@dataclass(frozen=True, slots=True)
class OpenReservation:
    """A reservation still on its quota item, and when it was taken."""

    reservation: Reservation
    reserved_at: datetime


def _next_day(now: datetime) -> datetime:
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)


def _next_month(now: datetime) -> datetime:
    if now.month == 12:
        return datetime(now.year + 1, 1, 1, tzinfo=UTC)
    return datetime(now.year, now.month + 1, 1, tzinfo=UTC)


class QuotaStore:
    def __init__(self, table: str, clock: Callable[[], datetime] = _utcnow) -> None:
        self._table = table
        self._clock = clock

    def _key(self, owner_key: str, month: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"quota#{owner_key}"}, "sk": {"S": f"m#{month}"}}

    def usage(self, owner_key: str, entitlements: Entitlements) -> UsageSnapshot:
        """Today's and this month's counts: one strongly consistent GetItem."""
        now = self._clock()
        month, day = now.strftime("%Y-%m"), now.strftime("d%d")
        item = (
            aws.dynamodb()
            .get_item(
                TableName=self._table,
                Key=self._key(owner_key, month),
                ConsistentRead=True,
                ProjectionExpression="month_used, #day",
                ExpressionAttributeNames={"#day": day},
            )
            .get("Item", {})
        )
        return UsageSnapshot(
            daily=Period(
                used=int(item.get(day, {}).get("N", "0")),
                limit=entitlements.daily_burst_cap,
                reset_at=_next_day(now),
            ),
            monthly=Period(
                used=int(item.get("month_used", {}).get("N", "0")),
                limit=entitlements.monthly_images,
                reset_at=_next_month(now),
            ),
        )

    def reserve(self, owner_key: str, entitlements: Entitlements) -> Reservation:
        """Take one image from today's and this month's quota, or raise `QuotaExceededError`."""
        now = self._clock()
        reservation = Reservation(
            owner_key=owner_key,
            month=now.strftime("%Y-%m"),
            day=now.strftime("d%d"),
            reservation_id=secrets.token_hex(8),
        )
        try:
            aws.dynamodb().update_item(
                TableName=self._table,
                Key=self._key(owner_key, reservation.month),
                UpdateExpression=(
                    "ADD month_used :one, #day :one SET #res = :res, expires_at = :ttl"
                ),
                ConditionExpression=(
                    "(attribute_not_exists(#day) OR #day < :daily)"
                    " AND (attribute_not_exists(month_used) OR month_used < :monthly)"
                ),
                ExpressionAttributeNames={
                    "#day": reservation.day,
                    "#res": f"r_{reservation.reservation_id}",
                },
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":daily": {"N": str(entitlements.daily_burst_cap)},
                    ":monthly": {"N": str(entitlements.monthly_images)},
                    ":res": {
                        "M": {
                            "day": {"S": reservation.day},
                            "at": {"N": str(int(now.timestamp()))},
                        }
                    },
                    ":ttl": {"N": str(int((_next_month(now) + _RETENTION).timestamp()))},
                },
            )
        except ClientError as exc:
            if not dynamo.condition_failed(exc):
                raise
            raise self._exceeded(owner_key, entitlements) from None
        return reservation

    def commit(self, reservation: Reservation) -> bool:
        """Keep the image counted. False if the reservation was already settled."""
        return self._settle(reservation, refund=False)

    def refund(self, reservation: Reservation) -> bool:
        """Give the image back. False if the reservation was already settled."""
        return self._settle(reservation, refund=True)

    def refund_stale(self, reservation: Reservation) -> bool:
        """The sweep's refund of a reservation nobody settled: a refund that also records
        `s_{id}` (the time), in the same conditional write. False if already settled."""
        return self._settle(reservation, refund=True, swept=True)

    def swept(self, reservation: Reservation) -> bool:
        """Whether `refund_stale` took this reservation (one consistent GetItem; asked only
        by a commit that found its reservation gone)."""
        item = (
            aws.dynamodb()
            .get_item(
                TableName=self._table,
                Key=self._key(reservation.owner_key, reservation.month),
                ConsistentRead=True,
                ProjectionExpression="#swept",
                ExpressionAttributeNames={"#swept": f"s_{reservation.reservation_id}"},
            )
            .get("Item", {})
        )
        return bool(item)

    def _settle(self, reservation: Reservation, *, refund: bool, swept: bool = False) -> bool:
        names = {"#res": f"r_{reservation.reservation_id}"}
        request: UpdateItemInputTypeDef = {
            "TableName": self._table,
            "Key": self._key(reservation.owner_key, reservation.month),
            "UpdateExpression": "REMOVE #res",
            "ConditionExpression": "attribute_exists(#res)",
            "ExpressionAttributeNames": names,
        }
        values: dict[str, AttributeValueTypeDef] = {}
        if refund:
            names["#day"] = reservation.day
            request["UpdateExpression"] += " ADD month_used :minus, #day :minus"
            values[":minus"] = {"N": "-1"}
        if swept:
            names["#swept"] = f"s_{reservation.reservation_id}"
            request["UpdateExpression"] += " SET #swept = :now"
            values[":now"] = {"N": str(int(self._clock().timestamp()))}
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            aws.dynamodb().update_item(**request)
        except ClientError as exc:
            if dynamo.condition_failed(exc):
                return False
            raise
        return True

    def stale_reservations(
        self, *, older_than: datetime, months: Sequence[str]
    ) -> Iterator[OpenReservation]:
        """Reservations taken before `older_than` and still open, on the month items of
        `months` (YYYY-MM). A Scan of the limits table: every item is read (one owner-month
        quota item each, plus the rate-limit windows the TTL has not yet removed) and the
        filter only trims the answer, so it costs about (table size / 4 KB) / 2 read units
        per run: ~2,400 units for 100,000 items of 200 bytes (20 MB, 20 pages of 1 MB).
        The quota items carry no index of their reservations: this trades an index's write
        cost on every generate for a read cost per sweep."""
        request: ScanInputTypeDef = {
            "TableName": self._table,
            "FilterExpression": "begins_with(pk, :quota) AND sk IN ("
            + ", ".join(f":m{i}" for i in range(len(months)))
            + ")",
            "ExpressionAttributeValues": {
                ":quota": {"S": "quota#"},
                **{f":m{i}": {"S": f"m#{month}"} for i, month in enumerate(months)},
            },
        }
        cutoff = int(older_than.timestamp())
        while True:
            page = aws.dynamodb().scan(**request)
            for item in page.get("Items", []):
                owner_key = item["pk"]["S"].removeprefix("quota#")
                month = item["sk"]["S"].removeprefix("m#")
                for name, value in sorted(item.items()):
                    if not name.startswith("r_") or "M" not in value:
                        continue
                    at = int(value["M"]["at"]["N"])
                    if at >= cutoff:
                        continue
                    yield OpenReservation(
                        reservation=Reservation(
                            owner_key=owner_key,
                            month=month,
                            day=value["M"]["day"]["S"],
                            reservation_id=name.removeprefix("r_"),
                        ),
                        reserved_at=datetime.fromtimestamp(at, UTC),
                    )
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last

    def _exceeded(self, owner_key: str, entitlements: Entitlements) -> QuotaExceededError:
        # Only on the refusal path: one read to tell the caller which limit and when it resets.
        snapshot = self.usage(owner_key, entitlements)
        period, scope = (
            (snapshot.daily, "daily")
            if snapshot.daily.used >= snapshot.daily.limit
            else (snapshot.monthly, "monthly")
        )
        return QuotaExceededError(
            f"The {scope} limit of {period.limit} images is reached",
            details={
                "scope": scope,
                "used": period.used,
                "limit": period.limit,
                "resetAt": int(period.reset_at.timestamp() * 1000),
            },
        )
