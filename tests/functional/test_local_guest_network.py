"""The guest allowance per network over the local stack's HTTP port: fresh guests (no
cookie, each a new guest_id) from one loopback address share GUEST_NETWORK_DAILY_LIMIT (the
template's default, 10); the address is the socket's, whatever X-Forwarded-For says; a
guest from a second address and a signed-in user from the first are unaffected.

Two addresses over a real socket: the stack listens on 127.0.0.1, and on Linux a client
socket bound to any other 127.0.0.0/8 address reaches it from that address. The addresses
here are this module's own, so the other tests' traffic from 127.0.0.1 counts elsewhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import jwt
import pytest

from infra.local import JWT_KEY_PARAM, LOCAL_SECRETS
from tests.functional.enhancer_support import jpeg

if TYPE_CHECKING:
    from tests.plugins.stack import LocalStack

pytestmark = pytest.mark.stack

NETWORK_LIMIT = 10  # GuestNetworkDailyLimit's default in template.yaml
FIRST, SECOND = "127.0.0.21", "127.0.0.22"
CSRF = "csrf-token-0123456789abcdef"
MODEL = "nightmareai/real-esrgan"  # the Replicate emulator locally: nothing is paid


def own_user_token(stack: LocalStack) -> str:
    """A pro user of this module's own: the demo users' images of the day belong to the
    session's other tests (the stack is shared), so this one is the demo pro token with
    another subject, signed with the stack's local key."""
    claims = jwt.decode(stack.tokens["pro"], options={"verify_signature": False})
    return jwt.encode(
        {**claims, "sub": "network-test-user"}, LOCAL_SECRETS[JWT_KEY_PARAM], algorithm="HS256"
    )


def client(stack: LocalStack, address: str) -> httpx.Client:
    return httpx.Client(
        base_url=stack.api,
        trust_env=False,
        timeout=30,
        transport=httpx.HTTPTransport(local_address=address),
    )


def fresh_guest_generate(http: httpx.Client, stack: LocalStack) -> httpx.Response:
    """A new guest (its first usage call sets the cookie), then one generate, claiming
    another address in X-Forwarded-For as a script would."""
    guest = http.get("/api/ai-image/usage").cookies["guest_id"]
    return http.post(
        "/api/ai-image/generate",
        data={"model": MODEL},
        files={"image": ("a.jpg", jpeg(64, 48), "image/jpeg")},
        headers={
            "Origin": stack.api,
            "X-CSRF-Token": CSRF,
            "Cookie": f"guest_id={guest}; csrf_token={CSRF}",
            "X-Forwarded-For": "1.2.3.4",
        },
    )


def test_twenty_fresh_guests_from_one_address_get_exactly_the_network_allowance(
    local_stack: LocalStack,
) -> None:
    with client(local_stack, FIRST) as http:
        responses = [fresh_guest_generate(http, local_stack) for _ in range(20)]
        statuses = [r.status_code for r in responses]
        assert statuses == [200] * NETWORK_LIMIT + [403] * (20 - NETWORK_LIMIT), [
            r.text for r in responses if r.status_code not in (200, 403)
        ]
        for refused in responses[NETWORK_LIMIT:]:
            body = refused.json()
            assert body["success"] is False
            assert (body["error"]["type"], body["error"]["code"]) == ("forbidden", "quota_exceeded")
            details = body["error"]["details"]
            assert (details["scope"], details["used"], details["limit"]) == (
                "network",
                NETWORK_LIMIT,
                NETWORK_LIMIT,
            )
            assert details["resetAt"] > 0

        # A fresh guest's usage now names the network as what binds.
        usage = http.get("/api/ai-image/usage").json()["data"]
        assert usage["usage"]["used"] == 0
        assert usage["networkUsage"]["used"] == NETWORK_LIMIT
        assert usage["networkUsage"]["limit"] == NETWORK_LIMIT

        # A signed-in user from the same address is not counted against the network.
        bearer = {"Authorization": f"Bearer {own_user_token(local_stack)}"}
        signed_in = http.post(
            "/api/ai-image/generate",
            data={"model": MODEL},
            files={"image": ("a.jpg", jpeg(64, 48), "image/jpeg")},
            headers={**bearer, "X-Forwarded-For": "1.2.3.4"},
        )
        assert signed_in.status_code == 200, signed_in.text
        assert (
            http.get("/api/ai-image/usage", headers=bearer).json()["data"]["networkUsage"] is None
        )

    # From 127.0.0.1, the address uvicorn trusts proxy headers from by default, naming the
    # exhausted address in X-Forwarded-For: still counted as 127.0.0.1 (the session's other
    # tests use fewer than the allowance there), not as the network it claims.
    with client(local_stack, "127.0.0.1") as http:
        guest = http.get("/api/ai-image/usage").cookies["guest_id"]
        claimed = http.get(
            "/api/ai-image/usage",
            headers={"Cookie": f"guest_id={guest}", "X-Forwarded-For": FIRST},
        ).json()["data"]["networkUsage"]
        assert claimed is None or claimed["used"] < NETWORK_LIMIT, claimed

    # A guest from a second address is unaffected.
    with client(local_stack, SECOND) as http:
        other = fresh_guest_generate(http, local_stack)
        assert other.status_code == 200, other.text
