"""Runware: img2img (`imageInference` with a `seedImage`) over the REST task API.

Every call is one `POST {base}` (https://api.runware.ai/v1) with a JSON array of tasks and
`Authorization: Bearer <key>`; answers are `{"data": [...], "errors": [...]}`, where errors
are scoped per task and may arrive next to data (providers.md §3.1-§3.4, Summary 15-18).

- `submit` sends one `imageInference` task with `deliveryMethod: "async"`, `width` and
  `height` from the input image (`task_size`: the API requires both, 128-2048 and multiples
  of 64) and `safety: {checkContent: true}` (formerly `checkNSFW`; without it Runware never
  reports `NSFWContent`). Runware acks at
  once and the client holds a pending job named by the task's `taskUUID` (§3.5, Summary 19).
  With an `idempotency_key` the taskUUID is derived from it, so a resubmission after a crash
  names the same task: Runware answers `conflictTaskUUID` (Summary 18), which means "already
  submitted" and is a pending job too. That also makes the submit safe to retry after a read
  timeout. Should an answer already carry the finished image, it is downloaded at once.
- `poll` sends `getResponse` for the task: items have `status` `processing|success|error` and
  are cumulative; the item of our task with an `imageURL` is the result.
- The seed image goes as the caller's https URL when there is one, inline as a data URI up to
  256 kB, and otherwise is uploaded first with an `imageUpload` task in a separate call (its
  `imageUUID` is unknown until that call answers, so it cannot share the inference's array).
- `cancel` does nothing: Runware has no cancel operation; an abandoned task finishes and its
  result is never fetched.
- An image Runware flags (`NSFWContent: true`, or a safety error code, on submit or poll,
  in a 200 or a 4xx answer) is `failed("nsfw")`, never downloaded. A code that refuses our
  credentials (`invalidCredentials`, `tokenExpired` …) is `ProviderAuthError`, never the
  caller's 4xx. The codes are those of the official SDK (runware-python:runware/errors.py).

Outputs are fetched only from allow-listed origins (`https://runware.ai` and its subdomains
such as `im.runware.ai`), without redirects, capped at 50 MB, by a client that never carries
the key (`aiimage.providers.outputs`). A completion webhook's outputs are fetched only after
their task matched a request of ours: `webhook_outcomes` leaves them unfetched.
"""

from __future__ import annotations

import base64
import io
import math
import time
import uuid
from typing import Any

import httpx
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from aiimage.credentials import runware_api_key
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
from aiimage.providers.pricing import usd_to_micros
from aiimage.providers.transport import ProviderTransport, retry_after_seconds
from aiimage.settings import Settings, get_settings

# im.runware.ai serves results; any subdomain of runware.ai is admitted.
DELIVERY_ORIGINS = ("https://runware.ai", "https://*.runware.ai")
# Same advice as Replicate's: inline data URIs up to 256 kB, larger inputs uploaded.
MAX_DATA_URI_BYTES = 256 * 1024
# An async ack is immediate; the floor keeps a 429 retry possible for a caller in a hurry.
MIN_SUBMIT_SECONDS = 5.0

DEFAULT_STRENGTH = 0.8  # the API's default (providers.md §3.2)
MIN_STEPS, MAX_STEPS = 1, 100
MIN_CFG, MAX_CFG = 0.0, 30.0
OUTPUT_FORMATS: dict[str, str] = {"WEBP": "WEBP", "PNG": "PNG", "JPEG": "JPG"}

CONFLICT = "conflictTaskUUID"
NSFW = "nsfw"  # the `Outcome.error` of a flagged image; the worker maps it to `blocked`
# Safety codes (runware-python:runware/errors.py `_SAFETY_CODES`, providers.md §3.4): a
# refusal, like NSFWContent. `invalidProviderContent` too, though it reads like bad input.
SAFETY_CODES = frozenset(
    {
        "nsfwContentDetected",
        "contentPolicyViolation",
        "providerContentPolicyViolation",
        "promptBlocked",
        "imageBlocked",
        "sensitiveContentDetected",
        "unsafeContentDetected",
        "moderationFailed",
        "invalidProviderContent",
    }
)
# Codes that refuse our credentials or account (the SDK's `_AUTH_CODES`, and any `*ApiKey*`):
# ours to fix, never the caller's 4xx, though several start with `invalid`.
AUTH_CODES = frozenset(
    {
        "unauthorized",
        "forbidden",
        "permissionDenied",
        "insufficientPermissions",
        "authenticationFailed",
        "authFailed",
        "authTimeout",
        "invalidAuthentication",
        "invalidCredentials",
        "missingAuthentication",
        "tokenExpired",
        "tokenInvalid",
        "tokenMissing",
        "tokenRevoked",
        "accountSuspended",
        "accountDisabled",
        "organizationSuspended",
        "organizationDisabled",
        "workspaceSuspended",
        "workspaceDisabled",
    }
)
# `width` and `height` (API reference, imageInference): required, 128-2048, multiples of 64.
MIN_SIDE, MAX_SIDE, SIDE_STEP = 128, 2048, 64
# Without a Retry-After, Runware's queue usually drains within seconds (§3.8).
DEFAULT_RETRY_SECONDS = 2.0

# Task UUIDs derived from idempotency keys live in this namespace.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://api.runware.ai/v1#aiimage-task")


def task_size(width: int, height: int) -> tuple[int, int]:
    """The `width` and `height` of a task for an input of this size, the aspect kept.

    The input is scaled so that its long side is at most 2048 and, where that allows, its
    short side at least 128 (a small image is scaled up, never more than that); then each
    side is rounded to the nearest multiple of 64 (halves up) and clamped to 128-2048. So
    1000x750 is 1024x768, 4000x3000 is 2048x1536 and 100x100 is 128x128; only an aspect
    beyond 16:1 is flattened (5000x100 is 2048x128).
    """
    scale = min(MAX_SIDE / max(width, height), max(1.0, MIN_SIDE / min(width, height)))
    return _side(width * scale), _side(height * scale)


def _side(length: float) -> int:
    steps = math.floor(length / SIDE_STEP + 0.5)
    return min(max(steps * SIDE_STEP, MIN_SIDE), MAX_SIDE)


def _input_size(image: ImageInput) -> tuple[int, int]:
    """The input's pixel size, from its header (the bytes are validated and upright)."""
    try:
        with Image.open(io.BytesIO(image.data)) as opened:
            return opened.size
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ProviderRejectedError(
            "The image could not be read", code="provider_image_unreadable"
        ) from exc


def task_uuid_for(idempotency_key: str | None) -> str:
    """The taskUUID of a submission: stable for an idempotency key, random without one.

    It is `uuid5(NAMESPACE, key)` with the version nibble set to 4: Runware documents
    taskUUID as a UUID v4, and a derived id must pass a strict v4 check just as well.
    """
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.UUID(bytes=uuid.uuid5(NAMESPACE, idempotency_key).bytes, version=4))


# --- wire models -------------------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class TaskError(_Wire):
    """One element of `errors[]` (providers.md §3.4), or an item's nested `error`."""

    code: str = "unknownError"
    message: str = ""
    parameter: str | None = None
    task_type: str | None = Field(default=None, alias="taskType")
    task_uuid: str | None = Field(default=None, alias="taskUUID")


class TaskItem(_Wire):
    """One element of `data[]`: an ack, an upload, or a (polled) generation (§3.3, §3.5)."""

    task_type: str | None = Field(default=None, alias="taskType")
    task_uuid: str | None = Field(default=None, alias="taskUUID")
    status: str | None = None
    image_uuid: str | None = Field(default=None, alias="imageUUID")
    image_url: str | None = Field(default=None, alias="imageURL")
    nsfw_content: bool | None = Field(default=None, alias="NSFWContent")
    cost: float | None = None
    error: TaskError | None = None


class Envelope(_Wire):
    data: list[TaskItem] = []
    errors: list[TaskError] = []

    @model_validator(mode="before")
    @classmethod
    def _has_data_or_errors(cls, value: Any) -> Any:
        # `{}`, `{"ok": true}` or an array is not a Runware answer: malformed, not "no news".
        if not isinstance(value, dict) or not ({"data", "errors"} & value.keys()):
            raise ValueError("neither data nor errors")
        return value

    def errors_for(self, task_uuid: str) -> list[TaskError]:
        # An error without a taskUUID concerns the whole request, so ours too.
        return [e for e in self.errors if e.task_uuid in (None, task_uuid)]

    def items_for(self, task_uuid: str) -> list[TaskItem]:
        return [i for i in self.data if i.task_uuid == task_uuid]


# --- error mapping -----------------------------------------------------------------------


def _is_auth(code: str) -> bool:
    return "apikey" in code.lower() or code in AUTH_CODES


def _is_quota(code: str) -> bool:
    lowered = code.lower()
    return any(word in lowered for word in ("credit", "balance", "quota", "paymentrequired"))


def _is_validation(code: str) -> bool:
    return code.startswith(("invalid", "missing", "conflict", "unsupported", "unknownParameter"))


def _payment_required(details: dict[str, Any]) -> ProviderUnavailableError:
    # Our account ran out of balance: not the caller's fault, another provider can serve.
    return ProviderUnavailableError(
        "The image provider account cannot be billed",
        code="provider_payment_required",
        details=details,
    )


def code_error(code: str) -> ProviderError | None:
    """A task error code that is a failure of the call itself (auth, balance, bad input, a
    safety refusal, which `submit` turns into a `failed("nsfw")` outcome); None for the
    run's own failures, which become `Outcome.failed`."""
    details = {"providerCode": code}
    if _is_auth(code):
        return ProviderAuthError(RunwareProvider.name, details=details)
    if _is_quota(code):
        return _payment_required(details)
    if code in SAFETY_CODES or _is_validation(code):
        return ProviderRejectedError(details=details)
    return None


def _provider_code(exc: ProviderRejectedError) -> object:
    return (exc.details or {}).get("providerCode")


def _parse(content: bytes) -> Envelope | None:
    try:
        return Envelope.model_validate_json(content)
    except PydanticValidationError:
        return None


def map_error(response: httpx.Response) -> ProviderError:
    """The transport's `map_error`: a non-2xx Runware answer onto the error tree. Messages
    stay out of the errors (they may quote the input); the code is kept."""
    status = response.status_code
    envelope = _parse(response.content)
    code = envelope.errors[0].code if envelope and envelope.errors else None
    logger.warning(
        LogEvent.PROVIDER_ERROR, provider=RunwareProvider.name, status=status, provider_code=code
    )
    details: dict[str, Any] = {"providerStatus": status}
    if code is not None:
        details["providerCode"] = code
    if status in (401, 403) or (code is not None and _is_auth(code)):
        return ProviderAuthError(RunwareProvider.name, details=details)
    if status == 402 or (code is not None and _is_quota(code)):
        return _payment_required(details)
    if status == 429:
        seconds = retry_after_seconds(response, default=DEFAULT_RETRY_SECONDS)
        return ProviderRateLimitedError(math.ceil(seconds))
    if 400 <= status < 500:
        return ProviderRejectedError(details={"providerCode": code} if code else details)
    return ProviderUnavailableError(details=details)


def _malformed() -> ProviderUnavailableError:
    return ProviderUnavailableError(
        "The image provider sent a malformed answer", code="provider_malformed"
    )


def _run_error(error: TaskError) -> str:
    """The `Outcome.error` of a failed run: `code: message`, or `nsfw` for a refusal."""
    if error.code in SAFETY_CODES:
        return NSFW
    text = f"{error.code}: {error.message}" if error.message else error.code
    return text[:300]


# --- the client --------------------------------------------------------------------------


class RunwareProvider(OutputDownloadingProvider):
    name = "runware"

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> RunwareProvider:
        settings = settings or get_settings()
        transport = ProviderTransport(
            provider=cls.name,
            base_url=settings.runware_base_url,
            token=runware_api_key,  # resolved on the first request, not here
            timeout=settings.runware_timeout_seconds,
            max_retries=settings.provider_max_retries,
            map_error=map_error,
        )
        outputs = output_policy(
            *DELIVERY_ORIGINS, base_url=settings.runware_base_url, settings=settings
        )
        return cls(transport=transport, outputs=outputs)

    def submit(self, request: GenerationRequest) -> Outcome:
        if request.params.prompt is None or not request.params.prompt.strip():
            # `positivePrompt` is required by the API; nothing is sent without one.
            raise ProviderRejectedError("Runware needs a prompt", code="provider_prompt_missing")
        deadline = time.monotonic() + max(request.wait_seconds, MIN_SUBMIT_SECONDS)
        task_uuid = task_uuid_for(request.idempotency_key)
        try:
            task = self._inference_task(request, task_uuid, self._seed(request.image, deadline))
            # With a derived taskUUID a retried submit is recognised (conflictTaskUUID), so
            # it may be retried after a timeout; a random one may not: it could run twice.
            envelope = self._call(
                [task], idempotent=request.idempotency_key is not None, deadline=deadline
            )
            for error in envelope.errors_for(task_uuid):
                if error.code == CONFLICT:
                    return Outcome.pending(task_uuid)
                raise code_error(error.code) or ProviderUnavailableError(
                    details={"providerCode": error.code}
                )
        except ProviderRejectedError as exc:
            if _provider_code(exc) == CONFLICT:
                return Outcome.pending(task_uuid)
            if _provider_code(exc) in SAFETY_CODES:  # the input or prompt, refused
                return Outcome.failed(NSFW, job_id=task_uuid)
            raise
        return self.fetched(self._result(envelope, task_uuid))

    def poll(self, job_id: str) -> Outcome:
        try:
            envelope = self._call(
                [{"taskType": "getResponse", "taskUUID": job_id}], idempotent=True
            )
        except ProviderRejectedError as exc:
            if _provider_code(exc) in SAFETY_CODES:  # refused, answered as a 4xx
                return Outcome.failed(NSFW, job_id=job_id)
            raise
        errors = envelope.errors_for(job_id)
        if errors:
            error = errors[0]
            # Our credentials or balance: a failure of the call. Anything else about the
            # task (its run failed, it is unknown) ends the job.
            if _is_auth(error.code):
                raise ProviderAuthError(self.name, details={"providerCode": error.code})
            if _is_quota(error.code):
                raise _payment_required({"providerCode": error.code})
            return Outcome.failed(_run_error(error), job_id=job_id)
        return self.fetched(self._result(envelope, job_id))

    def webhook_outcomes(self, body: bytes) -> dict[str, Outcome]:
        """The finished tasks a completion webhook reports (`{"data": [...]}`, one POST per
        finished item), by task UUID, unfetched: `fetched` downloads an output once its
        task matched a request of ours."""
        envelope = _parse(body)
        if envelope is None:
            raise _malformed()
        task_uuids = {item.task_uuid for item in envelope.data if item.task_uuid}
        return {task_uuid: self._result(envelope, task_uuid) for task_uuid in task_uuids}

    def cancel(self, job_id: str) -> None:
        """Runware has no cancel operation: the task finishes and its result is dropped."""

    # --- request ---------------------------------------------------------------------------

    def _call(
        self, tasks: list[dict[str, Any]], *, idempotent: bool, deadline: float | None = None
    ) -> Envelope:
        # The task endpoint is the base URL itself (`…/v1`, no trailing slash).
        url = str(self._transport.client.base_url).rstrip("/")
        response = self._transport.request(
            "POST", url, idempotent=idempotent, json=tasks, deadline=deadline
        )
        envelope = _parse(response.content)
        if envelope is None:
            raise _malformed()
        return envelope

    def _seed(self, image: ImageInput, deadline: float) -> str:
        if image.url is not None and httpx.URL(image.url).scheme in ("http", "https"):
            return image.url
        if len(image.data) <= MAX_DATA_URI_BYTES:
            return _data_uri(image)
        return self._upload(image, deadline)

    def _upload(self, image: ImageInput, deadline: float) -> str:
        """An `imageUpload` task (§3.6); its `imageUUID` is the seed. Uploading bills
        nothing, so retrying it is safe."""
        task_uuid = str(uuid.uuid4())
        task = {"taskType": "imageUpload", "taskUUID": task_uuid, "image": _data_uri(image)}
        envelope = self._call([task], idempotent=True, deadline=deadline)
        for error in envelope.errors_for(task_uuid):
            raise code_error(error.code) or ProviderUnavailableError(
                details={"providerCode": error.code}
            )
        for item in envelope.items_for(task_uuid):
            if item.image_uuid:
                return item.image_uuid
        raise _malformed()

    @staticmethod
    def _inference_task(request: GenerationRequest, task_uuid: str, seed: str) -> dict[str, Any]:
        strength = DEFAULT_STRENGTH if request.params.strength is None else request.params.strength
        width, height = task_size(*_input_size(request.image))
        task: dict[str, Any] = {
            "taskType": "imageInference",
            "taskUUID": task_uuid,
            "model": request.model,
            "positivePrompt": request.params.prompt,
            "seedImage": seed,
            "strength": min(max(strength, 0.0), 1.0),
            "numberResults": 1,
            "outputType": "URL",
            "outputFormat": OUTPUT_FORMATS[request.output_format],
            "includeCost": True,
            "deliveryMethod": "async",
            "width": width,
            "height": height,
            "safety": {"checkContent": True},  # else Runware never reports NSFWContent
        }
        if request.params.negative_prompt:
            task["negativePrompt"] = request.params.negative_prompt
        if request.webhook_url:
            task["webhookURL"] = request.webhook_url
        if request.params.steps is not None:
            task["steps"] = min(max(request.params.steps, MIN_STEPS), MAX_STEPS)
        if request.params.guidance is not None:
            task["CFGScale"] = min(max(request.params.guidance, MIN_CFG), MAX_CFG)
        return task

    # --- response --------------------------------------------------------------------------

    def _result(self, envelope: Envelope, task_uuid: str) -> Outcome:
        """The task's outcome; a success is unfetched (its image URL, no image)."""
        items = envelope.items_for(task_uuid)
        finished = next((i for i in items if i.image_url), None)
        if finished is None or not finished.image_url:
            return _unfinished(items, task_uuid)
        if finished.nsfw_content:
            # Flagged: never fetched. The run may still be billed, so its cost is kept.
            return Outcome(
                "failed",
                job_id=task_uuid,
                error=NSFW,
                cost_micros=usd_to_micros(finished.cost),
                metrics={"nsfw": 1.0},
            )
        metrics = {"nsfw": 0.0} if finished.nsfw_content is False else {}
        return Outcome(
            "succeeded",
            job_id=task_uuid,
            cost_micros=usd_to_micros(finished.cost),
            metrics=metrics,
            url=finished.image_url,
        )


def _unfinished(items: list[TaskItem], task_uuid: str) -> Outcome:
    """The outcome of a task whose items carry no image: failed, or still running."""
    failed = next((i for i in items if i.status == "error"), None)
    if failed is not None:
        return Outcome.failed(
            _run_error(failed.error or TaskError(code="inferenceError")), job_id=task_uuid
        )
    if any(i.status == "success" for i in items):
        return Outcome.failed("The task succeeded without an output", job_id=task_uuid)
    return Outcome.pending(task_uuid)  # an ack, `processing`, or nothing yet


def _data_uri(image: ImageInput) -> str:
    return f"data:{image.content_type};base64,{base64.b64encode(image.data).decode('ascii')}"
