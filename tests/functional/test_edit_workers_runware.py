"""The edit workers with the real Runware client against the Runware emulator over HTTP,
through SQS, DynamoDB and S3 on a moto server (the emulator fetches the photo from its
presigned URL): polls until done, NSFW, a 429, a crash after submitting, and a completion
webhook that leaves nothing to poll."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ai_edits_api.app import app
from aiimage.edits import admission, request_store, runner
from aiimage.edits.budget import budget_store
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import Style
from aiimage.limits import spend_ledger
from edit_submit_worker.app import handler as submit_worker
from infra.emulators import runware
from infra.emulators.faults import Fault
from infra.emulators.server import serve_in_thread
from infra.seed_edits import DemoCatalog, seed_demo
from tests.conftest import TEST_ENV
from tests.functional.test_edit_workers import ACTOR, drain, load, run, usage

pytestmark = pytest.mark.usefixtures("aws_server")
KEY = "runware-emulator-key-0123"


@pytest.fixture(scope="module")
def emulator() -> Iterator[FastAPI]:
    app = runware.create_app(api_key=KEY, polls_until_done=3)
    with serve_in_thread(app) as url:
        app.state.url = url
        yield app


@pytest.fixture
def demo(
    emulator: FastAPI, settings_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> DemoCatalog:
    emulator.state.faults.clear()
    settings_env(RUNWARE_API_KEY=KEY, RUNWARE_BASE_URL=f"{emulator.state.url}/v1")
    monkeypatch.setattr(runner, "poll_delay", lambda attempt: 0)
    demo = seed_demo(bucket=TEST_ENV["IMAGES_BUCKET"])
    catalog().put_style(
        Style(
            key="runware-art",
            name="Runware art",
            provider="runware",
            provider_model="runware:101@1",
            prompt_template="an oil painting {prompt}",
            cost_estimate_micros=10_000,
        )
    )
    return demo


def create(demo: DemoCatalog, prompt: str | None = None) -> str:
    event = catalog().get_event(demo.tenant_id, demo.event_slug)
    body = admission.EditCreate(style_key="runware-art", prompt=prompt)
    return admission.create_edit(ACTOR, event, demo.photo_id, body).request_id


def test_success_after_three_polls_settles_the_reported_cost(
    demo: DemoCatalog, emulator: FastAPI
) -> None:
    request_id = create(demo)
    drain()
    done = load(demo, request_id)
    assert done.status == "succeeded", done
    assert done.provider == "runware"
    assert done.polls == 2  # three status calls: two pending, one finished
    assert done.actual_cost_micros == 6_500  # the emulator reports 0.0065 USD
    assert str(done.provider_url).startswith(f"{emulator.state.url}/v1/__outputs/")
    assert usage(demo) == (6_500, 0)


def test_an_nsfw_result_is_blocked_and_its_cost_stays_in_both_ledgers(demo: DemoCatalog) -> None:
    # Runware generated the image, then flagged it: the run was billed (0.0065 USD), so the
    # reservation is settled at that cost with a line saying why, never released.
    request_id = create(demo, prompt="moderation-test")
    assert usage(demo) == (0, 10_000)

    drain()

    done = load(demo, request_id)
    assert (done.status, done.block_reason) == ("blocked", "provider_moderation")
    assert done.actual_cost_micros == 6_500
    assert usage(demo) == (6_500, 0)
    (line,) = budget_store().ledger(demo.tenant_id)
    assert (line.request_id, line.provider, line.cost_micros, line.reason) == (
        request_id,
        "runware",
        6_500,
        "blocked",
    )
    day = spend_ledger().day("runware")
    assert (day.spent_micros, day.reserved_micros, day.open_reservations) == (6_500, 0, 0)
    assert (day.by_reason, day.calls_by_reason, day.released) == (
        {"blocked": 6_500},
        {"blocked": 1},
        0,
    )


def test_a_success_settles_the_reported_cost_under_the_provider_ceiling_too(
    demo: DemoCatalog,
) -> None:
    request_id = create(demo)
    run("EDITS_QUEUE_URL", submit_worker)
    # Reserved at submit: the price table's Runware default (10,000), before the call.
    submitted = load(demo, request_id)
    assert (submitted.spend_day, submitted.spend_estimate_micros) == (
        spend_ledger().day("runware").day,
        10_000,
    )
    assert spend_ledger().day("runware").reserved_micros == 10_000

    drain()

    assert load(demo, request_id).status == "succeeded"
    (line,) = budget_store().ledger(demo.tenant_id)
    assert (line.cost_micros, line.reason) == (6_500, "succeeded")
    day = spend_ledger().day("runware")
    assert (day.spent_micros, day.reserved_micros, day.by_reason) == (
        6_500,
        0,
        {"succeeded": 6_500},
    )


def test_a_failed_task_reports_no_bill_and_both_reservations_are_released(
    demo: DemoCatalog, emulator: FastAPI
) -> None:
    emulator.state.faults.add(Fault(kind="failed", message="boom", path_contains="imageInference"))
    request_id = create(demo)

    drain()

    assert load(demo, request_id).status == "failed"
    assert usage(demo) == (0, 0)
    assert budget_store().ledger(demo.tenant_id) == []
    day = spend_ledger().day("runware")
    assert (day.spent_micros, day.reserved_micros, day.released) == (0, 0, 1)


def test_a_429_on_status_then_success(demo: DemoCatalog, emulator: FastAPI) -> None:
    emulator.state.faults.add(Fault(kind="rate_limit", retry_after=0, path_contains="getResponse"))
    request_id = create(demo)
    drain()
    assert load(demo, request_id).status == "succeeded"


def test_a_crash_after_submitting_leaves_one_task_and_one_charge(
    demo: DemoCatalog, emulator: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = len(emulator.state.jobs)
    request_id = create(demo)
    real = request_store.transition
    crashed: list[bool] = []

    def crash_once(request: Any, **kwargs: Any) -> Any:
        if kwargs.get("provider_job_id") and not crashed:
            crashed.append(True)
            raise RuntimeError("worker died after the provider accepted the task")
        return real(request, **kwargs)

    monkeypatch.setattr(request_store, "transition", crash_once)
    drain()
    assert crashed
    assert load(demo, request_id).status == "succeeded"
    assert len(emulator.state.jobs) == before + 1  # the resubmission was recognised
    assert len(budget_store().ledger(demo.tenant_id)) == 1


HOOK_TOKEN = "runware-hook-token-0123456789"


def test_a_completion_webhook_finishes_the_request_with_zero_polls(
    demo: DemoCatalog, emulator: FastAPI, settings_env: Callable[..., None]
) -> None:
    settings_env(PUBLIC_BASE_URL="https://api.test", RUNWARE_WEBHOOK_TOKEN=HOOK_TOKEN)
    request_id = create(demo)
    run("EDITS_QUEUE_URL", submit_worker)
    task_uuid = str(load(demo, request_id).provider_job_id)
    job = emulator.state.jobs[task_uuid]
    assert job.task.webhook_url == f"https://api.test/api/v1/webhooks/runware?token={HOOK_TOKEN}"
    payload = {"data": job.items}  # what Runware POSTs once the task has finished
    with TestClient(app, base_url="https://api.test") as hook:
        refused = hook.post("/api/v1/webhooks/runware", params={"token": "wrong"}, json=payload)
        assert refused.status_code == 401
        first = hook.post("/api/v1/webhooks/runware", params={"token": HOOK_TOKEN}, json=payload)
        assert first.status_code == 200, first.text
        assert first.json()["data"]["completed"] == 1
        again = hook.post("/api/v1/webhooks/runware", params={"token": HOOK_TOKEN}, json=payload)
        assert again.json()["data"]["completed"] == 0  # a redelivered webhook does nothing
    assert load(demo, request_id).status == "succeeded"
    drain()  # the poll message queued at submit finds the request finished
    assert emulator.state.polls.get(task_uuid, 0) == 0
    assert len(budget_store().ledger(demo.tenant_id)) == 1
