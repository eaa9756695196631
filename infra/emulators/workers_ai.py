"""A Cloudflare Workers AI emulator: `POST /client/v4/accounts/{account}/ai/run/{model}` for
the Stable Diffusion models, answering with real images from the local enhancer, with the
v4 error envelope and fault injection (providers.md §1).

It answers only the codes Cloudflare documents: the Workers AI error table
(https://developers.cloudflare.com/workers-ai/platform/errors/, `ERRORS`) and the v4 API's
authentication error 10000. The contract suite (tests/contract/test_workers_ai_contract.py)
checks it against the models' published schemas and that table.

- Auth: `Authorization: Bearer <api_token>`, else 401 with code 10000. When `account_id`
  is set, any other account answers 403 with code 10000: Cloudflare's answer for a token
  that is valid but not for that account.
- Models: SD 1.5 img2img (needs an input image) and SDXL base (img2img with an image,
  text-to-image without). Others: 400/5007.
- The input is checked as the published schema says, with JSON's types (a string is no
  number, `true` is no integer, `null` is no value, 20.0 is the integer 20): `prompt`
  required (minLength 1), `width`/`height` integers 256-2048, `num_steps` an integer
  ≤ 20, `strength`/`guidance` numbers, `image`/`mask` arrays of numbers; and as the schema
  describes: `strength` 0..1, `num_steps` ≥ 1, bytes 0..255, one of `image`/`image_b64`.
  Unknown fields are ignored (the schema does not close the object). A body that is not a
  JSON object, or lacks a required field or the image of an img2img model: 400/3003
  "Incomplete request"; a value of the wrong type or out of bounds, bad base64 or an
  undecodable image: 400/5004 "Invalid data".
- Success: `200 image/png`, the raw bytes (the schema's binary output). img2img stylizes
  the input with a style chosen from the prompt (a style name in it, else "enhance")
  blended by `strength` (default 1, as the API's). Text-to-image draws a picture derived
  from a hash of the prompt and seed.
- Every run request is recorded on `app.state.requests` (also `GET /__emulator/requests`)
  on arrival, before faults and auth: account, model and the body's scalars, with
  `image_b64`, `image` and `mask` replaced by their size in bytes.

Faults (`/__emulator/faults`, see faults.py; each run request consumes one). A fault's
`code` must be a documented one (else the fault is refused with 422), and it answers at
that code's documented HTTP status:
- `rate_limit`: 429, `Retry-After: retry_after`, code `code` or 3040 (3036 for the quota)
- `server_error`: `code` at its status; else 3007 for a 408, and for any other `status`
  the HTML page Cloudflare's edge answers (no Workers AI code describes it)
- `slow`: sleep `delay` seconds, then handle the request normally
- `malformed`: 200 `image/png` whose body is an HTML page, not an image
- `failed`: the API's refusal of a run: code `code` or 5004, `message` or the code's own
- `auth`: 401 with code 10000

    python -m infra.emulators.workers_ai --port 8010 --token cf-local
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import io
import json
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from PIL import Image, ImageDraw, ImageOps
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from aiimage.imaging import enhance, webp
from infra.emulators.faults import (
    Fault,
    FaultAnswers,
    FaultQueue,
    emulator_app,
    immediate_answer,
)
from infra.emulators.server import emulator_main

SD15_IMG2IMG = "@cf/runwayml/stable-diffusion-v1-5-img2img"
SDXL_BASE = "@cf/stabilityai/stable-diffusion-xl-base-1.0"
# Model id → whether it needs an input image.
MODELS: dict[str, bool] = {SD15_IMG2IMG: True, SDXL_BASE: False}
DEFAULT_SIZE = 1024
MAX_INPUT_PIXELS = 40_000_000
AUTHENTICATION = 10000  # the v4 API's, for every product
INCOMPLETE, INVALID_DATA = 3003, 5004


@dataclass(frozen=True, slots=True)
class ApiError:
    status: int
    message: str


# Cloudflare's Workers AI error table (platform/errors.mdx), and the v4 API's 10000.
ERRORS: dict[int, ApiError] = {
    5007: ApiError(400, "No such model or task"),
    5004: ApiError(400, "Invalid data"),
    3039: ApiError(400, "Finetune is missing required files"),
    3003: ApiError(400, "Request is missing headers or body"),
    5018: ApiError(403, "The account is not allowed to access this model"),
    5016: ApiError(403, "User has not agreed to the model terms"),
    3023: ApiError(403, "Service unavailable for account"),
    3041: ApiError(403, "The account is not allowed to access this model"),
    5019: ApiError(405, "Request trying to use deprecated SDK version"),
    5005: ApiError(405, "The model does not support LoRa inference"),
    3042: ApiError(404, "The model name is invalid"),
    3006: ApiError(413, "Request is too large"),
    3007: ApiError(408, "Request timeout"),
    3008: ApiError(408, "Request was aborted"),
    3036: ApiError(429, "You have used up your daily free allocation of 10,000 neurons"),
    3040: ApiError(429, "No more data centers to forward the request to"),
    AUTHENTICATION: ApiError(401, "Authentication error"),
}
NOT_AN_IMAGE = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


def _json_integer(value: object) -> object:
    """JSON has one number type: 20.0 is the integer 20 (for the schema, and in JavaScript)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Integer = Annotated[int, BeforeValidator(_json_integer)]
Byte = Annotated[Integer, Field(ge=0, le=255)]


class RunInput(BaseModel):
    """The SD-family input schema (identical for every SD model on Workers AI), with JSON's
    types: strict, so "20" is no integer and `true` no number."""

    model_config = ConfigDict(extra="ignore", strict=True)

    prompt: str = Field(min_length=1)
    negative_prompt: str | None = None
    height: Integer | None = Field(default=None, ge=256, le=2048)
    width: Integer | None = Field(default=None, ge=256, le=2048)
    image: list[Byte] | None = None
    image_b64: str | None = None
    mask: list[Byte] | None = None
    num_steps: Integer = Field(default=20, ge=1, le=20)
    strength: float = Field(default=1.0, ge=0, le=1)
    guidance: float = 7.5
    seed: Integer | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: object) -> object:
        # The schema types every field; `null` is none of them (None above means "absent").
        if isinstance(data, dict):
            nulls = sorted(str(key) for key, value in data.items() if value is None)
            if nulls:
                raise ValueError(f"null is not a valid value of {', '.join(nulls)}")
        return data

    @model_validator(mode="after")
    def _one_image(self) -> RunInput:
        if self.image is not None and self.image_b64 is not None:
            raise ValueError("only one of image and image_b64 may be given")
        return self


def error(
    code: int, message: str | None = None, *, status: int | None = None, **headers: str
) -> JSONResponse:
    """The Cloudflare v4 envelope of a failure, at the code's documented HTTP status."""
    documented = ERRORS.get(code)
    if documented is None:  # a fault queued in-process, past the HTTP check
        raise LookupError(f"{code} is not a documented Workers AI error code")
    body = {
        "success": False,
        "errors": [{"code": code, "message": message or documented.message}],
        "messages": [],
        "result": None,
    }
    return JSONResponse(body, status_code=status or documented.status, headers=headers or None)


class EmulatorError(Exception):
    def __init__(self, response: JSONResponse) -> None:
        self.response = response


def _incomplete(what: str) -> EmulatorError:
    return EmulatorError(error(INCOMPLETE, f"{ERRORS[INCOMPLETE].message}: {what}"))


def _invalid(detail: str) -> EmulatorError:
    return EmulatorError(error(INVALID_DATA, f"{ERRORS[INVALID_DATA].message}: {detail}"))


def refusal(exc: PydanticValidationError) -> EmulatorError:
    """A body the schema refuses: incomplete when a required field is missing, else
    invalid data."""
    problems = exc.errors()
    missing = [".".join(map(str, e["loc"])) for e in problems if e["type"] == "missing"]
    if missing:
        return _incomplete(", ".join(missing))
    return _invalid(
        "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in problems)
    )


# --- recording ---------------------------------------------------------------------------


def _b64_size(value: object) -> int | None:
    try:
        return len(base64.b64decode(str(value), validate=True))
    except (binascii.Error, ValueError):
        return None


def record(account: str, model: str, body: object) -> dict[str, Any]:
    """What a run asked for, without the image blobs."""
    fields: dict[str, Any] | None = None
    if isinstance(body, dict):
        fields = {}
        for key, value in body.items():
            if key == "image_b64":
                fields[key] = _b64_size(value)
            elif key in ("image", "mask") and isinstance(value, list):
                fields[key] = len(value)
            elif value is None or isinstance(value, str | int | float | bool):
                fields[key] = value
    return {"account": account, "model": model, "body": fields}


# --- the image work ----------------------------------------------------------------------


def style_for(prompt: str) -> str:
    """A deterministic style from the prompt: the first style named in it."""
    words = prompt.lower()
    return next((style for style in enhance.STYLES if style in words), "enhance")


def img2img(run: RunInput, data: bytes) -> bytes:
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.width * probe.height > MAX_INPUT_PIXELS:
                raise ValueError("the input image is too large")
        image = webp.decode(data)
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError("the input is not a decodable image") from exc
    result = enhance.stylize(image, style_for(run.prompt), run.strength)
    if run.width or run.height:
        size = (run.width or image.width, run.height or image.height)
        result = result.resize(size, Image.Resampling.LANCZOS)
    return webp.encode(result, "PNG")


def _rgb(digest: bytes, at: int) -> tuple[int, int, int]:
    return digest[at], digest[at + 1], digest[at + 2]


def text_to_image(run: RunInput) -> bytes:
    """A picture derived from the prompt (and seed): a two-colour gradient with shapes."""
    width, height = run.width or DEFAULT_SIZE, run.height or DEFAULT_SIZE
    digest = hashlib.sha256(f"{run.seed}:{run.prompt}".encode()).digest()
    gradient = Image.linear_gradient("L").rotate(digest[0] % 360).resize((width, height))
    image = ImageOps.colorize(gradient, black=_rgb(digest, 1), white=_rgb(digest, 4))
    draw = ImageDraw.Draw(image)
    for i in range(4):
        a, b, c, d = digest[8 + 5 * i : 12 + 5 * i]
        x0, y0 = a * width // 256, b * height // 256
        box = (x0, y0, x0 + (c + 32) * width // 512, y0 + (d + 32) * height // 512)
        shape = draw.ellipse if i % 2 else draw.rectangle
        shape(box, fill=_rgb(digest, 12 + 5 * i))
    return webp.encode(image, "PNG")


def input_image(run: RunInput) -> bytes | None:
    if run.image is not None:
        return bytes(run.image)
    if run.image_b64 is None:
        return None
    try:
        return base64.b64decode(run.image_b64, validate=True)
    except binascii.Error as exc:
        raise _invalid("image_b64: not base64") from exc


# --- the app -----------------------------------------------------------------------------


def _rate_limited(fault: Fault) -> Response:
    code = fault.code or 3040
    return error(code, fault.message, status=429, **{"Retry-After": str(fault.retry_after)})


def edge_page(status: int) -> Response:
    """What Cloudflare's edge answers for a failure no Workers AI code describes."""
    page = f"<html><head><title>{status}</title></head><body>cloudflare</body></html>"
    return Response(page, status_code=status, media_type="text/html")


def _server_error(fault: Fault) -> Response:
    if fault.code is not None:
        return error(fault.code, fault.message)
    if fault.status == 408:
        return error(3007, fault.message)
    return edge_page(fault.status)


def _failed(fault: Fault) -> Response:
    return error(fault.code or INVALID_DATA, fault.message)


# Every fault but `slow` answers at once.
FAULT_ANSWERS: FaultAnswers = {
    "rate_limit": _rate_limited,
    "server_error": _server_error,
    "auth": lambda _: error(AUTHENTICATION),
    "malformed": lambda _: Response(NOT_AN_IMAGE, media_type="image/png"),
    "failed": _failed,
}


class WorkersAiEmulator:
    """The emulator's state; its routes are methods (create_app registers them)."""

    def __init__(
        self, app: FastAPI, faults: FaultQueue, *, api_token: str, account_id: str | None
    ) -> None:
        self.app = app
        self.faults = faults
        self.api_token = api_token
        self.account_id = account_id

    async def on_emulator_error(self, _: Request, exc: EmulatorError) -> JSONResponse:
        return exc.response

    async def list_requests(self) -> list[dict[str, Any]]:
        return list(self.app.state.requests)

    async def clear_requests(self) -> None:
        self.app.state.requests.clear()

    def check_auth(self, request: Request, account: str) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        valid = scheme.lower() == "bearer" and secrets.compare_digest(
            token.strip().encode(), self.api_token.encode()
        )
        if not valid:
            raise EmulatorError(error(AUTHENTICATION))
        if self.account_id is not None and account != self.account_id:
            raise EmulatorError(error(AUTHENTICATION, status=403))

    async def documented_faults_only(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Refuse a fault whose code Cloudflare does not document (3010, say): a test
        would otherwise prove our client against an answer the API never gives."""
        if request.method == "POST" and request.url.path == "/__emulator/faults":
            try:
                code = json.loads(await request.body()).get("code")
            except (ValueError, AttributeError):
                code = None  # the fault route refuses it itself
            if code is not None and code not in ERRORS:
                detail = f"{code} is not a documented Workers AI error code"
                return JSONResponse({"detail": detail}, status_code=422)
        return await call_next(request)

    async def run(self, account: str, model: str, request: Request) -> Response:
        raw = await request.body()
        try:
            body: object = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            body = None
        self.app.state.requests.append(record(account, model, body))
        fault = self.faults.take(request.url.path)
        if (immediate := immediate_answer(fault, FAULT_ANSWERS)) is not None:
            return immediate
        if fault is not None:  # slow: the run starts late (a sync API: no answer meanwhile)
            await asyncio.sleep(fault.delay)
        self.check_auth(request, account)
        png = await _run_model(model, body)
        return Response(png, media_type="image/png")


async def _run_model(model: str, body: object) -> bytes:
    """The PNG that `model` makes of a request `body`, or the API's error for it."""
    needs_image = MODELS.get(model)
    if needs_image is None:
        raise EmulatorError(error(5007, f"No such model {model} or task"))
    if not isinstance(body, dict):
        raise _incomplete("a JSON object body")
    try:
        run_input = RunInput.model_validate(body)
    except PydanticValidationError as exc:
        raise refusal(exc) from exc
    data = input_image(run_input)
    if data is None and needs_image:
        raise _incomplete("image or image_b64, required by this model")
    try:
        if data is None:
            return await asyncio.to_thread(text_to_image, run_input)
        return await asyncio.to_thread(img2img, run_input, data)
    except ValueError as exc:
        raise _invalid(str(exc)) from exc


def create_app(*, api_token: str, account_id: str | None = None) -> FastAPI:
    app, faults = emulator_app("Workers AI emulator")
    emulator = WorkersAiEmulator(app, faults, api_token=api_token, account_id=account_id)
    app.exception_handler(EmulatorError)(emulator.on_emulator_error)
    app.middleware("http")(emulator.documented_faults_only)
    app.get("/__emulator/requests")(emulator.list_requests)
    app.delete("/__emulator/requests", status_code=204)(emulator.clear_requests)
    app.post("/client/v4/accounts/{account}/ai/run/{model:path}")(emulator.run)
    return app


def main(argv: list[str] | None = None) -> None:
    emulator_main(
        __doc__,
        argv,
        port=8010,
        credential="token",
        env="CLOUDFLARE_API_TOKEN",
        options=lambda parser: parser.add_argument(
            "--account", default=os.environ.get("CLOUDFLARE_ACCOUNT_ID")
        ),
        create=lambda args: create_app(api_token=args.token, account_id=args.account or None),
    )


if __name__ == "__main__":
    main()
