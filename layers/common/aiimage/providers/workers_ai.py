"""Cloudflare Workers AI: Stable Diffusion img2img (and SDXL text-to-image) over the REST API.

`POST {base}/accounts/{account_id}/ai/run/{model}` with a JSON body; the SD models answer
with the PNG itself (their published output schema: a binary `image/png`), JSON-output
models with the v4 envelope `{"success": true, "result": {"image": "<base64>"}}`; errors
come in the same envelope with `success: false` and the codes of Cloudflare's error table
(providers.md §1; the models' schemas and that table are kept in tests/contract/schemas/).
A JSON answer is read as the envelope; any other answer is the image, whatever its
Content-Type says (a proxy may label it `application/octet-stream`, or not at all): its
bytes decide, and bytes that are not PNG, JPEG or WebP are a malformed answer.

Workers AI is synchronous only: no job id, no polling, no webhook. A call that outlasts the
caller's `wait_seconds` raises `ProviderUnavailableError` and the caller falls back or
queues. A run is never retried after a read timeout: it may already be running (and billed).

Workers AI reports no usage per call: a finished call costs its model's neurons at the
neuron price (`pricing.workers_ai_cost_micros`), carried in `Outcome.cost_micros`.
"""

from __future__ import annotations

import base64
import binascii
import math
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from aiimage.credentials import cloudflare_api_token
from aiimage.errors import ConfigurationError, UnsupportedMediaTypeError
from aiimage.imaging.validation import CONTENT_TYPES, sniff
from aiimage.observability import LogEvent, logger
from aiimage.providers.base import (
    GenerationRequest,
    Outcome,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitedError,
    ProviderRejectedError,
    ProviderUnavailableError,
)
from aiimage.providers.codes import TIMEOUT_CODE
from aiimage.providers.pricing import workers_ai_cost_micros
from aiimage.providers.transport import ProviderTransport, retry_after_seconds
from aiimage.settings import Settings, get_settings

SD15_IMG2IMG = "@cf/runwayml/stable-diffusion-v1-5-img2img"
SDXL_BASE = "@cf/stabilityai/stable-diffusion-xl-base-1.0"
MODELS = frozenset({SD15_IMG2IMG, SDXL_BASE})
# Models that cannot run without an input image.
IMAGE_REQUIRED = frozenset({SD15_IMG2IMG})

MAX_STEPS = 20  # the SD schema's maximum (and default) for `num_steps`
# The API's default strength is 1: full noise, so the input image is ignored (diffusers
# semantics). Keep a visible share of the input, and a visible change.
MIN_STRENGTH, MAX_STRENGTH, DEFAULT_STRENGTH = 0.05, 0.95, 0.5
CONNECT_TIMEOUT_SECONDS = 5.0

# Error codes: Cloudflare's Workers AI error table, and 10000 of the v4 API (providers.md §1.5).
QUOTA_EXHAUSTED = 3036  # the daily neuron allocation is used up; it resets at 00:00 UTC
OUT_OF_CAPACITY = 3040  # no data centre can take the request right now
AUTHENTICATION = 10000
TIMED_OUT = frozenset({3007, 3008})  # request timeout / aborted, both HTTP 408
# Without a Retry-After, capacity comes back within seconds: short enough to retry in-call.
CAPACITY_RETRY_SECONDS = 5.0
# The documented HTTP status of each code, for the rare envelope with `success: false`
# that arrives with HTTP 200.
CODE_STATUS: dict[int, int] = {
    5007: 400,
    5004: 400,
    3039: 400,
    3003: 400,
    5018: 403,
    3041: 403,
    5016: 403,
    3023: 403,
    5019: 405,
    5005: 405,
    3042: 404,
    3006: 413,
    3007: 408,
    3008: 408,
    3036: 429,
    3040: 429,
    AUTHENTICATION: 401,
}

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


# --- wire models -------------------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ApiError(_Wire):
    code: int
    message: str = ""


class Envelope(_Wire):
    success: bool
    errors: list[ApiError] = []
    result: Any = None


class ImageResult(_Wire):
    image: str


# --- error mapping -----------------------------------------------------------------------


def seconds_until_utc_midnight(now: datetime) -> int:
    now = now.astimezone(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((midnight - now).total_seconds()))


def provider_error(
    status: int, code: int | None, *, retry_after: float | None, now: datetime
) -> ProviderError:
    """One Workers AI failure (HTTP status + envelope code) onto the error tree. The
    provider's message stays out: it may quote the caller's input."""
    details: dict[str, Any] = {"providerStatus": status}
    if code is not None:
        details["providerCode"] = code
    if code == QUOTA_EXHAUSTED:
        # Whatever Retry-After says, the allocation only comes back at midnight UTC. Hours
        # exceed the transport's longest in-call wait, so it is not retried in-call.
        seconds = max(retry_after or 0.0, seconds_until_utc_midnight(now))
        return ProviderRateLimitedError(
            math.ceil(seconds), "The image provider's daily allocation is used up"
        )
    if code == OUT_OF_CAPACITY or status == 429:
        seconds = CAPACITY_RETRY_SECONDS if retry_after is None else retry_after
        return ProviderRateLimitedError(math.ceil(seconds))
    if code == AUTHENTICATION or status in (401, 403):
        return ProviderAuthError(WorkersAiProvider.name, details=details)
    if code in TIMED_OUT or status == 408:
        return ProviderUnavailableError("The image provider timed out", details=details)
    if 400 <= status < 500:
        return ProviderRejectedError(details=details)
    return ProviderUnavailableError(details=details)


def _first_code(content: bytes) -> int | None:
    try:
        envelope = Envelope.model_validate_json(content)
    except PydanticValidationError:
        return None  # an HTML page from the edge, an empty body …
    return envelope.errors[0].code if envelope.errors else None


def map_error(response: httpx.Response, *, now: Clock = _utc_now) -> ProviderError:
    """The transport's `map_error`: a non-2xx Workers AI answer onto the error tree."""
    code = _first_code(response.content)
    logger.warning(
        LogEvent.PROVIDER_ERROR,
        provider=WorkersAiProvider.name,
        status=response.status_code,
        provider_code=code,
    )
    retry_after = retry_after_seconds(response, default=-1.0)
    return provider_error(
        response.status_code,
        code,
        retry_after=retry_after if retry_after >= 0 else None,
        now=now(),
    )


# --- the client --------------------------------------------------------------------------


def _malformed() -> ProviderUnavailableError:
    return ProviderUnavailableError(
        "The image provider sent a malformed answer", code="provider_malformed"
    )


class WorkersAiProvider:
    name = "workers_ai"

    def __init__(self, *, account_id: str, transport: ProviderTransport) -> None:
        if not account_id:
            raise ConfigurationError("CLOUDFLARE_ACCOUNT_ID must be set for Workers AI")
        self._account_id = account_id
        self._transport = transport

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> WorkersAiProvider:
        settings = settings or get_settings()
        if not settings.cloudflare_account_id:
            raise ConfigurationError("CLOUDFLARE_ACCOUNT_ID must be set for Workers AI")
        transport = ProviderTransport(
            provider=cls.name,
            base_url=settings.workers_ai_base_url,
            token=cloudflare_api_token,  # resolved on the first request, not here
            timeout=settings.provider_timeout_seconds,
            max_retries=settings.provider_max_retries,
            map_error=map_error,
        )
        return cls(account_id=settings.cloudflare_account_id, transport=transport)

    def close(self) -> None:
        self._transport.close()

    def submit(self, request: GenerationRequest) -> Outcome:
        body = self._body(request)
        if request.wait_seconds <= 0:
            raise ProviderUnavailableError("The provider deadline has passed", code=TIMEOUT_CODE)
        deadline = time.monotonic() + request.wait_seconds
        # Sync only: the answer must come within the caller's wait, never later than the
        # transport's own read timeout either.
        configured = self._transport.client.timeout.read
        read = min(configured or request.wait_seconds, request.wait_seconds)
        # The model id goes into the path as is: its `@` and `/` are part of the route.
        path = f"/accounts/{quote(self._account_id, safe='')}/ai/run/{request.model}"
        response = self._transport.request(
            "POST",
            path,
            idempotent=False,
            json=body,
            timeout=httpx.Timeout(read, connect=min(CONNECT_TIMEOUT_SECONDS, read)),
            deadline=deadline,
        )
        outcome = self._outcome(response)
        return replace(outcome, cost_micros=workers_ai_cost_micros(request.model))

    def poll(self, job_id: str) -> Outcome:
        # Image models run synchronously (no job ids), so nothing of ours is ever pending.
        raise ProviderRejectedError(
            "Workers AI runs synchronously and has no jobs to poll", code="provider_sync_only"
        )

    def cancel(self, job_id: str) -> None:
        """Nothing to cancel: a run ends with its request."""

    # --- request ---------------------------------------------------------------------------

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        if request.model not in MODELS:
            raise ProviderRejectedError(
                "Workers AI does not serve this model", code="provider_model_unknown"
            )
        if request.params.prompt is None or not request.params.prompt.strip():
            # Required by the API; the catalog supplies a default prompt per model.
            raise ProviderRejectedError("Workers AI needs a prompt", code="provider_prompt_missing")
        has_image = bool(request.image.data)
        if not has_image and request.model in IMAGE_REQUIRED:
            raise ProviderRejectedError(
                "This model needs an input image", code="provider_image_missing"
            )
        body: dict[str, Any] = {
            "prompt": request.params.prompt,
            "num_steps": max(1, min(request.params.steps or MAX_STEPS, MAX_STEPS)),
        }
        if request.params.negative_prompt:
            body["negative_prompt"] = request.params.negative_prompt
        if request.params.guidance is not None:
            body["guidance"] = request.params.guidance
        if has_image:
            # base64, not the JSON int array: that one costs up to 4 characters per byte.
            body["image_b64"] = base64.b64encode(request.image.data).decode("ascii")
            strength = (
                DEFAULT_STRENGTH if request.params.strength is None else request.params.strength
            )
            body["strength"] = min(max(strength, MIN_STRENGTH), MAX_STRENGTH)
        return body

    # --- response --------------------------------------------------------------------------

    def _outcome(self, response: httpx.Response) -> Outcome:
        media_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != "application/json":
            return _image(response.content)
        try:
            envelope = Envelope.model_validate_json(response.content)
        except PydanticValidationError as exc:
            raise _malformed() from exc
        if not envelope.success:
            code = envelope.errors[0].code if envelope.errors else None
            status = CODE_STATUS.get(code, 502) if code is not None else 502
            raise provider_error(status, code, retry_after=None, now=_utc_now())
        try:
            result = ImageResult.model_validate(envelope.result)
            data = base64.b64decode(result.image, validate=True)
        except (PydanticValidationError, binascii.Error) as exc:
            raise _malformed() from exc
        return _image(data)


def _image(data: bytes) -> Outcome:
    # The bytes decide the type: an empty body or an error page is not an image.
    try:
        image_format = sniff(data)
    except UnsupportedMediaTypeError as exc:
        raise _malformed() from exc
    return Outcome.succeeded(data, CONTENT_TYPES[image_format])
