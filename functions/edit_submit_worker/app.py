"""EditSubmitWorkerFunction (`ProcessAiEditRequest`): SQS → submit an edit request to its
provider, with partial batch failures (adapter only: the work is `aiimage.edits.runner`)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from aiimage.edits import runner
from aiimage.edits.requests import EditMessage
from aiimage.observability import LogEvent, logger, metrics

# The queue's redrive policy moves a message to the DLQ after this many receives; the last
# one fails the request (releasing its budget) instead of leaving it half done.
MAX_RECEIVES = 5

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> None:
    try:
        data = json.loads(record.body)
        message = EditMessage(
            tenant_id=str(data["tenant_id"]),
            event_slug=str(data["event_slug"]),
            request_id=str(data["request_id"]),
        )
    except (ValueError, KeyError, TypeError):
        logger.error(LogEvent.AI_EDIT_MESSAGE_INVALID, message_id=record.message_id)
        return
    receives = int(record.attributes.approximate_receive_count or "1")
    runner.submit(message, last_attempt=receives >= MAX_RECEIVES)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
