"""Test environment: fixed settings before the layer is imported, moto for AWS."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

# The environment as the test run found it; subprocesses (the local stack) start from it.
PRISTINE_ENV = dict(os.environ)

TEST_ENV = {
    "STAGE": "test",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "LIMITS_TABLE": "test-limits",
    "JOBS_TABLE": "test-jobs",
    "JOBS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/test-jobs",
    "IMAGES_BUCKET": "test-images",
    "EDITS_TABLE": "test-edits",
    "IDEMPOTENCY_TABLE": "test-idempotency",
    "EDITS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/test-edits",
    "EDITS_POLL_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/test-edits-poll",
    "LOCAL_PROVIDER_ENABLED": "true",
    "GUEST_COOKIE_SECRET": "test-guest-cookie-secret-0123456789abcdef",
    "JWT_SECRET": "test-jwt-secret-0123456789abcdef-0123456789",
    "ALLOWED_ORIGINS": "https://app.test",
    "POWERTOOLS_SERVICE_NAME": "aiimage-test",
    "POWERTOOLS_METRICS_NAMESPACE": "AiImageTest",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}
os.environ.update(TEST_ENV)
for name in (
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
    "GUEST_COOKIE_SECRET_PARAM",
    "JWT_SECRET_PARAM",
    "STORAGE_ENDPOINT_URL",
    "CLOUDFLARE_ACCOUNT_ID",
    "CLOUDFLARE_API_TOKEN",
    "REPLICATE_API_TOKEN",
    "RUNWARE_API_KEY",
):
    os.environ.pop(name, None)

import jwt  # noqa: E402
import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

from aiimage import aws  # noqa: E402
from aiimage.edits.catalog_store import catalog  # noqa: E402
from aiimage.enhancer.dispatch import get_provider  # noqa: E402
from aiimage.settings import get_settings  # noqa: E402
from infra.emulation import serialize_dynamodb  # noqa: E402
from infra.resources import create_resources  # noqa: E402
from infra.template import load_template  # noqa: E402

ORIGIN = "https://app.test"


def reset_providers() -> None:
    get_provider.cache_clear()
    catalog.cache_clear()


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
        get_settings.cache_clear()
        aws.reset_clients()
        reset_providers()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()
    reset_providers()


@pytest.fixture
def aws_stack() -> Iterator[None]:
    """moto in-process, with every resource of template.yaml created from the template."""
    serialize_dynamodb()
    with mock_aws():
        create_test_resources()
        yield
    aws.reset_clients()


def create_test_resources() -> None:
    """Every resource of template.yaml, under the names TEST_ENV gives them, wherever the
    AWS clients point (moto in-process, or a moto server)."""
    aws.reset_clients()
    reset_providers()
    create_resources(
        load_template(),
        parameters={"AppOrigin": ORIGIN},
        physical_names={
            "LimitsTable": os.environ["LIMITS_TABLE"],
            "JobsTable": os.environ["JOBS_TABLE"],
            "JobsQueue": "test-jobs",
            "JobsDeadLetterQueue": "test-jobs-dlq",
            "ImagesBucket": os.environ["IMAGES_BUCKET"],
            "EditsTable": os.environ["EDITS_TABLE"],
            "IdempotencyTable": os.environ["IDEMPOTENCY_TABLE"],
            "EditsQueue": "test-edits",
            "EditsDeadLetterQueue": "test-edits-dlq",
            "EditsPollQueue": "test-edits-poll",
            "EditsPollDeadLetterQueue": "test-edits-poll-dlq",
        },
    )


def make_token(
    sub: str = "user-1",
    *,
    plan: str | None = "free",
    key: str | None = None,
    algorithm: str = "HS256",
    expires_in: int = 3600,
    **claims: Any,
) -> str:
    payload: dict[str, Any] = {"sub": sub, "exp": int(time.time()) + expires_in, **claims}
    if plan is not None:
        payload["plan"] = plan
    return jwt.encode(payload, key or TEST_ENV["JWT_SECRET"], algorithm=algorithm)


SECURITY_HEADER_NAMES = (
    "strict-transport-security",
    "x-frame-options",
    "referrer-policy",
    "permissions-policy",
    "x-content-type-options",
    "content-security-policy",
)


def assert_security_headers(headers: Any) -> None:
    lowered = {k.lower(): v for k, v in dict(headers).items()}
    missing = [name for name in SECURITY_HEADER_NAMES if name not in lowered]
    assert not missing, f"missing security headers: {missing}"
    assert lowered["x-frame-options"] == "DENY"
    assert lowered["x-content-type-options"] == "nosniff"
    assert "max-age=" in lowered["strict-transport-security"]
