"""Export the runtime dependencies of pyproject.toml to the layer's requirements.txt.

`python -m infra.requirements --write` regenerates the file; without `--write` it prints
what the file should contain. A unit test fails when the committed file drifts.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LAYER_REQUIREMENTS = ROOT / "layers" / "common" / "requirements.txt"

HEADER = (
    "# Generated from pyproject.toml by `make requirements`; do not edit by hand.\n"
    "# `sam build` installs these into the CommonLayer (/opt/python on Lambda).\n"
)


def render() -> str:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    dependencies = sorted(project["dependencies"], key=str.lower)
    return HEADER + "".join(f"{dep}\n" for dep in dependencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="write the layer's requirements.txt")
    args = parser.parse_args()
    if args.write:
        LAYER_REQUIREMENTS.write_text(render())
        print(f"wrote {LAYER_REQUIREMENTS.relative_to(ROOT)}")
    else:
        print(render(), end="")


if __name__ == "__main__":
    main()
