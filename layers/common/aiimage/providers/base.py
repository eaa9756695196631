"""The provider protocol and the values that cross it.

A provider either finishes within the call (`Outcome.succeeded` with the image bytes) or
hands back a job to poll (`Outcome.pending` with the provider's job id). Failures that the
provider reports for a finished run (a failed prediction, an NSFW refusal) are
`Outcome.failed`; failures to talk to the provider are raised as `ProviderError`s, which are
`AppError`s of the platform's one error tree, so the HTTP layer maps them without knowing
any provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from aiimage.errors import AppError, RateLimitedError, UpstreamError, ValidationError
from aiimage.observability import LogEvent, MetricName, logger, metrics
from aiimage.providers.params import GenerationParams


@dataclass(frozen=True, slots=True)
class ImageInput:
    data: bytes
    content_type: str  # image/png, image/jpeg or image/webp: already validated and stripped
    # A short-lived (presigned) https URL of the same bytes, for providers that prefer to
    # fetch the input themselves instead of receiving it inline.
    url: str | None = None


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """What the enhancer asks of a provider, in provider-neutral terms."""

    model: str  # the provider's model id (Workers AI model, Replicate version, local style)
    image: ImageInput
    params: GenerationParams = field(default_factory=GenerationParams)
    # Seconds the caller can wait for a synchronous answer before it wants a pending job.
    wait_seconds: float = 20.0
    # Stable across retries of the same work (e.g. the edit request's id): a provider that
    # supports client-chosen task ids uses it, so a resubmission is recognised, not rerun.
    idempotency_key: str | None = None
    output_format: Literal["WEBP", "PNG", "JPEG"] = "WEBP"
    # Where a provider that supports completion webhooks should report the finished run.
    webhook_url: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Literal["succeeded", "pending", "failed"]
    image: bytes | None = None
    content_type: str | None = None
    job_id: str | None = None
    error: str | None = None
    # What the call cost, in integer micro-USD, when the provider reports it (Runware's
    # `cost`) or it follows from what the provider reports (Replicate's `predict_time`);
    # None: not known, so the caller settles its estimate (`aiimage.providers.pricing`).
    cost_micros: int | None = None
    # Where the provider serves the result (kept as a fallback; it expires on their side).
    url: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    @classmethod
    def succeeded(
        cls,
        image: bytes,
        content_type: str,
        *,
        job_id: str | None = None,
        cost_micros: int | None = None,
    ) -> Outcome:
        return cls(
            "succeeded",
            image=image,
            content_type=content_type,
            job_id=job_id,
            cost_micros=cost_micros,
        )

    @classmethod
    def pending(cls, job_id: str) -> Outcome:
        return cls("pending", job_id=job_id)

    @classmethod
    def failed(cls, error: str, *, job_id: str | None = None) -> Outcome:
        return cls("failed", error=error, job_id=job_id)


class AiImageProvider(Protocol):
    name: str

    def submit(self, request: GenerationRequest) -> Outcome: ...

    def poll(self, job_id: str) -> Outcome: ...

    def cancel(self, job_id: str) -> None: ...


# --- errors: how a provider's failures enter the platform's error tree --------------------


class ProviderError(AppError):
    """Any failure to use a provider: `except ProviderError` catches every one of them.
    Each subclass is also the plain error of its status (errors.py draws the tree)."""


class ProviderAuthError(ProviderError, UpstreamError):
    """401/403 from a provider: it refused *our* credentials (a wrong, expired or revoked
    key), which is never the caller's fault. The caller gets a 502 that says no more; the
    operators get a `provider_misconfigured` log line and the `ProviderAuthFailed` metric
    (alarmed), raised here so that no raise site can forget them. `details` (the
    provider's status and code) are logged, never sent to the caller."""

    default_code = "provider_auth"
    default_message = "The image provider is unavailable"

    def __init__(self, provider: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.provider = provider
        self.provider_details = details or {}
        logger.error(LogEvent.PROVIDER_MISCONFIGURED, provider=provider, **self.provider_details)
        metrics.add_metric(name=MetricName.PROVIDER_AUTH_FAILED, unit="Count", value=1)


class ProviderRejectedError(ProviderError, ValidationError):
    """Any other 4xx: the provider judged the input invalid."""

    default_code = "provider_rejected"
    default_message = "The image provider rejected the input"


class ProviderRateLimitedError(ProviderError, RateLimitedError):
    default_code = "provider_rate_limited"
    default_message = "The image provider is busy; retry later"


class ProviderUnavailableError(ProviderError, UpstreamError):
    """5xx, timeouts, connection errors, malformed answers: worth retrying elsewhere."""

    default_code = "provider_unavailable"
    default_message = "The image provider is unavailable"


def is_retryable(error: AppError) -> bool:
    """Whether another attempt (later, or at the fallback provider) may succeed."""
    return isinstance(error, ProviderRateLimitedError | ProviderUnavailableError)
