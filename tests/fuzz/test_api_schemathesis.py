"""Schemathesis against the generated OpenAPI document, on the local stack over HTTP.

Every operation is fuzzed with the credentials a real caller has: a signed guest cookie,
the double-submit CSRF cookie and header and the allowed Origin for cookie callers, the
tenant admin's bearer token on tenant routes and a superadmin's on admin routes (otherwise
nearly every case would stop at 401/403 and the handlers would never see the input).
The checks: no 5xx, and every documented response matches its schema.

The calls really sent are counted per operation and status (`CALLS`); the last test
prints the table, writes it as JSON (`FUZZ_COUNTS`, by default in the temp directory) and
fails unless every documented operation was called at least once.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
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
    from tests.plugins.stack import LocalStack

pytestmark = pytest.mark.stack

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.yaml"
# Bounded so the whole run stays within a couple of minutes on two cores; the count is
# recorded in docs/reliability.md (operations x examples).
MAX_EXAMPLES = 25
CSRF = "fuzz-csrf-token-0123456789abcdef"

schema = schemathesis.openapi.from_path(DOCUMENT)
OPERATIONS = sum(1 for _ in schema.get_all_operations())
# "METHOD /path/{template}" -> status code -> calls sent (one per generated case).
CALLS: dict[str, Counter[int]] = {}
COUNTS_FILE = Path(
    os.environ.get("FUZZ_COUNTS", Path(tempfile.gettempdir()) / "aiimage-fuzz-counts.json")
)


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
    # call + validate_response is what call_and_validate does; split to count every call,
    # including one that then fails a check.
    response = case.call(base_url=local_stack.api, headers=headers, timeout=30)
    CALLS.setdefault(case.operation.label, Counter())[response.status_code] += 1
    case.validate_response(
        response,
        checks=[not_a_server_error, response_schema_conformance],
        headers=headers,
        transport_kwargs={"base_url": local_stack.api, "headers": headers, "timeout": 30},
    )


def test_every_operation_of_the_document_is_fuzzed() -> None:
    methods = {"get", "head", "put", "post", "delete", "patch"}
    documented = sum(len(methods & set(ops)) for ops in schema.raw_schema["paths"].values())
    assert OPERATIONS == documented >= 27


def test_every_documented_operation_was_called(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs after the fuzz test (file order): the volume actually sent, per operation."""
    if not CALLS:
        pytest.skip("the fuzz test did not run in this session (deselected)")
    # An operation the loader could not read is an error here, not a silent gap.
    labels = sorted(result.ok().label for result in schema.get_all_operations())  # type: ignore[union-attr]
    rows = {label: CALLS.get(label, Counter()) for label in labels}
    total = sum(sum(statuses.values()) for statuses in rows.values())
    statuses: Counter[int] = Counter()
    for counted in rows.values():
        statuses.update(counted)
    COUNTS_FILE.write_text(
        json.dumps(
            {
                "operations": len(labels),
                "calls": total,
                "statuses": {str(k): v for k, v in sorted(statuses.items())},
                "per_operation": {
                    label: {str(k): v for k, v in sorted(counted.items())}
                    for label, counted in rows.items()
                },
            },
            indent=2,
        )
    )
    with capsys.disabled():
        print(f"\nschemathesis: {total} calls over {len(labels)} operations ({COUNTS_FILE})")
        for label, counted in rows.items():
            detail = ", ".join(f"{code}: {n}" for code, n in sorted(counted.items()))
            print(f"  {sum(counted.values()):4d}  {label}  [{detail}]")
    assert [label for label, counted in rows.items() if not counted] == []
