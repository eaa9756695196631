"""The operations CLI against the local stack (`python -m infra.local`): a separate process
that finds the stack's tables and queues by `--local --moto-url URL`, as an operator would."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from tests.conftest import PRISTINE_ENV
from tests.plugins.stack import ROOT, LocalStack

pytestmark = pytest.mark.stack


def ops(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **PRISTINE_ENV,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/common", "functions", ".")),
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "aiimage.ops", "--local", "--moto-url", stack.moto, "--json", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_cli_reads_and_runs_against_the_local_stack(local_stack: LocalStack) -> None:
    headers = {"Authorization": f"Bearer {local_stack.tokens['tenant']}"}
    created = httpx.post(
        f"{local_stack.api}/api/v1/tenant/events/summer-party/ai-edits",
        headers=headers,
        json={"style_key": "watercolor", "photo_id": "photo-summer-party-1"},
        timeout=30,
    )
    assert created.status_code == 201, created.text

    summary = ops(local_stack, "summary", "demo-tenant", "summer-party")
    assert summary.returncode == 0, summary.stderr
    assert json.loads(summary.stdout.splitlines()[-1])["command"] == "summary"
    api = httpx.get(
        f"{local_stack.api}/api/v1/tenant/events/summer-party/ai-edits/summary",
        headers=headers,
        timeout=30,
    ).json()["data"]
    assert f"total {api['total']}" in summary.stdout

    for command in (
        ("recover-stuck", "--minutes", "30"),
        ("prune", "--pretend"),
        ("dispatch",),
        ("spend",),
    ):
        result = ops(local_stack, *command)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout.splitlines()[-1])
        assert report["failed"] == 0
    # Nothing in this fresh stack is 90 days old or stuck for 30 minutes.
    assert json.loads(ops(local_stack, "prune", "--pretend").stdout.splitlines()[-1])["found"] == 0
