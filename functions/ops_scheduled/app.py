"""OpsScheduledFunction: the scheduled operations commands (dispatch, recover-stuck, prune;
adapter only: the work is `aiimage.ops`, the same code as `python -m aiimage.ops`)."""

from __future__ import annotations

from typing import Any

from aiimage import snapstart
from aiimage.observability import logger, metrics
from aiimage.ops import scheduled

snapstart.register()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # A run with failed items returns (the OpsScheduledFailures metric alarms): a raise
    # would be retried by the asynchronous invocation and overlap the next run.
    return scheduled.handle(event)
