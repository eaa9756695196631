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

from infra.sandbox import apply_sandbox_env, physical_names, sandbox_env
from infra.signing import local_signing

# Every benchmark event comes from one address: its network's daily cap (10) would refuse
# the fresh guests of the routes after the tenth generate.
BENCH_ENV = {
    **sandbox_env("bench"),
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "GUEST_NETWORK_DAILY_LIMIT": "1000000",
}
PHYSICAL_NAMES = physical_names(BENCH_ENV)
ENDPOINT_VARIABLE = "BENCH_AWS_ENDPOINT_URL"


def bench_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with the benchmark settings applied."""
    env = dict(os.environ if base is None else base)
    apply_sandbox_env(BENCH_ENV, env)
    return env


def _apply_environment() -> None:
    # A benchmark's child process may be pointed at a moto server of its parent.
    endpoint = os.environ.get(ENDPOINT_VARIABLE)
    apply_sandbox_env(BENCH_ENV)
    if endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
    # Every stored result is signed: one test CA per run, inherited by the child processes.
    if not os.environ.get("C2PA_SIGNING_BUNDLE"):
        os.environ["C2PA_SIGNING_BUNDLE"] = local_signing().bundle


_apply_environment()

from aiimage.singletons import reset_singletons  # noqa: E402 -- after the environment


def reset_caches() -> None:
    reset_singletons()


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
