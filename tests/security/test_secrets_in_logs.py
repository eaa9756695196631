"""No secret in any log line: flows run with known secret values (cookie key, JWT key,
provider tokens), success and error paths alike, and every captured line is searched."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI

from aiimage.enhancer import generate as generate_module
from generate_api.app import app as generate_app
from infra.emulators import replicate as replicate_emulator
from infra.emulators.faults import Fault
from infra.emulators.server import serve_in_thread
from tests.conftest import make_token
from tests.functional.enhancer_support import browser, jpeg
from usage_api.app import app as usage_app

SECRETS = {
    "GUEST_COOKIE_SECRET": "canary-cookie-key-7f3a9c1e5b2d8f4a6c0e",
    "JWT_SECRET": "canary-jwt-key-2b8d4f6a0c1e3a5c7e9f-0123",
    "REPLICATE_API_TOKEN": "r8_canaryReplicateToken9d7b5f3a1c",
    "CLOUDFLARE_API_TOKEN": "canary-cloudflare-token-4e6a8c0b2d",
    "RUNWARE_API_KEY": "canary-runware-key-1a3c5e7b9d",
}


@pytest.fixture(scope="module")
def replicate_server() -> Iterator[tuple[FastAPI, str]]:
    app = replicate_emulator.create_app(api_token=SECRETS["REPLICATE_API_TOKEN"])
    with serve_in_thread(app) as url:
        yield app, url


@pytest.mark.usefixtures("aws_stack")
def test_no_secret_reaches_a_log_line(
    replicate_server: tuple[FastAPI, str],
    settings_env: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, url = replicate_server
    settings_env(
        **SECRETS,
        CLOUDFLARE_ACCOUNT_ID="acct",
        REPLICATE_BASE_URL=f"{url}/v1",
        PROVIDER_MAX_RETRIES="0",
        POWERTOOLS_LOG_LEVEL="DEBUG",
    )
    monkeypatch.setattr(generate_module, "_input_url", lambda key, params: None)
    caplog.set_level(logging.DEBUG)
    user = make_token("user-1", key=SECRETS["JWT_SECRET"])
    forged = make_token("user-1", key="not-the-key-0123456789abcdef-0123456789")
    with browser(generate_app) as client:
        client.post(  # succeeds through Replicate
            "/api/ai-image/generate",
            data={"model": "nightmareai/real-esrgan"},
            files={"image": ("a.jpg", jpeg(), "image/jpeg")},
        )
        for kind in ("auth", "server_error", "malformed", "rate_limit"):  # each error path
            app.state.faults.add(Fault(kind=kind, path_contains="/predictions"))
            client.post(
                "/api/ai-image/generate",
                data={"model": "nightmareai/real-esrgan"},
                files={"image": ("a.jpg", jpeg(), "image/jpeg")},
            )
        client.post("/api/ai-image/generate", data={"model": "x" * 300})  # validation
        guest_cookie = client.cookies["guest_id"]
    with browser(usage_app) as client:
        client.get("/api/ai-image/usage", headers={"Authorization": f"Bearer {user}"})
        client.get("/api/ai-image/usage", headers={"Authorization": f"Bearer {forged}"})
        client.get("/api/ai-image/usage", headers={"Cookie": f"guest_id={guest_cookie}x"})
    captured = capsys.readouterr()
    lines = captured.out + captured.err + "\n".join(r.getMessage() for r in caplog.records)
    lines += "\n".join(str(r.__dict__) for r in caplog.records)
    assert "provider_error" in lines  # the error paths were taken and logged
    leaked = {name for name, value in SECRETS.items() if value in lines}
    assert leaked == set()
    # Caller credentials are not ours to log either: bearer tokens and cookie signatures.
    assert user not in lines
    assert forged not in lines
    assert guest_cookie.partition(".")[2] not in lines
