"""What every SQS worker function shares: powertools' batch processing with partial batch
failures, request-scoped logging and metrics, and the "last delivery" test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from aiimage.observability import logger, metrics

# The context is Lambda's runtime object (or a stand-in locally): anything shaped like it.
SqsHandler = Callable[[dict[str, Any], Any], PartialItemFailureResponse]


def sqs_batch_handler(record_handler: Callable[[SQSRecord], None]) -> SqsHandler:
    """A Lambda handler that runs `record_handler` per message and reports the failed ones
    (`ReportBatchItemFailures`), so SQS retries exactly those. A batch whose every record
    failed is reported the same way, not raised, and the logs show one error per record."""
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    @metrics.log_metrics
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )

    return handler


def is_last_receive(record: SQSRecord, max_receives: int) -> bool:
    """Whether the queue's redrive policy moves this message to the DLQ if it fails again."""
    return int(record.attributes.approximate_receive_count or "1") >= max_receives
