"""Usage quotas per owner: daily and monthly counters with reserve -> commit | refund.

Layout (limits table): one item per owner and UTC month, `pk=quota#{owner}`,
`sk=m#{YYYY-MM}`, holding `month_used`, one counter per day (`d01`..`d31`) and one
attribute per reservation in flight (`r_{id}` -> its day and time).

Every operation on a signed-in user's quota is a single conditional UpdateItem on that
item, so it is atomic and never conflicts the way transactions would under contention:
- reserve: count the image against both the day and the month, only while both are below
  their limits, and record the reservation;
- commit: drop the reservation record (the image stays counted);
- refund: drop the record and uncount the image, only if the record is still there, so a
  retried or duplicate refund can never give back more than was taken.
Counters include reservations in flight: a slot being used is never offered twice.

Guests also share a daily allowance per network (`GUEST_NETWORK_DAILY_LIMIT`: guests are
free to mint, networks are not): one item per network and UTC day, `pk=quota-network#{hash}`
(`aiimage.network.network_hash`: no raw address in a key), `sk=d#{YYYY-MM-DD}`, `used`,
`expires_at` (TTL: two days after the day). A guest's reserve is ONE TransactWriteItems of
the quota item's update above and `ADD used :one` on the network item, each conditional
(`used < :limit`): both are taken or neither, and a refusal names the allowance that binds
(`scope`: `daily`, `monthly` or `network`). The reservation record names its network
(`net`), so a refund, the sweep's included, is again one transaction of the quota item's
conditional update and `ADD used :minus` on that network's item of the reservation's day:
the record's condition gates both, so the network gets back exactly what it gave, once.
A commit touches the quota item only (the network's count stays). Transactions on the same
network's item can be canceled for a conflict when they overlap: retried with backoff,
then 503 `service_busy` (nothing taken).

A reservation that neither commit nor refund ever reaches (the Lambda was killed) is found
by `stale_reservations` (a Scan: see its cost) and refunded by `refund_stale`: the same
single conditional write as a refund, which also leaves `s_{id}` (when it was swept), so a
late commit and the sweep can never both win, and a commit that finds its reservation gone
can tell "swept" (`swept`) from "my own earlier attempt was applied".
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from aiimage import aws, dynamo
from aiimage.errors import QuotaExceededError
from aiimage.identity import Identity
from aiimage.limits.plans import Entitlements
from aiimage.network import UNKNOWN_NETWORK, network_hash
from aiimage.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        ScanInputTypeDef,
        TransactWriteItemTypeDef,
        UpdateTypeDef,
    )

# Month items outlive their month by this much, then the table's TTL removes them.
_RETENTION = timedelta(days=35)
# Network day items outlive their day by this much (a late refund still finds its day).
_NETWORK_RETENTION = timedelta(days=2)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Period:
    used: int
    limit: int | None  # None: no cap in the period
    reset_at: datetime

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)


@dataclass(frozen=True, slots=True)
class UsageSnapshot:
    daily: Period
    monthly: Period
    # The guest's network allowance today; None for a signed-in user.
    network: Period | None = None

    @property
    def own_remaining(self) -> int:
        """What the owner's own caps leave today: the daily one always binds, the month's
        where there is one."""
        return min(
            left for left in (self.daily.remaining, self.monthly.remaining) if left is not None
        )


@dataclass(frozen=True, slots=True)
class NetworkAllowance:
    """The daily allowance shared by the guests of one network, by its keyed hash."""

    key: str
    limit: int


@dataclass(frozen=True, slots=True)
class Reservation:
    owner_key: str
    month: str
    day: str
    reservation_id: str
    # The hash of the network the image was also taken from (guests); None: none.
    network: str | None = None

    @property
    def date(self) -> str:
        """The reservation's UTC day, YYYY-MM-DD."""
        return f"{self.month}-{self.day.removeprefix('d')}"


@dataclass(frozen=True, slots=True)
class OpenReservation:
    """A reservation still on its quota item, and when it was taken."""

    reservation: Reservation
    reserved_at: datetime


def network_allowance(identity: Identity) -> NetworkAllowance | None:
    """What a caller's generate also counts against: a guest's network (an unknown one
    counts as the one shared `UNKNOWN_NETWORK`); None for a signed-in user."""
    if identity.owner_type != "guest":
        return None
    return NetworkAllowance(
        key=network_hash(identity.network or UNKNOWN_NETWORK),
        limit=get_settings().guest_network_daily_limit,
    )


def _next_day(now: datetime) -> datetime:
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)


def _next_month(now: datetime) -> datetime:
    if now.month == 12:
        return datetime(now.year + 1, 1, 1, tzinfo=UTC)
    return datetime(now.year, now.month + 1, 1, tzinfo=UTC)


def _network_ttl(date: str) -> AttributeValueTypeDef:
    day = datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=UTC)
    return {"N": str(int((day + timedelta(days=1) + _NETWORK_RETENTION).timestamp()))}


class QuotaStore:
    def __init__(
        self,
        table: str,
        clock: Callable[[], datetime] = _utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table
        self._clock = clock
        self._sleep = sleep

    def _key(self, owner_key: str, month: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"quota#{owner_key}"}, "sk": {"S": f"m#{month}"}}

    @staticmethod
    def _network_key(network: str, date: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"quota-network#{network}"}, "sk": {"S": f"d#{date}"}}

    def usage(
        self, owner_key: str, entitlements: Entitlements, network: NetworkAllowance | None = None
    ) -> UsageSnapshot:
        """Today's and this month's counts (and the network's today): one strongly
        consistent GetItem, or one BatchGetItem of both items for a guest."""
        now = self._clock()
        month, day = now.strftime("%Y-%m"), now.strftime("d%d")
        quota_key = self._key(owner_key, month)
        if network is None:
            item = (
                aws.dynamodb()
                .get_item(
                    TableName=self._table,
                    Key=quota_key,
                    ConsistentRead=True,
                    ProjectionExpression="month_used, #day",
                    ExpressionAttributeNames={"#day": day},
                )
                .get("Item", {})
            )
            network_item = None
        else:
            network_key = self._network_key(network.key, now.strftime("%Y-%m-%d"))
            items = {
                it["pk"]["S"]: it
                for it in aws.batch_get_items(
                    self._table, [quota_key, network_key], consistent=True
                )
            }
            item = items.get(quota_key["pk"]["S"], {})
            network_item = items.get(network_key["pk"]["S"], {})
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
            network=None
            if network is None or network_item is None
            else Period(
                used=int(network_item.get("used", {}).get("N", "0")),
                limit=network.limit,
                reset_at=_next_day(now),
            ),
        )

    def reserve(
        self, owner_key: str, entitlements: Entitlements, network: NetworkAllowance | None = None
    ) -> Reservation:
        """Take one image from today's and this month's quota (and from the network's day,
        in the same transaction), or raise `QuotaExceededError` naming what binds."""
        now = self._clock()
        reservation = Reservation(
            owner_key=owner_key,
            month=now.strftime("%Y-%m"),
            day=now.strftime("d%d"),
            reservation_id=secrets.token_hex(8),
            network=None if network is None else network.key,
        )
        record: dict[str, AttributeValueTypeDef] = {
            "day": {"S": reservation.day},
            "at": {"N": str(int(now.timestamp()))},
        }
        if network is not None:
            record["net"] = {"S": network.key}
        condition = "(attribute_not_exists(#day) OR #day < :daily)"
        values: dict[str, AttributeValueTypeDef] = {
            ":one": {"N": "1"},
            ":daily": {"N": str(entitlements.daily_burst_cap)},
            ":res": {"M": record},
            ":ttl": {"N": str(int((_next_month(now) + _RETENTION).timestamp()))},
        }
        if entitlements.monthly_images is not None:  # a guest has no monthly quota
            condition += " AND (attribute_not_exists(month_used) OR month_used < :monthly)"
            values[":monthly"] = {"N": str(entitlements.monthly_images)}
        update: UpdateTypeDef = {
            "TableName": self._table,
            "Key": self._key(owner_key, reservation.month),
            "UpdateExpression": "ADD month_used :one, #day :one SET #res = :res, expires_at = :ttl",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {
                "#day": reservation.day,
                "#res": f"r_{reservation.reservation_id}",
            },
            "ExpressionAttributeValues": values,
        }
        try:
            if network is None:
                aws.dynamodb().update_item(**update)
            else:
                self._transact([{"Update": update}, {"Update": self._take(network, reservation)}])
        except ClientError as exc:
            if not dynamo.condition_failed(exc):
                raise
            own = network is None or dynamo.condition_failed(exc, item=0)
            raise self._exceeded(owner_key, entitlements, None if own else network) from None
        return reservation

    def _take(self, network: NetworkAllowance, reservation: Reservation) -> UpdateTypeDef:
        return {
            "TableName": self._table,
            "Key": self._network_key(network.key, reservation.date),
            "UpdateExpression": "ADD used :one SET expires_at = :ttl",
            "ConditionExpression": "attribute_not_exists(used) OR used < :limit",
            "ExpressionAttributeValues": {
                ":one": {"N": "1"},
                ":limit": {"N": str(network.limit)},
                ":ttl": _network_ttl(reservation.date),
            },
        }

    def _give_back(self, reservation: Reservation, network: str) -> UpdateTypeDef:
        # Unconditional: the quota item's condition in the same transaction gates it.
        return {
            "TableName": self._table,
            "Key": self._network_key(network, reservation.date),
            "UpdateExpression": "ADD used :minus SET expires_at = if_not_exists(expires_at, :ttl)",
            "ExpressionAttributeValues": {
                ":minus": {"N": "-1"},
                ":ttl": _network_ttl(reservation.date),
            },
        }

    def _transact(self, items: list[TransactWriteItemTypeDef]) -> None:
        dynamo.retry_conflicts(
            lambda: aws.dynamodb().transact_write_items(TransactItems=items), sleep=self._sleep
        )

    def commit(self, reservation: Reservation) -> bool:
        """Keep the image counted. False if the reservation was already settled."""
        return self._settle(reservation, refund=False)

    def refund(self, reservation: Reservation) -> bool:
        """Give the image back (to the network too). False if the reservation was already
        settled."""
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
        request: UpdateTypeDef = {
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
            if refund and reservation.network is not None:
                self._transact(
                    [
                        {"Update": request},
                        {"Update": self._give_back(reservation, reservation.network)},
                    ]
                )
            else:
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
        `months` (YYYY-MM), each with the network its record names. A Scan of the limits
        table: every item is read (one owner-month quota item each, one network-day item per
        guest network, plus the rate-limit windows the TTL has not yet removed) and the
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
                    record = value["M"]
                    at = int(record["at"]["N"])
                    if at >= cutoff:
                        continue
                    yield OpenReservation(
                        reservation=Reservation(
                            owner_key=owner_key,
                            month=month,
                            day=record["day"]["S"],
                            reservation_id=name.removeprefix("r_"),
                            network=record["net"]["S"] if "net" in record else None,
                        ),
                        reserved_at=datetime.fromtimestamp(at, UTC),
                    )
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last

    def _exceeded(
        self, owner_key: str, entitlements: Entitlements, network: NetworkAllowance | None
    ) -> QuotaExceededError:
        # Only on the refusal path: one read to tell the caller which limit and when it resets.
        snapshot = self.usage(owner_key, entitlements, network)
        if snapshot.network is not None:
            period, scope = snapshot.network, "network"
            message = f"The daily limit of {period.limit} images for guests on this network"
        else:
            period, scope = (
                (snapshot.daily, "daily")
                if snapshot.daily.remaining == 0
                else (snapshot.monthly, "monthly")
            )
            message = f"The {scope} limit of {period.limit} images"
        return QuotaExceededError(
            f"{message} is reached",
            details={
                "scope": scope,
                "used": period.used,
                "limit": period.limit,
                "resetAt": int(period.reset_at.timestamp() * 1000),
            },
        )
