"""What every SQS worker function shares: powertools' batch processing with partial batch
failures, a short redelivery backoff for the failed messages, request-scoped logging and
metrics, and the "last delivery" test.

Redelivery: Lambda's event source mapping leaves a reported failure on the queue, invisible
for whatever visibility it has, by default the queue's whole visibility timeout (six times
the function's timeout, sized for a crash or a timeout). A handled failure does not need
that long, so the handler shortens it with one `ChangeMessageVisibilityBatch` call:
`retry_delay(receive)` = 30 s x 2^(receive - 1), at most 15 minutes. With the queues'
`maxReceiveCount` of 5, a message that always fails is received at t = 0, 30 s, 1.5 min,
3.5 min and 7.5 min and moves to its dead-letter queue on the next receive, 15.5 minutes
(930 s) after the first (docs/runbooks/incidents.md).

Imported by a worker before anything loads pydantic: powertools' batch types import every
model of its parser (SQS, Kinesis, DynamoDB streams, Kafka: tens of ms of a cold start)
when pydantic is already loaded, for type hints only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError

from aiimage import aws, snapstart
from aiimage.observability import LogEvent, logger, metrics
from aiimage.settings import on_deployed_lambda

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import ChangeMessageVisibilityBatchRequestEntryTypeDef

# The context is Lambda's runtime object (or a stand-in locally): anything shaped like it.
SqsHandler = Callable[[dict[str, Any], Any], PartialItemFailureResponse]

RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 900


def retry_delay(receive_count: int) -> int:
    """Seconds a message that failed on its `receive_count`-th receive stays invisible."""
    doublings = min(max(receive_count, 1) - 1, 10)
    return min(RETRY_BASE_SECONDS << doublings, RETRY_MAX_SECONDS)


def sqs_batch_handler(
    record_handler: Callable[[SQSRecord], None], *, signs: bool = False
) -> SqsHandler:
    """A Lambda handler that runs `record_handler` per message and reports the failed ones
    (`ReportBatchItemFailures`), so SQS retries exactly those, after `retry_delay`. A batch
    whose every record failed is reported the same way, not raised, and the logs show one
    error per record. Registers the SnapStart hooks (`aiimage.snapstart`). `signs`: the
    worker signs results, so its cold start checks the C2PA bundle
    (`provenance.check_at_cold_start`)."""
    snapstart.register()
    if signs and on_deployed_lambda():
        from aiimage.imaging.provenance import check_at_cold_start

        check_at_cold_start()
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    @metrics.log_metrics
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        records = [SQSRecord(raw) for raw in event.get("Records", [])]
        back_off([r for r in records if r.message_id in failed])
        return response

    return handler


def back_off(records: Iterable[SQSRecord]) -> None:
    """Make each failed message visible again after `retry_delay`, one call per queue. A
    refused call only costs time: the message returns after the queue's visibility timeout."""
    by_queue: dict[str, list[ChangeMessageVisibilityBatchRequestEntryTypeDef]] = {}
    for index, record in enumerate(records):
        try:
            url = queue_url(record.event_source_arn)
        except ValueError as exc:  # a hand-made event: nothing to shorten
            logger.warning(LogEvent.SQS_BACKOFF_FAILED, error=str(exc))
            continue
        by_queue.setdefault(url, []).append(
            {
                "Id": str(index),
                "ReceiptHandle": record.receipt_handle,
                "VisibilityTimeout": retry_delay(receive_count(record)),
            }
        )
    for url, entries in by_queue.items():
        try:
            answer = aws.sqs().change_message_visibility_batch(QueueUrl=url, Entries=entries)
        except (BotoCoreError, ClientError) as exc:
            logger.warning(LogEvent.SQS_BACKOFF_FAILED, queue_url=url, error=str(exc))
            continue
        for refused in answer.get("Failed", []):
            logger.warning(
                LogEvent.SQS_BACKOFF_FAILED, queue_url=url, error=refused.get("Code", "")
            )


def queue_url(queue_arn: str) -> str:
    """The queue URL of an SQS ARN (arn:aws:sqs:<region>:<account>:<name>)."""
    parts = queue_arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise ValueError(f"Not an SQS queue ARN: {queue_arn!r}")
    _, partition, _, region, account, name = parts
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{suffix}/{account}/{name}"


def receive_count(record: SQSRecord) -> int:
    return int(record.attributes.approximate_receive_count or "1")


def is_last_receive(record: SQSRecord, max_receives: int) -> bool:
    """Whether the queue's redrive policy moves this message to the DLQ if it fails again."""
    return receive_count(record) >= max_receives
