"""Lambda's SQS event source mapping, locally: long-poll a queue, hand batches to the
function's handler as real SQS event JSON, and settle each message as Lambda would.

Messages the handler reports in `batchItemFailures` (or all of them, if it raises) stay on
the queue; Lambda would leave them invisible for the queue's visibility timeout (30 min
here), the local poller makes them visible again after `retry_delay` seconds so a retry is
observable. The queue's own redrive policy moves them to the dead-letter queue.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import boto3

logger = logging.getLogger("infra.sqs_poller")
Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 2048
    function_version: str = "$LATEST"
    invoked_function_arn: str = ""
    aws_request_id: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def sqs_event(messages: Sequence[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": hashlib.md5(m["Body"].encode()).hexdigest(),  # noqa: S324 - SQS's
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


class SqsPoller(threading.Thread):
    def __init__(
        self,
        *,
        function: str,
        handler: Handler,
        queue_url: str,
        queue_arn: str,
        batch_size: int,
        region: str,
        retry_delay: int = 5,
    ) -> None:
        super().__init__(name=f"sqs-poller-{function}", daemon=True)
        self.function = function
        self.handler = handler
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.batch_size = min(batch_size, 10)
        self.region = region
        self.retry_delay = retry_delay
        self.stopped = threading.Event()
        self._sqs = boto3.session.Session().client("sqs", region_name=region)

    def stop(self) -> None:
        self.stopped.set()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception:
                logger.exception("poller %s failed; retrying", self.function)
                self.stopped.wait(1)

    def poll_once(self, wait_seconds: int = 0) -> int:
        """Receive one batch and run it; the number of messages handled."""
        messages = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        event = sqs_event(messages, self.queue_arn, self.region)
        context = LambdaContext(self.function, aws_request_id=str(uuid.uuid4()))
        try:
            result = self.handler(event, context) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception:
            logger.exception("%s raised: the whole batch is retried", self.function)
            failed = {m["MessageId"] for m in messages}
        for message in messages:
            if message["MessageId"] in failed:
                self._sqs.change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=self.retry_delay,
                )
            else:
                self._sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return len(messages)
