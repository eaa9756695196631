"""The runbooks' `aws sqs` commands for the local stack of `make dev`, where the aws CLI may
be missing: the same operations through boto3 against the stack's moto server.

    python -m infra.local_queues [--moto-url URL] attributes EditsQueue
    python -m infra.local_queues receive EditsDeadLetterQueue [--max 10]
    python -m infra.local_queues redrive EditsDeadLetterQueue --to EditsQueue
    python -m infra.local_queues purge OpsScheduledDeadLetterQueue

A queue is named by its logical id in template.yaml; the local stack names it
`aiimage-local-<LogicalId>`. `redrive` is `start-message-move-task`: every message of the
dead-letter queue is sent to `--to` and deleted from the DLQ only once sent.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiimage import aws
from aiimage.ops.target import LOCAL_ENDPOINT, LOCAL_STACK, use_local_stack

if TYPE_CHECKING:
    from mypy_boto3_sqs.literals import QueueAttributeNameType

COUNTS: tuple[QueueAttributeNameType, ...] = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def queue_url(logical_id: str) -> str:
    return aws.sqs().get_queue_url(QueueName=f"{LOCAL_STACK}-{logical_id}")["QueueUrl"]


def attributes(queue: str) -> dict[str, str]:
    answer = aws.sqs().get_queue_attributes(
        QueueUrl=queue_url(queue),
        AttributeNames=list(COUNTS),
    )
    return {str(name): value for name, value in answer.get("Attributes", {}).items()}


def receive(queue: str, *, limit: int) -> list[dict[str, str]]:
    """Up to `limit` messages, left on the queue (they become visible again)."""
    answer = aws.sqs().receive_message(
        QueueUrl=queue_url(queue), MaxNumberOfMessages=min(limit, 10), VisibilityTimeout=0
    )
    return [
        {"MessageId": message["MessageId"], "Body": message["Body"]}
        for message in answer.get("Messages", [])
    ]


def redrive(source: str, target: str) -> int:
    """Move every message of `source` to `target`; how many moved."""
    sqs = aws.sqs()
    source_url, target_url = queue_url(source), queue_url(target)
    moved = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=source_url, MaxNumberOfMessages=10, VisibilityTimeout=60
        ).get("Messages", [])
        if not messages:
            return moved
        for message in messages:
            sqs.send_message(QueueUrl=target_url, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=source_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1


def purge(queue: str) -> None:
    aws.sqs().purge_queue(QueueUrl=queue_url(queue))


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m infra.local_queues", description=__doc__)
    root.add_argument("--moto-url", default=LOCAL_ENDPOINT, metavar="URL")
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("attributes").add_argument("queue")
    read = commands.add_parser("receive")
    read.add_argument("queue")
    read.add_argument("--max", type=int, default=10)
    move = commands.add_parser("redrive")
    move.add_argument("queue")
    move.add_argument("--to", required=True)
    commands.add_parser("purge").add_argument("queue")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    use_local_stack(args.moto_url)
    result: object
    if args.command == "attributes":
        result = attributes(args.queue)
    elif args.command == "receive":
        result = receive(args.queue, limit=args.max)
    elif args.command == "redrive":
        result = {"moved": redrive(args.queue, args.to)}
    else:
        purge(args.queue)
        result = {"purged": args.queue}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
