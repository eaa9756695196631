"""Tenant AI budgets: a reservation ledger per tenant and UTC month, in integer micro-USD.

Layout (edits table):

- month item `pk=budget#{tenant_id}`, `sk=m#{YYYY-MM}`:
  `spent` (settled micros), `reserved` (micros in flight), `total` (always exactly
  `spent + reserved`), one `r_{request_id}` map `{cost, at, ev}` per open reservation
  (`ev`: the request's event slug, so a sweep can find the request), `alerted_until`
  (epoch seconds: the soft-cap alert cooldown), `expires_at` (TTL: month end + 400 days),
  and `month`/`at` = `budget#{YYYY-MM}`/`{tenant_id}`: the item's entry in the `ByMonth`
  index, through which `stale_reservations` finds every tenant's month item.
- ledger entries (the seed's `ai_usage_ledgers`) `pk=ledger#{tenant_id}`,
  `sk={ISO-8601 UTC time}#{request_id}`: one line per settled request, TTL 365 days, with
  `reason`: why the provider's bill was kept (`succeeded`; `blocked`, `failed` or
  `store_failed` for a run the provider billed whose result we then refused or lost; a line
  written before reasons existed reads as `succeeded`).

Why `total`: a DynamoDB condition cannot add (`spent + reserved + :cost <= :cap` is not
expressible), so every write that changes `spent` or `reserved` changes `total` by the same
amount, and the hard-cap check becomes one comparison, `total <= :cap - :cost`, evaluated
atomically with the update that reserves. All three counters are created together by the
first reservation (ADD on a missing attribute starts from 0), so `attribute_not_exists(total)`
means "nothing spent or reserved yet" exactly.

Every check-and-update is ONE conditional write:

- reserve: `ADD reserved :cost, total :cost SET r_{id} = :res`, only if the reservation is
  new and (override active, or no hard cap, or `total <= :cap - :cost`);
- soft-cap alert: `SET alerted_until`, only if the cooldown has passed: one winner per window;
- settle: one TransactWriteItems of the month update (`REMOVE r_{id} ADD reserved -cost,
  spent +actual, total actual-cost`, only if `r_{id}` exists) and the ledger Put (only if the
  line is new): a crash can never settle without its ledger line, or the reverse;
- release: `REMOVE r_{id} ADD reserved -cost, total -cost`, only if `r_{id}` exists.

A settled or released reservation is gone: settle/release again return False. Reserving a
request id whose reservation is open returns that reservation (counted once); reserving it
again after it was settled or released opens a new one (callers reserve once per request).
An item holds at most 400 KB, so about 5,000 reservations can be open per tenant and month.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from aiimage import aws, dynamo
from aiimage.edits.models import Budget
from aiimage.errors import ForbiddenError
from aiimage.observability import LogEvent, MetricName, logger, metrics
from aiimage.settings import get_settings
from aiimage.singletons import singleton

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        QueryInputTypeDef,
        TransactWriteItemTypeDef,
        UpdateItemInputTypeDef,
    )

# The month items' partition of the `ByMonth` index (requests use `edit#`, ledger lines none).
_INDEX_PREFIX = "budget#"
# The month item outlives its month by this much; ledger lines are kept this long.
_MONTH_RETENTION = timedelta(days=400)
_LEDGER_RETENTION = timedelta(days=365)

# Log messages (the seed's log signals) and metric names.
BUDGET_THRESHOLD_MESSAGE = LogEvent.AI_BUDGET_THRESHOLD_REACHED
BUDGET_HARD_CAP_MESSAGE = LogEvent.AI_BUDGET_HARD_CAP_REACHED
METRIC_SOFT_CAP = MetricName.AI_BUDGET_SOFT_CAP_REACHED
METRIC_HARD_CAP = MetricName.AI_BUDGET_HARD_CAP_REJECTED
# The ledger line's reason of a settlement for a result delivered (and of older lines).
SUCCEEDED = "succeeded"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _month_of(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m")


def _month_end(month: str) -> datetime:
    year, number = (int(part) for part in month.split("-"))
    if number == 12:
        return datetime(year + 1, 1, 1, tzinfo=UTC)
    return datetime(year, number + 1, 1, tzinfo=UTC)


def _n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def _int(item: dict[str, Any], name: str) -> int:
    attribute = item.get(name)
    return int(attribute["N"]) if attribute else 0


class BudgetExceededError(ForbiddenError):
    default_code = "budget_exceeded"
    default_message = "The monthly AI budget is exhausted"


@dataclass(frozen=True, slots=True)
class BudgetReservation:
    tenant_id: str
    month: str  # YYYY-MM: the month item that holds it (settled there, even later)
    request_id: str
    cost_micros: int
    reserved_at: datetime


@dataclass(frozen=True, slots=True)
class BudgetUsage:
    spent_micros: int
    reserved_micros: int
    month: str


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    tenant_id: str
    event_id: str
    request_id: str
    provider: str
    cost_micros: int
    at: datetime
    reason: str = SUCCEEDED


class BudgetStore:
    def __init__(
        self,
        table: str,
        clock: Callable[[], datetime] = _utcnow,
        *,
        alert_cooldown: timedelta | None = None,
    ) -> None:
        self._table = table
        self._clock = clock
        self._alert_cooldown = alert_cooldown or timedelta(
            minutes=get_settings().budget_alert_cooldown_minutes
        )

    @staticmethod
    def _month_key(tenant_id: str, month: str) -> dict[str, AttributeValueTypeDef]:
        return {"pk": {"S": f"budget#{tenant_id}"}, "sk": {"S": f"m#{month}"}}

    # -- reserve -------------------------------------------------------------------------

    def reserve(
        self,
        tenant_id: str,
        budget: Budget,
        request_id: str,
        cost_micros: int,
        *,
        event_slug: str | None = None,
    ) -> BudgetReservation:
        """Reserve `cost_micros` of this month's budget for `request_id` (of the event
        `event_slug`), or raise `BudgetExceededError`. Idempotent per open reservation."""
        if not request_id:
            raise ValueError("request_id must not be empty")
        if cost_micros < 0:
            raise ValueError("cost_micros must not be negative")
        now = self._clock()
        month = _month_of(now)
        overridden = budget.override_until is not None and budget.override_until > now
        hard_cap = None if overridden else budget.hard_cap_micros

        record: dict[str, AttributeValueTypeDef] = {
            "cost": _n(cost_micros),
            "at": _n(int(now.timestamp())),
        }
        if event_slug is not None:
            record["ev"] = {"S": event_slug}
        values: dict[str, AttributeValueTypeDef] = {
            ":cost": _n(cost_micros),
            ":res": {"M": record},
            ":ttl": _n(int((_month_end(month) + _MONTH_RETENTION).timestamp())),
            ":index_month": {"S": f"{_INDEX_PREFIX}{month}"},
            ":index_at": {"S": tenant_id},
        }
        condition = "attribute_not_exists(#res)"
        if hard_cap is not None:
            headroom = hard_cap - cost_micros
            values[":headroom"] = _n(headroom)
            if headroom >= 0:
                # A missing `total` is 0 <= headroom.
                condition += " AND (attribute_not_exists(#total) OR #total <= :headroom)"
            else:
                # The cost alone exceeds the cap: only a (never stored) negative total passes.
                condition += " AND #total <= :headroom"
        request: UpdateItemInputTypeDef = {
            "TableName": self._table,
            "Key": self._month_key(tenant_id, month),
            "UpdateExpression": (
                "ADD #reserved :cost, #total :cost "
                "SET #res = :res, expires_at = :ttl, #month = :index_month, #at = :index_at"
            ),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {
                "#res": f"r_{request_id}",
                "#reserved": "reserved",
                "#total": "total",
                "#month": "month",
                "#at": "at",
            },
            "ExpressionAttributeValues": values,
            "ReturnValues": "UPDATED_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        try:
            result = aws.dynamodb().update_item(**request)
        except ClientError as exc:
            if not dynamo.condition_failed(exc):
                raise
            # The failure path only: the item as the condition saw it.
            old: dict[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
            return self._refused(tenant_id, month, request_id, hard_cap, old)

        reservation = BudgetReservation(
            tenant_id=tenant_id,
            month=month,
            request_id=request_id,
            cost_micros=cost_micros,
            reserved_at=now,
        )
        attributes = result.get("Attributes", {})
        total, reserved = _int(attributes, "total"), _int(attributes, "reserved")
        if budget.soft_cap_micros is not None and total >= budget.soft_cap_micros:
            self._alert_soft_cap(
                tenant_id, month, now, spent=total - reserved, reserved=reserved, budget=budget
            )
        return reservation

    def _refused(
        self,
        tenant_id: str,
        month: str,
        request_id: str,
        hard_cap: int | None,
        old: dict[str, Any],
    ) -> BudgetReservation:
        existing = old.get(f"r_{request_id}")
        if existing is not None:  # the same request again: its open reservation
            return BudgetReservation(
                tenant_id=tenant_id,
                month=month,
                request_id=request_id,
                cost_micros=int(existing["M"]["cost"]["N"]),
                reserved_at=datetime.fromtimestamp(int(existing["M"]["at"]["N"]), UTC),
            )
        spent, reserved = _int(old, "spent"), _int(old, "reserved")
        logger.info(
            BUDGET_HARD_CAP_MESSAGE,
            tenant_id=tenant_id,
            hard_cap_micros=hard_cap,
            spent_micros=spent,
            reserved_micros=reserved,
        )
        metrics.add_metric(name=METRIC_HARD_CAP, unit="Count", value=1)
        raise BudgetExceededError(
            details={
                "hardCapMicros": hard_cap,
                "spentMicros": spent,
                "reservedMicros": reserved,
            }
        )

    def _alert_soft_cap(
        self,
        tenant_id: str,
        month: str,
        now: datetime,
        *,
        spent: int,
        reserved: int,
        budget: Budget,
    ) -> None:
        """One conditional write claims the cooldown window (the tenant's, else the
        deployment's); only its winner logs."""
        cooldown = (
            timedelta(minutes=budget.alert_cooldown_minutes)
            if budget.alert_cooldown_minutes is not None
            else self._alert_cooldown
        )
        try:
            aws.dynamodb().update_item(
                TableName=self._table,
                Key=self._month_key(tenant_id, month),
                UpdateExpression="SET alerted_until = :until",
                ConditionExpression="attribute_not_exists(alerted_until) OR alerted_until < :now",
                ExpressionAttributeValues={
                    ":until": _n(int((now + cooldown).timestamp())),
                    ":now": _n(int(now.timestamp())),
                },
            )
        except ClientError as exc:
            if dynamo.condition_failed(exc):
                return  # alerted within the cooldown
            raise
        logger.warning(
            BUDGET_THRESHOLD_MESSAGE,
            tenant_id=tenant_id,
            month=month,
            spent_micros=spent,
            reserved_micros=reserved,
            soft_cap_micros=budget.soft_cap_micros,
            hard_cap_micros=budget.hard_cap_micros,
        )
        metrics.add_metric(name=METRIC_SOFT_CAP, unit="Count", value=1)

    # -- settle / release ----------------------------------------------------------------

    def settle(
        self,
        reservation: BudgetReservation,
        actual_cost_micros: int,
        *,
        event_id: str,
        provider: str,
        reason: str = SUCCEEDED,
    ) -> bool:
        """Turn the reservation into spend of `actual_cost_micros` and write its ledger line
        (saying why: `reason`), in one transaction. False if already settled or released."""
        if actual_cost_micros < 0:
            raise ValueError("actual_cost_micros must not be negative")
        now = self._clock()
        delta = actual_cost_micros - reservation.cost_micros
        month_update: TransactWriteItemTypeDef = {
            "Update": {
                "TableName": self._table,
                "Key": self._month_key(reservation.tenant_id, reservation.month),
                "UpdateExpression": (
                    "REMOVE #res ADD #reserved :minus, #spent :actual, #total :delta"
                ),
                "ConditionExpression": "attribute_exists(#res)",
                "ExpressionAttributeNames": {
                    "#res": f"r_{reservation.request_id}",
                    "#reserved": "reserved",
                    "#spent": "spent",
                    "#total": "total",
                },
                "ExpressionAttributeValues": {
                    ":minus": _n(-reservation.cost_micros),
                    ":actual": _n(actual_cost_micros),
                    ":delta": _n(delta),
                },
            }
        }
        ledger_put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": {
                    "pk": {"S": f"ledger#{reservation.tenant_id}"},
                    "sk": {"S": f"{dynamo.stamp(now)}#{reservation.request_id}"},
                    "tenant_id": {"S": reservation.tenant_id},
                    "event_id": {"S": event_id},
                    "request_id": {"S": reservation.request_id},
                    "provider": {"S": provider},
                    "reason": {"S": reason},
                    "cost_micros": _n(actual_cost_micros),
                    "reserved_micros": _n(reservation.cost_micros),
                    "month": {"S": reservation.month},
                    "at": {"S": dynamo.stamp(now)},
                    "expires_at": _n(int((now + _LEDGER_RETENTION).timestamp())),
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        try:
            aws.dynamodb().transact_write_items(
                TransactItems=[month_update, ledger_put],
                # The SDK resends the same token on a retry: a transaction that succeeded
                # but whose answer was lost is not reported as "already settled".
                ClientRequestToken=str(uuid.uuid4()),
            )
        except ClientError as exc:
            if dynamo.condition_failed(exc, item=0):  # the month's reservation is gone
                return False
            raise
        return True

    def release(self, reservation: BudgetReservation) -> bool:
        """Give the reserved amount back. False if already settled or released."""
        try:
            aws.dynamodb().update_item(
                TableName=self._table,
                Key=self._month_key(reservation.tenant_id, reservation.month),
                UpdateExpression="REMOVE #res ADD #reserved :minus, #total :minus",
                ConditionExpression="attribute_exists(#res)",
                ExpressionAttributeNames={
                    "#res": f"r_{reservation.request_id}",
                    "#reserved": "reserved",
                    "#total": "total",
                },
                ExpressionAttributeValues={":minus": _n(-reservation.cost_micros)},
            )
        except ClientError as exc:
            if dynamo.condition_failed(exc):
                return False
            raise
        return True

    # -- the sweep -----------------------------------------------------------------------

    def stale_reservations(
        self, *, older_than: datetime, months: Sequence[str]
    ) -> Iterator[StaleBudgetReservation]:
        """Every tenant's reservations taken before `older_than` and still open, on the
        month items of `months` (YYYY-MM): one `ByMonth` Query per month lists the month
        items (one per tenant that reserved that month), read back consistently 100 per
        BatchGetItem. Cost per run: about one read unit per tenant and month."""
        cutoff = int(older_than.timestamp())
        for month in months:
            index: QueryInputTypeDef = {
                "TableName": self._table,
                "IndexName": "ByMonth",
                "KeyConditionExpression": "#month = :month",
                "ExpressionAttributeNames": {"#month": "month"},
                "ExpressionAttributeValues": {":month": {"S": f"{_INDEX_PREFIX}{month}"}},
            }
            keys = [{"pk": e["pk"], "sk": e["sk"]} for e in aws.query_items(index)]
            for item in aws.batch_get_items(self._table, keys, consistent=True):
                yield from _stale_in(item, month, cutoff)

    # -- reads ---------------------------------------------------------------------------

    def month_usage(self, tenant_id: str, *, month: str | None = None) -> BudgetUsage:
        """This (or the given) month's settled and in-flight micros: one consistent read."""
        month = month or _month_of(self._clock())
        item = (
            aws.dynamodb()
            .get_item(
                TableName=self._table,
                Key=self._month_key(tenant_id, month),
                ConsistentRead=True,
                ProjectionExpression="#spent, #reserved",
                ExpressionAttributeNames={"#spent": "spent", "#reserved": "reserved"},
            )
            .get("Item", {})
        )
        return BudgetUsage(
            spent_micros=_int(item, "spent"), reserved_micros=_int(item, "reserved"), month=month
        )

    def ledger(self, tenant_id: str, *, since: datetime | None = None) -> list[LedgerEntry]:
        """The tenant's ledger lines in time order (from `since` on), every page."""
        condition = "pk = :pk"
        values: dict[str, AttributeValueTypeDef] = {":pk": {"S": f"ledger#{tenant_id}"}}
        if since is not None:
            condition += " AND sk >= :since"
            values[":since"] = {"S": dynamo.stamp(since)}
        request: QueryInputTypeDef = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
        }
        return [
            LedgerEntry(
                tenant_id=item["tenant_id"]["S"],
                event_id=item["event_id"]["S"],
                request_id=item["request_id"]["S"],
                provider=item["provider"]["S"],
                cost_micros=int(item["cost_micros"]["N"]),
                at=datetime.strptime(item["at"]["S"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
                reason=item["reason"]["S"] if "reason" in item else SUCCEEDED,
            )
            for item in aws.query_items(request)
        ]


@dataclass(frozen=True, slots=True)
class StaleBudgetReservation:
    """An open reservation found by the sweep; `event_slug` is None for one taken before
    reservations named their event."""

    reservation: BudgetReservation
    event_slug: str | None


def _stale_in(item: dict[str, Any], month: str, cutoff: int) -> Iterator[StaleBudgetReservation]:
    tenant_id = item["pk"]["S"].removeprefix("budget#")
    for name, value in sorted(item.items()):
        if not name.startswith("r_") or "M" not in value:
            continue
        record = value["M"]
        at = int(record["at"]["N"])
        if at >= cutoff:
            continue
        yield StaleBudgetReservation(
            reservation=BudgetReservation(
                tenant_id=tenant_id,
                month=month,
                request_id=name.removeprefix("r_"),
                cost_micros=int(record["cost"]["N"]),
                reserved_at=datetime.fromtimestamp(at, UTC),
            ),
            event_slug=record["ev"]["S"] if "ev" in record else None,
        )


@singleton
def budget_store() -> BudgetStore:
    return BudgetStore(get_settings().edits_table)
