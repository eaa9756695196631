"""Provider selection and fallback, with the real Workers AI client talking to its emulator:
the seed's rollback switch, a failing provider handing over, a rejection that does not."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI

from aiimage.enhancer.dispatch import SpendScope, dispatch
from aiimage.enhancer.model_catalog import GenerateParams, resolve
from aiimage.errors import ConfigurationError
from aiimage.limits.plans import PAID_PLANS
from aiimage.providers.base import ImageInput, ProviderRejectedError
from infra.emulators import workers_ai
from infra.emulators.faults import Fault
from infra.emulators.server import serve_in_thread
from tests.functional.enhancer_support import jpeg

pytestmark = pytest.mark.usefixtures("aws_stack")  # paid calls reserve spend

TOKEN = "fallback-test-token"
ACCOUNT = "acct0000"
SD15 = "@cf/runwayml/stable-diffusion-v1-5-img2img"
IMAGE = ImageInput(jpeg(64, 64), "image/jpeg")
PAYER = SpendScope(owner_key="user#u1", quota_reservation_id="q1", guest=False)


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[FastAPI, str]]:
    app = workers_ai.create_app(api_token=TOKEN, account_id=ACCOUNT)
    with serve_in_thread(app) as url:
        yield app, url


@pytest.fixture
def workers_ai_configured(
    emulator: tuple[FastAPI, str], settings_env: Callable[..., None]
) -> FastAPI:
    app, url = emulator
    app.state.faults.clear()
    app.state.requests.clear()
    settings_env(
        CLOUDFLARE_ACCOUNT_ID=ACCOUNT,
        CLOUDFLARE_API_TOKEN=TOKEN,
        WORKERS_AI_BASE_URL=f"{url}/client/v4",
        PROVIDER_MAX_RETRIES="1",
    )
    return app


def run() -> str:
    params = resolve(GenerateParams(model=SD15), PAID_PLANS["pro"])
    dispatched = dispatch(params, IMAGE, spend=PAYER)
    assert dispatched.outcome.status == "succeeded"
    return dispatched.route.provider


def fault(app: FastAPI, **spec: object) -> None:
    app.state.faults.add(Fault.model_validate(spec))


def test_workers_ai_serves_its_models_when_configured(workers_ai_configured: FastAPI) -> None:
    assert run() == "workers_ai"
    assert len(workers_ai_configured.state.requests) == 1


def test_the_rollback_switch_sends_its_models_to_the_fallback(
    workers_ai_configured: FastAPI, settings_env: Callable[..., None]
) -> None:
    settings_env(WORKERS_AI_ENABLED="false")
    assert run() == "local"
    assert workers_ai_configured.state.requests == []


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "server_error", "status": 503, "count": 5},
        {"kind": "rate_limit", "retry_after": 30, "count": 5},
        {"kind": "auth"},
        {"kind": "malformed"},
    ],
    ids=["503", "429-long", "auth", "malformed"],
)
def test_a_failing_provider_hands_over_to_the_fallback(
    workers_ai_configured: FastAPI, spec: dict[str, object]
) -> None:
    fault(workers_ai_configured, **spec)
    assert run() == "local"
    assert workers_ai_configured.state.requests  # Workers AI was tried first


def test_a_rejected_input_does_not_fall_back(workers_ai_configured: FastAPI) -> None:
    fault(workers_ai_configured, kind="failed", code=5004)
    with pytest.raises(ProviderRejectedError):
        run()


def test_no_provider_at_all_is_a_configuration_error(
    settings_env: Callable[..., None],
) -> None:
    settings_env(LOCAL_PROVIDER_ENABLED="false", WORKERS_AI_ENABLED="false")
    with pytest.raises(ConfigurationError):
        run()


def test_the_emulator_is_reachable_only_with_the_token(emulator: tuple[FastAPI, str]) -> None:
    _, url = emulator
    response = httpx.post(
        f"{url}/client/v4/accounts/{ACCOUNT}/ai/run/{SD15}", json={"prompt": "x"}, timeout=5
    )
    assert response.status_code == 401
