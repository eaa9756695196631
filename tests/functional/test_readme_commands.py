"""The README's shell blocks run as written against a local stack (issue 19, item 10).

The blocks of the sections a new user tries first (`Two commands`, `Operations`) are taken
from README.md in order and run one after another with bash, sharing the cookie jar in /tmp
as a reader's shell would. The stack of `make dev` listens on http://127.0.0.1:3000 with
moto on :5100; this one binds free ports, so those two URLs are replaced by its own, and
`.venv/bin/` by the interpreter the tests run in. A block preceded by an HTML comment
`<!-- not run…-->` is skipped (the list is asserted below: short and exact); a block whose
paragraph says it is "meant to fail" must still exit 0 and print the refusal.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.plugins.stack import ROOT, LocalStack, running_local_stack

pytestmark = pytest.mark.stack
README = ROOT / "README.md"
SECTIONS = ("Two commands", "Operations")
BLOCK_TIMEOUT_SECONDS = 120


@dataclass(frozen=True, slots=True)
class Block:
    section: str
    line: int
    code: str
    skipped: bool  # preceded by <!-- not run… -->
    refusal: bool  # its paragraph says it is meant to fail


def blocks(text: str) -> list[Block]:
    found: list[Block] = []
    section = ""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("## "):
            section = line.removeprefix("## ").strip()
        if line.strip() == "```sh" and section in SECTIONS:
            start = index
            body: list[str] = []
            index += 1
            while lines[index].strip() != "```":
                body.append(lines[index])
                index += 1
            before = [prior for prior in lines[max(0, start - 4) : start] if prior.strip()]
            found.append(
                Block(
                    section=section,
                    line=start + 1,
                    code="\n".join(body) + "\n",
                    skipped=bool(before) and before[-1].startswith("<!-- not run"),
                    refusal=any("meant to fail" in prior for prior in before),
                )
            )
        index += 1
    return found


def localised(code: str, stack: LocalStack) -> str:
    """The block as it runs against this stack and this interpreter."""
    code = code.replace("http://127.0.0.1:3000", stack.api)
    code = code.replace("http://127.0.0.1:5100", stack.moto)
    return re.sub(r"(?<![\w/])\.venv/bin/python\b", sys.executable, code)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    # A stack of its own: its guests come from 127.0.0.1 like every other stack test's, and
    # must not spend the network's daily allowance those tests count on.
    with running_local_stack() as running:
        yield running


def test_the_readme_marks_only_the_blocks_that_cannot_run_here() -> None:
    skipped = [b for b in blocks(README.read_text()) if b.skipped]
    assert [b.code.split()[0:2] for b in skipped] == [["make", "dev"]]


def test_every_readme_block_runs_as_written(stack: LocalStack) -> None:
    Path("/tmp/aiimage.jar").unlink(missing_ok=True)  # noqa: S108 - the README's own jar
    env = {**os.environ, "PYTHON": sys.executable}
    ran = 0
    for block in blocks(README.read_text()):
        if block.skipped:
            continue
        done = subprocess.run(  # noqa: S603 - our own README, run on purpose
            ["/bin/bash", "-e", "-o", "pipefail", "-c", localised(block.code, stack)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_SECONDS,
            check=False,
        )
        where = f"README.md:{block.line} ({block.section})"
        assert done.returncode == 0, (
            f"{where} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
        assert "FAIL" not in done.stdout, f"{where}:\n{done.stdout}"
        if block.refusal:
            assert '"success":false' in done.stdout, f"{where}:\n{done.stdout}"
        else:
            assert '"success":false' not in done.stdout, f"{where}:\n{done.stdout}"
        ran += 1
    assert ran == 5
