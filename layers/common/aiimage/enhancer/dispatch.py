"""Which provider runs a model, and the fallback when it cannot.

A model's routes are tried in catalog order, skipping providers that are switched off or
not configured (`WORKERS_AI_ENABLED=0` is the seed system's rollback switch). A provider
that is busy, down or refuses our credentials hands over to the next route; a provider
that rejects the input does not (the next one would be given the same input). All routes
share one deadline, below API Gateway's 30 s limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiimage.enhancer.model_catalog import ProviderRoute, ResolvedParams
from aiimage.errors import ConfigurationError
from aiimage.observability import LogEvent, MetricName, logger, metrics
from aiimage.providers.base import (
    GenerationRequest,
    ImageInput,
    Outcome,
    ProviderAuthError,
    ProviderRateLimitedError,
    ProviderUnavailableError,
)
from aiimage.providers.registry import get_provider, is_available
from aiimage.settings import Settings, get_settings

# Busy, down, or refusing our credentials (a 502 to the caller, an alarm for operators):
# the next route may still serve. A rejected input is not handed over.
_HANDS_OVER = (ProviderAuthError, ProviderRateLimitedError, ProviderUnavailableError)


@dataclass(frozen=True, slots=True)
class Dispatched:
    route: ProviderRoute
    outcome: Outcome


def routes_for(params: ResolvedParams, settings: Settings) -> list[ProviderRoute]:
    routes = [r for r in params.spec.routes if is_available(r.provider, settings)]
    if not routes:
        raise ConfigurationError(f"No provider is configured for {params.spec.slug}")
    return routes


def build_request(
    params: ResolvedParams, route: ProviderRoute, image: ImageInput, wait_seconds: float
) -> GenerationRequest:
    return GenerationRequest(
        model=route.model, image=image, params=params.params, wait_seconds=wait_seconds
    )


def dispatch(
    params: ResolvedParams,
    image: ImageInput,
    *,
    budget_seconds: float | None = None,
    settings: Settings | None = None,
) -> Dispatched:
    """Run `params` on the first provider that answers; raise the last provider's error."""
    settings = settings or get_settings()
    deadline = time.monotonic() + (budget_seconds or settings.provider_timeout_seconds)
    routes = routes_for(params, settings)
    for position, route in enumerate(routes):
        remaining = deadline - time.monotonic()
        is_last = position == len(routes) - 1
        try:
            # The local provider runs in-process in a second or two: always worth a try.
            if remaining <= 0 and route.provider != "local":
                raise ProviderUnavailableError("The provider deadline has passed")
            request = build_request(params, route, image, max(remaining, 1.0))
            return Dispatched(route, get_provider(route.provider).submit(request))
        except _HANDS_OVER as exc:
            logger.warning(
                LogEvent.PROVIDER_ERROR,
                provider=route.provider,
                model=route.model,
                code=exc.code,
                fallback=None if is_last else routes[position + 1].provider,
            )
            metrics.add_metric(name=MetricName.PROVIDER_ERROR, unit="Count", value=1)
            if is_last:
                raise
            metrics.add_metric(name=MetricName.PROVIDER_FALLBACK, unit="Count", value=1)
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
