"""JobsWorkerFunction: SQS → enhancer jobs, with partial batch failures (adapter only)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

# First of ours: powertools' batch processing must load before pydantic (`aiimage.workers`).
from aiimage import workers
from aiimage.enhancer import jobs, runner
from aiimage.observability import LogEvent, logger

# The queue's redrive policy moves a message to the DLQ after this many receives; the
# last one fails its job (and refunds it) instead of leaving it half done.
# tests/unit/test_worker_receives.py checks it against template.yaml's maxReceiveCount.
MAX_RECEIVES = 5


def record_handler(record: SQSRecord) -> None:
    try:
        message = jobs.JobMessage.from_json(record.body)
    except (ValueError, KeyError, TypeError):
        # A body no producer of ours writes: retrying cannot help, so it is dropped, loudly.
        logger.error(LogEvent.JOB_MESSAGE_INVALID, message_id=record.message_id)
        return
    runner.process(message, last_attempt=workers.is_last_receive(record, MAX_RECEIVES))


handler = workers.sqs_batch_handler(record_handler, signs=True)
