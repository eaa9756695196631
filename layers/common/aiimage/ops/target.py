"""Where the CLI works: the tables, queues and bucket the functions use, from the same
environment variables the template sets (`EDITS_TABLE`, `EDITS_QUEUE_URL`, ...; in AWS with
`AWS_PROFILE`/`AWS_REGION`), or `--local` for the local stack of `make dev`, whose resource
names follow from its stack name (`aiimage-local-EditsTable`, ...)."""

from __future__ import annotations

import os

from aiimage import aws
from aiimage.singletons import reset_singletons

LOCAL_ENDPOINT = "http://127.0.0.1:5100"
LOCAL_STACK = "aiimage-local"


def use_local_stack(endpoint: str = LOCAL_ENDPOINT, stack: str = LOCAL_STACK) -> None:
    """Point the settings and clients at the local stack's moto server."""
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID=os.environ.get("AWS_ACCESS_KEY_ID", "local"),
        AWS_SECRET_ACCESS_KEY=os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        AWS_REGION=os.environ.get("AWS_REGION", "us-east-1"),
        EDITS_TABLE=f"{stack}-EditsTable",
        LIMITS_TABLE=f"{stack}-LimitsTable",
        JOBS_TABLE=f"{stack}-JobsTable",
        IMAGES_BUCKET=f"{stack}-imagesbucket",
        STORAGE_ENDPOINT_URL=endpoint,
    )
    os.environ.pop("AWS_PROFILE", None)
    reset_singletons()
    for variable, queue in (
        ("EDITS_QUEUE_URL", "EditsQueue"),
        ("EDITS_POLL_QUEUE_URL", "EditsPollQueue"),
    ):
        os.environ[variable] = aws.sqs().get_queue_url(QueueName=f"{stack}-{queue}")["QueueUrl"]
    reset_singletons()
