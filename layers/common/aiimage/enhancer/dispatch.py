"""Which provider runs a model, and the fallback when it cannot.

A model's routes are tried in catalog order, skipping providers that are switched off or
not configured (`WORKERS_AI_ENABLED=0` is the seed system's rollback switch). A provider
that is busy, down or refuses our credentials hands over to the next route; a provider
that rejects the input does not (the next one would be given the same input). All routes
share one deadline, below API Gateway's 30 s limit.

Money: every paid attempt reserves its route's estimate on the provider's daily ceiling
(`aiimage.limits.spend`) BEFORE the call, under an id made of the quota reservation that
pays for the image and the route's position (a fallback is another provider, so another
reservation). A provider error, which bills nothing, releases it; a ceiling without room
hands over to the next route like a busy provider (503 `capacity_exhausted` when none has
room). A provider that answered (succeeded, failed, or pending) keeps it open in
`Dispatched.spend`: the caller settles it once it knows why (`settle_spend`: stored,
failed, could not be stored), or hands it to the job that polls on. A timeout on the last
route keeps it open too (`DispatchTimeoutError`): the provider may still be working.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiimage.enhancer.model_catalog import ProviderRoute, ResolvedParams
from aiimage.errors import CapacityExhaustedError, ConfigurationError
from aiimage.limits import spend_ledger
from aiimage.limits.spend import SpendReservation
from aiimage.observability import LogEvent, MetricName, logger, metrics
from aiimage.providers.base import (
    GenerationRequest,
    ImageInput,
    Outcome,
    ProviderAuthError,
    ProviderRateLimitedError,
    ProviderUnavailableError,
)
from aiimage.providers.codes import TIMEOUT_CODE
from aiimage.providers.pricing import estimate_micros
from aiimage.providers.registry import get_provider, is_available
from aiimage.settings import Settings, get_settings

# Busy, down, or refusing our credentials (a 502 to the caller, an alarm for operators):
# the next route may still serve. A rejected input is not handed over.
_HANDS_OVER = (ProviderAuthError, ProviderRateLimitedError, ProviderUnavailableError)


@dataclass(frozen=True, slots=True)
class SpendScope:
    """Who pays for a dispatch: the owner and the quota reservation of the image (each
    route's spend reservation is named after it), and whether a guest asks."""

    owner_key: str
    quota_reservation_id: str
    guest: bool


@dataclass(frozen=True, slots=True)
class Dispatched:
    route: ProviderRoute
    outcome: Outcome
    # Open (None for a free provider): the caller settles it or hands it to a job.
    spend: SpendReservation | None = None


class DispatchTimeoutError(ProviderUnavailableError):
    """The last route did not answer in time. The provider may still be working (and
    billing): its spend reservation stays open, for the job that takes over."""

    def __init__(self, spend: SpendReservation | None) -> None:
        super().__init__("The provider did not answer in time", code=TIMEOUT_CODE)
        self.spend = spend


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
    spend: SpendScope,
    budget_seconds: float | None = None,
    settings: Settings | None = None,
) -> Dispatched:
    """Run `params` on the first provider that answers; raise the last provider's error."""
    settings = settings or get_settings()
    deadline = time.monotonic() + (budget_seconds or settings.provider_timeout_seconds)
    routes = routes_for(params, settings)
    for position, route in enumerate(routes):
        is_last = position == len(routes) - 1
        try:
            return _attempt(params, route, image, deadline, spend, position, is_last=is_last)
        except CapacityExhaustedError:
            if is_last:
                raise
            metrics.add_metric(name=MetricName.PROVIDER_FALLBACK, unit="Count", value=1)
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


def _attempt(
    params: ResolvedParams,
    route: ProviderRoute,
    image: ImageInput,
    deadline: float,
    scope: SpendScope,
    position: int,
    *,
    is_last: bool,
) -> Dispatched:
    """One route: reserve its estimate, call it; a raised error gives the estimate back."""
    remaining = deadline - time.monotonic()
    # The local provider runs in-process in a second or two: always worth a try.
    if remaining <= 0 and route.provider != "local":
        raise ProviderUnavailableError("The provider deadline has passed")
    reserved = spend_ledger().reserve(
        route.provider,
        estimate_micros(route.provider, route.model),
        reservation_id=f"{scope.quota_reservation_id}-{position}",
        guest=scope.guest,
        owner_key=scope.owner_key,
        quota_reservation_id=scope.quota_reservation_id,
    )
    try:
        request = build_request(params, route, image, max(remaining, 1.0))
        outcome = get_provider(route.provider).submit(request)
    except ProviderUnavailableError as exc:
        if exc.code == TIMEOUT_CODE and is_last:
            raise DispatchTimeoutError(reserved) from exc
        release_spend(reserved)
        raise
    except Exception:
        release_spend(reserved)
        raise
    return Dispatched(route, outcome, reserved)


def settle_spend(spend: SpendReservation | None, outcome: Outcome | None, reason: str) -> None:
    """The provider answered, so it billed: settle at the cost it reported, or at the
    estimate when it reports none. A no-op once settled or released."""
    if spend is None:
        return
    cost = outcome.cost_micros if outcome is not None else None
    spend_ledger().settle(spend, spend.estimate_micros if cost is None else cost, reason=reason)


def release_spend(spend: SpendReservation | None) -> None:
    """Nothing was billed: give the estimate back. A no-op once settled or released."""
    if spend is not None:
        spend_ledger().release(spend)


def spend_reason(outcome: Outcome) -> str:
    """Why a finished outcome that was not stored is still paid for."""
    return "failed" if outcome.status != "succeeded" or not outcome.image else "store_failed"
