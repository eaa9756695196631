"""Replicate's signed completion webhooks for edits, end to end over HTTP: the real client
submits with a webhook URL, the Replicate emulator runs the prediction and POSTs the signed
terminal event to the Magic Edits app served on loopback, and the request finishes through
the same persistence path as a poll, with zero status calls. Forged, stale and replayed
webhooks change nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI

from ai_edits_api.app import app as edits_app
from aiimage.edits import admission, runner
from aiimage.edits.budget import budget_store
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import EditRequest, Style
from edit_poll_worker.app import handler as poll_worker
from edit_submit_worker.app import handler as submit_worker
from infra.emulators import replicate
from infra.emulators.server import serve_in_thread
from infra.seed_edits import DemoCatalog, seed_demo
from tests.conftest import TEST_ENV
from tests.functional.test_edit_workers import ACTOR, load, run

pytestmark = pytest.mark.usefixtures("aws_server")
API_TOKEN = "r8_emulator_token_0123456789"
EVENT_WAIT_SECONDS = 30  # how long to wait for the emulator's webhook (an event, not a timing)


@pytest.fixture(scope="module")
def emulator() -> Iterator[FastAPI]:
    # The run outlasts the submit's `Prefer: wait`, so the result can only come by webhook
    # (or by a poll, which the test shows never happens).
    app = replicate.create_app(api_token=API_TOKEN, processing_seconds=2.0)
    with serve_in_thread(app) as url:
        app.state.url = url
        yield app


@pytest.fixture(scope="module")
def public_api() -> Iterator[str]:
    """The Magic Edits function's app on loopback: where the emulator delivers webhooks."""
    with serve_in_thread(edits_app) as url:
        yield url


@pytest.fixture
def demo(
    emulator: FastAPI,
    public_api: str,
    settings_env: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> DemoCatalog:
    settings_env(
        REPLICATE_API_TOKEN=API_TOKEN,
        REPLICATE_BASE_URL=f"{emulator.state.url}/v1",
        PUBLIC_BASE_URL=public_api,
    )
    monkeypatch.setattr(runner, "SUBMIT_WAIT_SECONDS", 1.0)
    monkeypatch.setattr(runner, "poll_delay", lambda attempt: 0)
    emulator.state.received.clear()
    emulator.state.webhooks.clear()
    demo = seed_demo(bucket=TEST_ENV["IMAGES_BUCKET"])
    catalog().put_style(
        Style(
            key="replicate-upscale",
            name="Upscale",
            provider="replicate",
            provider_model="nightmareai/real-esrgan",
            prompt_template="{prompt}",
            cost_estimate_micros=10_000,
        )
    )
    return demo


def create(demo: DemoCatalog) -> str:
    event = catalog().get_event(demo.tenant_id, demo.event_slug)
    body = admission.EditCreate(style_key="replicate-upscale")
    return admission.create_edit(ACTOR, event, demo.photo_id, body).request_id


def finished(demo: DemoCatalog, request_id: str) -> EditRequest:
    deadline = time.monotonic() + EVENT_WAIT_SECONDS
    while (request := load(demo, request_id)).status == "processing":
        if time.monotonic() > deadline:
            pytest.fail(f"no webhook finished {request_id} within {EVENT_WAIT_SECONDS} s")
        time.sleep(0.1)
    return request


def deliveries(emulator: FastAPI) -> list[tuple[str, object]]:
    """The emulator's delivery log once it has one: it records a delivery after our answer
    arrives, which can be after the request is already seen finished."""
    deadline = time.monotonic() + EVENT_WAIT_SECONDS
    while not emulator.state.webhooks and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(emulator.state.webhooks)


def status_calls(emulator: FastAPI) -> int:
    return sum(line.startswith("GET /v1/predictions/") for line in emulator.state.received)


def test_the_signed_webhook_finishes_the_request_with_zero_polls(
    demo: DemoCatalog, emulator: FastAPI, public_api: str
) -> None:
    request_id = create(demo)
    assert run("EDITS_QUEUE_URL", submit_worker) == 1
    submitted = load(demo, request_id)
    assert submitted.status == "processing"
    assert submitted.provider_job_id is not None
    done = finished(demo, request_id)
    assert done.status == "succeeded", done
    assert done.provider == "replicate"
    assert done.result_key == f"events/{demo.event_slug}/ai-edits/{request_id}.webp"
    assert deliveries(emulator) == [(submitted.provider_job_id, 200)]
    # The poll queued at submit finds the request finished: no status call, one charge.
    run("EDITS_POLL_QUEUE_URL", poll_worker)
    assert status_calls(emulator) == 0
    assert len(budget_store().ledger(demo.tenant_id)) == 1


def test_forged_stale_and_replayed_webhooks_change_nothing(
    demo: DemoCatalog, emulator: FastAPI, public_api: str
) -> None:
    request_id = create(demo)
    run("EDITS_QUEUE_URL", submit_worker)
    job_id = str(load(demo, request_id).provider_job_id)
    body = json.dumps({"id": job_id, "status": "failed", "error": "forged"}).encode()
    secret = emulator.state.webhook_secret
    now = str(int(time.time()))
    url = f"{public_api}/api/v1/webhooks/replicate"

    def send(signature: str, timestamp: str = now) -> httpx.Response:
        return httpx.post(
            url,
            content=body,
            headers={
                "content-type": "application/json",
                "webhook-id": "msg_forged",
                "webhook-timestamp": timestamp,
                "webhook-signature": signature,
            },
        )

    forged = send(replicate.sign_webhook("whsec_" + "A" * 32, "msg_forged", now, body))
    assert forged.status_code == 401
    assert forged.json()["error"]["type"] == "auth_error"
    stale_time = str(int(time.time()) - 3600)
    stale = send(replicate.sign_webhook(secret, "msg_forged", stale_time, body), stale_time)
    assert stale.status_code == 401
    assert load(demo, request_id).status == "processing"  # neither touched it

    done = finished(demo, request_id)  # the emulator's genuine webhook
    assert done.status == "succeeded"
    # A replay of a genuine, correctly signed terminal event is a no-op.
    replay = send(replicate.sign_webhook(secret, "msg_forged", now, body))
    assert replay.status_code == 200
    assert replay.json()["data"]["completed"] == 0
    assert load(demo, request_id).status == "succeeded"
    assert len(budget_store().ledger(demo.tenant_id)) == 1
