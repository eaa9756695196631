"""A failed SQS message comes back within minutes, not after the queue's visibility timeout.

The workers report failures (`ReportBatchItemFailures`) and shorten each failed message's
visibility to `retry_delay(receive)` with a real `ChangeMessageVisibilityBatch` call on
moto's SQS. moto's clock is driven by the test, so the schedule is checked to the second:
a message that always fails is received at 0, 30, 90, 210 and 450 s and reaches the
template's dead-letter queue (maxReceiveCount 5) on the receive after 930 s.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from moto.sqs import models as sqs_models

from aiimage import aws
from aiimage.workers import queue_url, retry_delay, sqs_batch_handler
from infra.sqs_poller import LambdaContext, sqs_event
from tests.conftest import TEST_ENV

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

pytestmark = pytest.mark.usefixtures("aws_stack")

MAX_RECEIVES = 5  # the template's maxReceiveCount of JobsQueue (test_worker_receives.py)


class Clock:
    """moto's SQS clock, in milliseconds, moved only by the test."""

    def __init__(self) -> None:
        self.ms = 1_900_000_000_000.0

    def at(self, seconds: float) -> None:
        self.ms = self.start + seconds * 1000

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.start = self.ms
        monkeypatch.setattr(sqs_models, "unix_time_millis", lambda *_: self.ms)
        monkeypatch.setattr(sqs_models, "unix_time", lambda *_: self.ms / 1000)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    clock.install(monkeypatch)
    return clock


def failing(record: SQSRecord) -> None:
    if json.loads(record.body).get("fail"):
        raise RuntimeError("provider down")


handler = sqs_batch_handler(failing)


def queue_arn(url: str) -> str:
    attributes = aws.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


def dead_letter_url(url: str) -> str:
    attributes = aws.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
    target = json.loads(attributes["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"]
    return aws.sqs().get_queue_url(QueueName=target.rsplit(":", 1)[1])["QueueUrl"]


def deliver(url: str) -> list[MessageTypeDef]:
    """One poll of Lambda's event source mapping: receive, invoke, delete the successes.
    The messages the handler received (an empty list: nothing visible)."""
    messages = (
        aws.sqs()
        .receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
        .get("Messages", [])
    )
    if not messages:
        return []
    result = handler(sqs_event(messages, queue_arn(url), "us-east-1"), LambdaContext("worker"))
    failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
    for message in messages:
        if message["MessageId"] not in failed:
            aws.sqs().delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def test_the_delays_double_from_30_seconds_and_stop_at_15_minutes() -> None:
    assert [retry_delay(n) for n in range(1, 9)] == [30, 60, 120, 240, 480, 900, 900, 900]
    assert retry_delay(0) == 30
    # Five receives of a message that always fails: 15.5 minutes to its dead-letter queue.
    assert sum(retry_delay(n) for n in range(1, MAX_RECEIVES + 1)) == 930


def test_a_failing_message_reaches_its_dead_letter_queue_in_930_seconds(clock: Clock) -> None:
    url = TEST_ENV["JOBS_QUEUE_URL"]
    aws.sqs().send_message(QueueUrl=url, MessageBody=json.dumps({"fail": True}))
    received_at = []
    t = 0.0
    for receive in range(1, MAX_RECEIVES + 1):
        clock.at(t)
        [message] = deliver(url)
        assert message["Attributes"]["ApproximateReceiveCount"] == str(receive)
        received_at.append(t)
        # Invisible until the delay has passed, visible right after it.
        clock.at(t + retry_delay(receive) - 0.01)
        assert deliver(url) == []
        t += retry_delay(receive) + 0.01
    assert [round(at) for at in received_at] == [0, 30, 90, 210, 450]
    clock.at(t)
    assert deliver(url) == []  # the sixth receive moves it instead
    dead = aws.sqs().receive_message(QueueUrl=dead_letter_url(url), AttributeNames=["All"])
    [moved] = dead["Messages"]
    assert json.loads(moved["Body"]) == {"fail": True}
    assert round(t) == 930


def test_only_the_failed_messages_are_delayed_and_the_others_deleted(clock: Clock) -> None:
    url = TEST_ENV["EDITS_QUEUE_URL"]
    aws.sqs().send_message(QueueUrl=url, MessageBody=json.dumps({"fail": False}))
    aws.sqs().send_message(QueueUrl=url, MessageBody=json.dumps({"fail": True}))
    clock.at(0)
    assert len(deliver(url)) == 2
    clock.at(29.99)
    assert deliver(url) == []
    clock.at(30.01)
    [again] = deliver(url)
    assert json.loads(again["Body"]) == {"fail": True}
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"


def test_a_refused_visibility_change_still_reports_the_failure(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The message then returns after the queue's own visibility timeout: slower, not lost.
    url = TEST_ENV["EDITS_POLL_QUEUE_URL"]
    aws.sqs().send_message(QueueUrl=url, MessageBody=json.dumps({"fail": True}))
    messages = aws.sqs().receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"]
    event = sqs_event(messages, queue_arn(url), "us-east-1")
    event["Records"][0]["receiptHandle"] = "not-a-receipt-handle"
    result = handler(event, LambdaContext("worker"))
    assert result["batchItemFailures"] == [{"itemIdentifier": messages[0]["MessageId"]}]


def test_an_event_without_a_queue_arn_still_reports_the_failure() -> None:
    event = {"Records": [{**record, "eventSourceARN": ""} for record in sample_records()]}
    result = handler(event, LambdaContext("worker"))
    assert result["batchItemFailures"] == [{"itemIdentifier": "m-1"}]


def sample_records() -> list[dict[str, object]]:
    return [
        {
            "messageId": "m-1",
            "receiptHandle": "r-1",
            "body": json.dumps({"fail": True}),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "awsRegion": "us-east-1",
        }
    ]


def test_queue_urls_from_arns() -> None:
    assert (
        queue_url("arn:aws:sqs:eu-central-1:123456789012:aiimage-prod-JobsQueue-abc")
        == "https://sqs.eu-central-1.amazonaws.com/123456789012/aiimage-prod-JobsQueue-abc"
    )
    with pytest.raises(ValueError, match="Not an SQS queue ARN"):
        queue_url("arn:aws:sns:eu-central-1:123456789012:topic")
