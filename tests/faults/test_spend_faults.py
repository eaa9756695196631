"""A failing provider and the spend ledger, against the Replicate emulator over HTTP: a call
the provider refused or never answered bills nothing, so its reservation is released and
the ceiling's room comes back; a run the provider finished as `failed` was billed, so it is
settled (at the cost the emulator reports from `metrics.predict_time`), with reason `failed`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from aiimage.enhancer import generate as generate_module
from aiimage.limits import spend_ledger
from generate_api.app import app as generate_app
from infra.emulators import replicate as replicate_emulator
from infra.emulators.faults import Fault
from infra.emulators.server import serve_in_thread
from tests.functional.enhancer_support import browser, jpeg

pytestmark = pytest.mark.usefixtures("aws_stack")
ESRGAN = "nightmareai/real-esrgan"
R8_TOKEN = "r8_spendFaultToken0123456789abcdef"
ESTIMATE = 4_500  # the price table's estimate of nightmareai/real-esrgan


@pytest.fixture(scope="module")
def replicate_server() -> Iterator[tuple[FastAPI, str]]:
    app = replicate_emulator.create_app(api_token=R8_TOKEN)
    with serve_in_thread(app) as url:
        yield app, url


@pytest.fixture
def replicate(
    replicate_server: tuple[FastAPI, str],
    settings_env: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Any]:
    """Replicate on its emulator as the only provider, under a ceiling of two estimates."""
    app, url = replicate_server
    app.state.faults.clear()
    monkeypatch.setattr(generate_module, "_input_url", lambda key, params: None)
    settings_env(
        REPLICATE_API_TOKEN=R8_TOKEN,
        REPLICATE_BASE_URL=f"{url}/v1",
        LOCAL_PROVIDER_ENABLED="false",
        PROVIDER_MAX_RETRIES="1",
        PROVIDER_TIMEOUT_SECONDS="5",
        REPLICATE_DAILY_CEILING_USD=f"{2 * ESTIMATE / 1_000_000:.6f}",
        GUEST_SPEND_SHARE_PERCENT="100",  # the callers are guests
    )

    def add(**spec: Any) -> Any:
        app.state.faults.add(Fault.model_validate({"path_contains": "/predictions", **spec}))
        return app.state.faults

    return add


def generate() -> int:
    with browser(generate_app) as client:
        client.get("/api/ai-image/usage")
        response = client.post(
            "/api/ai-image/generate",
            data={"model": ESRGAN, "scale": "2"},
            files={"image": ("a.jpg", jpeg(64, 48), "image/jpeg")},
        )
        return int(response.status_code)


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "rate_limit", "retry_after": 30, "count": 3},
        {"kind": "server_error", "status": 503, "count": 3},
        {"kind": "server_error", "status": 500},
        {"kind": "malformed"},
        {"kind": "auth"},
    ],
    ids=["429", "503", "500", "malformed", "auth"],
)
def test_a_provider_error_releases_the_reservation(
    replicate: Callable[..., Any], spec: dict[str, Any]
) -> None:
    faults = replicate(**spec)
    assert generate() in (429, 502)
    day = spend_ledger().day("replicate")
    assert (day.spent_micros, day.reserved_micros, day.released, day.open_reservations) == (
        0,
        0,
        1,
        0,
    )
    # The room is back: the whole ceiling (two estimates) still serves two generates.
    faults.clear()
    assert [generate(), generate()] == [200, 200]
    day = spend_ledger().day("replicate")
    assert (day.reserved_micros, day.released, day.calls_by_reason) == (0, 1, {"succeeded": 2})


def test_a_failed_run_was_billed_and_is_settled(replicate: Callable[..., Any]) -> None:
    replicate(kind="failed")
    assert generate() == 502
    day = spend_ledger().day("replicate")
    assert day.reserved_micros == 0
    assert day.released == 0
    assert list(day.by_reason) == ["failed"]
    assert day.calls_by_reason == {"failed": 1}
    assert day.spent_micros == day.by_reason["failed"] > 0
