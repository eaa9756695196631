"""What each handler's import leaves out: heavy modules that only some paths need are
imported by those paths, not by Lambda's init (issue 18, What to build 3).

Each handler is imported in a fresh interpreter, as Lambda's init imports it, with Lambda's
`LAMBDA_TASK_ROOT` and the template's `POWERTOOLS_TRACE_DISABLED=false`: the Tracer is
active and patches what it patches on Lambda (`patch_all` would import httpx to patch it).
The lists are what each handler must NOT have in `sys.modules` afterwards; a module that
comes back at import fails its handler's case with the chain that imported it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = sorted(path.parent.name for path in (ROOT / "functions").glob("*/app.py"))

# PyJWT and cryptography: only a bearer token. httpx: only a provider call. boto3 (and
# s3transfer, which it imports): only the first AWS client (`aiimage.aws`), its codec, or
# powertools' idempotency (the edits API's keyed creates). The X-Ray SDK: only the first
# AWS client (`observability.trace_aws_calls` builds the Tracer). pydantic.v1: never
# (`aiimage.http.pydantic_v1`: FastAPI would import it to refuse v1 models).
# pydantic-settings (with python-dotenv and argparse): never (`aiimage.settings` reads the
# environment itself). c2pa (a native library): only the signature of a result or the
# reading of its manifest.
NO_HANDLER_AT_IMPORT = (
    "jwt",
    "cryptography",
    "httpx",
    "boto3",
    "s3transfer",
    "aws_xray_sdk",
    "pydantic.v1",
    "pydantic_settings",
    "dotenv",
    "c2pa",
)
NO_WORKER_AT_IMPORT = ("fastapi", "starlette", "mangum", "aws_lambda_powertools.utilities.parser")
# Pillow: only where bytes are decoded. FastAPI: only the HTTP functions.
NOT_AT_IMPORT: dict[str, tuple[str, ...]] = {
    "usage_api": (*NO_HANDLER_AT_IMPORT, "PIL"),
    "delivery_api": (*NO_HANDLER_AT_IMPORT, "PIL"),
    "web_app": (*NO_HANDLER_AT_IMPORT, "PIL"),
    # Its tenant and superadmin routes and the guests' manifest route: with their first
    # request (`DeferredRouters`).
    "ai_edits_api": (
        *NO_HANDLER_AT_IMPORT,
        "PIL",
        "ai_edits_api.tenant",
        "ai_edits_api.tenant_console",
        "ai_edits_api.admin",
        "ai_edits_api.admin_console",
        "ai_edits_api.provenance",
        "aiimage.imaging.provenance",
    ),
    "generate_api": NO_HANDLER_AT_IMPORT,
    # Pillow: with the first submission; the provenance signer: never (the worker signs).
    "jobs_api": (*NO_HANDLER_AT_IMPORT, "PIL", "aiimage.imaging.provenance"),
    "uploads_api": (*NO_HANDLER_AT_IMPORT, "PIL"),
    # The workers decode results (Pillow), and answer no HTTP. powertools' parser models:
    # never (`aiimage.workers`: batch processing loads before pydantic).
    "jobs_worker": (*NO_HANDLER_AT_IMPORT, *NO_WORKER_AT_IMPORT),
    "edit_submit_worker": (*NO_HANDLER_AT_IMPORT, *NO_WORKER_AT_IMPORT),
    "edit_poll_worker": (*NO_HANDLER_AT_IMPORT, *NO_WORKER_AT_IMPORT),
    "ops_scheduled": (*NO_HANDLER_AT_IMPORT, "fastapi", "starlette", "mangum"),
}

# Records, for each watched module, the importer chain of its first import.
_PROBE = """\
import importlib, json, sys, traceback
watched = set(sys.argv[2].split(","))
chains = {}
class Witness:
    def find_spec(self, name, path=None, target=None):
        if name in watched and name not in chains:
            frames = [f.f_globals.get("__name__", "") for f, _ in traceback.walk_stack(None)]
            ours = [n for n in frames if n and not n.startswith(("importlib", "__main__"))]
            chains[name] = " <- ".join(dict.fromkeys(ours))
        return None
sys.meta_path.insert(0, Witness())
importlib.import_module(sys.argv[1])
loaded = {m: chains.get(m, "?") for m in watched if m in sys.modules}
print(json.dumps(loaded))
"""


def _lambda_environment() -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/common", "functions")),
        "PYTHONDONTWRITEBYTECODE": "1",
        "STAGE": "test",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "LAMBDA_TASK_ROOT": str(ROOT / "functions"),
        "AWS_LAMBDA_FUNCTION_NAME": "import-graph",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "POWERTOOLS_TRACE_DISABLED": "false",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    }


def loaded_at_import(handler: str, watched: tuple[str, ...]) -> dict[str, str]:
    """Of `watched`, what a fresh interpreter has loaded after importing `handler.app`,
    each with the chain of modules that imported it first."""
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", _PROBE, f"{handler}.app", ",".join(watched)],
        env=_lambda_environment(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"{handler}.app does not import:\n{done.stderr[-2000:]}")
    loaded: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_every_handler_has_its_list() -> None:
    assert sorted(NOT_AT_IMPORT) == HANDLERS


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_handler_imports_no_module_its_init_does_not_need(handler: str) -> None:
    loaded = loaded_at_import(handler, NOT_AT_IMPORT[handler])
    assert loaded == {}, "\n".join(f"{m} <- {chain}" for m, chain in sorted(loaded.items()))


def test_the_probe_sees_what_a_handler_does_import() -> None:
    """The probe is no vacuous pass: what a worker really imports is reported, with its chain."""
    loaded = loaded_at_import("jobs_worker", ("PIL", "aws_lambda_powertools"))
    assert set(loaded) == {"PIL", "aws_lambda_powertools"}
    assert loaded["aws_lambda_powertools"].endswith("jobs_worker.app")


def test_the_first_client_patches_botocore_for_xray_once() -> None:
    """The Tracer patches at the first AWS client, not at import: every client is traced."""
    probe = (
        "import sys, json, usage_api.app\n"
        "from aws_xray_sdk.core import patcher\n"
        "before = [sorted(patcher._PATCHED_MODULES), 'botocore.client' in sys.modules]\n"
        "from aiimage import aws\n"
        "client = aws.dynamodb(); aws.s3()\n"
        "from botocore.client import BaseClient\n"
        "wrapped = hasattr(BaseClient._make_api_call, '__wrapped__')\n"
        "print(json.dumps([before, sorted(patcher._PATCHED_MODULES), wrapped]))\n"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", probe],
        env=_lambda_environment(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    before, after, wrapped = json.loads(done.stdout.strip().splitlines()[-1])
    assert before == [[], False]
    assert after == ["botocore"]
    assert wrapped is True
