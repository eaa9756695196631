"""A Replicate emulator: the predictions API (create with `Prefer: wait`, get, cancel, list),
model predictions, model versions and files, answering with real images from the local
enhancer, with fault injection. It serves every endpoint the official `replicate` client
(1.0.7) calls in our flows, and tests/contract drives it with that client.

Runs are asyncio tasks on the server's loop: `starting` → `processing` (for
`processing_seconds`, then the image work in a thread) → `succeeded`, `failed` or
`canceled`. Outputs are served without auth at `/v1/__outputs/{id}.png`, as
replicate.delivery serves them. A `Prefer: wait` whose run finishes in time answers 201 with
the output; `app.state.finished_wait` says in which state: `succeeded` (the default, with its
metrics) or `processing` (output filled, no metrics yet), as the real API often answers
because the run is marked terminal just after the answer leaves.

Requests are validated as the API does, with its problem+json (`title`, `detail`, `status`;
an input error adds `invalid_fields`): a create names `version` (or is posted to
`/v1/models/{owner}/{name}/predictions`, which runs the model's latest version) and an
`input` object valid against the version's schema. Predictions carry `urls.get`,
`urls.cancel` and `urls.web` (`urls.stream` when the create asked for `stream`); files carry
`etag`, `checksums` and `expires_at`; `GET /v1/predictions` pages newest first with `next`
and `previous` cursors (`app.state.page_size` per page, 100 by default).

Create requests are recorded on `app.state.requests` (reduced) and `app.state.wire` (as sent),
and every `/v1` request's method and path on `app.state.received` (on arrival, before any
fault). A prediction names its `model` (`owner/name`) and, on terminal states only, carries
`metrics.predict_time` and `metrics.total_time`, which Replicate bills by; tests script
`app.state.predict_time` (see `PredictTime`) to know each run's exact cost.

A create with `webhook` gets the terminal prediction POSTed there once it finishes, signed as
Replicate signs (`webhook-id`, `webhook-timestamp`, `webhook-signature` = `v1,<HMAC-SHA256>`
with the secret of `GET /v1/webhooks/default/secret`), retried with backoff until a 2xx;
attempts are recorded on `app.state.webhooks`.

Faults (`/__emulator/faults`, see faults.py) apply to `/v1` paths: `rate_limit`, `server_error`
and `auth` answer problem+json at once; `malformed` answers `{"ok": true}` (201 to a create);
`slow` handles the request, then holds the answer for `delay`; `failed` makes the created
prediction end `failed` with `message` (HTTP 200/201 all along, as Replicate does).

    python -m infra.emulators.replicate --port 8020 --token r8_local
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

import httpx
from fastapi import Depends, FastAPI, File, Form, Header, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from starlette.middleware.base import RequestResponseEndpoint

from aiimage.imaging import enhance, webp
from infra.emulators.faults import Fault, FaultAnswers, FaultQueue, answer, emulator_app
from infra.emulators.server import emulator_main

MAX_INPUT_BYTES = 20 * 1024 * 1024
MAX_OUTPUT_PIXELS = 64_000_000  # beyond this a GPU would run out of memory
FETCH_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
PREFER_WAIT = re.compile(r"^wait(=([1-9]|[1-9][0-9]|60))?$")
FILE_PATH = re.compile(r"^/v1/files/([a-z0-9]+)(/download)?$")
TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})
PAGE_SIZE = 100  # the API's page of `GET /v1/predictions`
FILE_LIFETIME = timedelta(hours=24)  # uploaded files expire a day after their upload
COG_VERSION = "0.9.4"
WEB_URL = "https://replicate.com/p/{id}"
DEFAULT_FAILURE = "Prediction failed: the model raised an exception"
WEBHOOK_ATTEMPTS = 4
WEBHOOK_BACKOFF_SECONDS = 0.2

ImageSource = Literal["data", "file", "url"]
# `app.state.predict_time`: None reports the measured run time, a number reports that number
# for every terminal prediction, MISSING reports no metrics at all.
MISSING = "missing"
PredictTime = float | Literal["missing"] | None


# --- model input schemas (as each pinned version's OpenAPI `Input` declares them) --------


class _Input(BaseModel):
    # Strict: a client sending `image` to GFPGAN (which wants `img`) must hear about it.
    model_config = ConfigDict(extra="forbid")
    image_field: ClassVar[str] = "image"

    @property
    def image_ref(self) -> str:
        return str(getattr(self, self.image_field))

    @property
    def factor(self) -> float:
        raise NotImplementedError


class RealEsrganInput(_Input):
    image: str = Field(min_length=1)
    scale: float = Field(default=4, ge=0, le=10)
    face_enhance: bool = False

    @property
    def factor(self) -> float:
        return self.scale


class GfpganInput(_Input):
    image_field: ClassVar[str] = "img"
    img: str = Field(min_length=1)
    version: Literal["v1.2", "v1.3", "v1.4"] = "v1.4"
    scale: float = Field(default=2, gt=0, le=10)

    @property
    def factor(self) -> float:
        return self.scale


class CodeformerInput(_Input):
    image: str = Field(min_length=1)
    codeformer_fidelity: float = Field(default=0.5, ge=0, le=1)
    background_enhance: bool = True
    face_upsample: bool = True
    upscale: int = Field(default=2, ge=1, le=10)

    @property
    def factor(self) -> float:
        return float(self.upscale)


ModelInput = RealEsrganInput | GfpganInput | CodeformerInput


@dataclass(frozen=True, slots=True)
class KnownModel:
    name: str
    schema: type[ModelInput]


_REAL_ESRGAN = KnownModel("nightmareai/real-esrgan", RealEsrganInput)
_GFPGAN = KnownModel("tencentarc/gfpgan", GfpganInput)
_CODEFORMER = KnownModel("sczhou/codeformer", CodeformerInput)

# Versions seen in public use (providers.md §2.9); Replicate runs any of a model's versions.
# The first version of each model is its latest: what a model prediction runs.
VERSIONS: dict[str, KnownModel] = {
    "42fed1c4974146d4d2414e2be2c5277c7fcf05fcc3a73abf41610695738c1d7b": _REAL_ESRGAN,
    "f121d640bd286e1fdc67f9799164c1d5be36ff74576ee11c803ae5b665dd46aa": _REAL_ESRGAN,
    "350d32041630ffbe63c8352783a26d94126809164e54085352f8326e53999085": _REAL_ESRGAN,
    "a462d24b148ac8503a4519090095bd5d3e519eb49d9ab65f389ff2f025bb9700": _REAL_ESRGAN,
    "9283608cc6b7be6b65a8e44983db012355fde4132009bf99d976b2f0896856a3": _GFPGAN,
    "1b5fdc787a394510ca56c669481837163cd66550f84b378f8b3537d64f1dc25c": _GFPGAN,
    "cc4956dd26fa5a7185d5660cc9100fab1b8070a1d1654a8bb5eb6d443b020bb2": _CODEFORMER,
    "7de2ea26c616d5bf2245ad0d5e24f0ff9a6204578a5c876db53142edd9d2cd56": _CODEFORMER,
}


LATEST: dict[str, str] = {}
for _version, _model in VERSIONS.items():
    LATEST.setdefault(_model.name, _version)


class CreatePrediction(BaseModel):
    # Checked by the route, not by FastAPI, to answer in Replicate's words and shapes.
    version: Any = None
    input: Any = None
    webhook: str | None = None
    webhook_events_filter: list[str] | None = None
    stream: bool | None = None


def _input_problem(field: str, kind: str, description: str) -> EmulatorError:
    """Replicate's input validation error: a `- field: description` line per field."""
    return EmulatorError(
        problem(
            422,
            f"- {field}: {description}\n",
            title="Input validation failed",
            invalid_fields=[{"type": kind, "field": field, "description": description}],
        )
    )


@dataclass(frozen=True, slots=True)
class CreateRecord:
    """What a create asked for; the image itself is reduced to where it came from."""

    version: str
    input: dict[str, Any]
    image_source: ImageSource
    image_ref: str  # the URL, or "data:" for an inline image
    prefer: str | None


@dataclass(frozen=True, slots=True)
class WireRequest:
    """A create as it arrived: for comparing clients field by field."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass(slots=True)
class Job:
    id: str
    model: KnownModel
    version: str
    input: ModelInput
    raw_input: dict[str, Any]
    base_url: str
    fail_with: str | None
    webhook: str | None = None
    webhook_events: frozenset[str] = frozenset()
    stream: bool = False
    status: str = "starting"
    output: str | None = None
    error: str | None = None
    logs: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_at: datetime | None = None
    completed_at: datetime | None = None
    task: asyncio.Task[None] | None = None

    def finish(self, status: str, *, error: str | None = None) -> None:
        self.status, self.error, self.completed_at = status, error, datetime.now(UTC)

    def metrics(self, scripted: PredictTime) -> dict[str, float]:
        """`predict_time` (seconds the model ran) and `total_time` (since the create), on
        terminal states only, as Replicate reports them; `scripted` overrides the measured
        run time (a number) or leaves the metrics out (`MISSING`), so tests know the cost."""
        if self.status not in TERMINAL or self.completed_at is None or scripted == MISSING:
            return {}
        total = (self.completed_at - self.created_at).total_seconds()
        if isinstance(scripted, float | int):
            return {"predict_time": float(scripted), "total_time": max(total, float(scripted))}
        if self.started_at is None:
            return {"total_time": total}  # canceled before it started: nothing ran
        return {
            "predict_time": (self.completed_at - self.started_at).total_seconds(),
            "total_time": total,
        }

    def as_json(self, scripted: PredictTime = None) -> dict[str, Any]:
        prediction_url = f"{self.base_url}/v1/predictions/{self.id}"
        urls = {
            "get": prediction_url,
            "cancel": f"{prediction_url}/cancel",
            "web": WEB_URL.format(id=self.id),
        }
        if self.stream:
            urls["stream"] = f"{self.base_url}/v1/streams/{self.id}"  # not served here
        return {
            "id": self.id,
            "model": self.model.name,
            "version": self.version,
            "input": self.raw_input,
            "output": self.output,
            "error": self.error,
            "logs": self.logs,
            "status": self.status,
            "data_removed": False,
            "created_at": _timestamp(self.created_at),
            "started_at": _timestamp(self.started_at),
            "completed_at": _timestamp(self.completed_at),
            "metrics": self.metrics(scripted),
            "urls": urls,
        }

    def as_processing_json(self) -> dict[str, Any]:
        """A finished run as a `Prefer: wait` answers it before the run is marked terminal:
        `processing`, the output filled, no completion time and no metrics yet."""
        return {**self.as_json(), "status": "processing", "completed_at": None, "metrics": {}}


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: str
    name: str
    content_type: str
    data: bytes
    created_at: datetime


def _timestamp(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _new_id() -> str:
    # Replicate ids are 26 lowercase base32 characters.
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").lower()[:26]


def problem(status: int, detail: str, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": str(extra["retry_after"])} if "retry_after" in extra else None
    return JSONResponse(
        {"detail": detail, "status": status, **extra},
        status_code=status,
        headers=headers,
        media_type="application/problem+json",
    )


def _unauthenticated() -> JSONResponse:
    return problem(401, "You did not pass a valid authentication token", title="Unauthenticated")


def _rate_limited(fault: Fault) -> Response:
    seconds = fault.retry_after
    detail = f"Request was throttled. Expected available in {seconds} seconds."
    return problem(429, detail, retry_after=seconds)


# `slow` and `failed` are applied while the request is handled.
FAULT_ANSWERS: FaultAnswers = {
    "rate_limit": _rate_limited,
    "server_error": lambda fault: problem(fault.status, fault.message or "Internal server error"),
    "auth": lambda _: _unauthenticated(),
    "malformed": lambda _: JSONResponse({"ok": True}),
}
FAULT_ANSWERS_TO_CREATE: FaultAnswers = {
    **FAULT_ANSWERS,
    "malformed": lambda _: JSONResponse({"ok": True}, status_code=201),
}


class EmulatorError(Exception):
    def __init__(self, response: JSONResponse) -> None:
        self.response = response


# --- the image work ----------------------------------------------------------------------


def _scaled(image: Image.Image, factor: float) -> Image.Image:
    if factor >= 1 and factor.is_integer():
        return enhance.upscale(image, int(factor))
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS)


def run_model(model_input: ModelInput, data: bytes) -> bytes:
    """The model's work, done for real with Pillow; raises ValueError on a bad image."""
    try:
        image = webp.decode(data)
    except (OSError, Image.DecompressionBombError) as exc:
        raise ValueError("cannot identify image file") from exc
    factor = model_input.factor
    if image.width * image.height * factor * factor > MAX_OUTPUT_PIXELS:
        raise ValueError("CUDA out of memory: the output would be too large")
    if isinstance(model_input, RealEsrganInput):
        result = _scaled(image, factor)
        if model_input.face_enhance:
            result = enhance.restore(result)
    elif isinstance(model_input, GfpganInput):
        result = _scaled(enhance.restore(image), factor)
    else:
        # Fidelity 1 keeps the input, 0 takes the restoration fully.
        restored = Image.blend(enhance.restore(image), image, model_input.codeformer_fidelity)
        result = _scaled(restored, factor)
    return webp.encode(result, "PNG")


# --- the app -----------------------------------------------------------------------------


def sign_webhook(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """Replicate's `webhook-signature` value for a body (Standard Webhooks, `v1`)."""
    # Padded as the Standard Webhooks libraries pad: Replicate's keys may come without `=`.
    key = base64.b64decode(secret.removeprefix("whsec_") + "==")
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class ReplicateEmulator:
    """The emulator's state; its routes are methods (create_app registers them)."""

    def __init__(
        self,
        app: FastAPI,
        faults: FaultQueue,
        *,
        api_token: str,
        processing_seconds: float,
        secret: str,
    ) -> None:
        self.app = app
        self.faults = faults
        self.api_token = api_token
        self.processing_seconds = processing_seconds
        self.secret = secret
        self.jobs: dict[str, Job] = {}
        self.files: dict[str, StoredFile] = {}
        self.outputs: dict[str, bytes] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    async def on_emulator_error(self, _: Request, exc: EmulatorError) -> JSONResponse:
        return exc.response

    async def on_invalid_body(self, _: Request, exc: RequestValidationError) -> JSONResponse:
        # Replicate's wording for a body that is not JSON; schema errors are 422s.
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return problem(400, "Failed to parse request body as JSON")
        detail = "; ".join(str(e.get("msg")) for e in exc.errors())
        return problem(422, detail, title="Invalid request")

    async def inject_faults(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.url.path
        if not path.startswith("/v1/"):
            return await call_next(request)
        self.app.state.received.append(f"{request.method} {path}")
        fault = self.faults.take(path)
        if fault is not None and fault.kind == "failed":
            request.state.fault = fault  # the create route ends its prediction as failed
        created = request.method == "POST" and path.endswith("/predictions")
        answers = FAULT_ANSWERS_TO_CREATE if created else FAULT_ANSWERS
        return await answer(fault, answers, lambda: call_next(request))

    def authorized(self, authorization: Annotated[str | None, Header()] = None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        valid = scheme.lower() in ("bearer", "token") and secrets.compare_digest(
            token.encode(), self.api_token.encode()
        )
        if not valid:
            raise EmulatorError(_unauthenticated())

    def find(self, prediction_id: str) -> Job:
        job = self.jobs.get(prediction_id)
        if job is None:
            raise EmulatorError(problem(404, "The requested resource could not be found"))
        return job

    async def read_input(self, source: ImageSource, ref: str) -> bytes:
        if source == "data":
            header, _, payload = ref.partition(",")
            if not header.endswith(";base64"):
                raise ValueError("only base64 data URIs are supported")
            try:
                return base64.b64decode(payload, validate=True)
            except binascii.Error as exc:
                raise ValueError("the data URI is not valid base64") from exc
        if source == "file":
            match = FILE_PATH.match(urlsplit(ref).path)
            stored = self.files.get(match.group(1)) if match else None
            if stored is None:
                raise ValueError("the input file does not exist")
            return stored.data
        async with (
            httpx.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=False) as client,
            client.stream("GET", ref) as response,
        ):
            if response.status_code != 200:
                raise ValueError(f"fetching the input failed with HTTP {response.status_code}")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data.extend(chunk)
                if len(data) > MAX_INPUT_BYTES:
                    raise ValueError("the input file is too large")
            return bytes(data)

    async def deliver_webhook(self, job: Job) -> None:
        """The `completed` event, signed; retried with backoff on failure or a non-2xx
        answer, as Replicate retries only the terminal event. One webhook-id throughout."""
        if job.webhook is None or (job.webhook_events and "completed" not in job.webhook_events):
            return
        body = json.dumps(self.prediction_json(job)).encode()
        webhook_id = f"msg_{_new_id()}"
        async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as client:
            for attempt in range(WEBHOOK_ATTEMPTS):
                timestamp = str(int(time.time()))
                headers = {
                    "content-type": "application/json",
                    "webhook-id": webhook_id,
                    "webhook-timestamp": timestamp,
                    "webhook-signature": sign_webhook(self.secret, webhook_id, timestamp, body),
                }
                try:
                    answer = await client.post(job.webhook, content=body, headers=headers)
                    self.app.state.webhooks.append((job.id, answer.status_code))
                    if answer.is_success:
                        return
                except httpx.HTTPError as exc:
                    self.app.state.webhooks.append((job.id, type(exc).__name__))
                await asyncio.sleep(WEBHOOK_BACKOFF_SECONDS * 2**attempt)

    async def run(self, job: Job, source: ImageSource, ref: str) -> None:
        await self.compute(job, source, ref)
        await self.deliver_webhook(job)

    async def compute(self, job: Job, source: ImageSource, ref: str) -> None:
        job.status, job.started_at = "processing", datetime.now(UTC)
        await asyncio.sleep(self.processing_seconds)
        if job.fail_with is not None:
            job.finish("failed", error=job.fail_with)
            return
        try:
            data = await self.read_input(source, ref)
            png = await asyncio.to_thread(run_model, job.input, data)
        except Exception as exc:  # a run that raises is a failed prediction, not an HTTP error
            job.finish("failed", error=str(exc) or type(exc).__name__)
            return
        self.outputs[job.id] = png
        job.output = f"{job.base_url}/v1/__outputs/{job.id}.png"
        job.finish("succeeded")

    def image_source(self, model_input: ModelInput, request: Request) -> ImageSource:
        ref = model_input.image_ref
        if ref.startswith("data:"):
            return "data"
        parts = urlsplit(ref)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            detail = f"input.{model_input.image_field}: Does not match format 'uri'"
            raise EmulatorError(problem(422, detail, title="Input validation failed"))
        if parts.netloc == request.url.netloc and FILE_PATH.match(parts.path):
            return "file"
        return "url"

    async def create_prediction(
        self,
        body: CreatePrediction,
        request: Request,
        prefer: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        if not isinstance(body.version, str) or not body.version:
            detail = "A version is required: pass `version`, or create the prediction at "
            detail += "/v1/models/{owner}/{name}/predictions"
            raise EmulatorError(problem(422, detail, title="Invalid version or not permitted"))
        version = body.version.rpartition(":")[2]  # "owner/name:<id>" is accepted too
        model = VERSIONS.get(version)
        if model is None:
            detail = "Invalid version or not permitted"
            raise EmulatorError(problem(422, detail, title="Invalid version"))
        return await self.create(model, version, body, request, prefer)

    async def create_model_prediction(
        self,
        owner: str,
        name: str,
        body: CreatePrediction,
        request: Request,
        prefer: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        version = LATEST.get(f"{owner}/{name}")
        if version is None:
            raise EmulatorError(problem(404, "The requested resource could not be found"))
        return await self.create(VERSIONS[version], version, body, request, prefer)

    def validated_input(self, model: KnownModel, raw: Any) -> ModelInput:
        if raw is None:
            raise _input_problem("input", "required", "Input is required")
        if not isinstance(raw, dict):
            given = type(raw).__name__
            raise _input_problem(
                "input", "invalid_type", f"Invalid type. Expected: object, given: {given}"
            )
        try:
            return model.schema.model_validate(raw)
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(["input", *map(str, first["loc"])])
            raise _input_problem(field, str(first["type"]), str(first["msg"])) from exc

    async def create(
        self,
        model: KnownModel,
        version: str,
        body: CreatePrediction,
        request: Request,
        prefer: str | None,
    ) -> JSONResponse:
        model_input = self.validated_input(model, body.input)
        raw_input: dict[str, Any] = body.input
        ref = model_input.image_ref
        source = self.image_source(model_input, request)
        recorded = {**raw_input, model_input.image_field: f"<{source}>"}
        self.app.state.requests.append(
            CreateRecord(version, recorded, source, "data:" if source == "data" else ref, prefer)
        )
        self.app.state.wire.append(
            WireRequest(
                request.method, request.url.path, dict(request.headers), await request.json()
            )
        )
        fault: Fault | None = getattr(request.state, "fault", None)
        job = Job(
            id=_new_id(),
            model=model,
            version=version,
            input=model_input,
            raw_input=raw_input,
            base_url=str(request.base_url).rstrip("/"),
            fail_with=(fault.message or DEFAULT_FAILURE) if fault else None,
            webhook=body.webhook,
            webhook_events=frozenset(body.webhook_events_filter or ()),
            stream=bool(body.stream),
        )
        self.jobs[job.id] = job
        job.task = asyncio.create_task(self.run(job, source, ref))
        self.tasks.add(job.task)
        job.task.add_done_callback(self.tasks.discard)
        headers: dict[str, str] = {}
        if prefer is None or not (match := PREFER_WAIT.match(prefer.strip())):
            return JSONResponse(self.prediction_json(job), status_code=201)
        headers["Preference-Applied"] = "wait"
        # Unfinished after `wait` seconds: answer with the run still going; clients poll.
        await asyncio.wait({job.task}, timeout=int(match.group(2) or 60))
        answered = self.prediction_json(job)
        if job.status == "succeeded" and self.app.state.finished_wait == "processing":
            answered = job.as_processing_json()
        return JSONResponse(answered, status_code=201, headers=headers)

    async def default_webhook_secret(self) -> dict[str, str]:
        return {"key": self.secret}

    def prediction_json(self, job: Job) -> dict[str, Any]:
        scripted: PredictTime = self.app.state.predict_time
        return job.as_json(scripted)

    async def get_prediction(self, prediction_id: str) -> dict[str, Any]:
        return self.prediction_json(self.find(prediction_id))

    async def list_predictions(self, request: Request, cursor: str | None = None) -> dict[str, Any]:
        """Newest first, a page at a time; the cursors are opaque to clients (an offset)."""
        offset = int(cursor) if cursor is not None and cursor.isdigit() else 0
        size: int = self.app.state.page_size
        newest = sorted(self.jobs.values(), key=lambda job: job.created_at, reverse=True)
        page = newest[offset : offset + size]
        base = f"{str(request.base_url).rstrip('/')}/v1/predictions?cursor="
        following = offset + size < len(newest)
        return {
            "previous": f"{base}{max(offset - size, 0)}" if offset > 0 else None,
            "next": f"{base}{offset + size}" if following else None,
            "results": [self.prediction_json(job) for job in page],
        }

    async def get_version(self, owner: str, name: str, version_id: str) -> dict[str, Any]:
        model = VERSIONS.get(version_id)
        if model is None or model.name != f"{owner}/{name}":
            raise EmulatorError(problem(404, "The requested resource could not be found"))
        return {
            "id": version_id,
            "created_at": "2023-01-01T00:00:00.000000Z",
            "cog_version": COG_VERSION,
            "openapi_schema": {
                "openapi": "3.0.2",
                "components": {
                    "schemas": {
                        "Input": model.schema.model_json_schema(),
                        "Output": {"type": "string", "format": "uri"},
                    }
                },
            },
        }

    async def cancel_prediction(self, prediction_id: str) -> dict[str, Any]:
        job = self.find(prediction_id)
        if job.status not in TERMINAL:
            job.finish("canceled")
            if job.task is not None:
                job.task.cancel()
        return self.prediction_json(job)

    async def create_file(
        self,
        request: Request,
        content: Annotated[UploadFile, File()],
        filename: Annotated[str | None, Form()] = None,
        content_type: Annotated[str | None, Form(alias="type")] = None,
    ) -> dict[str, Any]:
        data = await content.read(MAX_INPUT_BYTES + 1)
        if len(data) > MAX_INPUT_BYTES:
            raise EmulatorError(problem(413, "The file is too large"))
        stored = StoredFile(
            id=_new_id(),
            name=filename or content.filename or "file",
            content_type=content_type or content.content_type or "application/octet-stream",
            data=data,
            created_at=datetime.now(UTC),
        )
        self.files[stored.id] = stored
        return _file_json(stored, str(request.base_url).rstrip("/"))

    async def get_file(self, file_id: str, request: Request) -> dict[str, Any]:
        stored = self.files.get(file_id)
        if stored is None:
            raise EmulatorError(problem(404, "The requested resource could not be found"))
        return _file_json(stored, str(request.base_url).rstrip("/"))

    async def download_file(self, file_id: str) -> Response:
        stored = self.files.get(file_id)
        if stored is None:
            raise EmulatorError(problem(404, "The requested resource could not be found"))
        return Response(stored.data, media_type=stored.content_type)

    async def get_output(self, name: str) -> Response:
        png = self.outputs.get(name.removesuffix(".png"))
        if png is None:
            raise EmulatorError(problem(404, "Not found"))
        return Response(png, media_type="image/png")


def create_app(
    *, api_token: str, processing_seconds: float = 0.0, webhook_secret: str | None = None
) -> FastAPI:
    app, faults = emulator_app("Replicate emulator")
    secret = webhook_secret or "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    app.state.webhook_secret = secret
    app.state.webhooks = []  # (prediction id, HTTP status or error) per delivery attempt
    app.state.received = []
    app.state.predict_time = None  # see PredictTime: tests script it for exact costs
    app.state.finished_wait = "succeeded"  # or "processing": see the module docstring
    app.state.page_size = PAGE_SIZE
    app.state.wire = []  # WireRequest per create: what a client sent, headers and all
    emulator = ReplicateEmulator(
        app, faults, api_token=api_token, processing_seconds=processing_seconds, secret=secret
    )
    auth = [Depends(emulator.authorized)]
    app.exception_handler(EmulatorError)(emulator.on_emulator_error)
    app.exception_handler(RequestValidationError)(emulator.on_invalid_body)
    app.middleware("http")(emulator.inject_faults)
    app.post("/v1/predictions", status_code=201, dependencies=auth)(emulator.create_prediction)
    app.get("/v1/predictions", dependencies=auth)(emulator.list_predictions)
    app.post("/v1/models/{owner}/{name}/predictions", status_code=201, dependencies=auth)(
        emulator.create_model_prediction
    )
    app.get("/v1/models/{owner}/{name}/versions/{version_id}", dependencies=auth)(
        emulator.get_version
    )
    app.get("/v1/webhooks/default/secret", dependencies=auth)(emulator.default_webhook_secret)
    app.get("/v1/predictions/{prediction_id}", dependencies=auth)(emulator.get_prediction)
    app.post("/v1/predictions/{prediction_id}/cancel", dependencies=auth)(
        emulator.cancel_prediction
    )
    app.post("/v1/files", status_code=201, dependencies=auth)(emulator.create_file)
    app.get("/v1/files/{file_id}", dependencies=auth)(emulator.get_file)
    app.get("/v1/files/{file_id}/download", dependencies=auth)(emulator.download_file)
    # Like replicate.delivery: no auth, the unguessable id is the capability.
    app.get("/v1/__outputs/{name}")(emulator.get_output)
    return app


def _file_json(stored: StoredFile, base_url: str) -> dict[str, Any]:
    md5 = hashlib.md5(stored.data, usedforsecurity=False).hexdigest()
    return {
        "id": stored.id,
        "name": stored.name,
        "content_type": stored.content_type,
        "size": len(stored.data),
        "etag": md5,
        "checksums": {"sha256": hashlib.sha256(stored.data).hexdigest(), "md5": md5},
        "metadata": {},
        "created_at": _timestamp(stored.created_at),
        "expires_at": _timestamp(stored.created_at + FILE_LIFETIME),
        "urls": {"get": f"{base_url}/v1/files/{stored.id}"},
    }


def main(argv: list[str] | None = None) -> None:
    emulator_main(
        __doc__,
        argv,
        port=8020,
        credential="token",
        env="REPLICATE_API_TOKEN",
        options=lambda parser: parser.add_argument("--processing-seconds", type=float, default=0.0),
        create=lambda args: create_app(
            api_token=args.token, processing_seconds=args.processing_seconds
        ),
    )


if __name__ == "__main__":
    main()
