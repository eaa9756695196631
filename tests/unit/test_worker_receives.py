"""Each SQS worker's MAX_RECEIVES is the redrive policy of the queue it consumes.

The worker treats the receive numbered MAX_RECEIVES as the last one (it fails the request
or job and releases what it holds), because the queue's `maxReceiveCount` then moves the
message to its DLQ. The number lives in two places, the worker and template.yaml: this
test ties them together.
"""

from __future__ import annotations

import importlib

import pytest

from infra.template import Function, load_template

TEMPLATE = load_template()
WORKERS = [
    function
    for function in TEMPLATE.functions.values()
    if function.sqs_events
    and hasattr(importlib.import_module(function.handler.rpartition(".")[0]), "MAX_RECEIVES")
]


def test_every_edit_and_job_worker_is_checked() -> None:
    handlers = {function.handler for function in WORKERS}
    assert handlers == {
        "edit_poll_worker.app.handler",
        "edit_submit_worker.app.handler",
        "jobs_worker.app.handler",
    }


@pytest.mark.parametrize("function", WORKERS, ids=lambda f: f.logical_id)
def test_max_receives_is_the_queues_max_receive_count(function: Function) -> None:
    module = importlib.import_module(function.handler.rpartition(".")[0])
    for event in function.sqs_events:
        queue_id, attribute = event.queue["Fn::GetAtt"]
        assert attribute == "Arn"
        redrive = TEMPLATE.resources[queue_id].properties["RedrivePolicy"]
        assert int(redrive["maxReceiveCount"]) == module.MAX_RECEIVES, queue_id
