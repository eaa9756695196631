"""Cold-start import time of each function, against a bare FastAPI + Mangum handler module
(`bench/baseline_app.py`), each in a fresh interpreter, median of N runs.

A fresh `python` process imports `<function>.app` and reports `time.perf_counter` around
the import (what Lambda's init phase spends on our code and its dependencies, beyond the
runtime's own start-up); the process's whole wall time is shown too. Modules are run in
turn, round after round, so a slow moment of the machine hits all of them alike. One
untimed round first, so every module's bytecode cache exists.

    python -m bench.cold_start [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.stack import bench_environment

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "bench.baseline_app"
REPEAT = 5
_PROBE = (
    "import importlib, sys, time\n"
    "started = time.perf_counter()\n"
    "importlib.import_module(sys.argv[1])\n"
    "print(time.perf_counter() - started)\n"
)


@dataclass(frozen=True, slots=True)
class ColdStart:
    module: str
    import_ms: float | None  # median; None when the module does not import
    process_ms: float | None
    error: str | None = None


def function_modules() -> list[str]:
    return sorted(f"{path.parent.name}.app" for path in (ROOT / "functions").glob("*/app.py"))


def _environment() -> dict[str, str]:
    env = bench_environment()
    env["PYTHONPATH"] = os.pathsep.join(str(ROOT / p) for p in ("layers/common", "functions", "."))
    return env


def probe(module: str, env: dict[str, str]) -> tuple[float, float]:
    """(import seconds, process wall seconds) of one fresh interpreter."""
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 -- our own interpreter and a fixed script
        [sys.executable, "-c", _PROBE, module],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr else "failed")
    return float(done.stdout.strip().splitlines()[-1]), wall


def heaviest_imports(module: str, env: dict[str, str], count: int = 8) -> list[tuple[str, float]]:
    """Third-party top-level packages by the cumulative import time `-X importtime` records
    at their first import (nested packages overlap: fastapi's time includes pydantic's)."""
    done = subprocess.run(  # noqa: S603 -- our own interpreter and a fixed script
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    packages: dict[str, float] = {}
    for line in done.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or not fields[1].strip().isdigit():
            continue
        name = fields[2].strip()
        if (
            "." in name
            or name.startswith("_")
            or name in sys.stdlib_module_names
            or name == module.partition(".")[0]
        ):
            continue
        packages[name] = max(packages.get(name, 0.0), int(fields[1]) / 1000)
    return sorted(packages.items(), key=lambda item: -item[1])[:count]


def measure(modules: Sequence[str], repeat: int) -> list[ColdStart]:
    env = _environment()
    imports: dict[str, list[float]] = {m: [] for m in modules}
    walls: dict[str, list[float]] = {m: [] for m in modules}
    errors: dict[str, str] = {}
    for round_ in range(repeat + 1):
        for module in modules:
            if module in errors:
                continue
            try:
                seconds, wall = probe(module, env)
            except RuntimeError as exc:
                errors[module] = str(exc)
                continue
            if round_ > 0:  # round 0 writes the bytecode caches
                imports[module].append(seconds)
                walls[module].append(wall)
    return [
        ColdStart(m, None, None, errors[m])
        if m in errors
        else ColdStart(m, statistics.median(imports[m]) * 1000, statistics.median(walls[m]) * 1000)
        for m in modules
    ]


def render(results: Sequence[ColdStart], repeat: int) -> str:
    base = results[0]
    if base.import_ms is None or base.process_ms is None:
        raise RuntimeError(f"the baseline {base.module} does not import: {base.error}")
    lines = [
        f"Median of {repeat} fresh interpreters per module.",
        "",
        "| module | import ms | vs baseline | process ms | vs baseline |",
        "|---|--:|--:|--:|--:|",
    ]
    for r in results:
        if r.import_ms is None or r.process_ms is None:
            lines.append(f"| `{r.module}` | import failed: {r.error} | | | |")
            continue
        lines.append(
            f"| `{r.module}` | {r.import_ms:.0f} | {r.import_ms / base.import_ms:.2f}x | "
            f"{r.process_ms:.0f} | {r.process_ms / base.process_ms:.2f}x |"
        )
    return "\n".join(lines)


HEADER = """\
## Cold-start import time per function (`bench/cold_start.py`)

What each function's init phase spends importing its code and dependencies, against a
bare FastAPI + Mangum handler module (`bench/baseline_app.py`) measured in the same run:
a fresh interpreter per measurement imports `<function>.app` with the production import
paths (`layers/common`, `functions/`) and times the import; "process" is the whole
interpreter's wall time (start-up + import + exit). No AWS client is created at import
(`aiimage.aws` builds them on first use), so nothing here waits for the network. On Lambda
the package directory is read-only, so shipped code without bytecode caches compiles on
every cold start; these numbers are with the caches present."""


def imports_note() -> str:
    env = _environment()
    lines = [
        "Where the time goes: the heaviest third-party packages (`python -X importtime`, one "
        "run each, cumulative ms at first import):",
        "",
    ]
    for module in (BASELINE, "generate_api.app", "ai_edits_api.app", "jobs_worker.app"):
        heaviest = ", ".join(f"{name} {ms:.0f}" for name, ms in heaviest_imports(module, env))
        lines.append(f"- `{module}`: {heaviest}")
    return "\n".join(lines)


NOTES = """\
Reading: FastAPI itself (with Starlette and pydantic) is most of the baseline, and every
HTTP function pays it. What the functions add on top is the layer's own dependencies:
boto3/botocore (with s3transfer), httpx for the provider clients, PyJWT with its crypto
backend, powertools and pydantic-settings (the lists above). The SQS workers import no
FastAPI, yet land in the same range, because those dependencies are the bulk of it. They
are imported at module level because requests need them; nothing opens a connection or
reads a secret at import. Measured in the development virtualenv, which holds more than
the layer: httpx, for one, imports its optional command-line extras (rich, pygments) when
they are installed, as they are here and are not on Lambda, so the functions' numbers
are a slight overstatement. Import times on this shared 2-vCPU machine move by tens of
per cent between runs; the ratios, taken from interleaved rounds, move much less."""


def run(repeat: int = REPEAT) -> str:
    results = measure([BASELINE, *function_modules()], repeat)
    return "\n\n".join([HEADER, render(results, repeat), imports_note(), NOTES])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start")
    parser.add_argument("--repeat", type=int, default=REPEAT)
    args = parser.parse_args(argv)
    print(render(measure([BASELINE, *function_modules()], args.repeat), args.repeat))


if __name__ == "__main__":
    main()
