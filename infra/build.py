"""`make build`: the Lambda artifacts with `sam build`, no container, then their bytecode.

    python -m infra.build [--host] [--build-dir DIR] [--python PYTHON3.12] [--sam SAM]

`sam build` (the pinned SAM CLI of `.venv-sam`) copies each function's CodeUri and builds the
CommonLayer through layers/common/Makefile, which installs requirements.lock as wheels for
Lambda's arm64. SAM checks that a `python3.12` is on PATH (its "binary validation"), so the
3.12 interpreter's folder goes first on PATH for the call.

Lambda's /var/task and /opt are read-only, so a module without bytecode is compiled again on
every cold start. After the build every artifact is compiled by that CPython 3.12
(`__pycache__/*.cpython-312.pyc`, the tag Lambda's runtime looks for) with unchecked-hash
invalidation: the zip's timestamps never make the runtime reject or recompile them.

`--host` builds the same layout for this machine's architecture (the artifact test imports
and invokes it here): the template is rewritten to the host architecture with absolute code
paths, and the layer gets the host's wheels of the same locked versions.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
SAM_VENV = ROOT / ".venv-sam"
DEFAULT_BUILD_DIR = ROOT / ".aws-sam" / "build"
LAMBDA_ARCHITECTURE = "arm64"
# Lambda's name for an architecture -> the machine in its wheels' platform tags.
WHEEL_ARCHES = {"arm64": "aarch64", "x86_64": "x86_64"}
_HOST_ARCHITECTURES = {"aarch64": "arm64", "arm64": "arm64", "x86_64": "x86_64", "amd64": "x86_64"}
_CODE_PATH = re.compile(r"^(\s+(?:CodeUri|ContentUri):\s*)(\S+)\s*$", re.MULTILINE)


class BuildError(Exception):
    """The build cannot run here; the message says what is missing."""


def host_architecture() -> str:
    machine = platform.machine().lower()
    if machine not in _HOST_ARCHITECTURES:
        raise BuildError(f"no Lambda architecture matches this machine ({machine})")
    return _HOST_ARCHITECTURES[machine]


def find_sam() -> Path:
    """The pinned SAM CLI that `make sam` installs, else one on PATH."""
    pinned = SAM_VENV / "bin" / "sam"
    if pinned.exists():
        return pinned
    found = shutil.which("sam")
    if found is None:
        raise BuildError("the AWS SAM CLI is missing: `make sam` installs the pinned one")
    return Path(found)


def find_python312() -> Path:
    """A CPython 3.12 outside any venv: SAM validates it, pip and compileall run on it."""
    candidates = [getattr(sys, "_base_executable", sys.executable), shutil.which("python3.12")]
    for candidate in filter(None, candidates):
        path = Path(candidate)
        probe = [str(path), "-c", "import sys; print(sys.version_info[:2] == (3, 12))"]
        answer = subprocess.run(probe, capture_output=True, text=True, check=False)  # noqa: S603
        if answer.stdout.strip() == "True":
            return path
    raise BuildError(
        "python3.12 is missing: install it (pyenv install 3.12) or pass --python /path/to/3.12"
    )


def host_template(build_dir: Path, architecture: str) -> Path:
    """template.yaml for `architecture`, its code paths absolute, written beside the build."""
    text = TEMPLATE.read_text()
    text = text.replace("[arm64]", f"[{architecture}]")
    text = text.replace("BuildArchitecture: arm64", f"BuildArchitecture: {architecture}")
    text = _CODE_PATH.sub(lambda m: f"{m.group(1)}{(ROOT / m.group(2)).as_posix()}/", text)
    path = build_dir.parent / f"template-{architecture}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def compile_bytecode(build_dir: Path, python: Path) -> None:
    """Ship .pyc in every artifact: Lambda cannot write them into its read-only code."""
    compileall = [str(python), "-m", "compileall", "-q", "-j0"]
    for artifact in sorted(p for p in build_dir.iterdir() if p.is_dir()):
        command = [*compileall, "--invalidation-mode", "unchecked-hash", str(artifact)]
        subprocess.run(command, check=True)  # noqa: S603 - our own fixed command


def build(
    *,
    build_dir: Path = DEFAULT_BUILD_DIR,
    architecture: str = LAMBDA_ARCHITECTURE,
    python: Path | None = None,
    sam: Path | None = None,
    resources: tuple[str, ...] = (),
) -> Path:
    """Run `sam build` into `build_dir` for `architecture`, then compile it; the build dir."""
    python = python or find_python312()
    sam = sam or find_sam()
    if architecture == LAMBDA_ARCHITECTURE and build_dir == DEFAULT_BUILD_DIR:
        template = TEMPLATE
    else:
        template = host_template(build_dir, architecture)
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(python.parent), os.environ.get("PATH", "")]),
        "LAYER_ARCH": WHEEL_ARCHES[architecture],
        "LAYER_PYTHON": str(python),
        "SAM_CLI_TELEMETRY": "0",
    }
    if build_dir.exists():
        shutil.rmtree(build_dir)  # a dropped file must not survive from an earlier build
    command = [str(sam), "build", "--template-file", str(template), "--build-dir", str(build_dir)]
    command += ["--no-use-container", "--no-cached", "--parallel", *resources]
    subprocess.run(command, cwd=ROOT, env=env, check=True)  # noqa: S603 - our own command
    compile_bytecode(build_dir, python)
    return build_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", action="store_true", help="build for this machine's arch")
    parser.add_argument("--build-dir", type=Path, default=DEFAULT_BUILD_DIR)
    parser.add_argument("--python", type=Path, help="a CPython 3.12 (default: found)")
    parser.add_argument("--sam", type=Path, help="the SAM CLI (default: .venv-sam's)")
    args = parser.parse_args()
    try:
        architecture = host_architecture() if args.host else LAMBDA_ARCHITECTURE
        build(build_dir=args.build_dir, architecture=architecture, python=args.python, sam=args.sam)
    except BuildError as exc:
        raise SystemExit(str(exc)) from exc
    print(f"built {args.build_dir} for {architecture}")


if __name__ == "__main__":
    main()
