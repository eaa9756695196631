"""Forged identities, CSRF variants on every cookie-authenticated state change of every
HTTP function, and owner gating on the read paths."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ai_edits_api.app import app as edits_app
from delivery_api.app import app as delivery_app
from generate_api.app import app as generate_app
from jobs_api.app import app as jobs_app
from tests.conftest import ORIGIN, TEST_ENV, make_token
from tests.functional.enhancer_support import CSRF, browser, jpeg
from uploads_api.app import app as uploads_app
from usage_api.app import app as usage_app

USAGE = "/api/ai-image/usage"


def _sign(guest_id: str, key: str) -> str:
    digest = hmac.new(key.encode(), f"guest_id:{guest_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.fixture
def victim(aws_stack: None) -> tuple[str, str]:
    """A guest with one image used: (its id, its signed cookie value)."""
    with browser(generate_app) as client:
        response = client.post(
            "/api/ai-image/generate",
            data={"model": "nightmareai/real-esrgan"},
            files={"image": ("a.jpg", jpeg(), "image/jpeg")},
        )
        assert response.status_code == 200
        cookie = client.cookies["guest_id"]
    return cookie.partition(".")[0], cookie


def forged_cookies(guest_id: str, cookie: str) -> dict[str, str]:
    signature = cookie.partition(".")[2]
    flipped = ("0" if guest_id[0] != "0" else "1") + guest_id[1:]
    return {
        "unsigned": guest_id,
        "empty-signature": f"{guest_id}.",
        "other-key": f"{guest_id}.{_sign(guest_id, 'an-attackers-own-key-0123456789abcdef')}",
        "tampered-id": f"{flipped}.{signature}",
        "tampered-signature": f"{guest_id}.{signature[:-2]}AA",
        "truncated-signature": f"{guest_id}.{signature[:20]}",
        "extra-segment": f"{guest_id}.{signature}.x",
        "uppercase-id": f"{guest_id.upper()}.{signature}",
        "json": json.dumps({"guest_id": guest_id}),
        "huge": "a" * 8000,
    }


def test_a_forged_guest_cookie_never_becomes_that_guest(victim: tuple[str, str]) -> None:
    guest_id, cookie = victim
    for variant, value in forged_cookies(guest_id, cookie).items():
        with TestClient(usage_app, base_url=ORIGIN) as client:
            response = client.get(USAGE, headers={"Cookie": f"guest_id={value}"})
        assert response.status_code == 200, variant
        assert response.json()["data"]["usage"]["used"] == 0, variant  # not the victim's
        issued = response.cookies.get("guest_id", "")
        assert issued, variant
        assert issued.partition(".")[0] != guest_id, variant  # a new guest, never the victim


def _tokens() -> dict[str, str]:
    now = int(time.time())
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    claims = {"sub": "user-1", "plan": "enterprise", "exp": now + 3600}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    valid = make_token("user-1")
    head, _payload, signature = valid.split(".")
    raised = dict(claims, plan="enterprise", roles=["superadmin"])
    raised_payload = base64.urlsafe_b64encode(json.dumps(raised).encode()).rstrip(b"=").decode()
    return {
        "wrong-key": make_token("user-1", key="another-secret-0123456789abcdef-0123456789"),
        "alg-none": f"{header}.{body}.",
        "alg-none-with-signature": f"{header}.{body}.{signature}",
        "expired": make_token("user-1", expires_in=-3600),
        "no-exp": jwt.encode({"sub": "user-1"}, TEST_ENV["JWT_SECRET"], algorithm="HS256"),
        "no-sub": jwt.encode({"exp": now + 60}, TEST_ENV["JWT_SECRET"], algorithm="HS256"),
        "claims-swapped": f"{head}.{raised_payload}.{signature}",
        "hs512": jwt.encode(
            {"sub": "user-1", "exp": now + 60}, TEST_ENV["JWT_SECRET"], algorithm="HS512"
        ),
        "garbage": "not.a.jwt",
    }


@pytest.mark.parametrize("variant", list(_tokens()))
def test_a_bad_bearer_token_is_a_401_and_never_a_guest(variant: str) -> None:
    token = _tokens()[variant]
    with TestClient(usage_app, base_url=ORIGIN) as client:
        response = client.get(USAGE, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, (variant, response.text)
    assert response.json()["error"]["type"] == "auth_error"
    assert "set-cookie" not in {k.lower() for k in response.headers}
    assert token not in response.text


@pytest.mark.usefixtures("aws_stack")
def test_a_tenant_admin_cannot_reach_another_tenants_event() -> None:
    from infra.seed_edits import seed_demo

    demo = seed_demo(bucket=TEST_ENV["IMAGES_BUCKET"])
    other = make_token("admin-2", tenant_id="another-tenant")
    with TestClient(edits_app, base_url=ORIGIN) as client:
        for path in (
            f"/api/v1/tenant/events/{demo.event_slug}/ai-edits",
            f"/api/v1/tenant/events/{demo.event_slug}/ai-edits/summary",
            f"/api/v1/tenant/events/{demo.event_slug}/ai-styles",
        ):
            response = client.get(path, headers={"Authorization": f"Bearer {other}"})
            assert response.status_code == 404, (path, response.text)


# --- CSRF on every cookie-authenticated state change ----------------------------------------

APPS: dict[str, FastAPI] = {
    "generate": generate_app,
    "jobs": jobs_app,
    "uploads": uploads_app,
    "usage": usage_app,
    "edits": edits_app,
    "delivery": delivery_app,
}


def state_changes() -> list[tuple[str, str, str]]:
    """(app, method, path) of every documented non-GET operation, webhooks excepted (they
    authenticate with their own secret and act for no cookie owner)."""
    found = []
    for name, app in APPS.items():
        for path, operations in app.openapi()["paths"].items():
            if path.startswith("/api/v1/webhooks/"):
                continue
            for method in sorted(set(operations) - {"get", "head", "options"}):
                concrete = path.replace("{", "x").replace("}", "")
                found.append((name, method.upper(), concrete))
    return found


STATE_CHANGES = state_changes()
CSRF_VARIANTS = {
    "no-origin": ({"X-CSRF-Token": CSRF}, CSRF),
    "foreign-origin": ({"Origin": "https://evil.example", "X-CSRF-Token": CSRF}, CSRF),
    "origin-prefix": ({"Origin": f"{ORIGIN}.evil.example", "X-CSRF-Token": CSRF}, CSRF),
    "origin-null": ({"Origin": "null", "X-CSRF-Token": CSRF}, CSRF),
    "token-mismatch": ({"Origin": ORIGIN, "X-CSRF-Token": CSRF + "x"}, CSRF),
    "no-token": ({"Origin": ORIGIN}, CSRF),
    "no-cookie": ({"Origin": ORIGIN, "X-CSRF-Token": CSRF}, None),
    "short-token": ({"Origin": ORIGIN, "X-CSRF-Token": "abc"}, "abc"),
    "token-only-in-query": ({"Origin": ORIGIN}, CSRF),
}


def test_every_function_has_state_changes_under_test() -> None:
    assert {name for name, _, _ in STATE_CHANGES} >= {"generate", "jobs", "uploads", "edits"}


@pytest.mark.parametrize("variant", list(CSRF_VARIANTS))
def test_csrf_variants_are_refused_on_every_state_change(variant: str) -> None:
    headers, cookie = CSRF_VARIANTS[variant]
    query = {"csrf_token": CSRF, "X-CSRF-Token": CSRF} if variant == "token-only-in-query" else {}
    for name, method, path in STATE_CHANGES:
        with TestClient(APPS[name], base_url=ORIGIN) as client:
            if cookie is not None:
                client.cookies.set("csrf_token", cookie)
            response = client.request(method, path, headers=headers, params=query)
        assert response.status_code == 403, (variant, method, path, response.text)
        assert response.json()["error"]["code"] == "csrf_failed"


# --- owner gating on the read paths ---------------------------------------------------------


@pytest.mark.usefixtures("aws_stack")
def test_objects_jobs_and_uploads_of_another_owner_are_out_of_reach() -> None:
    with browser(jobs_app) as owner:
        created = owner.post(
            "/api/ai-image/jobs",
            data={"model": "nightmareai/real-esrgan"},
            files={"image": ("a.jpg", jpeg(), "image/jpeg")},
        )
        job = created.json()["data"]["job"]
        owner_cookie = owner.cookies["guest_id"]
    with browser(uploads_app, cookies={"guest_id": owner_cookie}) as owner:
        upload = owner.post(
            "/api/ai-image/uploads", json={"contentType": "image/jpeg", "size": 1000}
        )
        assert upload.status_code in (200, 201), upload.text
        upload_key = upload.json()["data"]["uploadKey"]
    original = job["originalUrl"].removeprefix(f"{ORIGIN}/r2-ai/")
    same_id_user = make_token(owner_cookie.partition(".")[0])
    with browser(jobs_app) as stranger:
        assert stranger.get(f"/api/ai-image/jobs/{job['id']}").status_code == 404
        assert stranger.post(f"/api/ai-image/jobs/{job['id']}/cancel").status_code == 404
        assert stranger.get("/api/ai-image/jobs").json()["data"]["jobs"] == []
        stranger_cookie = stranger.cookies["guest_id"]
    with browser(delivery_app, cookies={"guest_id": stranger_cookie}) as stranger:
        assert stranger.get(f"/r2-ai/{original}").status_code == 403
        # A quarantined upload is served to no one, its owner included (quarantine).
        assert stranger.get(f"/r2-ai/{upload_key}").status_code == 404
    with TestClient(delivery_app, base_url=ORIGIN) as user:
        # A signed-in user whose id equals the guest's id is still someone else.
        response = user.get(
            f"/r2-ai/{original}", headers={"Authorization": f"Bearer {same_id_user}"}
        )
        assert response.status_code == 403
    with browser(generate_app, cookies={"guest_id": stranger_cookie}) as stranger:
        for key in (upload_key, original):  # another owner's key as an uploadKey
            response = stranger.post(
                "/api/ai-image/generate",
                data={"model": "nightmareai/real-esrgan", "uploadKey": key},
            )
            assert response.status_code == 400, response.text
            assert response.json()["error"]["code"] == "upload_not_found"
