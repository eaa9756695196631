"""Magic Edits on Replicate with the real client against the Replicate emulator over HTTP,
through SQS, DynamoDB and S3 on a moto server: what each edit really cost (the emulator's
scripted `metrics.predict_time` on the model's hardware) reaches the tenant's budget and the
provider's daily spend, so the hard cap holds, and a run that failed on the provider's
hardware is billed too."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI

from aiimage.edits import admission, runner
from aiimage.edits.budget import BudgetExceededError, budget_store
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import Budget, Style
from aiimage.limits import spend_ledger
from infra.emulators import replicate
from infra.emulators.faults import Fault
from infra.emulators.server import serve_in_thread
from infra.seed_edits import DemoCatalog, seed_demo
from tests.conftest import TEST_ENV
from tests.functional.test_edit_workers import drain, load, usage

pytestmark = pytest.mark.usefixtures("aws_server")
API_TOKEN = "r8_emulator_token_0123456789"
STYLE_ESTIMATE = 10_000  # the style's cost estimate: what the budget reserves per edit
# real-esrgan runs on gpu-t4 at 225 micro-USD a second (the default price table).
PREDICT_TIME, EDIT_COST = 8.2, 1_845
SPEND_ESTIMATE = 4_500  # real-esrgan's estimate: what the provider ceiling reserves
# A tenant admin asks: the guests' own create limits are not what these tests are about.
ADMIN = admission.Actor(kind="tenant", scope_hash="a" * 32, user_id="admin-1")


@pytest.fixture(scope="module")
def fast() -> Iterator[FastAPI]:
    """Finishes within the submit's `Prefer: wait`: the edit completes at submit."""
    app = replicate.create_app(api_token=API_TOKEN)
    with serve_in_thread(app) as url:
        app.state.url = url
        yield app


@pytest.fixture(scope="module")
def slow() -> Iterator[FastAPI]:
    """Outlasts the submit's wait: the edit completes through a status poll."""
    app = replicate.create_app(api_token=API_TOKEN, processing_seconds=1.5)
    with serve_in_thread(app) as url:
        app.state.url = url
        yield app


def _world(emulator: FastAPI, settings_env: Callable[..., None]) -> DemoCatalog:
    emulator.state.faults.clear()
    emulator.state.predict_time = PREDICT_TIME
    settings_env(REPLICATE_API_TOKEN=API_TOKEN, REPLICATE_BASE_URL=f"{emulator.state.url}/v1")
    demo = seed_demo(bucket=TEST_ENV["IMAGES_BUCKET"])
    catalog().put_style(
        Style(
            key="replicate-upscale",
            name="Upscale",
            provider="replicate",
            provider_model="nightmareai/real-esrgan",
            prompt_template="{prompt}",
            cost_estimate_micros=STYLE_ESTIMATE,
        )
    )
    return demo


@pytest.fixture
def demo(
    fast: FastAPI, settings_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> DemoCatalog:
    monkeypatch.setattr(runner, "poll_delay", lambda attempt: 0)
    return _world(fast, settings_env)


@pytest.fixture
def slow_demo(
    slow: FastAPI, settings_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> DemoCatalog:
    monkeypatch.setattr(runner, "poll_delay", lambda attempt: 0)
    monkeypatch.setattr(runner, "SUBMIT_WAIT_SECONDS", 1.0)
    return _world(slow, settings_env)


def create(demo: DemoCatalog) -> str:
    event = catalog().get_event(demo.tenant_id, demo.event_slug)
    body = admission.EditCreate(style_key="replicate-upscale")
    return admission.create_edit(ADMIN, event, demo.photo_id, body).request_id


def test_six_edits_against_a_cap_with_room_for_one_spend_exactly_one_real_cost(
    demo: DemoCatalog,
) -> None:
    catalog().update_budget(demo.tenant_id, Budget(hard_cap_micros=STYLE_ESTIMATE))
    created: list[str] = []
    refused: list[str] = []
    for _ in range(6):
        try:
            created.append(create(demo))
        except BudgetExceededError as exc:
            refused.append(exc.code)
        drain()

    assert len(created) == 1
    assert refused == ["budget_exceeded"] * 5
    done = load(demo, created[0])
    assert (done.status, done.provider, done.actual_cost_micros) == (
        "succeeded",
        "replicate",
        EDIT_COST,
    )
    # The month's spend is the one edit's real cost: 8.2 s on a T4, not 0, not the estimate.
    assert usage(demo) == (EDIT_COST, 0)
    (line,) = budget_store().ledger(demo.tenant_id)
    assert (line.request_id, line.cost_micros, line.reason) == (created[0], EDIT_COST, "succeeded")
    day = spend_ledger().day("replicate")
    assert (day.spent_micros, day.reserved_micros, day.by_reason) == (
        EDIT_COST,
        0,
        {"succeeded": EDIT_COST},
    )


def test_without_predict_time_the_models_estimate_is_settled_never_zero(
    demo: DemoCatalog, fast: FastAPI
) -> None:
    fast.state.predict_time = replicate.MISSING
    request_id = create(demo)

    drain()

    assert load(demo, request_id).actual_cost_micros == SPEND_ESTIMATE
    assert usage(demo) == (SPEND_ESTIMATE, 0)
    assert spend_ledger().day("replicate").spent_micros == SPEND_ESTIMATE


def test_a_prediction_that_failed_on_the_hardware_is_billed_and_says_so(
    demo: DemoCatalog, fast: FastAPI
) -> None:
    fast.state.predict_time = 2.0  # 2 s x 225 = 450
    fast.state.faults.add(Fault(kind="failed", message="CUDA out of memory"))
    request_id = create(demo)

    drain()

    done = load(demo, request_id)
    assert (done.status, done.error_code, done.actual_cost_micros) == (
        "failed",
        "provider_failed",
        450,
    )
    assert usage(demo) == (450, 0)
    (line,) = budget_store().ledger(demo.tenant_id)
    assert (line.cost_micros, line.reason) == (450, "failed")
    day = spend_ledger().day("replicate")
    assert (day.spent_micros, day.reserved_micros, day.by_reason, day.released) == (
        450,
        0,
        {"failed": 450},
        0,
    )


def test_an_edit_finished_by_a_poll_settles_the_reservation_its_submit_took(
    slow_demo: DemoCatalog, slow: FastAPI
) -> None:
    request_id = create(slow_demo)

    drain()

    done = load(slow_demo, request_id)
    assert done.status == "succeeded", done
    assert done.polls >= 1  # the result came through a status poll, in another delivery
    assert done.spend_estimate_micros == SPEND_ESTIMATE
    assert usage(slow_demo) == (EDIT_COST, 0)
    day = spend_ledger().day("replicate")
    assert (day.spent_micros, day.reserved_micros, day.open_reservations) == (EDIT_COST, 0, 0)
