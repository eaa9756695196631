"""The spend ledger: what the paid providers cost per UTC day, in integer micro-USD, held
under an operator's daily ceiling per provider that no burst can overshoot.

Layout (limits table): one day item per provider, `pk=spend#{provider}`, `sk=d#{YYYY-MM-DD}`:

- `spent` (settled micros), `reserved` (micros in flight), `total` (always exactly
  `spent + reserved`); `guest_spent`, `guest_total`: the same for guest callers only;
- one `r_{reservation id}` map `{cost, guest, at[, owner, quota]}` per open reservation
  (`owner`/`quota`: the Enhancer owner key and quota reservation id, so the sweep can ask
  whether a job still holds it);
- the ledger lines: `by_{reason}` (micros settled for that reason) and `n_{reason}` (calls),
  e.g. `by_succeeded`, `by_store_failed`, `by_blocked`; `released` counts the calls given back;
- `alerted_until` (epoch seconds: the ceiling alert's cooldown), `expires_at` (TTL).

Why `total`: a DynamoDB condition cannot add (`spent + reserved + :cost <= :cap` is not
expressible), so every write that changes `spent` or `reserved` changes `total` by the same
amount, and the ceiling check is one comparison evaluated atomically with the reservation:
`total <= :ceiling - :cost` (and `guest_total <= :guest_cap - :cost` for a guest).

Every check-and-update is ONE conditional UpdateItem on the day item, never a transaction:
the item is hot (every paid call of the provider writes it), and transactions on one item
conflict with each other under contention (`TransactionConflict`), where conditional updates
simply queue.

- reserve: `ADD reserved, total[, guest_total] :cost SET r_{id}`, only if `r_{id}` is new and
  the ceiling (and for a guest the guest share) has room;
- settle: `REMOVE r_{id} ADD reserved -cost, spent +actual, total actual-cost, by_{reason}
  +actual, n_{reason} +1` (and the guest counters), only if `r_{id}` exists;
- release: `REMOVE r_{id} ADD reserved -cost, total -cost, released +1`, only if `r_{id}` exists;
- the ceiling alert: `SET alerted_until`, only if the cooldown has passed: one winner per window.

Why the ledger lines are per-reason counters on the day item, not one item per call: a line
item would be a second write, and either a transaction with the hot item (conflicts, above)
or a write that a crash can separate from the settle (a line without its spend, or spend
without its line). Counters in the same conditional update make the settle and its line one
atomic step, exact by construction, and the item stays small (a handful of reasons, however
many calls). The per-call record is the `spend_settled` log line (reservation id, reason,
estimate, actual), for audits; the money is in the counters.

A settled or released reservation is gone: settle/release again return False. Reserving an
id whose reservation is open on that day returns it (counted once). A settle may cost more
than its estimate (a long Replicate run): the ceiling bounds what is reserved, so spend can
exceed it by at most the calls in flight times their misestimate; estimates should be
generous. An item holds at most 400 KB: about 5,000 reservations open at once per provider.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from aiimage import aws, dynamo
from aiimage.errors import CapacityExhaustedError
from aiimage.observability import LogEvent, MetricName, logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, UpdateItemInputTypeDef

# Providers that run in-process and cost nothing: never limited, never written.
FREE_PROVIDERS = frozenset({"local", "fake"})
PAID_PROVIDERS = ("workers_ai", "replicate", "runware")
# Day items are kept this long for `ops spend` and audits, then the table's TTL removes them.
_RETENTION = timedelta(days=400)
_REASON = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def day_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def seconds_to_midnight(moment: datetime) -> int:
    """Seconds until the next UTC day starts (when the ceilings reset), at least 1."""
    now = moment.astimezone(UTC)
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    return max(1, int((midnight - now).total_seconds()))


def _n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def _int(item: Mapping[str, Any], name: str) -> int:
    attribute = item.get(name)
    return int(attribute["N"]) if attribute else 0


@dataclass(frozen=True, slots=True)
class SpendReservation:
    provider: str  # "workers_ai" | "replicate" | "runware"
    day: str  # UTC day the reservation counts against, "YYYY-MM-DD"
    reservation_id: str  # the caller's id (a quota reservation id, an edit request id)
    estimate_micros: int  # what was reserved
    guest: bool  # counted against the guest share too


@dataclass(frozen=True, slots=True)
class OpenSpend:
    """An open reservation found on a day item (for the sweep)."""

    reservation: SpendReservation
    reserved_at: datetime
    owner_key: str | None  # the Enhancer owner that took it, with its quota reservation
    quota_reservation_id: str | None


@dataclass(frozen=True, slots=True)
class DaySpend:
    """One provider's day, as `ops spend` prints it."""

    provider: str
    day: str
    spent_micros: int
    reserved_micros: int
    guest_spent_micros: int
    guest_reserved_micros: int
    ceiling_micros: int | None
    guest_ceiling_micros: int | None
    open_reservations: int
    released: int
    by_reason: dict[str, int]
    calls_by_reason: dict[str, int]


class SpendLedger:
    def __init__(
        self,
        table: str,
        ceilings: Mapping[str, int],
        *,
        guest_share_percent: int,
        alert_cooldown: timedelta,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """`ceilings`: micro-USD per provider and day; 0 or missing = no ceiling."""
        self._table = table
        self._ceilings = dict(ceilings)
        self._guest_share = guest_share_percent
        self._alert_cooldown = alert_cooldown
        self._clock = clock

    @staticmethod
    def _key(provider: str, day: str) -> dict[str, AttributeValueTypeDef]:
        return {"pk": {"S": f"spend#{provider}"}, "sk": {"S": f"d#{day}"}}

    def ceiling(self, provider: str) -> int | None:
        ceiling = self._ceilings.get(provider, 0)
        return ceiling if ceiling > 0 else None

    def guest_ceiling(self, provider: str) -> int | None:
        """The guests' share of the ceiling (rounded down to the micro-USD)."""
        ceiling = self.ceiling(provider)
        return None if ceiling is None else ceiling * self._guest_share // 100

    # -- reserve -------------------------------------------------------------------------

    def reserve(
        self,
        provider: str,
        estimate_micros: int,
        *,
        reservation_id: str,
        guest: bool,
        owner_key: str | None = None,
        quota_reservation_id: str | None = None,
    ) -> SpendReservation | None:
        """Reserve `estimate_micros` of today's ceiling of `provider`: ONE conditional
        UpdateItem. None (no write) for a free provider, or an estimate of 0 without a
        ceiling. Raises `CapacityExhaustedError` when the ceiling (for a guest: the guest
        share of it) has no room. An id already open today is returned, counted once.
        `owner_key`/`quota_reservation_id` (the Enhancer's) let the sweep find its holder."""
        if not reservation_id:
            raise ValueError("reservation_id must not be empty")
        if estimate_micros < 0:
            raise ValueError("estimate_micros must not be negative")
        if provider in FREE_PROVIDERS:
            return None
        ceiling = self.ceiling(provider)
        if estimate_micros == 0 and ceiling is None:
            return None
        now = self._clock()
        reservation = SpendReservation(
            provider=provider,
            day=day_of(now),
            reservation_id=reservation_id,
            estimate_micros=estimate_micros,
            guest=guest,
        )
        record: dict[str, AttributeValueTypeDef] = {
            "cost": _n(estimate_micros),
            "guest": {"BOOL": guest},
            "at": _n(int(now.timestamp())),
        }
        if owner_key is not None and quota_reservation_id is not None:
            record["owner"] = {"S": owner_key}
            record["quota"] = {"S": quota_reservation_id}
        names = {"#res": f"r_{reservation_id}", "#reserved": "reserved", "#total": "total"}
        values: dict[str, AttributeValueTypeDef] = {
            ":cost": _n(estimate_micros),
            ":res": {"M": record},
            ":ttl": _n(int((now + _RETENTION).timestamp())),
        }
        condition = "attribute_not_exists(#res)"
        adds = "#reserved :cost, #total :cost"
        if ceiling is not None:
            condition += _room("#total", ":room", ceiling - estimate_micros, values)
        if guest:
            names["#guest_total"] = "guest_total"
            adds += ", #guest_total :cost"
            guest_ceiling = self.guest_ceiling(provider)
            if guest_ceiling is not None:
                condition += _room(
                    "#guest_total", ":guest_room", guest_ceiling - estimate_micros, values
                )
        request: UpdateItemInputTypeDef = {
            "TableName": self._table,
            "Key": self._key(provider, reservation.day),
            "UpdateExpression": f"ADD {adds} SET #res = :res, expires_at = :ttl",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        try:
            aws.dynamodb().update_item(**request)
        except ClientError as exc:
            if not dynamo.condition_failed(exc):
                raise
            # The failure path only: the item as the condition saw it.
            old: dict[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
            return self._refused(reservation, old, now)
        return reservation

    def _refused(
        self, reservation: SpendReservation, old: dict[str, Any], now: datetime
    ) -> SpendReservation:
        existing = old.get(f"r_{reservation.reservation_id}")
        if existing is not None:  # the same id again: its open reservation, counted once
            record = existing["M"]
            return SpendReservation(
                provider=reservation.provider,
                day=reservation.day,
                reservation_id=reservation.reservation_id,
                estimate_micros=int(record["cost"]["N"]),
                guest=bool(record["guest"]["BOOL"]),
            )
        provider = reservation.provider
        ceiling = self.ceiling(provider)
        full = ceiling is not None and _int(old, "total") + reservation.estimate_micros > ceiling
        scope = "provider" if full or not reservation.guest else "guest"
        metrics.add_metric(name=MetricName.SPEND_CEILING_REACHED, unit="Count", value=1)
        self._alert(provider, reservation.day, now, scope=scope, old=old)
        retry_after = seconds_to_midnight(now)
        raise CapacityExhaustedError(
            retry_after,
            details={
                "provider": provider,
                "scope": scope,
                "ceilingMicros": ceiling if scope == "provider" else self.guest_ceiling(provider),
                "retryAfter": retry_after,
            },
        )

    def _alert(
        self, provider: str, day: str, now: datetime, *, scope: str, old: dict[str, Any]
    ) -> None:
        """One conditional write claims the cooldown window; only its winner logs."""
        try:
            aws.dynamodb().update_item(
                TableName=self._table,
                Key=self._key(provider, day),
                UpdateExpression="SET alerted_until = :until",
                ConditionExpression="attribute_not_exists(alerted_until) OR alerted_until < :now",
                ExpressionAttributeValues={
                    ":until": _n(int((now + self._alert_cooldown).timestamp())),
                    ":now": _n(int(now.timestamp())),
                },
            )
        except ClientError as exc:
            if dynamo.condition_failed(exc):
                return  # alerted within the cooldown
            raise
        logger.warning(
            LogEvent.AI_SPEND_CEILING_REACHED,
            provider=provider,
            day=day,
            scope=scope,
            spent_micros=_int(old, "spent"),
            reserved_micros=_int(old, "reserved"),
            guest_total_micros=_int(old, "guest_total"),
            ceiling_micros=self.ceiling(provider),
            guest_ceiling_micros=self.guest_ceiling(provider),
        )

    # -- settle / release ----------------------------------------------------------------

    def settle(self, reservation: SpendReservation, actual_micros: int, *, reason: str) -> bool:
        """Turn the reservation into spend of `actual_micros` (what the provider billed),
        counted under `reason` ("succeeded", "failed", "blocked", "store_failed", ...):
        ONE conditional write. False when already settled or released."""
        if actual_micros < 0:
            raise ValueError("actual_micros must not be negative")
        if not _REASON.match(reason):
            raise ValueError(f"reason must match {_REASON.pattern}")
        names = {
            "#res": f"r_{reservation.reservation_id}",
            "#reserved": "reserved",
            "#spent": "spent",
            "#total": "total",
            "#by": f"by_{reason}",
            "#calls": f"n_{reason}",
        }
        values: dict[str, AttributeValueTypeDef] = {
            ":minus": _n(-reservation.estimate_micros),
            ":actual": _n(actual_micros),
            ":delta": _n(actual_micros - reservation.estimate_micros),
            ":one": _n(1),
        }
        adds = "#reserved :minus, #spent :actual, #total :delta, #by :actual, #calls :one"
        if reservation.guest:
            names.update({"#guest_spent": "guest_spent", "#guest_total": "guest_total"})
            adds += ", #guest_spent :actual, #guest_total :delta"
        settled = self._close(reservation, f"REMOVE #res ADD {adds}", names, values)
        if settled:
            logger.info(
                LogEvent.SPEND_SETTLED,
                provider=reservation.provider,
                day=reservation.day,
                reservation_id=reservation.reservation_id,
                reason=reason,
                estimate_micros=reservation.estimate_micros,
                actual_micros=actual_micros,
                guest=reservation.guest,
            )
        return settled

    def release(self, reservation: SpendReservation) -> bool:
        """Give the estimate back (the provider did not bill: it refused, or was never
        reached): ONE conditional write. False when already settled or released."""
        names = {
            "#res": f"r_{reservation.reservation_id}",
            "#reserved": "reserved",
            "#total": "total",
            "#released": "released",
        }
        values: dict[str, AttributeValueTypeDef] = {
            ":minus": _n(-reservation.estimate_micros),
            ":one": _n(1),
        }
        adds = "#reserved :minus, #total :minus, #released :one"
        if reservation.guest:
            names["#guest_total"] = "guest_total"
            adds += ", #guest_total :minus"
        return self._close(reservation, f"REMOVE #res ADD {adds}", names, values)

    def _close(
        self,
        reservation: SpendReservation,
        update: str,
        names: dict[str, str],
        values: dict[str, AttributeValueTypeDef],
    ) -> bool:
        try:
            aws.dynamodb().update_item(
                TableName=self._table,
                Key=self._key(reservation.provider, reservation.day),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(#res)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if dynamo.condition_failed(exc):
                return False
            raise
        return True

    # -- reads ---------------------------------------------------------------------------

    def _day_item(self, provider: str, day: str) -> dict[str, Any]:
        response = aws.dynamodb().get_item(
            TableName=self._table, Key=self._key(provider, day), ConsistentRead=True
        )
        return dict(response.get("Item", {}))

    def day(self, provider: str, day: str | None = None) -> DaySpend:
        """One provider's day (today by default): one consistent GetItem."""
        day = day or day_of(self._clock())
        item = self._day_item(provider, day)
        total, spent = _int(item, "total"), _int(item, "spent")
        guest_total, guest_spent = _int(item, "guest_total"), _int(item, "guest_spent")
        return DaySpend(
            provider=provider,
            day=day,
            spent_micros=spent,
            reserved_micros=total - spent,
            guest_spent_micros=guest_spent,
            guest_reserved_micros=guest_total - guest_spent,
            ceiling_micros=self.ceiling(provider),
            guest_ceiling_micros=self.guest_ceiling(provider),
            open_reservations=sum(1 for name in item if name.startswith("r_")),
            released=_int(item, "released"),
            by_reason={
                name.removeprefix("by_"): _int(item, name)
                for name in sorted(item)
                if name.startswith("by_")
            },
            calls_by_reason={
                name.removeprefix("n_"): _int(item, name)
                for name in sorted(item)
                if name.startswith("n_")
            },
        )

    def open_reservations(
        self, *, older_than: datetime, days: list[str], providers: tuple[str, ...] = PAID_PROVIDERS
    ) -> Iterator[OpenSpend]:
        """The reservations taken before `older_than` and still open on the day items of
        `days`: one consistent GetItem per provider and day (the items are few)."""
        cutoff = int(older_than.timestamp())
        for provider in providers:
            for day in days:
                item = self._day_item(provider, day)
                for name, value in sorted(item.items()):
                    if not name.startswith("r_") or "M" not in value:
                        continue
                    record = value["M"]
                    at = int(record["at"]["N"])
                    if at >= cutoff:
                        continue
                    yield OpenSpend(
                        reservation=SpendReservation(
                            provider=provider,
                            day=day,
                            reservation_id=name.removeprefix("r_"),
                            estimate_micros=int(record["cost"]["N"]),
                            guest=bool(record["guest"]["BOOL"]),
                        ),
                        reserved_at=datetime.fromtimestamp(at, UTC),
                        owner_key=record["owner"]["S"] if "owner" in record else None,
                        quota_reservation_id=record["quota"]["S"] if "quota" in record else None,
                    )


def _room(counter: str, placeholder: str, room: int, values: dict[str, Any]) -> str:
    """The condition that `counter` leaves room for the cost: `counter <= ceiling - cost`."""
    values[placeholder] = _n(room)
    if room >= 0:
        # A missing counter is 0 <= room.
        return f" AND (attribute_not_exists({counter}) OR {counter} <= {placeholder})"
    # The cost alone exceeds the ceiling: only a (never stored) negative counter passes.
    return f" AND {counter} <= {placeholder}"
