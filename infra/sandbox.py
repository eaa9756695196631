"""The settings under which the functions run against moto in one process (the tests, the
benchmarks): every resource named after a prefix, fake credentials, the local provider, and
none of the variables that would point the clients at a real account or provider.

Only the standard library here: it is applied before `aiimage.settings` is first read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping

# Would point the clients elsewhere or change what they do.
DROPPED_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "GUEST_COOKIE_SECRET_PARAM",
    "JWT_SECRET_PARAM",
    "STORAGE_ENDPOINT_URL",
    "CLOUDFLARE_ACCOUNT_ID",
    "CLOUDFLARE_API_TOKEN",
    "REPLICATE_API_TOKEN",
    "RUNWARE_API_KEY",
)
_QUEUES = "https://sqs.us-east-1.amazonaws.com/123456789012"


def sandbox_env(prefix: str) -> dict[str, str]:
    """The settings of a sandbox whose tables, queues and bucket are named `<prefix>-...`."""
    return {
        "STAGE": "test",  # a stage Settings accepts; not "prod" (no SSM, local provider)
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": prefix,
        "AWS_SECRET_ACCESS_KEY": prefix,
        "LIMITS_TABLE": f"{prefix}-limits",
        "JOBS_TABLE": f"{prefix}-jobs",
        "JOBS_QUEUE_URL": f"{_QUEUES}/{prefix}-jobs",
        "IMAGES_BUCKET": f"{prefix}-images",
        "EDITS_TABLE": f"{prefix}-edits",
        "IDEMPOTENCY_TABLE": f"{prefix}-idempotency",
        "EDITS_QUEUE_URL": f"{_QUEUES}/{prefix}-edits",
        "EDITS_POLL_QUEUE_URL": f"{_QUEUES}/{prefix}-edits-poll",
        "LOCAL_PROVIDER_ENABLED": "true",
        "GUEST_COOKIE_SECRET": f"{prefix}-guest-cookie-secret-0123456789abcdef",
        "JWT_SECRET": f"{prefix}-jwt-secret-0123456789abcdef-0123456789",
        "ALLOWED_ORIGINS": f"https://app.{prefix}",
        "POWERTOOLS_SERVICE_NAME": f"aiimage-{prefix}",
        "POWERTOOLS_METRICS_NAMESPACE": f"AiImage{prefix.capitalize()}",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
    }


def physical_names(env: Mapping[str, str]) -> dict[str, str]:
    """The template's resources under the names `env` (a `sandbox_env`) gives them."""
    queue = {name: env[name].rsplit("/", 1)[1] for name in _QUEUE_VARIABLES.values()}
    names = {
        "LimitsTable": env["LIMITS_TABLE"],
        "JobsTable": env["JOBS_TABLE"],
        "ImagesBucket": env["IMAGES_BUCKET"],
        "EditsTable": env["EDITS_TABLE"],
        "IdempotencyTable": env["IDEMPOTENCY_TABLE"],
    }
    for logical_id, variable in _QUEUE_VARIABLES.items():
        names[logical_id] = queue[variable]
        names[logical_id.removesuffix("Queue") + "DeadLetterQueue"] = f"{queue[variable]}-dlq"
    return names


_QUEUE_VARIABLES = {
    "JobsQueue": "JOBS_QUEUE_URL",
    "EditsQueue": "EDITS_QUEUE_URL",
    "EditsPollQueue": "EDITS_POLL_QUEUE_URL",
}


def apply_sandbox_env(
    env: Mapping[str, str], target: MutableMapping[str, str] = os.environ
) -> None:
    """Put `env` in place in `target` (this process's environment), without the variables
    that would reach outside the sandbox."""
    for name in DROPPED_ENV:
        target.pop(name, None)
    target.update(env)
