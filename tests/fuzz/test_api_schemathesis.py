"""Schemathesis against the generated OpenAPI document, on the local stack over HTTP.

Every operation is fuzzed with the credentials a real caller has: a signed guest cookie,
the double-submit CSRF cookie and header and the allowed Origin for cookie callers, the
tenant admin's bearer token on tenant routes and a superadmin's on admin routes (otherwise
nearly every case would stop at 401/403 and the handlers would never see the input).
The checks: no 5xx, and every documented response matches its schema.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from infra.local import JWT_KEY_PARAM, LOCAL_SECRETS

if TYPE_CHECKING:
    from tests.functional.conftest import LocalStack

pytestmark = pytest.mark.stack

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.yaml"
# Bounded so the whole run stays within a couple of minutes on two cores; the count is
# recorded in docs/reliability.md (operations x examples).
MAX_EXAMPLES = 25
CSRF = "fuzz-csrf-token-0123456789abcdef"

schema = schemathesis.openapi.from_path(DOCUMENT)
OPERATIONS = sum(1 for _ in schema.get_all_operations())


def superadmin_token(tenant_token: str) -> str:
    """A superadmin with the issuer and audience of the stack's own demo tokens."""
    claims = jwt.decode(tenant_token, options={"verify_signature": False})
    claims = {k: v for k, v in claims.items() if k in ("iss", "aud", "iat", "exp")}
    now = int(time.time())
    claims.update(sub="fuzz-superadmin", roles=["superadmin"], iat=now, exp=now + 3600)
    return jwt.encode(claims, LOCAL_SECRETS[JWT_KEY_PARAM], algorithm="HS256")


@pytest.fixture(scope="module")
def credentials(local_stack: LocalStack) -> dict[str, dict[str, str]]:
    with httpx.Client(base_url=local_stack.api, trust_env=False, timeout=10) as client:
        issued = client.get("/api/ai-image/usage")
    guest = issued.cookies["guest_id"]
    cookie = {
        "Cookie": f"guest_id={guest}; csrf_token={CSRF}",
        "X-CSRF-Token": CSRF,
        "Origin": local_stack.api,
    }
    tenant = local_stack.tokens["tenant"]
    return {
        "cookie": cookie,
        "tenant": {"Authorization": f"Bearer {tenant}"},
        "admin": {"Authorization": f"Bearer {superadmin_token(tenant)}"},
    }


def headers_for(path: str, credentials: dict[str, dict[str, str]]) -> dict[str, str]:
    if path.startswith("/api/v1/admin/"):
        return credentials["admin"]
    if path.startswith("/api/v1/tenant/"):
        return credentials["tenant"]
    return credentials["cookie"]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_5xx_and_every_response_matches_its_schema(
    case: schemathesis.Case[Any],
    local_stack: LocalStack,
    credentials: dict[str, dict[str, str]],
) -> None:
    # Our caller's credentials win over any the case generated for the same header.
    headers: dict[str, Any] = {**dict(case.headers or {}), **headers_for(case.path, credentials)}
    case.call_and_validate(
        base_url=local_stack.api,
        headers=headers,
        checks=[not_a_server_error, response_schema_conformance],
        timeout=30,
    )


def test_every_operation_of_the_document_is_fuzzed() -> None:
    methods = {"get", "put", "post", "delete", "patch"}
    documented = sum(len(methods & set(ops)) for ops in schema.raw_schema["paths"].values())
    assert OPERATIONS == documented >= 27
