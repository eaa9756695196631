"""A measurement in a fresh interpreter: `python -m <module> --child <args>`, whose last
JSON line of output (the one starting with `marker`) is the result. A peak RSS or an
import time means something only in a process that measured nothing before."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run_child(
    module: str, args: Sequence[str], *, marker: str, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 -- our own interpreter and module
        [sys.executable, "-m", module, "--child", *args],
        cwd=ROOT,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(marker)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{module} {' '.join(args)} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result
