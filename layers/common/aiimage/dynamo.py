"""The DynamoDB plumbing every repository shares: one item codec, one way to recognise a
lost condition, one sortable time stamp, one conditional status transition.

The codec writes what boto3's serializer alone refuses: floats go in as `Decimal` (by
their shortest repr, so they come back equal), datetimes as ISO-8601 UTC. Numbers come
back as `int` when integral and `float` otherwise; the repositories' pydantic models
validate the plain values, so a float field stored as `7` reads as `7.0`. A number beyond
DynamoDB's 38 significant digits is the caller's error (422), not a crash in the serializer.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, DecimalException
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from aiimage.errors import ServiceUnavailableError, UnprocessableError

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
    from mypy_boto3_dynamodb.type_defs import UpdateTypeDef

# DynamoDB's wire form of one attribute value ({"S": "..."}, {"N": "1"}, {"M": {...}}, ...).
AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]


@functools.cache
def _codec() -> tuple[TypeSerializer, TypeDeserializer]:
    # boto3's codec, imported with the first item: the boto3 package pulls in its session
    # and s3transfer (100 ms and more of a cold start) before any request needs them.
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


# --- the codec ----------------------------------------------------------------------------


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return moment.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    if isinstance(value, set | frozenset):
        return {_to_dynamo(v) for v in value}
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, set | frozenset):
        return {_from_dynamo(v) for v in value}
    return value


def to_attribute(value: Any) -> AttributeValue:
    """One Python value (nested dicts and lists included) as a DynamoDB attribute value."""
    try:
        return cast("AttributeValue", _codec()[0].serialize(_to_dynamo(value)))
    except DecimalException:  # boto3's context: 38 digits, exponents -130..125
        raise UnprocessableError(
            "A number is too large or too precise to store",
            code="number_out_of_range",
            details={"maxDigits": 38},
        ) from None


def from_attribute(attribute: Mapping[str, Any]) -> Any:
    """One DynamoDB attribute value as plain Python (no `Decimal` left in it)."""
    return _from_dynamo(_codec()[1].deserialize(cast("Any", attribute)))


def to_item(values: Mapping[str, Any]) -> Item:
    """A record's fields as item attributes; a field that is None is left out (absent,
    not NULL), so a reader sees its default."""
    return {name: to_attribute(value) for name, value in values.items() if value is not None}


def from_item(item: Mapping[str, Any], *, without: Collection[str] = ()) -> dict[str, Any]:
    """An item's attributes as plain Python, leaving out `without` (keys, index and TTL
    attributes that are not the record's)."""
    return {name: from_attribute(value) for name, value in item.items() if name not in without}


# --- lost conditions ----------------------------------------------------------------------


def cancellation_codes(exc: ClientError) -> list[str | None]:
    """The per-item reasons of a canceled transaction, in the order of its items (`None`
    where an item was fine); empty for any other error."""
    if exc.response["Error"]["Code"] != "TransactionCanceledException":
        return []
    reasons: Sequence[Mapping[str, Any]] = exc.response.get("CancellationReasons", [])
    return [reason.get("Code") for reason in reasons]


def condition_failed(exc: BaseException, *, item: int | None = None) -> bool:
    """Whether `exc` says a condition did not hold: a conditional write's
    ConditionalCheckFailedException, or a transaction canceled because the condition of
    one of its items (of item number `item`, when given) failed."""
    if not isinstance(exc, ClientError):
        return False
    if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
        return True
    codes = cancellation_codes(exc)
    if item is None:
        return "ConditionalCheckFailed" in codes
    return len(codes) > item and codes[item] == "ConditionalCheckFailed"


# A transaction canceled for a conflict with an overlapping one is tried again this often,
# after a jittered pause that doubles from _CONFLICT_PAUSE_SECONDS.
_CONFLICT_ATTEMPTS = 6
_CONFLICT_PAUSE_SECONDS = 0.02
_BUSY_RETRY_AFTER_SECONDS = 1


def retry_conflicts(write: Callable[[], object], *, sleep: Callable[[float], None]) -> None:
    """Run `write` (one TransactWriteItems) again while it is canceled only for a conflict
    with an overlapping transaction (nothing was applied); then 503, nothing taken. Any
    other error, a failed condition included, is raised at once."""
    pause = _CONFLICT_PAUSE_SECONDS
    for _ in range(_CONFLICT_ATTEMPTS):
        try:
            write()
            return
        except ClientError as exc:
            if condition_failed(exc) or "TransactionConflict" not in cancellation_codes(exc):
                raise
        sleep(pause * (1 + random.random()))  # noqa: S311 - jitter, not secrecy
        pause *= 2
    raise ServiceUnavailableError(
        "The service is busy; try again shortly",
        code="service_busy",
        headers={"Retry-After": str(_BUSY_RETRY_AFTER_SECONDS)},
    )


# --- time ---------------------------------------------------------------------------------


def stamp(moment: datetime) -> str:
    """Fixed-width UTC time (microseconds, `Z`): index sort keys compare as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- status transitions -------------------------------------------------------------------


def status_update(
    table: str,
    key: Mapping[str, AttributeValue],
    *,
    from_status: Sequence[str],
    changes: Mapping[str, Any],
    expected: Mapping[str, Any] | None = None,
) -> UpdateTypeDef:
    """The conditional Update of a record's status: `SET` every change (`REMOVE` where the
    change is None), only while the stored `status` is one of `from_status` and every
    attribute of `expected` still has its value. The same Update serves an UpdateItem
    (`update_item(**update)`) and an item of a TransactWriteItems (`{"Update": update}`)."""
    if not from_status:
        raise ValueError("a transition needs at least one status to move from")
    names = {f"#{name}": name for name in changes} | {"#current": "status"}
    values = {
        f":{name}": to_attribute(value) for name, value in changes.items() if value is not None
    }
    allowed = {f":from{index}": {"S": status} for index, status in enumerate(from_status)}
    conditions = [
        f"#current IN ({', '.join(allowed)})" if len(allowed) > 1 else "#current = :from0"
    ]
    for index, (name, value) in enumerate((expected or {}).items()):
        names[f"#expected{index}"] = name
        values[f":expected{index}"] = to_attribute(value)
        conditions.append(f"#expected{index} = :expected{index}")
    sets = [f"#{name} = :{name}" for name, value in changes.items() if value is not None]
    removes = [f"#{name}" for name, value in changes.items() if value is None]
    clauses = [f"SET {', '.join(sets)}"] if sets else []
    clauses += [f"REMOVE {', '.join(removes)}"] if removes else []
    return {
        "TableName": table,
        "Key": key,
        "UpdateExpression": " ".join(clauses),
        "ConditionExpression": " AND ".join(conditions),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values | allowed,
    }
