"""A Runware emulator: the REST task API (`POST /v1` with a JSON array of tasks), answering
with real images from the local enhancer, with fault injection (providers.md §3, §3.10).

Tasks: `authentication` (as the first element, instead of the Bearer header), `imageUpload`
(→ `imageUUID`; the `deliveryMethod` the official SDK's `run()` adds is accepted),
`imageInference` (sync, or async → ack; the task completes after `polls_until_done`
`getResponse` calls for it) and `getResponse` (→ the task's items, `status`
`processing|success`; a failed task is reported in `errors` only, as the reference has it).
Errors are per task (`errors[]`, each with its `taskUUID`): an answer with some data is HTTP
200 with `data` and `errors` side by side; an answer with only errors takes the first
error's status (401 for `invalidApiKey`, else 400; a failed run polled is 200). A reused
taskUUID is `conflictTaskUUID`.

Validation is as strict as the API reference (runware.ai/docs/en/image-inference/api-reference):
`width` and `height` are required, 128-2048 and multiples of 64; unknown fields, the old
`checkNSFW` among them, are `unknownParameter`; a missing one is `missingParameter`, a bad
value `invalidParameter`, each with its `parameter`.

The image work is `enhance.stylize` of the seed image (a data URI, plain base64, an uploaded
or generated `imageUUID`, or an http(s) URL fetched with a size cap), with the style named
by a keyword of the prompt (`vivid`, `sepia` …, else `enhance`) at the task's `strength`,
resized to the task's `width` x `height` and encoded in `outputFormat`. Results are served
without auth at `/v1/__outputs/{uuid}.{ext}`. `cost` is reported with `includeCost`.
`NSFWContent` is reported only when the task asks for a check (`safety.checkContent`, or a
`safety.mode` other than `none`, which wins): true when the prompt contains
`moderation-test` (a word our own prompt check lets through, as a real flagged output's
prompt was). Tasks are recorded on `app.state.requests` (on arrival, before any fault, with
image payloads reduced to `data:<mime>`/`base64`), jobs on `app.state.jobs`, and
`getResponse` calls per task on `app.state.polls`.

Faults (`/__emulator/faults`, see faults.py) are matched against `"/v1 <taskTypes>"` (e.g.
`/v1 getResponse`), so `path_contains` can pick a task type:
- `rate_limit`: 429 with `Retry-After`; `server_error`: `status` with code `serverError`;
  `auth`: 401 `invalidApiKey`;
- `malformed`: HTTP 200 with an HTML body, or with `code: 1` JSON of the wrong shape;
- `slow`: the tasks are handled, then the answer is held for `delay`;
- `failed`: the request's `imageInference` task ends `status: "error"` with `message`.

    python -m infra.emulators.runware --port 8030 --key rw_local [--polls-until-done 1]
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from aiimage.imaging import enhance, webp
from infra.emulators.faults import Fault, FaultAnswers, FaultQueue, answer, emulator_app
from infra.emulators.server import emulator_main

MAX_INPUT_BYTES = 20 * 1024 * 1024
MAX_INPUT_PIXELS = 40_000_000
FETCH_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
COST_PER_IMAGE = 0.0065
NSFW_MARKER = "moderation-test"
DEFAULT_FAILURE = "Inference failed: the model raised an error"
FORMATS: dict[str, tuple[webp.OutputFormat, str]] = {
    "JPG": ("JPEG", "jpg"),
    "JPEG": ("JPEG", "jpg"),
    "PNG": ("PNG", "png"),
    "WEBP": ("WEBP", "webp"),
}
EXTENSIONS = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


# --- wire shapes -------------------------------------------------------------------------


class Safety(BaseModel):
    """`safety`: `checkContent` toggles the check (fast mode); `mode` wins when given."""

    model_config = ConfigDict(extra="forbid")

    check_content: bool = Field(default=False, alias="checkContent")
    mode: Literal["none", "fast", "full"] | None = None

    @property
    def checks(self) -> bool:
        return self.check_content if self.mode is None else self.mode != "none"


# The reference's bounds of `width` and `height`: 128-2048, divisible by 64.
MIN_SIDE, MAX_SIDE, SIDE_STEP = 128, 2048, 64


class ImageInferenceTask(BaseModel):
    """The documented img2img fields (providers.md §3.2); unknown ones are refused, as the
    API's schemas (`additionalProperties: false`) do."""

    model_config = ConfigDict(extra="forbid")

    task_type: Literal["imageInference"] = Field(alias="taskType")
    task_uuid: uuid.UUID = Field(alias="taskUUID")
    model: str = Field(min_length=1)
    positive_prompt: str = Field(alias="positivePrompt", min_length=1, max_length=3000)
    negative_prompt: str | None = Field(default=None, alias="negativePrompt")
    seed_image: str | None = Field(default=None, alias="seedImage")
    mask_image: str | None = Field(default=None, alias="maskImage")
    strength: float = Field(default=0.8, ge=0, le=1)
    width: int = Field(ge=MIN_SIDE, le=MAX_SIDE, multiple_of=SIDE_STEP)
    height: int = Field(ge=MIN_SIDE, le=MAX_SIDE, multiple_of=SIDE_STEP)
    steps: int = Field(default=20, ge=1, le=100)
    cfg_scale: float = Field(alias="CFGScale", default=7, ge=0, le=30)
    scheduler: str | None = None
    seed: int | None = None
    number_results: int = Field(alias="numberResults", default=1, ge=1, le=4)
    output_type: Literal["URL", "base64Data", "dataURI"] = Field(default="URL", alias="outputType")
    output_format: str = Field(default="JPG", alias="outputFormat")
    output_quality: int = Field(alias="outputQuality", default=95, ge=20, le=99)
    include_cost: bool = Field(default=False, alias="includeCost")
    delivery_method: Literal["sync", "async"] = Field(default="sync", alias="deliveryMethod")
    webhook_url: str | None = Field(default=None, alias="webhookURL")
    ttl: int | None = None
    safety: Safety | None = None

    @property
    def checks_content(self) -> bool:
        return self.safety is not None and self.safety.checks


class ImageUploadTask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_type: Literal["imageUpload"] = Field(alias="taskType")
    task_uuid: uuid.UUID = Field(alias="taskUUID")
    image: str = Field(min_length=1)
    # The official SDK's `run()` adds it to every task; an upload answers at once either way.
    delivery_method: Literal["sync", "async"] | None = Field(default=None, alias="deliveryMethod")


class GetResponseTask(BaseModel):
    model_config = ConfigDict(extra="ignore")

    task_type: Literal["getResponse"] = Field(alias="taskType")
    task_uuid: uuid.UUID = Field(alias="taskUUID")


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A task as received; image payloads are reduced to their kind."""

    task_type: str
    task_uuid: str | None
    fields: dict[str, Any]


@dataclass(slots=True)
class Job:
    task_uuid: str
    task: ImageInferenceTask
    base_url: str
    items: list[dict[str, Any]] = field(default_factory=list)  # the finished items
    error: dict[str, Any] | None = None  # {"code", "message"} of a failed run


@dataclass(frozen=True, slots=True)
class Stored:
    data: bytes
    content_type: str


class TaskRejectedError(Exception):
    """One task's error: it goes to `errors[]`; the other tasks go on."""

    def __init__(self, code: str, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.parameter = code, message, parameter


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message, **extra}]}


def _unauthenticated() -> JSONResponse:
    message = "Invalid API key. Get one at https://my.runware.ai"
    return JSONResponse(
        error_body("invalidApiKey", message, parameter="apiKey", taskType="authentication"),
        status_code=401,
    )


def _rate_limited(fault: Fault) -> Response:
    body = error_body("tooManyRequests", "Queue capacity exceeded; retry later")
    return JSONResponse(body, status_code=429, headers={"Retry-After": str(fault.retry_after)})


def _server_error(fault: Fault) -> Response:
    message = fault.message or "Temporary capacity constraint"
    return JSONResponse(error_body("serverError", message), status_code=fault.status)


def _malformed(fault: Fault) -> Response:
    if fault.code == 1:
        return JSONResponse({"data": {"unexpected": True}})
    return Response("<html><body>upstream error</body></html>", media_type="text/html")


# `slow` and `failed` are applied while the tasks are handled.
FAULT_ANSWERS: FaultAnswers = {
    "rate_limit": _rate_limited,
    "server_error": _server_error,
    "auth": lambda _: _unauthenticated(),
    "malformed": _malformed,
}


def _reduced(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("data:"):
        return value.partition(";")[0]  # "data:image/png"
    if isinstance(value, str) and len(value) > 512:
        return "base64"
    return value


def _record(task: dict[str, Any]) -> TaskRecord:
    fields = {k: _reduced(v) for k, v in task.items() if k not in ("taskType", "apiKey")}
    task_uuid = task.get("taskUUID")
    return TaskRecord(
        str(task.get("taskType")), task_uuid if isinstance(task_uuid, str) else None, fields
    )


def style_for(prompt: str) -> str:
    words = {w.strip(".,;:!?()").lower() for w in prompt.split()}
    return next((name for name in enhance.STYLES if name in words), "enhance")


def run_inference(task: ImageInferenceTask, data: bytes) -> tuple[bytes, str, str]:
    """The model's work, done for real with Pillow: (bytes, content type, extension)."""
    try:
        image = webp.decode(data)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise TaskRejectedError("invalidSeedImage", "The seed image could not be read") from exc
    if image.width * image.height > MAX_INPUT_PIXELS:
        raise TaskRejectedError("invalidSeedImage", "The seed image is too large")
    fmt, extension = FORMATS[task.output_format.upper()]
    styled = enhance.stylize(image, style_for(task.positive_prompt), task.strength)
    if styled.size != (task.width, task.height):
        styled = styled.resize((task.width, task.height), Image.Resampling.LANCZOS)
    return (
        webp.encode(styled, fmt, quality=task.output_quality),
        EXTENSIONS[extension],
        extension,
    )


# --- the app -----------------------------------------------------------------------------


# One task's answer: its data items and its errors.
TaskAnswer = tuple[list[dict[str, Any]], list[dict[str, Any]]]


class RunwareEmulator:
    """The emulator's state; its routes are methods (create_app registers them)."""

    def __init__(
        self, app: FastAPI, faults: FaultQueue, *, api_key: str, polls_until_done: int
    ) -> None:
        self.app = app
        self.faults = faults
        self.api_key = api_key
        self.polls_until_done = polls_until_done
        self.jobs: dict[str, Job] = {}
        self.images: dict[str, Stored] = {}  # uploads and outputs, by imageUUID
        self.polls: dict[str, int] = {}

    def authorized(self, request: Request, tasks: list[Any]) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token:
            return secrets.compare_digest(token.encode(), self.api_key.encode())
        first = tasks[0] if tasks else None
        if isinstance(first, dict) and first.get("taskType") == "authentication":
            key = str(first.get("apiKey", ""))
            return secrets.compare_digest(key.encode(), self.api_key.encode())
        return False

    async def read_image(self, ref: str) -> bytes:
        if ref.startswith("data:"):
            header, _, payload = ref.partition(",")
            if not header.endswith(";base64"):
                raise TaskRejectedError("invalidSeedImage", "Only base64 data URIs are supported")
            ref = payload
        elif ref.startswith(("http://", "https://")):
            return await self.fetch(ref)
        else:
            try:
                image_uuid: str | None = str(uuid.UUID(ref))
            except ValueError:
                image_uuid = None  # plain base64
            if image_uuid is not None:
                stored = self.images.get(image_uuid)
                if stored is None:
                    raise TaskRejectedError("invalidSeedImage", "The image UUID does not exist")
                return stored.data
        try:
            data = base64.b64decode(ref, validate=True)
        except binascii.Error as exc:
            raise TaskRejectedError(
                "invalidSeedImage",
                "Seed image must be a UUID v4 string of a previously uploaded or generated "
                "image, a data URI string, a base64 encoded image, or a publicly accessible "
                "URL. Supported formats are: PNG, JPG, and WEBP",
                parameter="seedImage",
            ) from exc
        if len(data) > MAX_INPUT_BYTES:
            raise TaskRejectedError("invalidSeedImage", "The image is too large")
        return data

    async def fetch(self, url: str) -> bytes:
        try:
            async with (
                httpx.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=False) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    raise TaskRejectedError(
                        "invalidSeedImage",
                        f"Fetching the image failed: HTTP {response.status_code}",
                    )
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data.extend(chunk)
                    if len(data) > MAX_INPUT_BYTES:
                        raise TaskRejectedError("invalidSeedImage", "The image is too large")
                return bytes(data)
        except httpx.HTTPError as exc:
            raise TaskRejectedError(
                "invalidSeedImage", "The image URL could not be fetched"
            ) from exc

    def result_items(self, job: Job, *, with_status: bool) -> list[dict[str, Any]]:
        if with_status:
            return [{**item, "status": "success"} for item in job.items]
        return list(job.items)

    async def infer(self, job: Job, fail_with: str | None) -> None:
        """Do the work at once; whether the answer is visible is decided by the self.polls."""
        if fail_with is not None:
            job.error = {"code": "inferenceError", "message": fail_with}
            return
        task = job.task
        data = await self.read_image(task.seed_image) if task.seed_image else None
        if data is None:
            raise TaskRejectedError(
                "missingSeedImage", "seedImage is required", parameter="seedImage"
            )
        for _ in range(task.number_results):
            output, content_type, extension = await asyncio.to_thread(run_inference, task, data)
            image_uuid = str(uuid.uuid4())
            self.images[image_uuid] = Stored(output, content_type)
            item: dict[str, Any] = {
                "taskType": "imageInference",
                "taskUUID": job.task_uuid,
                "imageUUID": image_uuid,
                "seed": secrets.randbelow(2**31) + 1,
            }
            if task.output_type == "URL":
                item["imageURL"] = f"{job.base_url}/v1/__outputs/{image_uuid}.{extension}"
            elif task.output_type == "base64Data":
                item["imageBase64Data"] = base64.b64encode(output).decode("ascii")
            else:
                encoded = base64.b64encode(output).decode("ascii")
                item["imageDataURI"] = f"data:{content_type};base64,{encoded}"
            if task.checks_content:  # a real server reports NSFWContent only when asked
                item["NSFWContent"] = NSFW_MARKER in task.positive_prompt.lower()
            if task.include_cost:
                item["cost"] = COST_PER_IMAGE
            job.items.append(item)

    async def handle(self, raw: Any, base_url: str, fault: Fault | None) -> TaskAnswer:
        """One task: (data items, errors)."""
        if not isinstance(raw, dict):
            raise TaskRejectedError("invalidPayload", "Each task must be a JSON object")
        task_type = raw.get("taskType")
        if task_type == "authentication":
            return [], []
        if task_type == "imageUpload":
            return await self.upload(raw, base_url)
        if task_type == "imageInference":
            return await self.inference(raw, base_url, fault)
        if task_type == "getResponse":
            return self.get_response(raw)
        raise TaskRejectedError("unsupportedTaskType", f"Unknown taskType {task_type!r}")

    async def upload(self, raw: dict[str, Any], base_url: str) -> TaskAnswer:
        upload = ImageUploadTask.model_validate(raw)
        data = await self.read_image(upload.image)
        image_uuid = str(uuid.uuid4())
        try:
            content_type = Image.MIME.get(webp.decode(data).format or "", "image/png")
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise TaskRejectedError("invalidImage", "The image could not be read") from exc
        self.images[image_uuid] = Stored(data, content_type)
        url = f"{base_url}/v1/__outputs/{image_uuid}.png"
        item = {"taskType": "imageUpload", "taskUUID": str(upload.task_uuid)}
        return [{**item, "imageUUID": image_uuid, "imageURL": url}], []

    async def inference(
        self, raw: dict[str, Any], base_url: str, fault: Fault | None
    ) -> TaskAnswer:
        task = ImageInferenceTask.model_validate(raw)
        task_uuid = str(task.task_uuid)
        if task.output_format.upper() not in FORMATS:
            raise TaskRejectedError("invalidOutputFormat", "outputFormat must be JPG, PNG or WEBP")
        if task_uuid in self.jobs:
            raise TaskRejectedError(
                "conflictTaskUUID",
                "The taskUUID is already in use by another task",
                parameter="taskUUID",
            )
        job = Job(task_uuid, task, base_url)
        fail_with = None
        if fault is not None and fault.kind == "failed":
            fail_with = fault.message or DEFAULT_FAILURE
        await self.infer(job, fail_with)  # TaskRejectedError here: invalid input, no job
        self.jobs[task_uuid] = job
        if task.delivery_method == "sync":
            if job.error is not None:
                raise TaskRejectedError(job.error["code"], job.error["message"])
            return self.result_items(job, with_status=False), []
        return [{"taskType": "imageInference", "taskUUID": task_uuid}], []

    def get_response(self, raw: dict[str, Any]) -> TaskAnswer:
        get = GetResponseTask.model_validate(raw)
        task_uuid = str(get.task_uuid)
        found = self.jobs.get(task_uuid)
        if found is None:
            raise TaskRejectedError("invalidTaskUUID", "No task with this taskUUID is known")
        self.polls[task_uuid] = self.polls.get(task_uuid, 0) + 1
        base = {"taskType": "imageInference", "taskUUID": task_uuid}
        if self.polls[task_uuid] < self.polls_until_done:
            return [{**base, "status": "processing"}], []
        if found.error is not None:  # in `errors` only: no item of the task stays in `data`
            return [], [{**found.error, "taskType": "imageInference", "taskUUID": task_uuid}]
        return self.result_items(found, with_status=True), []

    async def tasks_endpoint(self, request: Request) -> Response:
        try:
            tasks = json.loads(await request.body())
        except ValueError:
            return JSONResponse(
                error_body("invalidPayload", "The body must be a JSON array"), status_code=400
            )
        if not isinstance(tasks, list):
            tasks = [tasks]
        self.app.state.requests.extend(_record(t) for t in tasks if isinstance(t, dict))
        types = " ".join(str(t.get("taskType")) for t in tasks if isinstance(t, dict))
        fault = self.faults.take(f"/v1 {types}")
        return await answer(fault, FAULT_ANSWERS, lambda: self.handle_tasks(request, tasks, fault))

    async def handle_tasks(
        self, request: Request, tasks: list[Any], fault: Fault | None
    ) -> Response:
        if not self.authorized(request, tasks):
            return _unauthenticated()
        base_url = str(request.base_url).rstrip("/")
        data: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        statuses: list[int] = []
        for raw in tasks:
            task_type = raw.get("taskType") if isinstance(raw, dict) else None
            task_uuid = raw.get("taskUUID") if isinstance(raw, dict) else None
            try:
                items, task_errors = await self.handle(raw, base_url, fault)
            except TaskRejectedError as exc:
                error = {"code": exc.code, "message": exc.message, "taskType": task_type}
                if exc.parameter:
                    error["parameter"] = exc.parameter
                items, task_errors = [], [{**error, "taskUUID": task_uuid}]
                statuses.append(400)
            except PydanticValidationError as exc:
                first = exc.errors()[0]
                parameter = ".".join(map(str, first["loc"]))
                code = "missingParameter" if first["type"] == "missing" else "invalidParameter"
                if first["type"] == "extra_forbidden":
                    code = "unknownParameter"
                error = {"code": code, "message": str(first["msg"]), "parameter": parameter}
                items = []
                task_errors = [{**error, "taskType": task_type, "taskUUID": task_uuid}]
                statuses.append(400)
            data.extend(items)
            errors.extend(task_errors)
        body: dict[str, Any] = {"data": data}
        if errors:
            body["errors"] = errors
        status = 200 if data or not statuses else statuses[0]
        return JSONResponse(body, status_code=status)

    async def get_output(self, name: str) -> Response:
        stored = self.images.get(name.rpartition(".")[0] or name)
        if stored is None:
            return JSONResponse(error_body("notFound", "Not found"), status_code=404)
        return Response(stored.data, media_type=stored.content_type)


def create_app(*, api_key: str, polls_until_done: int = 1) -> FastAPI:
    app, faults = emulator_app("Runware emulator")
    emulator = RunwareEmulator(app, faults, api_key=api_key, polls_until_done=polls_until_done)
    app.state.jobs = emulator.jobs
    app.state.polls = emulator.polls
    app.add_api_route("/v1", emulator.tasks_endpoint, methods=["POST"])
    app.add_api_route("/v1/", emulator.tasks_endpoint, methods=["POST"], include_in_schema=False)
    # Like im.runware.ai: no auth, the unguessable imageUUID is the capability.
    app.get("/v1/__outputs/{name}")(emulator.get_output)
    return app


def main(argv: list[str] | None = None) -> None:
    emulator_main(
        __doc__,
        argv,
        port=8030,
        credential="key",
        env="RUNWARE_API_KEY",
        options=lambda parser: parser.add_argument("--polls-until-done", type=int, default=1),
        create=lambda args: create_app(api_key=args.key, polls_until_done=args.polls_until_done),
    )


if __name__ == "__main__":
    main()
