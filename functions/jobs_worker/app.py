"""JobsWorkerFunction: SQS → enhancer jobs, with partial batch failures (adapter only)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from aiimage.enhancer import jobs, runner
from aiimage.observability import LogEvent, logger, metrics

# The queue's redrive policy moves a message to the DLQ after this many receives; the
# last one fails its job (and refunds it) instead of leaving it half done.
MAX_RECEIVES = 5

# A batch whose every record failed is reported like any other (not raised), so Lambda
# retries exactly the failed messages and the logs show one error per record.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> None:
    try:
        message = jobs.JobMessage.from_json(record.body)
    except (ValueError, KeyError, TypeError):
        # A body no producer of ours writes: retrying cannot help, so it is dropped, loudly.
        logger.error(LogEvent.JOB_MESSAGE_INVALID, message_id=record.message_id)
        return
    receives = int(record.attributes.approximate_receive_count or "1")
    runner.process(message, last_attempt=receives >= MAX_RECEIVES)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
