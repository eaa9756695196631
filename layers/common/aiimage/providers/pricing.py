"""What a provider call costs, in integer micro-USD: the estimate reserved before the call
and the actual cost settled after it, from the price table in settings (`AI_PRICE_TABLE`).

- Workers AI reports no usage per call: a call costs its model's neurons at the neuron price.
- Replicate reports `metrics.predict_time` on terminal predictions: seconds times the price per
  second of the model's hardware; the estimate when the metric is missing, never 0.
- Runware reports `cost` (USD) per task when asked with `includeCost`.
- `local` and `fake` run in-process and cost nothing.

Micro-USD are integers so that sums in the ledgers are exact; USD floats from a provider are
rounded once, here.
"""

from __future__ import annotations

import math
from decimal import Decimal

from aiimage.settings import ModelPrice, get_settings

FREE_PROVIDERS = frozenset({"local", "fake"})
MICROS_PER_USD = 1_000_000


def _price(provider: str, model: str) -> ModelPrice:
    table = get_settings().ai_price_table
    price = table.models.get(model) or table.defaults.get(provider)
    if price is None:
        raise LookupError(f"No price is configured for {provider} model {model}")
    return price


def estimate_micros(provider: str, model: str) -> int:
    """What one call of `model` on `provider` is reserved at (0 for the free providers)."""
    if provider in FREE_PROVIDERS:
        return 0
    return _price(provider, model).estimate_micros


def usd_to_micros(usd: float | None) -> int | None:
    """A provider-reported USD amount as micro-USD, rounded half up (None stays None)."""
    if usd is None:
        return None
    micros = (Decimal(str(usd)) * MICROS_PER_USD).to_integral_value(rounding="ROUND_HALF_UP")
    return max(0, int(micros))


def workers_ai_cost_micros(model: str) -> int:
    """A Workers AI call: its model's neurons at the neuron price, rounded up."""
    table = get_settings().ai_price_table
    price = _price("workers_ai", model)
    if price.neurons is None:
        return price.estimate_micros
    return math.ceil(price.neurons * table.workers_ai_micros_per_1000_neurons / 1000)


def replicate_cost_micros(model: str, predict_time: float | None) -> int:
    """A finished Replicate prediction: `predict_time` seconds on the model's hardware,
    rounded up; the estimate when the metric or the hardware price is missing."""
    table = get_settings().ai_price_table
    price = _price("replicate", model)
    per_second = table.hardware_micros_per_second.get(price.hardware or "")
    if predict_time is None or predict_time < 0 or per_second is None:
        return price.estimate_micros
    return math.ceil(Decimal(str(predict_time)) * per_second)
