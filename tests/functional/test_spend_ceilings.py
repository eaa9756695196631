"""Daily money ceilings through `POST /api/ai-image/generate`: a scripted Replicate provider
whose cost the test controls, moto, the generate app. Every paid call reserves its estimate
before the call and settles what the provider billed, so the ledger is exact and no burst
overshoots the ceiling; guests stop at their share; the local provider is never limited."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from aiimage import aws
from aiimage.enhancer import dispatch as dispatch_module
from aiimage.enhancer import generate as generate_module
from aiimage.enhancer import jobs, runner
from aiimage.errors import StorageUnavailableError
from aiimage.identity import Identity
from aiimage.limits import quota_store, spend_ledger
from aiimage.limits.plans import PAID_PLANS
from aiimage.providers import registry
from aiimage.providers.base import GenerationRequest, Outcome, ProviderUnavailableError
from aiimage.providers.codes import TIMEOUT_CODE
from generate_api.app import app as generate_app
from tests.conftest import TEST_ENV, make_token
from tests.functional.enhancer_support import browser, jpeg
from tests.unit.edits_fixtures import run_concurrently

pytestmark = pytest.mark.usefixtures("aws_stack")
GENERATE = "/api/ai-image/generate"
ESRGAN = "nightmareai/real-esrgan"  # Replicate only once the local fallback is off
ESTIMATE = 4_500  # micro-USD: the price table's estimate of nightmareai/real-esrgan
SD15 = "@cf/runwayml/stable-diffusion-v1-5-img2img"  # local only without Workers AI


def webp() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (128, 96), (10, 200, 30)).save(buffer, "WEBP")
    return buffer.getvalue()


class ScriptedReplicate:
    """Replicate as the dispatcher sees it: answers at once with a result that cost `cost`
    micro-USD (None: reports nothing), or raises `error`; counts its calls."""

    name = "replicate"

    def __init__(self) -> None:
        self.calls = 0
        self.cost: int | None = 3_999
        self.error: Exception | None = None
        self.pending = False  # answer `pending`; the poll then finishes the run
        self._lock = threading.Lock()
        self._image = webp()

    def submit(self, request: GenerationRequest) -> Outcome:
        with self._lock:
            self.calls += 1
        if self.error is not None:
            raise self.error
        if self.pending:
            return Outcome(status="pending", job_id="prediction-1")
        return Outcome.succeeded(self._image, "image/webp", cost_micros=self.cost)

    def poll(self, job_id: str) -> Outcome:
        return Outcome.succeeded(self._image, "image/webp", cost_micros=self.cost)

    def cancel(self, job_id: str) -> None:
        pass


@pytest.fixture
def replicate(
    settings_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> ScriptedReplicate:
    provider = ScriptedReplicate()
    from aiimage.providers.registry import get_provider as real

    def get_provider(name: Any) -> Any:
        return provider if name == "replicate" else real(name)

    monkeypatch.setattr(dispatch_module, "get_provider", get_provider)
    monkeypatch.setattr(runner, "get_provider", get_provider)
    monkeypatch.setattr(registry, "get_provider", get_provider)  # a cancel's import
    monkeypatch.setattr(generate_module, "_input_url", lambda key, params: None)
    settings_env(REPLICATE_API_TOKEN="r8_scripted", LOCAL_PROVIDER_ENABLED="false")
    return provider


def ceiling(settings_env: Callable[..., None], estimates: int, **more: str) -> None:
    usd = f"{estimates * ESTIMATE / 1_000_000:.6f}"
    settings_env(REPLICATE_DAILY_CEILING_USD=usd, **more)


def post(client: TestClient, model: str = ESRGAN) -> httpx.Response:
    response: httpx.Response = client.post(
        GENERATE,
        data={"model": model, "scale": "2"} if model == ESRGAN else {"model": model},
        files={"image": ("a.jpg", jpeg(64, 48), "image/jpeg")},
    )
    return response


def user_generate(name: str) -> httpx.Response:
    with TestClient(generate_app, base_url="https://app.test") as client:
        client.headers["Authorization"] = f"Bearer {make_token(name, plan='pro')}"
        return post(client)


def guest_generate() -> httpx.Response:
    with browser(generate_app) as client:
        return post(client)


def spend_items() -> list[dict[str, Any]]:
    items = aws.dynamodb().scan(TableName=TEST_ENV["LIMITS_TABLE"])["Items"]
    return [item for item in items if item["pk"]["S"].startswith("spend#")]


def assert_capacity_exhausted(response: httpx.Response, scope: str) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "capacity_exhausted"
    assert error["details"]["scope"] == scope
    assert 1 <= int(response.headers["retry-after"]) <= 24 * 3600
    assert response.headers["retry-after"] == str(error["details"]["retryAfter"])


def test_hundred_concurrent_generates_against_seven_estimates_make_seven_calls(
    replicate: ScriptedReplicate, settings_env: Callable[..., None]
) -> None:
    ceiling(settings_env, 7)
    responses = run_concurrently(100, lambda i: user_generate(f"burst-{i}"))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 7 + [503] * 93
    for refused in (r for r in responses if r.status_code == 503):
        assert_capacity_exhausted(refused, "provider")
    assert replicate.calls == 7
    day = spend_ledger().day("replicate")
    assert (day.spent_micros, day.reserved_micros, day.open_reservations) == (7 * 3_999, 0, 0)
    assert day.by_reason == {"succeeded": 7 * 3_999}
    assert day.calls_by_reason == {"succeeded": 7}
    charged = [r.json()["data"]["charge"] for r in responses if r.status_code == 200]
    one_image = {"total": 1, "planPortion": 1, "creditsPortion": 0}
    assert charged == [{"images": 1, "provider": "replicate", "costUsd": 0.003999, **one_image}] * 7


def test_a_refused_generate_costs_nothing(
    replicate: ScriptedReplicate, settings_env: Callable[..., None]
) -> None:
    ceiling(settings_env, 1)
    assert user_generate("first").status_code == 200
    with TestClient(generate_app, base_url="https://app.test") as client:
        client.headers["Authorization"] = f"Bearer {make_token('second', plan='pro')}"
        assert_capacity_exhausted(post(client), "provider")
    assert replicate.calls == 1
    # The refused caller's quota image was given back: the whole day is still theirs.
    snapshot = quota_store().usage("user#second", PAID_PLANS["pro"])
    assert snapshot.daily.used == 0


def test_guests_stop_at_their_share_while_signed_in_users_go_on(
    replicate: ScriptedReplicate, settings_env: Callable[..., None]
) -> None:
    # 10 estimates; guests may use 30 % of them: 3.
    ceiling(settings_env, 10, GUEST_SPEND_SHARE_PERCENT="30")
    replicate.cost = None  # settled at the estimate
    for _ in range(3):
        assert guest_generate().status_code == 200
    assert_capacity_exhausted(guest_generate(), "guest")
    for i in range(7):
        assert user_generate(f"member-{i}").status_code == 200, i
    # The whole ceiling is taken: everyone is refused now.
    assert_capacity_exhausted(user_generate("member-late"), "provider")
    assert_capacity_exhausted(guest_generate(), "provider")
    assert replicate.calls == 10
    day = spend_ledger().day("replicate")
    assert (day.spent_micros, day.guest_spent_micros) == (10 * ESTIMATE, 3 * ESTIMATE)


def test_a_failing_provider_releases_its_reservation(
    replicate: ScriptedReplicate, settings_env: Callable[..., None]
) -> None:
    ceiling(settings_env, 1)
    replicate.error = ProviderUnavailableError()
    for _ in range(3):  # each refused call gives the ceiling's only slot back
        assert user_generate("unlucky").status_code == 502
    replicate.error = None
    assert user_generate("lucky").status_code == 200
    day = spend_ledger().day("replicate")
    assert (day.spent_micros, day.reserved_micros, day.released) == (3_999, 0, 3)


def test_a_result_that_cannot_be_stored_is_still_paid_for(
    replicate: ScriptedReplicate, settings_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_store(*args: Any, **kwargs: Any) -> Any:
        raise StorageUnavailableError()

    monkeypatch.setattr(generate_module, "store_result", broken_store)
    assert user_generate("unstored").status_code == 503
    day = spend_ledger().day("replicate")
    assert day.by_reason == {"store_failed": 3_999}
    assert day.reserved_micros == 0


def test_the_local_provider_is_never_limited_and_never_written(
    settings_env: Callable[..., None],
) -> None:
    settings_env(
        WORKERS_AI_DAILY_CEILING_USD="0.000001",
        REPLICATE_DAILY_CEILING_USD="0.000001",
        RUNWARE_DAILY_CEILING_USD="0.000001",
        GUEST_SPEND_SHARE_PERCENT="0",
    )
    with browser(generate_app) as client:
        for _ in range(3):
            response = post(client, SD15)
            assert response.status_code == 200, response.text
            assert response.json()["data"]["charge"]["provider"] == "local"
    assert spend_items() == []


def dynamodb_calls(work: Callable[[], httpx.Response]) -> list[str]:
    """The DynamoDB operations `work` makes (a warm client, as `bench/aws_calls.py` counts)."""
    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    events = aws.dynamodb().meta.events
    events.register("before-call.dynamodb", count, unique_id="spend-count")
    try:
        assert work().status_code == 200
    finally:
        events.unregister("before-call.dynamodb", unique_id="spend-count")
    return calls


def test_a_paid_generate_makes_two_dynamodb_calls_more_than_a_free_one(
    replicate: ScriptedReplicate, settings_env: Callable[..., None]
) -> None:
    ceiling(settings_env, 100)
    user_generate("warm-up")  # caches filled, as on a warm Lambda
    paid = dynamodb_calls(lambda: user_generate("paid"))
    settings_env(LOCAL_PROVIDER_ENABLED="true", REPLICATE_API_TOKEN="")
    free = dynamodb_calls(lambda: user_generate("free"))
    assert len(paid) == len(free) + 2, (paid, free)
    assert sorted(paid) == sorted([*free, "UpdateItem", "UpdateItem"])


def run_job(response: httpx.Response, owner_id: str) -> jobs.Job:
    assert response.status_code == 202, response.text
    job_id = response.json()["data"]["job"]["id"]
    runner.process(jobs.JobMessage(job_id, "user", owner_id))
    return jobs.load("user", owner_id, job_id)


def test_a_pending_run_hands_its_reservation_to_the_job_which_settles_it(
    replicate: ScriptedReplicate, settings_env: Callable[..., None]
) -> None:
    ceiling(settings_env, 1)
    replicate.pending = True
    response = user_generate("patient")
    held = spend_ledger().day("replicate")
    assert (held.reserved_micros, held.open_reservations) == (ESTIMATE, 1)
    # The ceiling's only slot is the job's while it runs.
    assert_capacity_exhausted(user_generate("impatient"), "provider")
    job = run_job(response, "patient")
    assert job.status == "succeeded"
    day = spend_ledger().day("replicate")
    assert (day.spent_micros, day.reserved_micros, day.open_reservations) == (3_999, 0, 0)
    assert day.by_reason == {"succeeded": 3_999}


def test_a_timed_out_call_hands_over_and_the_jobs_call_is_counted_once(
    replicate: ScriptedReplicate, settings_env: Callable[..., None]
) -> None:
    ceiling(settings_env, 1)
    replicate.error = ProviderUnavailableError(code=TIMEOUT_CODE)
    response = user_generate("slow")
    assert spend_ledger().day("replicate").reserved_micros == ESTIMATE
    replicate.error = None
    job = run_job(response, "slow")
    assert job.status == "succeeded"
    assert job.spend is not None
    day = spend_ledger().day("replicate")
    # The worker's call took the reservation the generate left open: one slot, one settle.
    assert (day.spent_micros, day.reserved_micros, day.calls_by_reason) == (
        3_999,
        0,
        {"succeeded": 1},
    )


def test_a_canceled_pending_job_pays_its_started_run_at_the_estimate(
    replicate: ScriptedReplicate, settings_env: Callable[..., None]
) -> None:
    ceiling(settings_env, 1)
    replicate.pending = True
    response = user_generate("quitter")
    job_id = response.json()["data"]["job"]["id"]
    identity = Identity(owner_type="user", owner_id="quitter", plan="pro", via="bearer")
    assert jobs.cancel(identity, job_id).status == "canceled"
    day = spend_ledger().day("replicate")
    assert (day.spent_micros, day.reserved_micros, day.by_reason) == (
        ESTIMATE,
        0,
        {"canceled": ESTIMATE},
    )
