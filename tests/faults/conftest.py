"""Fault injection for AWS calls, on top of moto: botocore's `before-send` hook answers a
chosen request with an error response *instead of* sending it (moto never sees it), so the
SDK's own error parsing and retry policy run as against AWS.

    with aws_fault("dynamodb", "UpdateItem", throttle(), times=SDK_ATTEMPTS, when=is_commit):
        ...
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from moto.core.botocore_stubber import BotocoreStubber

from aiimage import aws
from aiimage.enhancer import jobs
from aiimage.limits import quota_store
from aiimage.limits.plans import guest_entitlements
from aiimage.settings import get_settings
from infra.sqs_poller import LambdaContext, sqs_event
from tests.conftest import TEST_ENV

Predicate = Callable[[dict[str, Any]], bool]
# `aiimage.aws` configures standard retries with max_attempts=3: three retries after the
# first attempt, so this many failures in a row outlast the SDK.
SDK_ATTEMPTS = 4


@dataclass(frozen=True, slots=True)
class ErrorAnswer:
    status: int
    body: bytes
    headers: dict[str, str]


def throttle() -> ErrorAnswer:
    """DynamoDB's answer when a partition is over its throughput."""
    return _dynamodb_error(
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded.",
    )


def condition_failed() -> ErrorAnswer:
    return _dynamodb_error("ConditionalCheckFailedException", "The conditional request failed")


def _dynamodb_error(code: str, message: str) -> ErrorAnswer:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message})
    return ErrorAnswer(400, body.encode(), {"Content-Type": "application/x-amz-json-1.0"})


def s3_error(code: str = "InternalError", status: int = 500) -> ErrorAnswer:
    body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
    return ErrorAnswer(status, body, {"Content-Type": "application/xml"})


def sqs_error(
    code: str = "AWS.SimpleQueueService.NonExistentQueue", status: int = 400
) -> ErrorAnswer:
    body = json.dumps({"__type": code, "message": "injected"})
    return ErrorAnswer(status, body.encode(), {"Content-Type": "application/x-amz-json-1.0"})


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@dataclass
class FaultRecord:
    injected: int = 0
    seen: list[dict[str, Any]] = field(default_factory=list)


def _request_params(request: AWSPreparedRequest) -> dict[str, Any]:
    """The JSON request's parameters (DynamoDB, SQS), plus the URL (S3 addresses by it)."""
    params: dict[str, Any] = {}
    body = request.body
    if isinstance(body, bytes | bytearray) and body.startswith(b"{"):
        try:
            params = json.loads(body)
        except ValueError:
            params = {}
    params["url"] = request.url
    return params


def _client(service: str) -> Any:
    if service == "s3":
        return aws.s3()
    if service == "sqs":
        return aws.sqs()
    return aws.dynamodb()


@contextmanager
def aws_fault(
    service: str,
    operation: str,
    answer: ErrorAnswer,
    *,
    times: int = 1,
    when: Predicate | None = None,
    applied: bool = False,
) -> Iterator[FaultRecord]:
    """Answer the next `times` matching calls of `operation` with `answer` (each SDK retry
    is a call of its own: `times=SDK_ATTEMPTS` outlasts the SDK's retries). `applied`: the
    request still takes effect and only its answer is lost (a timeout after the write),
    so the SDK's retry meets the state its first attempt left."""
    record = FaultRecord()
    client = _client(service)

    def on_send(request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        params = _request_params(request)
        if record.injected >= times or (when is not None and not when(params)):
            return None
        record.injected += 1
        record.seen.append(params)
        if not applied:
            request._injected_fault = True  # type: ignore[attr-defined]  # moto skips it
        return AWSResponse(request.url, answer.status, answer.headers, _Raw(answer.body))  # type: ignore[arg-type]

    event = f"before-send.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    client.meta.events.register_first(event, on_send, unique_id=f"fault-{id(record)}")
    try:
        yield record
    finally:
        client.meta.events.unregister(event, unique_id=f"fault-{id(record)}")


# --- what the faults are checked against ---------------------------------------------------


def update_expression_starts(prefix: str) -> Predicate:
    return lambda params: str(params.get("UpdateExpression", "")).startswith(prefix)


def on_limits_table(params: dict[str, Any]) -> bool:
    return params.get("TableName") == TEST_ENV["LIMITS_TABLE"]


def _updates(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The updates a write carries: itself (UpdateItem), or each Update of a transaction
    (a guest's reserve and refund also write its network's day: TransactWriteItems)."""
    items = params.get("TransactItems")
    if items is None:
        return [params]
    return [item["Update"] for item in items if "Update" in item]


def is_reserve(params: dict[str, Any]) -> bool:
    return any(
        on_limits_table(u) and update_expression_starts("ADD month_used")(u)
        for u in _updates(params)
    )


def is_commit(params: dict[str, Any]) -> bool:
    return any(
        on_limits_table(u) and u.get("UpdateExpression") == "REMOVE #res" for u in _updates(params)
    )


def is_refund(params: dict[str, Any]) -> bool:
    return any(
        on_limits_table(u) and str(u.get("UpdateExpression", "")).startswith("REMOVE #res ADD")
        for u in _updates(params)
    )


def quota_item(owner_key: str) -> dict[str, Any]:
    """The owner's quota month item as stored (counters and open reservations)."""
    items = aws.dynamodb().scan(TableName=TEST_ENV["LIMITS_TABLE"])["Items"]
    for item in items:
        if item["pk"]["S"] == f"quota#{owner_key}":
            return item
    return {}


def used_today(owner_key: str) -> int:
    return quota_store().usage(owner_key, guest_entitlements(get_settings())).daily.used


def open_reservations(owner_key: str) -> dict[str, Any]:
    return {k: v for k, v in quota_item(owner_key).items() if k.startswith("r_")}


def bucket_keys() -> list[str]:
    listed = aws.s3().list_objects_v2(Bucket=TEST_ENV["IMAGES_BUCKET"])
    return sorted(item["Key"] for item in listed.get("Contents", []))


def deliver(queue_env: str, worker: Callable[[dict[str, Any], Any], Any]) -> dict[str, Any]:
    """Receive what the queue holds and invoke `worker` as Lambda would; failed records
    become visible again at once (not after the visibility timeout)."""
    url = TEST_ENV[queue_env]
    messages = (
        aws.sqs()
        .receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
        .get("Messages", [])
    )
    if not messages:
        return {"received": 0, "batchItemFailures": []}
    arn = f"arn:aws:sqs:us-east-1:123456789012:{url.rsplit('/', 1)[1]}"
    result = worker(sqs_event(messages, arn, "us-east-1"), LambdaContext("worker"))
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    for message in messages:
        if message["MessageId"] in failed:
            aws.sqs().change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        else:
            aws.sqs().delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return {"received": len(messages), "batchItemFailures": result["batchItemFailures"]}


def queued_messages(queue_env: str) -> int:
    attributes = aws.sqs().get_queue_attributes(
        QueueUrl=TEST_ENV[queue_env],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def job_item(job: jobs.Job) -> jobs.Job:
    return jobs.load(job.owner_type, job.owner_id, job.id)


@pytest.fixture(autouse=True)
def _moto_skips_injected_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore runs every `before-send` handler and uses the first answer; moto's would
    still apply the request it then discards. An injected fault must not reach moto."""
    real = BotocoreStubber.__call__

    def call(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
        if getattr(request, "_injected_fault", False):
            return None
        return real(self, event_name, request, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", call)


@pytest.fixture(autouse=True)
def _fast_sdk_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's retry backoff sleeps up to seconds; the retries themselves still happen."""
    import botocore.retries.standard as standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
