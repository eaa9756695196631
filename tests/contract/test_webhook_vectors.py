"""Our webhook verifier (`aiimage.providers.replicate.verify_webhook`) against the Standard
Webhooks test vectors and the official `standardwebhooks` library.

Flows covered:
- the spec's fixed vector (vectors/standard_webhooks.json, its source named there) verifies,
  alone and among decoy signatures; its one-character-off signature is refused;
- payloads signed by the official library (padded and unpadded secrets, random ids and
  bodies, several signatures in one header) are accepted by ours and by the library's own
  `verify`;
- tampered ones (body, id, timestamp, signature, other secret, v2 only) and stale or future
  ones (one second past the 5-minute tolerance at either end) are refused by both, with our
  `invalid_webhook_signature` code (a 401 in the envelope).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from aiimage.errors import AuthError
from aiimage.providers.replicate import WEBHOOK_TOLERANCE_SECONDS, verify_webhook

VECTOR: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "standard_webhooks.json").read_text()
)


def vector_headers(signature: str) -> dict[str, str]:
    return {
        "webhook-id": VECTOR["msg_id"],
        "webhook-timestamp": str(VECTOR["timestamp"]),
        "webhook-signature": signature,
    }


def refused(secret: str, headers: dict[str, str], body: bytes, now: float) -> None:
    with pytest.raises(AuthError) as caught:
        verify_webhook(secret, headers, body, now=now)
    assert caught.value.code == "invalid_webhook_signature"
    assert caught.value.status == 401


# --- the spec's vector -----------------------------------------------------------------------


def test_the_official_library_signs_the_vector_as_published() -> None:
    stamp = datetime.fromtimestamp(VECTOR["timestamp"], UTC)
    signature = Webhook(VECTOR["secret"]).sign(VECTOR["msg_id"], stamp, VECTOR["payload"])

    assert signature == VECTOR["signature"]


def test_the_vector_verifies() -> None:
    body = VECTOR["payload"].encode()

    verify_webhook(
        VECTOR["secret"], vector_headers(VECTOR["signature"]), body, now=VECTOR["timestamp"]
    )


def test_the_vector_verifies_among_decoys() -> None:
    entries = [*VECTOR["decoy_signatures"], VECTOR["signature"], VECTOR["decoy_signatures"][0]]
    headers = vector_headers(" ".join(entries))

    verify_webhook(VECTOR["secret"], headers, VECTOR["payload"].encode(), now=VECTOR["timestamp"])


@pytest.mark.parametrize(
    ("case", "signature", "now_offset"),
    [
        ("one character off", VECTOR["wrong_signature"], 0),
        ("decoys only", " ".join(VECTOR["decoy_signatures"]), 0),
        ("stale", VECTOR["signature"], WEBHOOK_TOLERANCE_SECONDS + 1),
        ("from the future", VECTOR["signature"], -WEBHOOK_TOLERANCE_SECONDS - 1),
    ],
)
def test_the_vector_is_refused_when(case: str, signature: str, now_offset: int) -> None:
    body = VECTOR["payload"].encode()

    refused(VECTOR["secret"], vector_headers(signature), body, VECTOR["timestamp"] + now_offset)


# --- payloads signed by the official library, now ----------------------------------------------


def random_secret(*, padded: bool) -> str:
    key = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()  # 44 chars, one "="
    return key if padded else key.rstrip("=")


def signed(secret: str, body: bytes, *, at: int, webhook_id: str = "msg_x") -> dict[str, str]:
    signature = Webhook(secret).sign(webhook_id, datetime.fromtimestamp(at, UTC), body)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(at), "webhook-signature": signature}


@pytest.mark.parametrize("padded", [True, False])
@pytest.mark.parametrize("sample", range(5))
def test_what_the_library_signs_is_accepted_by_ours_and_by_it(padded: bool, sample: int) -> None:
    secret = random_secret(padded=padded)
    body = json.dumps({"id": secrets.token_hex(13), "status": "succeeded", "n": sample}).encode()
    now = int(time.time())
    headers = signed(secret, body, at=now, webhook_id=f"msg_{secrets.token_hex(12)}")

    verify_webhook(secret, headers, body, now=now)
    assert Webhook(secret).verify(body, headers)["n"] == sample


def test_two_signatures_in_one_header_during_a_rotation() -> None:
    old, new = random_secret(padded=True), random_secret(padded=False)
    body, now = b'{"id":"p1"}', int(time.time())
    headers = signed(old, body, at=now)
    headers["webhook-signature"] += " " + signed(new, body, at=now)["webhook-signature"]

    verify_webhook(old, headers, body, now=now)
    verify_webhook(new, headers, body, now=now)


def _flipped(signature: str) -> str:
    """One base64 character of the MAC changed (index 10: inside the MAC, never padding)."""
    return signature[:10] + ("B" if signature[10] == "A" else "A") + signature[11:]


def _tampered(secret: str, body: bytes, now: int) -> dict[str, tuple[dict[str, str], bytes]]:
    good = signed(secret, body, at=now)
    other = random_secret(padded=True)
    return {
        "body": (good, body + b" "),
        "id": ({**good, "webhook-id": "msg_other"}, body),
        "timestamp": ({**good, "webhook-timestamp": str(now - 1)}, body),
        "signature": ({**good, "webhook-signature": _flipped(good["webhook-signature"])}, body),
        "other secret": (signed(other, body, at=now), body),
        "v2 only": ({**good, "webhook-signature": "v2," + good["webhook-signature"][3:]}, body),
        "stale": (signed(secret, body, at=now - WEBHOOK_TOLERANCE_SECONDS - 1), body),
        "future": (signed(secret, body, at=now + WEBHOOK_TOLERANCE_SECONDS + 1), body),
    }


CASES = ["body", "id", "timestamp", "signature", "other secret", "v2 only", "stale", "future"]


@pytest.mark.parametrize("case", CASES)
def test_tampered_stale_and_future_ones_are_refused_by_ours_and_by_it(case: str) -> None:
    secret, now = random_secret(padded=False), int(time.time())
    headers, body = _tampered(secret, b'{"id":"p1","status":"succeeded"}', now)[case]

    refused(secret, headers, body, now)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)


@pytest.mark.parametrize("offset", [-WEBHOOK_TOLERANCE_SECONDS, WEBHOOK_TOLERANCE_SECONDS])
def test_the_tolerance_is_the_librarys_five_minutes_inclusive(offset: int) -> None:
    secret, body, now = random_secret(padded=True), b"{}", 1_800_000_000

    verify_webhook(secret, signed(secret, body, at=now + offset), body, now=now)
