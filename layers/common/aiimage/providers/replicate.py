"""Replicate: community upscale and face-restore models through the predictions API.

A create asks Replicate to hold the request open (`Prefer: wait=n`) for as long as the
caller can wait; an unfinished run comes back as a pending job to poll. A create is never
retried after a read timeout (the run may already be billed), and outputs are downloaded
at once because Replicate deletes them after an hour. Outputs are fetched only from
allow-listed origins (the API answers with URLs; fetching any URL would be an SSRF hole), by
a separate client that never carries the API token (`aiimage.providers.outputs`). A webhook's
output is fetched only once its prediction matched a request of ours: `webhook_delivery`
verifies and parses it, and the caller has it `fetched` after the match.

What a run cost is `metrics.predict_time` (reported on terminal states only) times the price
per second of the model's hardware, priced by the prediction's `model` (`owner/name`; the
create names a version id). Succeeded, failed and canceled runs are billed alike; without
the metric the model's estimate stands, never 0. An `aborted` run never started: no cost.
"""

from __future__ import annotations

import base64
import hmac
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError

from aiimage.credentials import replicate_api_token
from aiimage.errors import AuthError, ConfigurationError
from aiimage.observability import LogEvent, logger
from aiimage.providers.base import (
    GenerationRequest,
    ImageInput,
    Outcome,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitedError,
    ProviderRejectedError,
    ProviderUnavailableError,
)
from aiimage.providers.outputs import OutputDownloadingProvider, output_policy
from aiimage.providers.pricing import replicate_cost_micros
from aiimage.providers.replicate_pins import PINNED_VERSIONS
from aiimage.providers.transport import ProviderTransport, retry_after_seconds
from aiimage.settings import Settings, get_settings

# Outputs are served from replicate.delivery and its subdomains (pbxt.replicate.delivery).
DELIVERY_ORIGINS = ("https://replicate.delivery", "https://*.replicate.delivery")
# Replicate's advice: data URIs up to 256 kB, larger inputs as URLs or uploaded files.
MAX_DATA_URI_BYTES = 256 * 1024
MAX_WAIT_SECONDS = 60  # the ceiling of `Prefer: wait=n`
# The read timeout of a create must outlast the server's wait, or every slow run times out.
WAIT_MARGIN_SECONDS = 1.0
WEBHOOK_TOLERANCE_SECONDS = 300  # the Standard Webhooks convention
WEBHOOK_SECRET_TTL_SECONDS = 3600
WEBHOOK_SECRET_MIN_REFRESH = 60


def _real_esrgan(request: GenerationRequest, image: str) -> dict[str, Any]:
    return {
        "image": image,
        "scale": request.params.scale or 4,
        "face_enhance": request.params.face_enhance,
    }


def _gfpgan(request: GenerationRequest, image: str) -> dict[str, Any]:
    return {"img": image, "version": "v1.4", "scale": request.params.scale or 2}


def _codeformer(request: GenerationRequest, image: str) -> dict[str, Any]:
    return {
        "image": image,
        "codeformer_fidelity": request.params.strength
        if request.params.strength is not None
        else 0.5,
        "background_enhance": True,
        "face_upsample": True,
        "upscale": request.params.scale or 2,
    }


@dataclass(frozen=True, slots=True)
class ReplicateModel:
    version: str  # a 64-hex version id: community models are run by version
    build_input: Callable[[GenerationRequest, str], dict[str, Any]]


# The pinned versions live in `replicate_pins`, where the model catalog reads them too.
MODELS: dict[str, ReplicateModel] = {
    "nightmareai/real-esrgan": ReplicateModel(
        PINNED_VERSIONS["nightmareai/real-esrgan"], _real_esrgan
    ),
    "tencentarc/gfpgan": ReplicateModel(PINNED_VERSIONS["tencentarc/gfpgan"], _gfpgan),
    "sczhou/codeformer": ReplicateModel(PINNED_VERSIONS["sczhou/codeformer"], _codeformer),
}


# --- wire models -------------------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Problem(_Wire):
    """An `application/problem+json` error body; 429s add `retry_after`."""

    title: str | None = None
    detail: str | None = None
    status: int | None = None
    retry_after: float | None = None


class PredictionMetrics(_Wire):
    predict_time: float | None = None


# Terminal states Replicate bills: the prediction ran (or was admitted to run) on hardware.
# `aborted` is not among them: its deadline passed before it started, so it never ran.
BILLED_STATES = frozenset({"succeeded", "failed", "canceled"})


class Prediction(_Wire):
    id: str = Field(min_length=1)
    # The model as `owner/name`: what the price table keys (the create names a version id).
    model: str | None = None
    # `aborted` came with deadlines (2025); anything newer fails validation: unavailable.
    status: Literal["starting", "processing", "succeeded", "failed", "canceled", "aborted"]
    output: Any = None
    error: str | None = None
    metrics: PredictionMetrics | None = None


class WebhookSecret(_Wire):
    # Base64 with or without its `=` padding, as the Standard Webhooks libraries take it.
    key: str = Field(pattern=r"^whsec_[A-Za-z0-9+/]+={0,2}$")

    @field_validator("key")
    @classmethod
    def _decodes(cls, key: str) -> str:
        _signer(key)  # a length no padding can make base64 (4n + 1) is no key
        return key


class _FileUrls(_Wire):
    get: str = Field(min_length=1)


class UploadedFile(_Wire):
    id: str
    urls: _FileUrls


# --- error mapping -----------------------------------------------------------------------


def _problem(response: httpx.Response) -> Problem:
    try:
        return Problem.model_validate_json(response.content)
    except PydanticValidationError:
        return Problem()  # a Cloudflare HTML page, an empty body …


def map_error(response: httpx.Response) -> ProviderError:
    """Replicate's non-2xx answers onto the error tree. Bodies stay out of the errors: a
    `detail` may quote the input; it is logged (truncated) for whoever operates the API."""
    status = response.status_code
    problem = _problem(response)
    logger.warning(
        LogEvent.PROVIDER_ERROR,
        provider="replicate",
        status=status,
        detail=(problem.detail or "")[:200],
    )
    details = {"providerStatus": status}
    if status in (401, 403):
        return ProviderAuthError(ReplicateProvider.name, details=details)
    if status == 402:
        # Our account ran out of credit: not the caller's fault, and another provider can
        # still serve the request, so it is "unavailable" (502), not a 4xx.
        return ProviderUnavailableError(
            "The image provider account cannot be billed",
            code="provider_payment_required",
            details=details,
        )
    if status == 429:
        seconds = problem.retry_after
        if seconds is None:
            seconds = retry_after_seconds(response)
        return ProviderRateLimitedError(math.ceil(seconds))
    if 400 <= status < 500:
        return ProviderRejectedError(details=details)
    return ProviderUnavailableError(details=details)


# --- the client --------------------------------------------------------------------------


class ReplicateProvider(OutputDownloadingProvider):
    name = "replicate"
    # The webhook secret and when it was fetched; set per instance on the first webhook.
    _secret: tuple[str, float] | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ReplicateProvider:
        settings = settings or get_settings()
        transport = ProviderTransport(
            provider=cls.name,
            base_url=settings.replicate_base_url,
            token=replicate_api_token,
            timeout=settings.provider_timeout_seconds,
            max_retries=settings.provider_max_retries,
            map_error=map_error,
        )
        outputs = output_policy(
            *DELIVERY_ORIGINS, base_url=settings.replicate_base_url, settings=settings
        )
        return cls(transport=transport, outputs=outputs)

    def submit(self, request: GenerationRequest) -> Outcome:
        model = MODELS.get(request.model)
        if model is None:
            raise ConfigurationError(f"Replicate has no pinned version for {request.model!r}")
        body: dict[str, Any] = {
            "version": model.version,
            "input": model.build_input(request, self._input(request.image)),
        }
        if request.webhook_url:
            # The terminal event only: it is the one Replicate retries, and all we act on.
            body["webhook"] = request.webhook_url
            body["webhook_events_filter"] = ["completed"]
        wait = min(max(int(request.wait_seconds), 1), MAX_WAIT_SECONDS)
        response = self._transport.request(
            "POST",
            "/predictions",
            idempotent=False,
            json=body,
            headers={"Prefer": f"wait={wait}"},
            # Connect fast; wait for the read as long as the provider holds the request.
            timeout=httpx.Timeout(wait + WAIT_MARGIN_SECONDS, connect=5.0),
        )
        return self._outcome(response, waited=True)

    def poll(self, job_id: str) -> Outcome:
        response = self._transport.request(
            "GET", f"/predictions/{quote(job_id, safe='')}", idempotent=True
        )
        return self._outcome(response)

    def cancel(self, job_id: str) -> None:
        # Cancelling a finished prediction answers 200 with it unchanged; a gone one, 404.
        try:
            self._transport.request(
                "POST", f"/predictions/{quote(job_id, safe='')}/cancel", idempotent=True
            )
        except ProviderRejectedError as exc:
            if (exc.details or {}).get("providerStatus") != 404:
                raise

    # --- webhooks --------------------------------------------------------------------------

    def webhook_delivery(self, headers: Mapping[str, str], body: bytes) -> WebhookDelivery:
        """What a signed webhook reports, its output not fetched yet (`fetched` does that,
        once the prediction matched a request of ours); AuthError for a missing, wrong or
        stale signature, before the body is even parsed."""
        secret = self._webhook_secret()
        try:
            verify_webhook(secret, headers, body, now=time.time())
        except AuthError:
            # The account's secret may have been rotated: fetch it once more, then decide.
            fresh = self._webhook_secret(refresh=True)
            if fresh == secret:
                raise
            verify_webhook(fresh, headers, body, now=time.time())
        return WebhookDelivery(
            webhook_id=headers["webhook-id"],
            expires_at=int(headers["webhook-timestamp"]) + WEBHOOK_TOLERANCE_SECONDS,
            outcome=self._outcome_of(body),
        )

    def _webhook_secret(self, *, refresh: bool = False) -> str:
        """`GET /webhooks/default/secret`, cached per process (one call per cold start)."""
        now = time.monotonic()
        cached = self._secret
        if cached is not None and not refresh and now - cached[1] < WEBHOOK_SECRET_TTL_SECONDS:
            return cached[0]
        if cached is not None and refresh and now - cached[1] < WEBHOOK_SECRET_MIN_REFRESH:
            return cached[0]  # a flood of forged webhooks must not become a flood of calls
        response = self._transport.request("GET", "/webhooks/default/secret", idempotent=True)
        try:
            key = WebhookSecret.model_validate_json(response.content).key
        except PydanticValidationError as exc:
            raise ProviderUnavailableError("The image provider sent a malformed answer") from exc
        self._secret = (key, now)
        return key

    # --- input -----------------------------------------------------------------------------

    def _input(self, image: ImageInput) -> str:
        if image.url is not None and urlsplit(image.url).scheme in ("http", "https"):
            return image.url
        if len(image.data) <= MAX_DATA_URI_BYTES:
            encoded = base64.b64encode(image.data).decode("ascii")
            return f"data:{image.content_type};base64,{encoded}"
        return self._upload(image)

    def _upload(self, image: ImageInput) -> str:
        """`POST /files` (multipart); its `urls.get` is an input URL Replicate can read."""
        extension = image.content_type.rpartition("/")[2]
        # An upload without a prediction costs nothing: retrying it is safe.
        response = self._transport.request(
            "POST",
            "/files",
            idempotent=True,
            files={"content": (f"input.{extension}", image.data, image.content_type)},
        )
        try:
            return UploadedFile.model_validate_json(response.content).urls.get
        except PydanticValidationError as exc:
            raise ProviderUnavailableError("The image provider sent a malformed answer") from exc

    # --- output ----------------------------------------------------------------------------

    def _outcome(self, response: httpx.Response, *, waited: bool = False) -> Outcome:
        return self.fetched(self._outcome_of(response.content, waited=waited))

    def _outcome_of(self, content: bytes, *, waited: bool = False) -> Outcome:
        """The prediction's outcome; a success is unfetched (its output URL, no image).
        `waited`: the answer to a `Prefer: wait` create (see `_finished_by_wait`)."""
        try:
            prediction = Prediction.model_validate_json(content)
        except PydanticValidationError as exc:
            raise ProviderUnavailableError("The image provider sent a malformed answer") from exc
        if waited:
            prediction = _finished_by_wait(prediction)
        if prediction.status in ("starting", "processing"):
            # File outputs can appear before the run ends; only a terminal state is final.
            return Outcome.pending(prediction.id)
        predict_time = prediction.metrics.predict_time if prediction.metrics else None
        cost_micros = _cost_micros(prediction, predict_time)
        metrics = {} if predict_time is None else {"predict_time": predict_time}
        error = prediction.error or prediction.status
        url = _first_output(prediction.output) if prediction.status == "succeeded" else None
        if prediction.status == "succeeded" and url is None:
            # An empty output (a filtered image) or one already removed (after an hour).
            error = "The prediction has no output"
        if url is None:
            # A failed or canceled run was billed for the time it ran, like a success.
            return Outcome(
                "failed",
                job_id=prediction.id,
                error=error,
                cost_micros=cost_micros,
                metrics=metrics,
            )
        return Outcome(
            "succeeded",
            job_id=prediction.id,
            cost_micros=cost_micros,
            metrics=metrics,
            url=url,
        )


def _finished_by_wait(prediction: Prediction) -> Prediction:
    """A `Prefer: wait` answer of `processing` with the output filled is a finished run: the
    API answers before it marks the run terminal. The official client takes it as done
    (`replicate.run`: any state but `starting`), and so do we, without a poll; it has no
    metrics yet, so it is billed at the model's estimate."""
    if prediction.status == "processing" and _first_output(prediction.output) is not None:
        return prediction.model_copy(update={"status": "succeeded"})
    return prediction


def _cost_micros(prediction: Prediction, predict_time: float | None) -> int | None:
    """What a terminal prediction cost: `predict_time` on its model's hardware (the
    model's estimate when the metric is missing, never 0); None for one never billed."""
    if prediction.status not in BILLED_STATES:
        return None
    return replicate_cost_micros(prediction.model or "", predict_time)


def _first_output(output: Any) -> str | None:
    if isinstance(output, list):
        output = output[0] if output else None
    return output if isinstance(output, str) and output else None


# --- webhook signatures --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """A verified webhook. `webhook_id` is the same on every retry of one event; its
    signature is accepted until `expires_at` (epoch seconds), so that is how long a
    replay must be recognised."""

    webhook_id: str
    expires_at: int
    outcome: Outcome  # a success without its image: fetch it after the match


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
    """Replicate's webhook signature (Standard Webhooks): HMAC-SHA256 keyed with the
    base64-decoded secret over `{webhook-id}.{webhook-timestamp}.{raw body}`, compared with
    every entry of `webhook-signature`; the timestamp must lie within
    `WEBHOOK_TOLERANCE_SECONDS` of `now`, so a captured webhook cannot be replayed later.

    The key and the signature come from the official `standardwebhooks` library (it pads an
    unpadded secret). Its `verify` reads the wall clock itself, so the timestamp is checked
    here against `now`, with its tolerance (5 minutes, both ends inclusive)."""
    webhook_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (webhook_id and timestamp.isdigit() and signatures):
        raise AuthError("The webhook is not signed", code="invalid_webhook_signature")
    if abs(now - int(timestamp)) > WEBHOOK_TOLERANCE_SECONDS:
        raise AuthError("The webhook is too old or too new", code="invalid_webhook_signature")
    signed_at = datetime.fromtimestamp(int(timestamp), UTC)
    expected = _signer(secret).sign(webhook_id, signed_at, body).encode()
    if not any(hmac.compare_digest(expected, entry.encode()) for entry in signatures.split()):
        raise AuthError("The webhook signature does not match", code="invalid_webhook_signature")


def _signer(secret: str) -> Webhook:
    """The Standard Webhooks signer of a `whsec_` secret; ValueError for one that is no key."""
    try:
        return Webhook(secret)
    except (ValueError, EmptyWebhookSecretError) as exc:  # binascii.Error is a ValueError
        raise ValueError("The webhook secret is not a base64 key") from exc
