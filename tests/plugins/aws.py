"""In-process AWS (moto with every resource of template.yaml) and per-test settings."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator

import pytest
from moto import mock_aws

from aiimage.singletons import reset_singletons
from infra.emulation import serialize_dynamodb
from infra.signing import LocalSigning, local_signing
from tests.conftest import create_test_resources


@pytest.fixture(scope="session", autouse=True)
def c2pa_signing() -> Iterator[LocalSigning]:
    """The run's C2PA signing identity (a test CA and its leaf): every stored result is
    signed, so every test that stores one needs it. Verifiers take `ca_pem` as the anchor."""
    signing = local_signing()
    os.environ["C2PA_SIGNING_BUNDLE"] = signing.bundle
    reset_singletons()
    yield signing
    os.environ.pop("C2PA_SIGNING_BUNDLE", None)
    reset_singletons()


@pytest.fixture(autouse=True)
def thread_event_loop() -> None:
    """Mangum runs each invocation on the thread's current event loop, which Lambda's runtime
    always has. `asyncio.run()` (the load client, an async test) ends by unsetting it, so a
    later handler test in the same process would fail: give the thread one again."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Change settings for one test: `settings_env(USER_DAILY_LIMIT="5")`."""

    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        reset_singletons()

    yield apply
    monkeypatch.undo()
    reset_singletons()


@pytest.fixture
def aws_stack() -> Iterator[None]:
    """moto in-process, with every resource of template.yaml created from the template."""
    serialize_dynamodb()
    with mock_aws():
        create_test_resources()
        yield
    reset_singletons()
