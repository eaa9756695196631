"""Export the runtime dependencies of pyproject.toml to the layer, and lock them.

`python -m infra.requirements --write` regenerates `layers/common/requirements.txt` (the
ranges of pyproject.toml) and `layers/common/requirements.lock`: every package the layer
ships, pinned with the hashes of its distributions, resolved by uv for Lambda's platform
(linux aarch64, CPython 3.12, manylinux2014). `make build` installs the layer from the lock
with pip's hash checking, so the Pillow, pydantic-core and botocore the tests run on are the
ones deployed. Versions already in the lock are kept (uv prefers them) unless `--upgrade`.

Without `--write` it prints what requirements.txt should contain. Unit tests fail when
either file drifts: requirements.txt from pyproject, the lock from requirements.txt (its
header records the input's digest) or from the test environment's versions.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LAYER_REQUIREMENTS = ROOT / "layers" / "common" / "requirements.txt"
LAYER_LOCK = ROOT / "layers" / "common" / "requirements.lock"

# Lambda's arm64 python3.12 runtime (Amazon Linux 2023, glibc 2.34) runs manylinux wheels up
# to 2_28, the newest tag wheels commonly ship; only wheels, never an sdist built on the fly.
LOCK_PLATFORM = "aarch64-manylinux_2_28"
LOCK_PYTHON = "3.12"

HEADER = (
    "# Generated from pyproject.toml by `make requirements`; do not edit by hand.\n"
    "# The input of requirements.lock, which `make build` installs into the CommonLayer.\n"
)
LOCK_HEADER = (
    "# Generated from requirements.txt by `make requirements` (uv pip compile for\n"
    f"# {LOCK_PLATFORM}, CPython {LOCK_PYTHON}, wheels only); do not edit by hand.\n"
    "# `make build` installs it into the CommonLayer (/opt/python) with --require-hashes.\n"
)
_DIGEST_LINE = re.compile(r"^# requirements\.txt sha256: ([0-9a-f]{64})$", re.MULTILINE)
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def render() -> str:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    dependencies = sorted(project["dependencies"], key=str.lower)
    return HEADER + "".join(f"{dep}\n" for dep in dependencies)


def input_digest(requirements: str) -> str:
    return hashlib.sha256(requirements.encode()).hexdigest()


def recorded_digest(lock: str) -> str | None:
    """The digest of the requirements.txt the lock was compiled from."""
    match = _DIGEST_LINE.search(lock)
    return match.group(1) if match else None


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: str) -> dict[str, str]:
    """Normalised package name -> the version the lock pins."""
    return {normalize(name): version for name, version in _PIN.findall(lock)}


def compile_lock(requirements: Path, previous: str | None, *, upgrade: bool = False) -> str:
    """The lock for `requirements`, resolved by uv; pins of `previous` are preferred."""
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "requirements.lock"
        if previous is not None:
            output.write_text(previous)  # uv keeps the versions of an existing output file
        command = [
            sys.executable,
            "-m",
            "uv",
            "pip",
            "compile",
            str(requirements),
            "--python-platform",
            LOCK_PLATFORM,
            "--python-version",
            LOCK_PYTHON,
            "--generate-hashes",
            "--only-binary",
            ":all:",
            "--no-header",
            "--quiet",
            "--output-file",
            str(output),
            *(["--upgrade"] if upgrade else []),
        ]
        subprocess.run(command, check=True)  # noqa: S603 - our own fixed command
        body = output.read_text()
    digest = input_digest(requirements.read_text())
    return f"{LOCK_HEADER}# requirements.txt sha256: {digest}\n{body}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="write requirements.txt and the lock")
    parser.add_argument("--upgrade", action="store_true", help="re-resolve the lock's versions")
    args = parser.parse_args()
    if not args.write:
        print(render(), end="")
        return
    LAYER_REQUIREMENTS.write_text(render())
    print(f"wrote {LAYER_REQUIREMENTS.relative_to(ROOT)}")
    if importlib.util.find_spec("uv") is None:
        raise SystemExit("uv is missing: `make install` installs it (a dev dependency)")
    previous = LAYER_LOCK.read_text() if LAYER_LOCK.exists() else None
    LAYER_LOCK.write_text(compile_lock(LAYER_REQUIREMENTS, previous, upgrade=args.upgrade))
    print(f"wrote {LAYER_LOCK.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
