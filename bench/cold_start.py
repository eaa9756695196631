"""Cold-start import time of each function as Lambda runs it, against two bare baselines.

What is measured is what Lambda's init phase imports:

- the built artifact (`infra.build`, for this machine's architecture, into a temporary
  folder): a function's folder as the task root and the layer's `python/` on `sys.path`,
  nothing else, in a fresh `python3.12 -I -S` per measurement (no site-packages, no
  PYTHON* variables: the artifact test's runtime);
- with bytecode (the unchecked-hash `.pyc` the build ships) and without it (a copy of the
  artifact without `__pycache__`, run with `-B`: every module compiled at import, what a
  build without bytecode costs on Lambda's read-only code);
- with Lambda's own variables (`LAMBDA_TASK_ROOT`, `AWS_LAMBDA_FUNCTION_NAME`, ...) and
  the template's `POWERTOOLS_TRACE_DISABLED=false`: powertools' Tracer is active and
  patches what it patches on Lambda, and the X-Ray SDK takes its Lambda path (a local
  sampler, no botocore sampler client), as it does there. Lambda does not set
  `AWS_XRAY_SDK_ENABLED`; outside Lambda the SDK would build that sampler client at import;
- round after round, every module and both modes in turn, so a slow moment of the shared
  machine hits all of them alike; one untimed round first (the file cache).

The baselines are a bare FastAPI + Mangum module (`bench/baseline_app.py`) and a bare
powertools `APIGatewayHttpResolver` (`bench/baseline_powertools.py`), compiled and run the
same way. After a function's import the same interpreter builds the DynamoDB and S3 clients
(`aiimage.aws`), which the first request pays and not the import: shown on their own.

    python -m bench.cold_start [--repeat N] [--artifact BUILD_DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.stack import bench_environment
from infra import build

ROOT = Path(__file__).resolve().parents[1]
REPEAT = 7
FASTAPI_BASELINE = "baseline_app"
POWERTOOLS_BASELINE = "baseline_powertools"
BASELINES = (FASTAPI_BASELINE, POWERTOOLS_BASELINE)
# The Must-show targets (issue 18): import with bytecode against the FastAPI baseline.
HTTP_TARGET = 1.3
WORKER_TARGET = 1.0
_PROBE = """\
import importlib, json, sys, time
task_root, layer, module = sys.argv[1:4]
sys.path[:0] = [task_root, layer]
started = time.perf_counter()
importlib.import_module(module)
imported = time.perf_counter()
clients = None
if module.endswith(".app"):
    from aiimage import aws
    aws.dynamodb()
    aws.s3()
    clients = (time.perf_counter() - imported) * 1000
print(json.dumps({"import_ms": (imported - started) * 1000, "clients_ms": clients}))
"""


@dataclass(frozen=True, slots=True)
class Artifact:
    """Where each module's task root is, and the layer, for one mode (bytecode or not)."""

    task_roots: dict[str, Path]
    layer: Path
    bytecode: bool


@dataclass(frozen=True, slots=True)
class ColdStart:
    module: str
    kind: str  # "baseline", "HTTP", "SQS worker", "scheduled"
    import_ms: float  # median, with bytecode
    source_ms: float  # median, without bytecode
    clients_ms: float | None  # median, first DynamoDB + S3 client build after the import


def kind_of(module: str) -> str:
    package = module.partition(".")[0]
    if package in BASELINES:
        return "baseline"
    if package.endswith("_worker"):
        return "SQS worker"
    if package.endswith("_scheduled"):
        return "scheduled"
    return "HTTP"


def target_of(kind: str) -> float | None:
    return {"HTTP": HTTP_TARGET, "SQS worker": WORKER_TARGET}.get(kind)


def function_modules() -> list[str]:
    return sorted(f"{path.parent.name}.app" for path in (ROOT / "functions").glob("*/app.py"))


def lambda_environment(task_root: Path) -> dict[str, str]:
    """The benchmark's settings, the template's tracing switch and Lambda's own variables."""
    env = bench_environment({})
    env.update(
        {
            "POWERTOOLS_TRACE_DISABLED": "false",  # template.yaml's Globals
            "LAMBDA_TASK_ROOT": str(task_root),
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "AWS_LAMBDA_FUNCTION_NAME": "bench-cold-start",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
        }
    )
    return env


def _compile(folder: Path, python: Path) -> None:
    command = [str(python), "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash"]
    subprocess.run([*command, str(folder)], check=True, capture_output=True)  # noqa: S603


def _without_bytecode(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


@contextmanager
def artifacts(build_dir: Path | None, python: Path) -> Iterator[tuple[Artifact, Artifact]]:
    """The artifact with its bytecode and a copy without; built here unless given."""
    with tempfile.TemporaryDirectory(prefix="cold-start-") as scratch:
        root = Path(scratch)
        if build_dir is None:
            build_dir = build.build(
                build_dir=root / "build", architecture=build.host_architecture(), python=python
            )
        baselines = root / "baselines"
        baselines.mkdir()
        for name in BASELINES:
            shutil.copy2(ROOT / "bench" / f"{name}.py", baselines / f"{name}.py")
        _compile(baselines, python)
        # CodeUri is functions/ for every function: any function's folder holds them all.
        functions = next(p for p in sorted(build_dir.iterdir()) if p.name.endswith("Function"))
        layer = build_dir / "CommonLayer" / "python"
        plain = root / "plain"
        roots = {"functions": functions, "baselines": baselines}
        plain_roots = {k: _without_bytecode(v, plain / k) for k, v in roots.items()}
        yield (
            Artifact(roots, layer, bytecode=True),
            Artifact(plain_roots, _without_bytecode(layer, plain / "layer"), bytecode=False),
        )


def _task_root(artifact: Artifact, module: str) -> Path:
    baseline = kind_of(module) == "baseline"
    return artifact.task_roots["baselines" if baseline else "functions"]


def probe(python: Path, artifact: Artifact, module: str) -> dict[str, float | None]:
    """One fresh interpreter: the import's ms, and the first clients' ms for a function."""
    task_root = _task_root(artifact, module)
    flags = ["-I", "-S"] if artifact.bytecode else ["-I", "-S", "-B"]
    done = subprocess.run(  # noqa: S603 -- the runtime's interpreter and a fixed script
        [str(python), *flags, "-c", _PROBE, str(task_root), str(artifact.layer), module],
        env=lambda_environment(task_root),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["failed"]
        raise RuntimeError(f"{module} does not import from the artifact: {tail[0]}")
    answer: dict[str, float | None] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def measure(
    python: Path, modules: Sequence[str], pair: tuple[Artifact, Artifact], repeat: int
) -> list[ColdStart]:
    samples: dict[tuple[str, bool], list[float]] = {}
    clients: dict[str, list[float]] = {m: [] for m in modules}
    for round_ in range(repeat + 1):
        for module in modules:
            for artifact in pair:
                answer = probe(python, artifact, module)
                if round_ == 0:  # the file cache, for every module and mode alike
                    continue
                import_ms = answer["import_ms"]
                samples.setdefault((module, artifact.bytecode), []).append(float(import_ms or 0))
                if artifact.bytecode and answer["clients_ms"] is not None:
                    clients[module].append(float(answer["clients_ms"]))
    return [
        ColdStart(
            module,
            kind_of(module),
            statistics.median(samples[module, True]),
            statistics.median(samples[module, False]),
            statistics.median(clients[module]) if clients[module] else None,
        )
        for module in modules
    ]


def _verdict(result: ColdStart, base_ms: float) -> str:
    target = target_of(result.kind)
    if target is None:
        return ""
    ratio = result.import_ms / base_ms
    if ratio <= target:
        return f"≤ {target:.1f}x: met"
    over_ms = (ratio - target) * base_ms
    return f"≤ {target:.1f}x: **missed** by {ratio - target:.2f}x ({over_ms:.0f} ms)"


def render(results: Sequence[ColdStart], repeat: int) -> str:
    by_module = {r.module: r for r in results}
    base = by_module[FASTAPI_BASELINE]
    lines = [
        f"Median of {repeat} fresh interpreters per module and mode, rounds interleaved; "
        "ratios against the bare FastAPI + Mangum module in the same mode.",
        "",
        "| module | kind | import ms, bytecode | vs FastAPI | target | "
        "import ms, no bytecode | vs FastAPI | first clients ms |",
        "|---|---|--:|--:|---|--:|--:|--:|",
    ]
    for r in results:
        clients = "" if r.clients_ms is None else f"{r.clients_ms:.0f}"
        lines.append(
            f"| `{r.module}` | {r.kind} | {r.import_ms:.0f} | {r.import_ms / base.import_ms:.2f}x"
            f" | {_verdict(r, base.import_ms)} | {r.source_ms:.0f} | "
            f"{r.source_ms / base.source_ms:.2f}x | {clients} |"
        )
    return "\n".join(lines)


def heaviest_imports(
    python: Path, artifact: Artifact, module: str, count: int = 8
) -> list[tuple[str, float]]:
    """Top-level packages by the cumulative time `-X importtime` records at their first
    import, in the artifact with bytecode (nested packages overlap: fastapi's time includes
    pydantic's)."""
    task_root = _task_root(artifact, module)
    script = f"import sys; sys.path[:0] = [{str(task_root)!r}, {str(artifact.layer)!r}]; "
    done = subprocess.run(  # noqa: S603 -- the runtime's interpreter and a fixed script
        [str(python), "-I", "-S", "-X", "importtime", "-c", f"{script}import {module}"],
        env=lambda_environment(task_root),
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
        if "." in name or name.startswith("_") or name == module.partition(".")[0]:
            continue
        packages[name] = max(packages.get(name, 0.0), int(fields[1]) / 1000)
    return sorted(packages.items(), key=lambda item: -item[1])[:count]


def imports_note(python: Path, artifact: Artifact, results: Sequence[ColdStart]) -> str:
    base = next(r for r in results if r.module == FASTAPI_BASELINE)
    over = [
        r.module
        for r in results
        if (target := target_of(r.kind)) is not None and r.import_ms / base.import_ms > target
    ]
    shown = [FASTAPI_BASELINE, *over] if over else [FASTAPI_BASELINE, "usage_api.app"]
    lines = [
        "Where the time goes (`python -X importtime` in the artifact with bytecode, one run "
        "each, cumulative ms of the top-level packages at their first import"
        + (", for every module over its target" if over else "")
        + "):",
        "",
    ]
    for module in shown:
        heaviest = ", ".join(
            f"{name} {ms:.0f}" for name, ms in heaviest_imports(python, artifact, module)
        )
        lines.append(f"- `{module}`: {heaviest}")
    return "\n".join(lines)


HEADER = """\
## Cold-start import time per function (`bench/cold_start.py`)

What each function's init phase spends importing its code, measured as Lambda runs it: the
built artifact (`infra.build --host` into a temporary folder), a function's folder as the
task root and the layer's `python/` as the only other path, a fresh `python3.12 -I -S` per
measurement; with the bytecode the build ships, and without it (a copy without
`__pycache__`, run with `-B`, as every cold start was before the build compiled it). The
environment is Lambda's (`LAMBDA_TASK_ROOT` and the other variables it sets) with the
template's `POWERTOOLS_TRACE_DISABLED=false`: the Tracer is active, and the X-Ray SDK takes
its Lambda path (a local sampler: no botocore sampler client at import, which it builds
outside Lambda; Lambda does not set `AWS_XRAY_SDK_ENABLED`). Baselines, compiled and run the
same way: a bare FastAPI + Mangum module (`bench/baseline_app.py`) and a bare powertools
`APIGatewayHttpResolver` (`bench/baseline_powertools.py`). "First clients" is building the
DynamoDB and S3 clients (`aiimage.aws`) after the import, in the same interpreter: importing
boto3 and botocore's client machinery, X-Ray's botocore patch, the two clients. The first
request pays it (or, with SnapStart, the snapshot's warm-up), the import does not. Targets
(issue 18), with bytecode: every HTTP function ≤ 1.3x the FastAPI baseline, every SQS
worker ≤ 1.0x."""

NOTES = """\
Reading: FastAPI with Starlette and pydantic is most of the baseline, and every HTTP
function pays it; powertools (Logger, Metrics) and the settings are what every function
adds, the workers included. Deferred to the paths that need them
(`tests/unit/test_import_graph.py` keeps them out of each handler's import): boto3 with
s3transfer, botocore's client machinery, the X-Ray SDK (the Tracer is built with the first
AWS client, whose botocore it patches: "first clients"), powertools' idempotency with its
boto3 (the edits API's first invocation), PyJWT and cryptography (a bearer token), Pillow
(where bytes are decoded: never in the usage, uploads, delivery, pages or edits APIs'
import), httpx (a provider call; the Tracer patches botocore only, where `patch_all`
imported httpx to patch it). Never imported: `pydantic.v1`, which FastAPI imports to refuse
v1 models as soon as a route has a typed field (the baseline pays it;
`aiimage.http.pydantic_v1` answers "no v1 model" until it is imported), and powertools'
parser models, which its batch types import for type hints when pydantic is already loaded
(each worker loads `aiimage.workers` first), and pydantic-settings with python-dotenv and
argparse (`aiimage.settings` reads the environment itself). What is left over the FastAPI
baseline is what every request needs: powertools' Logger and Metrics, the settings model,
and our routes' and models' pydantic schemas: the edits API has the most, and its route
modules (FastAPI's analysis of each route's parameters, the pydantic schemas of their
bodies and answers) with the Magic Edits models are where it misses its target. Without
bytecode every module of FastAPI, pydantic and ours is compiled on each
cold start: about 2 to 2.5 times the import with it. The absolute numbers are this shared
2-vCPU x86 machine's with Python 3.12; Lambda is arm64, so the ratios between modules
measured in the same run are what carries over."""


def run(repeat: int = REPEAT, build_dir: Path | None = None) -> str:
    python = build.find_python312()
    modules = [*BASELINES, *function_modules()]
    with artifacts(build_dir, python) as pair:
        results = measure(python, modules, pair, repeat)
        note = imports_note(python, pair[0], results)
    return "\n\n".join([HEADER, render(results, repeat), note, NOTES])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start")
    parser.add_argument("--repeat", type=int, default=REPEAT)
    parser.add_argument("--artifact", type=Path, help="an existing `infra.build --host` build")
    args = parser.parse_args(argv)
    print(run(args.repeat, args.artifact))


if __name__ == "__main__":
    main()
