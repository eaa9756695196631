"""The store of edit requests: their items, their status transitions, their queue message.

Key layout (EditsTable): `pk = tenant#{tenantId}`, `sk = event#{slug}#edit#{requestId}`;
request ids start with the creation time, so one Query lists an event's requests newest
first. Every change of status moves the event's counters (`aiimage.edits.stats`) in the
same transaction.
"""

from __future__ import annotations

import json
import random
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from aiimage import aws, dynamo, pagination
from aiimage.edits import stats
from aiimage.edits.models import EditRequest, EditStatus, Event
from aiimage.errors import ConfigurationError, ConflictError, NotFoundError
from aiimage.observability import LogEvent, logger
from aiimage.settings import get_settings

# Item attributes that serve indexes and TTL, not the model (docs/architecture.md):
# `active_status`/`active_at` (sparse index ByActiveStatus: only while queued or processing;
# `active_status` is `queued`, `dispatched` once sent to the submit queue, or `processing`),
# `month`/`at` (index ByMonth, shared with the ledger lines: prune by age), `expires_at` (TTL),
# `list_pk` (index ByListing: the event's requests of one status, newest first).
INDEX_ATTRIBUTES = frozenset({"active_status", "active_at", "month", "at", "expires_at", "list_pk"})
# `transitions`: the request's timeline, one entry per change of status, appended by the
# transition's own conditional write. Statuses only move forward (queued → processing →
# a terminal one; polls are no change), so the list holds at most four entries.
_NOT_THE_REQUEST = INDEX_ATTRIBUTES | {"pk", "sk", "transitions"}
LISTING_INDEX = "ByListing"
# TTL removes a request this long after `prune` should have (the second line of retention).
_TTL_MARGIN = timedelta(days=7)
# Concurrent transactions on one event's counters item can be refused with
# TransactionConflict; such a refusal changed nothing, so it is retried.
_CONFLICT_RETRIES = 6


def new_request_id() -> str:
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    return f"{now_ms:013x}{secrets.token_hex(8)}"


def request_key(tenant_id: str, slug: str, request_id: str) -> dict[str, Any]:
    """The Edits table key of a request (ops commands address requests by it too)."""
    return {"pk": {"S": f"tenant#{tenant_id}"}, "sk": {"S": f"event#{slug}#edit#{request_id}"}}


def _table() -> str:
    return get_settings().edits_table


def status_listing_key(tenant_id: str, slug: str, status: EditStatus) -> str:
    """The ByListing partition of an event's requests in `status`."""
    return f"tenant#{tenant_id}#event#{slug}#status#{status}"


@dataclass(frozen=True, slots=True)
class Transition:
    """One entry of a request's timeline: a change of status, when, and why if it ended."""

    from_status: EditStatus | None  # None: the request was created in `to_status`
    to_status: EditStatus
    at: datetime
    code: str | None = None  # error_code or block_reason of a failed or blocked end

    def to_attribute(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"to": {"S": self.to_status}, "at": {"S": self.at.isoformat()}}
        if self.from_status is not None:
            entry["from"] = {"S": self.from_status}
        if self.code is not None:
            entry["code"] = {"S": self.code}
        return {"M": entry}

    @classmethod
    def of(cls, attribute: Mapping[str, Any]) -> Transition:
        entry = attribute["M"]
        return cls(
            from_status=entry["from"]["S"] if "from" in entry else None,
            to_status=entry["to"]["S"],
            at=datetime.fromisoformat(entry["at"]["S"]),
            code=entry["code"]["S"] if "code" in entry else None,
        )


@dataclass(frozen=True, slots=True)
class EditMessage:
    """The submit queue's message body: the request's address, nothing it holds."""

    tenant_id: str
    event_slug: str
    request_id: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "tenant_id": self.tenant_id,
                "event_slug": self.event_slug,
                "request_id": self.request_id,
            },
            separators=(",", ":"),
        )


def dispatch(request: EditRequest) -> None:
    """Queue a request for the submit worker (`queue_auto_dispatch`, or an operator)."""
    queue_url = get_settings().edits_queue_url
    if queue_url is None:
        raise ConfigurationError("EDITS_QUEUE_URL is not configured")
    message = EditMessage(request.tenant_id, request.event_slug, request.request_id)
    aws.sqs().send_message(QueueUrl=queue_url, MessageBody=message.to_json())


def dispatch_or_defer(request: EditRequest) -> None:
    """Send a new request to the submit queue. When SQS fails, the request is stored and
    paid for already: it goes back to `queued`, which the every-minute dispatch schedule
    sends, and the caller still gets it (an error would invite a retry that pays twice)."""
    try:
        dispatch(request)
    except (ClientError, BotoCoreError) as exc:
        logger.warning(
            LogEvent.AI_EDIT_DISPATCH_DEFERRED,
            request_id=request.request_id,
            error=type(exc).__name__,
        )
        try:
            aws.dynamodb().update_item(
                TableName=_table(),
                Key=request_key(request.tenant_id, request.event_slug, request.request_id),
                UpdateExpression="SET active_status = :queued",
                ConditionExpression="active_status = :dispatched",
                ExpressionAttributeValues={
                    ":queued": {"S": "queued"},
                    ":dispatched": {"S": "dispatched"},
                },
            )
        except (ClientError, BotoCoreError):
            # Still `dispatched`: recover-stuck requeues it once it is old enough.
            logger.exception(LogEvent.AI_EDIT_DISPATCH_DEFERRED, request_id=request.request_id)


# --- store --------------------------------------------------------------------------------


def _to_item(request: EditRequest) -> dict[str, Any]:
    item = dynamo.to_item(request.model_dump(mode="json"))
    item.update(request_key(request.tenant_id, request.event_slug, request.request_id))
    return item


def _from_item(item: Mapping[str, Any]) -> EditRequest:
    return EditRequest.model_validate(dynamo.from_item(item, without=_NOT_THE_REQUEST))


def _index_attributes(request: EditRequest, *, dispatched: bool) -> dict[str, Any]:
    created = request.created_at
    retention = timedelta(days=get_settings().ai_editing_request_retention_days)
    first = Transition(None, request.status, created, request.error_code or request.block_reason)
    attributes: dict[str, Any] = {
        "month": {"S": f"edit#{created.astimezone(UTC):%Y-%m}"},
        "at": {"S": dynamo.stamp(created)},
        "expires_at": {"N": str(int((created + retention + _TTL_MARGIN).timestamp()))},
        "list_pk": {"S": status_listing_key(request.tenant_id, request.event_slug, request.status)},
        "transitions": {"L": [first.to_attribute()]},
    }
    if request.status in stats.ACTIVE:
        active = "dispatched" if dispatched and request.status == "queued" else request.status
        attributes["active_status"] = {"S": active}
        attributes["active_at"] = {"S": dynamo.stamp(request.updated_at)}
    return attributes


def insert(request: EditRequest, *, dispatched: bool = False) -> EditRequest:
    """Store a new request and count it on its event's counters, in one transaction."""
    table = _table()
    item = _to_item(request) | _index_attributes(request, dispatched=dispatched)
    counters = stats.increments(None, request.status, {}, request)
    aws.dynamodb().transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": table,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            stats.update_item(table, request.tenant_id, request.event_slug, counters),
        ],
        ClientRequestToken=str(uuid.uuid4()),
    )
    stats.after_transition(request, None, request.status)
    return request


def load_edit(tenant_id: str, slug: str, request_id: str) -> EditRequest:
    """A request by its full address (the workers' messages carry it)."""
    item = (
        aws.dynamodb()
        .get_item(
            TableName=_table(), Key=request_key(tenant_id, slug, request_id), ConsistentRead=True
        )
        .get("Item")
    )
    if item is None:
        raise NotFoundError("No such AI edit", code="unknown_request")
    return _from_item(item)


def transition(
    request: EditRequest,
    *,
    from_status: tuple[EditStatus, ...],
    to_status: EditStatus,
    expected_polls: int | None = None,
    **changes: Any,
) -> EditRequest | None:
    """Move `request` to `to_status` if it is still in one of `from_status` (and, for a
    poll, still at poll count `expected_polls`); None if another delivery got there first.

    A change of status is one transaction: the conditional write of the request and the
    `ADD`s on its event's counters (`aiimage.edits.stats`). The condition names the exact
    status the counters are moved from (the caller's copy, or the stored one when that is
    another allowed status); a lost condition cancels both, so counters never move twice.
    """
    now = datetime.now(UTC)
    values = {"status": to_status, "updated_at": now.isoformat(), **changes}
    assumed = request.status if request.status in from_status else from_status[0]
    conflicts = 0
    while True:
        result = _transition_once(request, assumed, to_status, values, expected_polls, now)
        if isinstance(result, EditRequest):
            return result
        if result == "conflict" and conflicts < _CONFLICT_RETRIES:
            conflicts += 1
            time.sleep(random.uniform(0, 0.02 * 2**conflicts))  # noqa: S311 - jitter
            continue
        if result == "conflict":
            raise ConflictError("The request is being changed concurrently; retry")
        current = _current(request)
        if (
            current is None
            or current.status == assumed
            or current.status not in from_status
            or (expected_polls is not None and current.polls != expected_polls)
        ):
            return None
        assumed = current.status


def _current(request: EditRequest) -> EditRequest | None:
    """The stored request (consistent read), None once it is gone (pruned)."""
    try:
        return load_edit(request.tenant_id, request.event_slug, request.request_id)
    except NotFoundError:
        return None


def _transition_once(
    request: EditRequest,
    assumed: EditStatus,
    to_status: EditStatus,
    values: Mapping[str, Any],
    expected_polls: int | None,
    now: datetime,
) -> EditRequest | Literal["lost", "conflict"]:
    index_changes: dict[str, Any]
    if to_status in stats.ACTIVE:
        # Entering an active status, or progress within one (a poll): not stuck since now.
        index_changes = {"active_at": dynamo.stamp(now)}
        if to_status != assumed:
            index_changes["active_status"] = to_status
    else:
        index_changes = {"active_status": None, "active_at": None}  # leaves the index
    if to_status != assumed:
        index_changes["list_pk"] = status_listing_key(
            request.tenant_id, request.event_slug, to_status
        )
    update = dynamo.status_update(
        _table(),
        request_key(request.tenant_id, request.event_slug, request.request_id),
        from_status=(assumed,),
        changes={**values, **index_changes},
        expected=None if expected_polls is None else {"polls": expected_polls},
    )
    if to_status != assumed:
        code = values.get("error_code") or values.get("block_reason")
        _append_transition(update, Transition(assumed, to_status, now, code))
    delta = stats.increments(assumed, to_status, values, request)
    if not delta:  # no counter moves (a poll): a plain conditional write
        try:
            response = aws.dynamodb().update_item(**update, ReturnValues="ALL_NEW")
        except ClientError as exc:
            if dynamo.condition_failed(exc):
                return "lost"
            raise
        return _from_item(response["Attributes"])
    try:
        aws.dynamodb().transact_write_items(
            TransactItems=[
                {"Update": update},
                stats.update_item(_table(), request.tenant_id, request.event_slug, delta),
            ],
            # The SDK resends the same token on a retry: a transaction that succeeded but
            # whose answer was lost is not mistaken for one that lost its condition.
            ClientRequestToken=str(uuid.uuid4()),
        )
    except ClientError as exc:
        if dynamo.condition_failed(exc, item=0):  # the request's own condition
            return "lost"
        if "TransactionConflict" in dynamo.cancellation_codes(exc):
            return "conflict"
        raise
    stats.after_transition(request, assumed, to_status)
    # The condition held, so the stored request is the caller's copy with these changes.
    return EditRequest.model_validate({**request.model_dump(), **values})


def _append_transition(update: Any, entry: Transition) -> None:
    """Add the timeline entry to the status change's own conditional Update (`SET …`): it is
    written exactly when the change wins, by the same write."""
    expression: str = update["UpdateExpression"]
    if not expression.startswith("SET "):
        raise ValueError("a status change always SETs the status")
    append = "#transitions = list_append(if_not_exists(#transitions, :no_transitions), :transition)"
    update["UpdateExpression"] = f"SET {append}, {expression.removeprefix('SET ')}"
    update["ExpressionAttributeNames"]["#transitions"] = "transitions"
    update["ExpressionAttributeValues"][":no_transitions"] = {"L": []}
    update["ExpressionAttributeValues"][":transition"] = {"L": [entry.to_attribute()]}


def timeline(event: Event, request_id: str) -> list[Transition]:
    """The request's changes of status, oldest first (404 for a request of no such id).
    A request stored before timelines existed has none: an empty list."""
    item = _read_edit(
        event, request_id, ProjectionExpression="#t", ExpressionAttributeNames={"#t": "transitions"}
    )
    return [Transition.of(entry) for entry in item.get("transitions", {}).get("L", [])]


def record_task(request: EditRequest, provider: str, task_id: str) -> None:
    """Where a provider's completion webhook finds its request: `task#{provider}#{taskId}`."""
    aws.dynamodb().put_item(
        TableName=_table(),
        Item={
            "pk": {"S": f"task#{provider}#{task_id}"},
            "sk": {"S": "edit"},
            "tenant_id": {"S": request.tenant_id},
            "event_slug": {"S": request.event_slug},
            "request_id": {"S": request.request_id},
        },
    )


def edit_for_task(provider: str, task_id: str) -> EditRequest | None:
    item = (
        aws.dynamodb()
        .get_item(
            TableName=_table(),
            Key={"pk": {"S": f"task#{provider}#{task_id}"}, "sk": {"S": "edit"}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    if item is None:
        return None
    return load_edit(item["tenant_id"]["S"], item["event_slug"]["S"], item["request_id"]["S"])


def get_edit(event: Event, request_id: str) -> EditRequest:
    return _from_item(_read_edit(event, request_id))


def _read_edit(event: Event, request_id: str, **projection: Any) -> dict[str, Any]:
    """The request's item (consistent; `projection`: only those attributes), or 404 for an
    id that is malformed or names no request of the event."""
    if not request_id.isalnum() or len(request_id) > 64:
        raise NotFoundError("No such AI edit", code="unknown_request")
    item: dict[str, Any] | None = (
        aws.dynamodb()
        .get_item(
            TableName=_table(),
            Key=request_key(event.tenant_id, event.slug, request_id),
            ConsistentRead=True,
            **projection,
        )
        .get("Item")
    )
    if item is None:
        raise NotFoundError("No such AI edit", code="unknown_request")
    return item


@dataclass(frozen=True, slots=True)
class EditPage:
    requests: list[EditRequest]
    next_cursor: str | None


def list_edits(
    event: Event, *, status: EditStatus | None = None, limit: int = 20, cursor: str | None = None
) -> EditPage:
    """An event's requests (of one status: index ByListing), newest first; the cursor
    addresses only this event (and that status)."""
    if status is not None:
        return _list_by_status(event, status, limit=limit, cursor=cursor)
    page = pagination.newest_first(
        _table(),
        f"tenant#{event.tenant_id}",
        f"event#{event.slug}#edit#",
        status=status,
        limit=limit,
        cursor=cursor,
    )
    return EditPage([_from_item(item) for item in page.items], page.next_cursor)


def _list_by_status(
    event: Event, status: EditStatus, *, limit: int, cursor: str | None
) -> EditPage:
    """One Query of the index by key (`list_pk`): no filter, so a page is never short."""
    prefix = f"event#{event.slug}#edit#"
    listing = status_listing_key(event.tenant_id, event.slug, status)
    request: dict[str, Any] = {
        "TableName": _table(),
        "IndexName": LISTING_INDEX,
        "KeyConditionExpression": "list_pk = :list",
        "ExpressionAttributeValues": {":list": {"S": listing}},
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if cursor is not None:
        sk = {"S": prefix + pagination.decode_cursor(cursor)}
        # A GSI's start key is the index key and the table key of the last item.
        request["ExclusiveStartKey"] = {
            "list_pk": {"S": listing},
            "sk": sk,
            "pk": {"S": f"tenant#{event.tenant_id}"},
        }
    response = aws.dynamodb().query(**request)
    items = response.get("Items", [])
    more = response.get("LastEvaluatedKey") is not None and bool(items)
    next_cursor = pagination.encode_cursor(items[-1]["sk"]["S"][len(prefix) :]) if more else None
    return EditPage([_from_item(item) for item in items], next_cursor)


# A guest's "my edits" reads the event's newest requests (one Query partition, newest first)
# and keeps the guest's own: at most this many items are read, so a busy event bounds the
# read, and a guest's edits older than the event's newest 1,000 requests are not listed.
_GUEST_LIST_PAGE = 200
_GUEST_LIST_PAGES = 5


def guest_edits(event: Event, requested_by: str, *, limit: int) -> list[EditRequest]:
    """The requests of `event` that `requested_by` made, newest first, at most `limit`."""
    request: dict[str, Any] = {
        "TableName": _table(),
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "FilterExpression": "requested_by = :by",
        "ExpressionAttributeValues": {
            ":pk": {"S": f"tenant#{event.tenant_id}"},
            ":prefix": {"S": f"event#{event.slug}#edit#"},
            ":by": {"S": requested_by},
        },
        "ScanIndexForward": False,
        "Limit": _GUEST_LIST_PAGE,
    }
    found: list[EditRequest] = []
    for _ in range(_GUEST_LIST_PAGES):
        response = aws.dynamodb().query(**request)
        found.extend(_from_item(item) for item in response.get("Items", []))
        last = response.get("LastEvaluatedKey")
        if last is None or len(found) >= limit:
            break
        request["ExclusiveStartKey"] = last
    return found[:limit]
