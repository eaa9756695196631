"""A Cloudflare Workers AI emulator: `POST /client/v4/accounts/{account}/ai/run/{model}` for
the Stable Diffusion models, answering with real images from the local enhancer, with the
v4 error envelope and fault injection (providers.md §1).

- Auth: `Authorization: Bearer <api_token>`, else 401 with code 10000. When `account_id`
  is set, any other account answers 403 with code 10000: Cloudflare's answer for a token
  that is valid but not for that account.
- Models: SD 1.5 img2img (needs an input image) and SDXL base (img2img with an image,
  text-to-image without). Others: 400/5007. A body that is not a JSON object: 400/3003.
  Schema violations (prompt, num_steps ≤ 20, width/height 256-2048, strength 0..1, one of
  `image`/`image_b64`, bytes 0..255) and undecodable images: 400/3010; bad base64: 400/5004.
- Success: `200 image/png`, the raw bytes. img2img stylizes the input with a style chosen
  from the prompt (a style name in it, else "enhance") blended by `strength` (default 1, as
  the API's). Text-to-image draws a picture derived from a hash of the prompt and seed.
- Every run request is recorded on `app.state.requests` (also `GET /__emulator/requests`)
  on arrival, before faults and auth: account, model and the body's scalars, with
  `image_b64`, `image` and `mask` replaced by their size in bytes.

Faults (`/__emulator/faults`, see faults.py; each run request consumes one):
- `rate_limit`: 429, `Retry-After: retry_after`, code `code` or 3040 (3036 for the quota)
- `server_error`: `status` (default 500) with code `code`, else 3007 for a 408 and 10002
  (Cloudflare's generic "internal error") for anything else
- `slow`: sleep `delay` seconds, then handle the request normally
- `malformed`: 200 `image/png` whose body is an HTML page, not an image
- `failed`: the API's refusal of a run: code `code` or 3010 at that code's documented HTTP
  status (400 for 3010, 413 for 3006, 404 for 3042 …), `message` or the code's own
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
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from PIL import Image, ImageDraw, ImageOps
from pydantic import BaseModel, ConfigDict, Field, model_validator
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

MESSAGES: dict[int, str] = {
    3003: "Incomplete request: missing headers or body",
    3006: "Request is too large",
    3007: "Request timeout",
    3008: "Request was aborted",
    3010: "Invalid or incomplete input for the model",
    3036: "Account limited: daily free allocation of 10,000 neurons used up",
    3040: "Capacity temporarily exceeded, please try again",
    3042: "Invalid model ID",
    5004: "Invalid data type for base64 input",
    5007: "No such model or task",
    10000: "Authentication error",
    10002: "An unknown error has occurred",
}
# The documented status of each code (providers.md §1.5), for `failed` faults.
STATUSES: dict[int, int] = {
    3003: 400,
    3006: 413,
    3007: 408,
    3008: 408,
    3010: 400,
    3036: 429,
    3040: 429,
    3042: 404,
    5004: 400,
    5007: 400,
    5016: 403,
    5018: 403,
    10000: 401,
}
NOT_AN_IMAGE = b"<html><body><h1>502 Bad Gateway</h1></body></html>"

Byte = Annotated[int, Field(ge=0, le=255)]


class RunInput(BaseModel):
    """The SD-family input schema (identical for every SD model on Workers AI)."""

    model_config = ConfigDict(extra="ignore")

    prompt: str = Field(min_length=1)
    negative_prompt: str | None = None
    height: int | None = Field(default=None, ge=256, le=2048)
    width: int | None = Field(default=None, ge=256, le=2048)
    image: list[Byte] | None = None
    image_b64: str | None = None
    mask: list[Byte] | None = None
    num_steps: int = Field(default=20, ge=1, le=20)
    strength: float = Field(default=1.0, ge=0, le=1)
    guidance: float = 7.5
    seed: int | None = None

    @model_validator(mode="after")
    def _one_image(self) -> RunInput:
        if self.image is not None and self.image_b64 is not None:
            raise ValueError("only one of image and image_b64 may be given")
        return self


def error(status: int, code: int, message: str | None = None, **headers: str) -> JSONResponse:
    """The Cloudflare v4 envelope of a failure."""
    body = {
        "success": False,
        "errors": [{"code": code, "message": message or MESSAGES.get(code, "Error")}],
        "messages": [],
        "result": None,
    }
    return JSONResponse(body, status_code=status, headers=headers or None)


class EmulatorError(Exception):
    def __init__(self, response: JSONResponse) -> None:
        self.response = response


def _invalid(detail: str) -> EmulatorError:
    return EmulatorError(error(400, 3010, f"{MESSAGES[3010]}: {detail}"))


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
        raise EmulatorError(error(400, 5004)) from exc


# --- the app -----------------------------------------------------------------------------


def _rate_limited(fault: Fault) -> Response:
    code = fault.code or 3040
    return error(429, code, fault.message, **{"Retry-After": str(fault.retry_after)})


def _server_error(fault: Fault) -> Response:
    code = fault.code or (3007 if fault.status == 408 else 10002)
    return error(fault.status, code, fault.message)


def _failed(fault: Fault) -> Response:
    code = fault.code or 3010
    return error(STATUSES.get(code, 400), code, fault.message)


# Every fault but `slow` answers at once.
FAULT_ANSWERS: FaultAnswers = {
    "rate_limit": _rate_limited,
    "server_error": _server_error,
    "auth": lambda _: error(401, 10000),
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
            raise EmulatorError(error(401, 10000))
        if self.account_id is not None and account != self.account_id:
            raise EmulatorError(error(403, 10000))

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
        raise EmulatorError(error(400, 5007, f"No such model {model} or task"))
    if not isinstance(body, dict):
        raise EmulatorError(error(400, 3003))
    try:
        run_input = RunInput.model_validate(body)
    except PydanticValidationError as exc:
        detail = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise _invalid(detail) from exc
    data = input_image(run_input)
    if data is None and needs_image:
        raise _invalid("image: required for this model")
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
