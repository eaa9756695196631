"""The one provider registry: one client per provider name and process.

Every use case (the Enhancer's dispatch and job runner, the Magic Edits workers and
webhooks, the ops commands) asks here, so each process holds one pooled HTTP connection
per provider, built on first use. The clients read their API keys per request through the
secrets' five-minute cache (`aiimage.credentials`), so a cached client never holds a
rotated-away key. `reset_singletons()` forgets them (tests, the local stack).

The client modules are imported on first use: a function that never calls Replicate does
not pay for importing it at cold start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from aiimage.errors import ConfigurationError
from aiimage.observability import LogEvent, logger
from aiimage.settings import DEPLOYED_STAGES, Settings, get_settings
from aiimage.singletons import singleton

if TYPE_CHECKING:
    from aiimage.providers.base import AiImageProvider
    from aiimage.providers.replicate import ReplicateProvider
    from aiimage.providers.runware import RunwareProvider

ProviderName = Literal["workers_ai", "replicate", "runware", "local", "fake"]


@singleton
def workers_ai() -> AiImageProvider:
    from aiimage.providers.workers_ai import WorkersAiProvider

    return WorkersAiProvider.from_settings()


@singleton
def replicate() -> ReplicateProvider:
    """Typed: the webhook route needs the Replicate client itself (signatures)."""
    from aiimage.providers.replicate import ReplicateProvider

    return ReplicateProvider.from_settings()


@singleton
def runware() -> RunwareProvider:
    """Typed: the webhook route needs the Runware client itself (completion bodies)."""
    from aiimage.providers.runware import RunwareProvider

    return RunwareProvider.from_settings()


@singleton
def local() -> AiImageProvider:
    from aiimage.providers.local import LocalProvider

    return LocalProvider(max_output_pixels=get_settings().max_output_pixels)


@singleton
def fake() -> AiImageProvider:
    from aiimage.providers.fake import FakeProvider

    return FakeProvider()


_CLIENTS: dict[ProviderName, Callable[[], AiImageProvider]] = {
    "workers_ai": workers_ai,
    "replicate": replicate,
    "runware": runware,
    "local": local,
    "fake": fake,
}


def get_provider(name: ProviderName) -> AiImageProvider:
    """The process's client of `name`."""
    return _CLIENTS[name]()


def is_available(name: ProviderName, settings: Settings) -> bool:
    """Whether `name` is switched on and configured (its key in the env or in SSM), so a
    route to it is worth trying. `WORKERS_AI_ENABLED=0` is the seed system's rollback."""
    if name == "workers_ai":
        return (
            settings.workers_ai_enabled
            and settings.cloudflare_account_id is not None
            and _configured(settings.cloudflare_api_token, settings.cloudflare_api_token_param)
        )
    if name == "replicate":
        return _configured(settings.replicate_api_token, settings.replicate_api_token_param)
    if name == "runware":
        return _configured(settings.runware_api_key, settings.runware_api_key_param)
    if name == "fake":
        return True
    return settings.local_provider_enabled


def _configured(value: object | None, parameter: str | None) -> bool:
    return value is not None or parameter is not None


def configuration_problems(settings: Settings) -> list[str]:
    """What keeps a deployment from serving any image: no provider at all, or half of the
    Workers AI configuration (an account without a token, or the reverse)."""
    problems = []
    account = settings.cloudflare_account_id is not None
    token = _configured(settings.cloudflare_api_token, settings.cloudflare_api_token_param)
    if account != token:
        problems.append("Workers AI needs both CLOUDFLARE_ACCOUNT_ID and its API token")
    names: tuple[ProviderName, ...] = ("workers_ai", "replicate", "runware", "local")
    if not any(is_available(name, settings) for name in names):
        problems.append(
            "No image provider is configured: set CloudflareAccountId and "
            "CloudflareApiTokenParam, ReplicateApiTokenParam or RunwareApiKeyParam"
        )
    return problems


def require_usable_provider(settings: Settings | None = None) -> None:
    """At cold start in AWS: refuse to serve without a usable provider, with one error log
    line (code `misconfigured`, alarmed) instead of a handled 500 on every request."""
    settings = settings or get_settings()
    if settings.stage not in DEPLOYED_STAGES:  # locally `fake` and `local` always are
        return
    problems = configuration_problems(settings)
    if problems:
        logger.error(
            LogEvent.DEPLOYMENT_MISCONFIGURED, extra={"code": "misconfigured", "problems": problems}
        )
        raise ConfigurationError("; ".join(problems))
