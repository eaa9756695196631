"""The shared DynamoDB plumbing: the item codec, lost conditions, the stamp, the status Update."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pydantic import BaseModel

from aiimage import dynamo


class Record(BaseModel):
    ratio: float
    count: int
    nested: dict[str, Any]
    note: str | None = None


def client_error(code: str, reasons: list[str | None] | None = None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": "m"}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": r or "None"} for r in reasons]
    return ClientError(response, "Op")  # type: ignore[arg-type]


def test_floats_go_in_as_decimal_and_come_back_as_the_same_float() -> None:
    for value in (0.75, 7.5, 0.1, 1e-7, 123456.789, -2.5):
        attribute = dynamo.to_attribute(value)
        assert attribute == {"N": str(Decimal(repr(value)))}
        back = dynamo.from_attribute(attribute)
        assert back == value
        assert isinstance(back, float)


def test_integral_numbers_come_back_as_int_and_a_model_still_gets_its_float() -> None:
    assert dynamo.from_attribute({"N": "3"}) == 3
    assert isinstance(dynamo.from_attribute({"N": "3"}), int)
    item = dynamo.to_item({"ratio": 7.0, "count": 3, "nested": {}})
    record = Record.model_validate(dynamo.from_item(item))
    assert record.ratio == 7.0
    assert isinstance(record.ratio, float)
    assert record.count == 3
    assert isinstance(record.count, int)


def test_nested_dicts_and_lists_round_trip_with_their_floats() -> None:
    value = {"a": [1, 2.5, {"b": 0.25, "c": [True, "x", None]}], "d": {"e": -1.5}}
    attribute = dynamo.to_attribute(value)
    assert attribute["M"]["a"]["L"][1] == {"N": "2.5"}
    assert attribute["M"]["a"]["L"][2]["M"]["c"]["L"][2] == {"NULL": True}
    assert dynamo.from_attribute(attribute) == value
    assert dynamo.from_attribute(dynamo.to_attribute((1.5, 2))) == [1.5, 2]  # a tuple is a list


def test_none_fields_are_left_out_of_an_item_and_keys_can_be_skipped_on_reading() -> None:
    item = dynamo.to_item({"ratio": 0.5, "count": 1, "nested": {"x": None}, "note": None})
    assert "note" not in item
    assert item["nested"] == {"M": {"x": {"NULL": True}}}
    item |= {"pk": {"S": "p"}, "sk": {"S": "s"}}
    plain = dynamo.from_item(item, without=("pk", "sk"))
    assert plain == {"ratio": 0.5, "count": 1, "nested": {"x": None}}
    assert Record.model_validate(plain).note is None


def test_datetimes_are_stored_as_utc_iso_text() -> None:
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert dynamo.to_attribute(moment) == {"S": "2024-05-01T10:00:00+00:00"}
    assert dynamo.to_attribute(datetime(2024, 5, 1, 12, 0)) == {"S": "2024-05-01T12:00:00+00:00"}


def test_the_stamp_is_fixed_width_utc_and_sorts_as_text() -> None:
    early = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    late = datetime(2024, 1, 2, 5, 4, 5, 1, tzinfo=timezone(timedelta(hours=1)))
    assert dynamo.stamp(early) == "2024-01-02T03:04:05.000000Z"
    assert dynamo.stamp(late) == "2024-01-02T04:04:05.000001Z"
    assert dynamo.stamp(early) < dynamo.stamp(late)


def test_condition_failed_recognises_a_conditional_write_and_a_canceled_transaction() -> None:
    assert dynamo.condition_failed(client_error("ConditionalCheckFailedException"))
    assert not dynamo.condition_failed(client_error("ProvisionedThroughputExceededException"))
    assert not dynamo.condition_failed(ValueError("not a client error"))
    canceled = client_error("TransactionCanceledException", [None, "ConditionalCheckFailed"])
    assert dynamo.condition_failed(canceled)
    assert not dynamo.condition_failed(canceled, item=0)
    assert dynamo.condition_failed(canceled, item=1)
    assert not dynamo.condition_failed(canceled, item=5)
    conflict = client_error("TransactionCanceledException", ["TransactionConflict", None])
    assert not dynamo.condition_failed(conflict)
    assert dynamo.cancellation_codes(conflict) == ["TransactionConflict", "None"]
    assert dynamo.cancellation_codes(client_error("ConditionalCheckFailedException")) == []


def test_a_status_update_sets_removes_and_conditions_on_the_current_status() -> None:
    key = {"pk": {"S": "p"}, "sk": {"S": "s"}}
    update = dynamo.status_update(
        "table",
        key,
        from_status=("queued", "processing"),
        changes={"status": "failed", "strength": 0.75, "error": None},
        expected={"polls": 3},
    )
    assert update["TableName"] == "table"
    assert update["Key"] == key
    assert (
        update["UpdateExpression"] == "SET #status = :status, #strength = :strength REMOVE #error"
    )
    assert update["ConditionExpression"] == (
        "#current IN (:from0, :from1) AND #expected0 = :expected0"
    )
    assert update["ExpressionAttributeNames"] == {
        "#status": "status",
        "#strength": "strength",
        "#error": "error",
        "#current": "status",
        "#expected0": "polls",
    }
    assert update["ExpressionAttributeValues"] == {
        ":status": {"S": "failed"},
        ":strength": {"N": "0.75"},
        ":expected0": {"N": "3"},
        ":from0": {"S": "queued"},
        ":from1": {"S": "processing"},
    }
    single = dynamo.status_update("t", key, from_status=("queued",), changes={"status": "x"})
    assert single["ConditionExpression"] == "#current = :from0"
    with pytest.raises(ValueError, match="at least one status"):
        dynamo.status_update("t", key, from_status=(), changes={"status": "x"})
