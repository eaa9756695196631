"""Lambda's python3.12 runtime, as far as a handler can tell: run with `python -I -S` (no
site-packages, no PYTHON* variables), only the task root and the layer on `sys.path`.

    python3.12 -I -S lambda_runtime.py TASK_ROOT LAYER_PYTHON < job.json

The job is `{"handler": "pkg.module.name", "function_name": ..., "events": [...]}`; the
answer on stdout is one JSON line: `{"responses": [...], "loaded_from": {module: file},
"bytecode": [modules imported without their .pyc]}`. Standard library only: nothing of the
checkout is importable here, which is the point.
"""

import importlib
import json
import sys
import uuid
from pathlib import Path


class Context:
    """The fields of Lambda's context object the handlers and powertools read."""

    memory_limit_in_mb = 512
    function_version = "$LATEST"

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "artifact-test"

    def get_remaining_time_in_millis(self) -> int:
        return 25_000


def main() -> None:
    task_root, layer = sys.argv[1], sys.argv[2]
    sys.path[:0] = [task_root, layer]
    job = json.load(sys.stdin)
    module_name, _, attribute = job["handler"].rpartition(".")
    handler = getattr(importlib.import_module(module_name), attribute)
    responses = [handler(event, Context(job["function_name"])) for event in job["events"]]
    ours = {
        name: path
        for name, module in list(sys.modules.items())
        if isinstance(path := getattr(module, "__file__", None), str)
        and path.startswith((task_root, layer))
    }
    report = {
        "responses": responses,
        "loaded_from": ours,
        # A module whose .pyc is missing or was rejected got compiled at import time.
        "bytecode": [
            name
            for name, path in ours.items()
            if path.endswith(".py") and not _has_pyc(getattr(sys.modules[name], "__cached__", None))
        ],
    }
    sys.stdout.write("\n" + json.dumps(report, default=str) + "\n")


def _has_pyc(cached: object) -> bool:
    if not isinstance(cached, str):
        return False
    try:
        with Path(cached).open("rb") as pyc:
            return int.from_bytes(pyc.read(8)[4:8], "little") == 1  # unchecked-hash
    except OSError:
        return False


if __name__ == "__main__":
    main()
