"""The go-live smoke script (infra/smoke.sh) against the local stack, as an operator runs it:
both products, Magic Edits for the seeded summer event."""

from __future__ import annotations

import os
import subprocess
import sys

from infra.seed_edits import SUMMER_TOKEN
from tests.plugins.stack import ROOT, LocalStack


def test_the_smoke_script_passes_against_the_local_stack(local_stack: LocalStack) -> None:
    result = subprocess.run(  # noqa: S603 - our own script, a fixed argv
        ["/bin/bash", str(ROOT / "infra" / "smoke.sh"), local_stack.api, "", SUMMER_TOKEN],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    # 15 Enhancer checks, 7 Magic Edits checks for the seeded event.
    assert result.stdout.count("ok   ") == 22, result.stdout
