"""docs/api/openapi.yaml: one OpenAPI document for the whole HttpApi, generated from the
apps the template routes to (so it documents exactly what is deployed).

    python -m infra.openapi --write   # regenerate
    python -m infra.openapi --check   # exit 1 when the file differs from the code

`tests/unit/test_openapi.py` runs the check and validates the document.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI

from infra.gateway import load_app
from infra.template import TemplateError, load_template

ROOT = Path(__file__).resolve().parents[1]
OPENAPI_PATH = ROOT / "docs" / "api" / "openapi.yaml"
INFO = {
    "title": "AI image platform",
    "version": "1.0.0",
    "description": (
        "The HTTP API of the AI Image Enhancer. Every response uses the envelope "
        '`{"success": true, "data": …}` or `{"success": false, "error": {type, code, '
        "message, details?}}`. Guests are identified by the signed `guest_id` cookie, users by "
        "a JWT bearer token; cookie-authenticated unsafe requests need a same-site `Origin` and "
        "`X-CSRF-Token` equal to the `csrf_token` cookie."
    ),
}


def build() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    template = load_template()
    for function in sorted(template.functions.values(), key=lambda f: f.logical_id):
        if not function.routes:
            continue
        app = load_app(function.handler)
        if not isinstance(app, FastAPI):
            raise TemplateError(f"{function.logical_id}: {function.handler} is not a FastAPI app")
        document = app.openapi()
        for path, operations in document.get("paths", {}).items():
            for operation in operations.values():
                operation["x-function"] = function.logical_id
            paths[path] = operations
        schemas.update(document.get("components", {}).get("schemas", {}))
    return {
        "openapi": "3.1.0",
        "info": INFO,
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


def render() -> str:
    return yaml.safe_dump(build(), sort_keys=False, allow_unicode=True, width=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.openapi", description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        OPENAPI_PATH.parent.mkdir(parents=True, exist_ok=True)
        OPENAPI_PATH.write_text(text)
        return 0
    if not OPENAPI_PATH.exists() or OPENAPI_PATH.read_text() != text:
        print(
            f"{OPENAPI_PATH.relative_to(ROOT)} is out of date: run `make openapi`", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
