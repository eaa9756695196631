"""Test environment: fixed settings before the layer is imported, moto for AWS."""

from __future__ import annotations

import os
import time
from typing import Any

from infra.sandbox import apply_sandbox_env, physical_names, sandbox_env

# The environment as the test run found it; subprocesses (the local stack) start from it.
PRISTINE_ENV = dict(os.environ)

TEST_ENV = {
    **sandbox_env("test"),
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
apply_sandbox_env(TEST_ENV)

import jwt  # noqa: E402

from aiimage.singletons import reset_singletons  # noqa: E402
from infra.resources import create_resources  # noqa: E402
from infra.template import load_template  # noqa: E402

# Shared fixtures, one module each: in-process AWS and settings, the local stack as a
# subprocess, the Magic Edits world, the unit tests' clock and log capture.
pytest_plugins = (
    "tests.plugins.aws",
    "tests.plugins.stack",
    "tests.functional.edits_world",
    "tests.unit.edits_fixtures",
)

ORIGIN = "https://app.test"


def create_test_resources() -> None:
    """Every resource of template.yaml, under the names TEST_ENV gives them, wherever the
    AWS clients point (moto in-process, or a moto server)."""
    reset_singletons()
    create_resources(
        load_template(), parameters={"AppOrigin": ORIGIN}, physical_names=physical_names(TEST_ENV)
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
