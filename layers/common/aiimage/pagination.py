"""Newest-first pages of one partition, with opaque cursors: the last item's id,
base64url-encoded.

The cursor only ever carries an id; the caller's own partition key is added back by the
listing, so a cursor can never address another owner's items."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from aiimage import aws
from aiimage.errors import ValidationError


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]  # DynamoDB items, newest first
    next_cursor: str | None


def newest_first(
    table: str,
    pk: str,
    sk_prefix: str,
    *,
    status: str | None = None,
    limit: int,
    cursor: str | None = None,
) -> Page:
    """Up to `limit` items of partition `pk` whose sort key is `sk_prefix` + an id, newest
    first, optionally only those whose `status` matches; the cursor resumes after an id."""
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": sk_prefix}},
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if status is not None:
        request["FilterExpression"] = "#status = :status"
        request["ExpressionAttributeNames"] = {"#status": "status"}
        request["ExpressionAttributeValues"][":status"] = {"S": status}
    if cursor is not None:
        request["ExclusiveStartKey"] = {
            "pk": {"S": pk},
            "sk": {"S": sk_prefix + decode_cursor(cursor)},
        }
    items: list[dict[str, Any]] = []
    # A filter can leave a page short; keep reading until it is full or the partition ends.
    while True:
        response = aws.dynamodb().query(**request)
        items.extend(response.get("Items", []))
        last = response.get("LastEvaluatedKey")
        if last is None or len(items) >= limit:
            break
        request["ExclusiveStartKey"] = last
        request["Limit"] = limit - len(items)
    page = items[:limit]
    more = last is not None and bool(page)
    return Page(page, encode_cursor(page[-1]["sk"]["S"][len(sk_prefix) :]) if more else None)


def encode_cursor(item_id: str) -> str:
    return base64.urlsafe_b64encode(item_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        item_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        item_id = ""
    if not item_id.isalnum() or len(item_id) > 64:
        raise ValidationError("Invalid cursor", code="invalid_cursor", details={"field": "cursor"})
    return item_id
