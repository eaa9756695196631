"""The price table: estimates, and actual costs from what each provider reports."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aiimage.providers import pricing
from aiimage.settings import ModelPrice, PriceTable, Settings


def test_the_free_providers_cost_nothing() -> None:
    assert pricing.estimate_micros("local", "upscale") == 0
    assert pricing.estimate_micros("fake", "style:dream") == 0


def test_a_listed_model_is_reserved_at_its_estimate_and_an_unlisted_one_at_its_default() -> None:
    assert pricing.estimate_micros("replicate", "nightmareai/real-esrgan") == 4_500
    assert pricing.estimate_micros("replicate", "someone/else:abc") == 10_000
    assert pricing.estimate_micros("runware", "runware:101@1") == 10_000


def test_a_provider_without_a_price_is_a_configuration_mistake() -> None:
    with pytest.raises(LookupError, match="No price"):
        pricing.estimate_micros("elsewhere", "model")


@pytest.mark.parametrize(
    ("usd", "micros"),
    [(None, None), (0.0, 0), (0.0065, 6_500), (0.0013, 1_300), (0.0000005, 1), (1e-7, 0)],
)
def test_usd_become_micros_rounded_half_up(usd: float | None, micros: int | None) -> None:
    assert pricing.usd_to_micros(usd) == micros


def test_replicate_bills_predict_time_on_the_models_hardware() -> None:
    # 8.2 s on a T4 at 225 micro-USD a second.
    assert pricing.replicate_cost_micros("nightmareai/real-esrgan", 8.2) == 1_845
    # Rounded up: 0.0127 s x 975 = 12.38.
    assert pricing.replicate_cost_micros("sczhou/codeformer", 0.0127) == 13
    # No metric: the estimate, never 0.
    assert pricing.replicate_cost_micros("nightmareai/real-esrgan", None) == 4_500
    assert pricing.replicate_cost_micros("unknown/model", None) == 10_000


def test_workers_ai_bills_neurons_at_the_neuron_price() -> None:
    # 2,000 neurons at $0.011 per 1,000.
    assert pricing.workers_ai_cost_micros("@cf/stabilityai/stable-diffusion-xl-base-1.0") == 22_000
    assert pricing.workers_ai_cost_micros("@cf/runwayml/stable-diffusion-v1-5-img2img") == 11_000


def test_the_table_is_read_from_the_environment(settings_env: Callable[..., None]) -> None:
    table = PriceTable(
        models={"m": ModelPrice(estimate_micros=7, hardware="gpu-x")},
        hardware_micros_per_second={"gpu-x": 1_000},
    )
    settings_env(AI_PRICE_TABLE=table.model_dump_json())
    assert pricing.estimate_micros("replicate", "m") == 7
    assert pricing.replicate_cost_micros("m", 1.5) == 1_500


def test_a_malformed_table_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_PRICE_TABLE", '{"models": {"m": {"estimate_micros": -1}}}')
    with pytest.raises(ValueError, match="estimate_micros"):
        Settings()
