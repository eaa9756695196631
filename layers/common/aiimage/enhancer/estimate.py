"""About how long an Enhancer job takes: the recent latency of the provider that runs (or
will run) its model (`aiimage.limits.latency`), for the page's "about N s"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiimage.errors import AppError
from aiimage.limits import latency
from aiimage.settings import get_settings

if TYPE_CHECKING:
    from aiimage.enhancer.jobs import Job


def estimated_seconds(job: Job) -> int | None:
    """None for a finished job, or without recent data. A queued job has no provider yet:
    the first available route of its model is the one the worker tries first."""
    if job.status not in ("queued", "processing"):
        return None
    provider: str | None = job.provider
    if provider is None:
        # Imported here: the job routes' cold start stays without the dispatch machinery.
        from aiimage.enhancer.dispatch import routes_for
        from aiimage.enhancer.model_catalog import stored

        try:
            provider = routes_for(stored(job.params), get_settings())[0].provider
        except AppError:
            return None
    return latency.estimate(provider, job.params.model)
