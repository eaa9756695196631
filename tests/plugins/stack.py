"""The local stack (`python -m infra.local`) as a subprocess, for tests that speak HTTP to
it, and a moto server for tests whose AWS clients should speak HTTP.

The stack runs exactly as `make dev` does, on free ports, from the environment the test run
started with (not the test settings this process has applied to itself).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from moto.server import ThreadedMotoServer

from aiimage import aws
from aiimage.singletons import reset_singletons
from infra.emulation import serialize_dynamodb
from infra.local import READY_PREFIX
from tests.conftest import PRISTINE_ENV, create_test_resources

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True, slots=True)
class LocalStack:
    api: str
    moto: str
    tokens: dict[str, str]


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalStack]:
    with running_local_stack() as stack:
        yield stack


@contextmanager
def running_local_stack() -> Iterator[LocalStack]:
    """`python -m infra.local` with the emulators, until the block ends. Every stack has its
    own moto state: quotas, and the daily allowance of the guests behind 127.0.0.1."""
    env = {
        **PRISTINE_ENV,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/common", "functions", ".")),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.local", "--port", "0", "--moto-port", "0", "--emulators"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    announcements: queue.Queue[dict[str, object] | None] = queue.Queue()

    def drain() -> None:
        # Read to the end, so the stack never blocks on a full pipe while tests run.
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if line.startswith(READY_PREFIX):
                announcements.put(json.loads(line.removeprefix(READY_PREFIX)))
        announcements.put(None)

    threading.Thread(target=drain, daemon=True).start()
    try:
        try:
            ready = announcements.get(timeout=READY_TIMEOUT_SECONDS)
        except queue.Empty:
            ready = None
        if ready is None:
            pytest.fail(
                f"the local stack did not become ready within {READY_TIMEOUT_SECONDS} s:\n"
                + "".join(output),
                pytrace=False,
            )
        tokens = ready["tokens"]
        assert isinstance(tokens, dict)
        yield LocalStack(api=str(ready["api"]), moto=str(ready["moto"]), tokens=tokens)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """One moto server over HTTP for the session, as the local stack runs it."""
    serialize_dynamodb()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_server(moto_server: str, settings_env: Callable[..., None]) -> Iterator[str]:
    """Every resource of template.yaml on the moto server, fresh for each test: the AWS
    clients speak the real wire protocols (SQS receive/delete/visibility, DynamoDB
    conditions, S3 and presigned URLs) over HTTP."""
    httpx.post(f"{moto_server}/moto-api/reset").raise_for_status()
    settings_env(AWS_ENDPOINT_URL=moto_server)
    create_test_resources()
    assert aws.sqs().meta.endpoint_url == aws.dynamodb().meta.endpoint_url == moto_server
    yield moto_server
    reset_singletons()
