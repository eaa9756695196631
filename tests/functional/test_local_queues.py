"""`python -m infra.local_queues`: the runbooks' `aws sqs` commands for the local stack."""

from __future__ import annotations

import pytest

from aiimage import aws
from infra import local_queues

pytestmark = pytest.mark.usefixtures("aws_stack")


def make_queue(logical_id: str) -> str:
    return aws.sqs().create_queue(QueueName=f"aiimage-local-{logical_id}")["QueueUrl"]


def test_redrive_moves_every_message_once_and_attributes_count_them() -> None:
    dlq = make_queue("EditsDeadLetterQueue")
    make_queue("EditsQueue")
    for index in range(13):
        aws.sqs().send_message(QueueUrl=dlq, MessageBody=f'{{"request": {index}}}')
    assert local_queues.attributes("EditsDeadLetterQueue")["ApproximateNumberOfMessages"] == "13"
    peeked = local_queues.receive("EditsDeadLetterQueue", limit=3)
    assert len(peeked) == 3
    assert local_queues.redrive("EditsDeadLetterQueue", "EditsQueue") == 13
    assert local_queues.attributes("EditsDeadLetterQueue")["ApproximateNumberOfMessages"] == "0"
    assert local_queues.attributes("EditsQueue")["ApproximateNumberOfMessages"] == "13"
    url = local_queues.queue_url("EditsQueue")
    bodies: set[str] = set()
    while (
        messages := aws.sqs()
        .receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        .get("Messages", [])
    ):
        for message in messages:
            bodies.add(message["Body"])
            aws.sqs().delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert bodies == {f'{{"request": {index}}}' for index in range(13)}


def test_purge_empties_a_queue_and_an_unknown_queue_is_an_error() -> None:
    queue = make_queue("OpsScheduledDeadLetterQueue")
    aws.sqs().send_message(QueueUrl=queue, MessageBody="{}")
    local_queues.purge("OpsScheduledDeadLetterQueue")
    assert local_queues.receive("OpsScheduledDeadLetterQueue", limit=10) == []
    with pytest.raises(aws.sqs().exceptions.QueueDoesNotExist):
        local_queues.queue_url("NoSuchQueue")
