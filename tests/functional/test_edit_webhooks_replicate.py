"""Replicate's signed completion webhooks for edits, end to end over HTTP: the real client
submits with a webhook URL, the Replicate emulator runs the prediction and POSTs the signed
terminal event to the Magic Edits app served on loopback, and the request finishes through
the same persistence path as a poll, with zero status calls. Forged, stale and replayed
webhooks change nothing; a webhook's output is fetched only after its prediction matched a
request of ours, and a webhook id is acted on once (issue 15, finding 4)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

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


# --- issue 15, finding 4: match before fetch, webhook ids once ------------------------------


@pytest.fixture
def quiet(demo: DemoCatalog, settings_env: Callable[..., None]) -> DemoCatalog:
    """Submits without a webhook URL: the emulator delivers nothing, the tests do."""
    settings_env(PUBLIC_BASE_URL="")
    return demo


def processing(demo: DemoCatalog) -> tuple[str, str]:
    """A request submitted and still processing: its id and its prediction's."""
    request_id = create(demo)
    assert run("EDITS_QUEUE_URL", submit_worker) == 1
    submitted = load(demo, request_id)
    assert submitted.status == "processing"
    return request_id, str(submitted.provider_job_id)


def prediction(emulator: FastAPI, job_id: str) -> bytes:
    """The emulator's finished prediction, as its webhook would carry it."""
    deadline = time.monotonic() + EVENT_WAIT_SECONDS
    while time.monotonic() < deadline:
        answer = httpx.get(
            f"{emulator.state.url}/v1/predictions/{job_id}",
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )
        if answer.json()["status"] == "succeeded":
            return answer.content
        time.sleep(0.1)
    pytest.fail(f"the emulator did not finish {job_id}")


def signed(emulator: FastAPI, body: bytes, webhook_id: str) -> dict[str, str]:
    now = str(int(time.time()))
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": now,
        "webhook-signature": replicate.sign_webhook(
            emulator.state.webhook_secret, webhook_id, now, body
        ),
    }


def output_fetches(emulator: FastAPI) -> int:
    return sum(line.startswith("GET /v1/__outputs/") for line in emulator.state.received)


def test_a_signed_webhook_for_a_prediction_not_ours_fetches_nothing(
    quiet: DemoCatalog, emulator: FastAPI, public_api: str
) -> None:
    output = f"{emulator.state.url}/v1/__outputs/p_not_ours.png"  # an allowed origin
    body = json.dumps({"id": "p_not_ours", "status": "succeeded", "output": output}).encode()
    answer = httpx.post(
        f"{public_api}/api/v1/webhooks/replicate",
        content=body,
        headers=signed(emulator, body, "msg_not_ours"),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["completed"] == 0
    assert output_fetches(emulator) == 0  # no connection for a prediction we never made


def test_a_webhook_naming_another_loopback_port_connects_nowhere(
    quiet: DemoCatalog, emulator: FastAPI, public_api: str
) -> None:
    # The finding: `http://127.0.0.1:<port>/evil.png`, the emulator's host on another port.
    request_id, job_id = processing(quiet)
    with socket.create_server(("127.0.0.1", 0)) as evil:
        evil.setblocking(False)
        url = f"http://127.0.0.1:{evil.getsockname()[1]}/evil.png"
        body = json.dumps({"id": job_id, "status": "succeeded", "output": url}).encode()
        headers = signed(emulator, body, "msg_evil")
        for _ in range(2):  # refused twice: a refusal releases its webhook id
            answer = httpx.post(
                f"{public_api}/api/v1/webhooks/replicate", content=body, headers=headers
            )
            assert answer.status_code == 502, answer.text
            assert answer.json()["error"]["type"] == "server_error"
        with pytest.raises(BlockingIOError):
            evil.accept()  # nobody ever connected
    assert load(quiet, request_id).status == "processing"


def test_a_replayed_webhook_id_is_acknowledged_and_nothing_is_done_twice(
    quiet: DemoCatalog, emulator: FastAPI, public_api: str
) -> None:
    request_id, job_id = processing(quiet)
    body = prediction(emulator, job_id)
    headers = signed(emulator, body, "msg_genuine")
    url = f"{public_api}/api/v1/webhooks/replicate"
    first = httpx.post(url, content=body, headers=headers)
    replay = httpx.post(url, content=body, headers=headers)
    assert (first.status_code, first.json()["data"]["completed"]) == (200, 1)
    assert (replay.status_code, replay.json()["data"]["completed"]) == (200, 0)
    assert load(quiet, request_id).status == "succeeded"
    assert output_fetches(emulator) == 1
    assert len(budget_store().ledger(quiet.tenant_id)) == 1


def test_concurrent_duplicates_of_one_webhook_id_are_processed_once(
    quiet: DemoCatalog, emulator: FastAPI, public_api: str
) -> None:
    request_id, job_id = processing(quiet)
    body = prediction(emulator, job_id)
    headers = signed(emulator, body, "msg_duplicated")
    url = f"{public_api}/api/v1/webhooks/replicate"
    copies = 8
    start = threading.Barrier(copies)

    def deliver(_: int) -> httpx.Response:
        start.wait()
        return httpx.post(url, content=body, headers=headers, timeout=EVENT_WAIT_SECONDS)

    with ThreadPoolExecutor(copies) as pool:
        answers = list(pool.map(deliver, range(copies)))
    assert [a.status_code for a in answers] == [200] * copies
    assert sum(a.json()["data"]["completed"] for a in answers) == 1
    assert output_fetches(emulator) == 1
    assert load(quiet, request_id).status == "succeeded"
    assert len(budget_store().ledger(quiet.tenant_id)) == 1
