"""The benchmarks' environment and AWS: fixed settings, and moto with every resource of
`template.yaml`.

Importing this module sets the environment (before `aiimage.settings` is first read), as
`tests/conftest.py` does for the tests: the benchmarks measure the production code paths
against moto, never a real account. Tests never import it (they have their own settings);
what they share with the benchmarks is in `bench.counting`, `bench.events` and
`bench.routes`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

BENCH_ENV = {
    "STAGE": "test",  # a stage Settings accepts; not "prod" (no SSM, local provider)
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "LIMITS_TABLE": "bench-limits",
    "JOBS_TABLE": "bench-jobs",
    "JOBS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench-jobs",
    "IMAGES_BUCKET": "bench-images",
    "EDITS_TABLE": "bench-edits",
    "IDEMPOTENCY_TABLE": "bench-idempotency",
    "EDITS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench-edits",
    "EDITS_POLL_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench-edits-poll",
    "LOCAL_PROVIDER_ENABLED": "true",
    "GUEST_COOKIE_SECRET": "bench-guest-cookie-secret-0123456789abcdef",
    "JWT_SECRET": "bench-jwt-secret-0123456789abcdef-0123456789",
    "ALLOWED_ORIGINS": "https://app.bench",
    "POWERTOOLS_SERVICE_NAME": "aiimage-bench",
    "POWERTOOLS_METRICS_NAMESPACE": "AiImageBench",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_DEV": "false",
}
# Would point the clients elsewhere or change what they do.
_DROPPED_ENV = (
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
PHYSICAL_NAMES = {
    "LimitsTable": BENCH_ENV["LIMITS_TABLE"],
    "JobsTable": BENCH_ENV["JOBS_TABLE"],
    "JobsQueue": "bench-jobs",
    "JobsDeadLetterQueue": "bench-jobs-dlq",
    "ImagesBucket": BENCH_ENV["IMAGES_BUCKET"],
    "EditsTable": BENCH_ENV["EDITS_TABLE"],
    "IdempotencyTable": BENCH_ENV["IDEMPOTENCY_TABLE"],
    "EditsQueue": "bench-edits",
    "EditsDeadLetterQueue": "bench-edits-dlq",
    "EditsPollQueue": "bench-edits-poll",
    "EditsPollDeadLetterQueue": "bench-edits-poll-dlq",
}
ENDPOINT_VARIABLE = "BENCH_AWS_ENDPOINT_URL"


def bench_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with the benchmark settings applied."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in _DROPPED_ENV}
    env.update(BENCH_ENV)
    return env


def _apply_environment() -> None:
    # A benchmark's child process may be pointed at a moto server of its parent.
    endpoint = os.environ.get(ENDPOINT_VARIABLE)
    for name in _DROPPED_ENV:
        os.environ.pop(name, None)
    os.environ.update(BENCH_ENV)
    if endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint


_apply_environment()

from aiimage import aws  # noqa: E402 -- after the environment
from aiimage.edits.catalog_store import catalog  # noqa: E402
from aiimage.enhancer.dispatch import get_provider  # noqa: E402
from aiimage.settings import get_settings  # noqa: E402


def reset_caches() -> None:
    get_settings.cache_clear()
    aws.reset_clients()
    get_provider.cache_clear()
    catalog.cache_clear()


def create_stack() -> None:
    """Every table, queue and bucket of template.yaml, on whatever moto the clients reach."""
    from infra.resources import create_resources
    from infra.template import load_template

    create_resources(
        load_template(),
        parameters={"AppOrigin": BENCH_ENV["ALLOWED_ORIGINS"]},
        physical_names=PHYSICAL_NAMES,
    )


@contextmanager
def moto_stack() -> Iterator[None]:
    """moto in-process (with DynamoDB's per-item atomicity, see `infra.emulation`)."""
    from moto import mock_aws

    from infra.emulation import serialize_dynamodb

    serialize_dynamodb()
    with mock_aws():
        reset_caches()
        create_stack()
        yield
    reset_caches()
