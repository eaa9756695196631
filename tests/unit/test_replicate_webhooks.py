"""Replicate's webhook signatures (Standard Webhooks): what passes and what is refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from standardwebhooks import Webhook

from aiimage.errors import AuthError
from aiimage.providers.replicate import WEBHOOK_TOLERANCE_SECONDS, WebhookSecret, verify_webhook
from infra.emulators.replicate import sign_webhook

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
OTHER = "whsec_" + base64.b64encode(b"fedcba9876543210fedcba9876543210").decode()
BODY = b'{"id":"p1","status":"succeeded","output":"https://replicate.delivery/x.png"}'
NOW = 1_800_000_000


def headers(
    *, secret: str = SECRET, timestamp: int = NOW, body: bytes = BODY, webhook_id: str = "msg_1"
) -> dict[str, str]:
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_webhook(secret, webhook_id, str(timestamp), body),
    }


def test_a_correctly_signed_webhook_passes() -> None:
    verify_webhook(SECRET, headers(), BODY, now=NOW)


def test_any_v1_entry_of_the_list_may_match() -> None:
    signed = headers()
    wrong = sign_webhook(OTHER, "msg_1", str(NOW), BODY)
    signed["webhook-signature"] = f"{wrong} v2,abc {signed['webhook-signature']}"
    verify_webhook(SECRET, signed, BODY, now=NOW)


@pytest.mark.parametrize("offset", [-WEBHOOK_TOLERANCE_SECONDS, WEBHOOK_TOLERANCE_SECONDS])
def test_the_timestamp_tolerance_is_inclusive(offset: int) -> None:
    verify_webhook(SECRET, headers(timestamp=NOW + offset), BODY, now=NOW)


@pytest.mark.parametrize(
    ("case", "sent_headers", "body"),
    [
        ("other secret", headers(secret=OTHER), BODY),
        ("tampered body", headers(), BODY.replace(b"succeeded", b"failed")),
        ("stale", headers(timestamp=NOW - WEBHOOK_TOLERANCE_SECONDS - 1), BODY),
        ("from the future", headers(timestamp=NOW + WEBHOOK_TOLERANCE_SECONDS + 1), BODY),
        ("another id", {**headers(), "webhook-id": "msg_2"}, BODY),
        ("no signature", {k: v for k, v in headers().items() if k != "webhook-signature"}, BODY),
        ("no id", {k: v for k, v in headers().items() if k != "webhook-id"}, BODY),
        ("timestamp not a number", {**headers(), "webhook-timestamp": "soon"}, BODY),
        ("v2 only", {**headers(), "webhook-signature": "v2," + "A" * 44}, BODY),
        ("empty", {}, BODY),
    ],
)
def test_refused(case: str, sent_headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(AuthError) as refused:
        verify_webhook(SECRET, sent_headers, body, now=NOW)
    assert refused.value.code == "invalid_webhook_signature", case


# --- the secret as Replicate hands it out (`GET /v1/webhooks/default/secret`) ---------------

# 32 bytes are 44 base64 characters ending in one `=`: without it, the form the official
# library accepts by padding it back (standardwebhooks' Webhook.__init__).
UNPADDED = "whsec_" + base64.b64encode(b"unpadded-secret-of-thirty-two-b!").decode().rstrip("=")


def test_an_unpadded_secret_verifies_as_the_official_library_signs() -> None:
    assert not UNPADDED.endswith("=")
    stamp = datetime.fromtimestamp(NOW, UTC)
    signed = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(NOW),
        "webhook-signature": Webhook(UNPADDED).sign("msg_1", stamp, BODY),
    }

    verify_webhook(UNPADDED, signed, BODY, now=NOW)
    with pytest.raises(AuthError):
        verify_webhook(UNPADDED, signed, BODY + b" ", now=NOW)


@pytest.mark.parametrize("key", [SECRET, UNPADDED, "whsec_" + "A" * 43])
def test_the_secret_model_takes_padded_and_unpadded_keys(key: str) -> None:
    assert WebhookSecret(key=key).key == key


@pytest.mark.parametrize(
    "key",
    ["", "whsec_", "A" * 44, "whsec_" + "A" * 5, "whsec_AAAA AAAA", "whsec_A=AA", "whsec_AA==="],
)
def test_the_secret_model_refuses_what_is_no_base64_key(key: str) -> None:
    # `A` * 5 is one character past a 4-character group: no padding can make it base64.
    with pytest.raises(ValidationError):
        WebhookSecret(key=key)
