"""Runware against its official Python SDK (`runware` 1.8.0, github runware/runware-python),
not against what we wrote.

The SDK drives the emulator over its REST transport (`Runware(transport="rest",
http_base_url=<emulator>/v1)`, an injected aiohttp session), for every flow we use:

- image inference, async: `run()` posts the task (`deliveryMethod: "async"`), the emulator
  acks, the SDK polls `getResponse` until the image; the result has the SDK's
  `ImageInferenceResult` shape and the image at `imageURL` is the task's width x height.
- image inference, sync, and `get_response()` of a finished task (`status: "success"`).
- image upload: `image_upload()`, and `run()` of an `imageUpload` task, to which the SDK adds
  `deliveryMethod`; the `imageUUID` is then a seed image.
- NSFW: `NSFWContent` only with `safety.checkContent` (true for a flagged prompt), never
  unasked.
- errors, as the SDK classifies them (`RunwareError.code`): a bad key is `auth` (HTTP 401);
  a task without `width` (or out of bounds, not a multiple of 64, an unknown field such as
  `checkNSFW`) is `validation` naming the parameter; a reused taskUUID is `validation`; a
  failed run is `provider`, raised while polling, from `errors` (never from `data`).
- our classification of error codes agrees with the SDK's `derive_code` for every safety
  and auth code its `errors.py` lists.

And our client against the SDK's requests: for the same job, the `imageInference`,
`getResponse` and `imageUpload` tasks our client sends equal, field by field, the tasks the
SDK sends (both captured by one loopback server), with the same method, path, bearer token
and content type; and the inference task carries every field the SDK's generated schema
types (`runware/types/task_map.py`) mark required for an img2img model, with values their
literals allow.

No test here reaches beyond loopback: the SDK's session refuses (and records) any other
host, and a socket connection elsewhere fails the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket
import typing
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image
from runware import RuntimeDependencies, Runware, RunwareError
from runware import errors as sdk_errors
from runware.types import task_map

from aiimage.providers import runware as ours
from aiimage.providers.base import (
    ImageInput,
    Outcome,
    ProviderAuthError,
    ProviderError,
    ProviderRejectedError,
)
from aiimage.providers.outputs import OutputPolicy
from infra.emulators.faults import Fault
from infra.emulators.runware import COST_PER_IMAGE, NSFW_MARKER, create_app
from infra.emulators.server import serve_in_thread
from tests.functional.provider_emulators import RecordingSleep, png, transport
from tests.generation import generation_request

KEY = "rw_contractKey0123456789abcdef"
MODEL = "civitai:101055@128078"  # SDXL 1.0, a curated model of the SDK's types
LOOPBACK = ("127.0.0.1", "::1", "localhost")


# --- nothing but loopback --------------------------------------------------------------------


@pytest.fixture(autouse=True, scope="module")
def loopback_only() -> Iterator[None]:
    """Fail any connection that would leave this machine (the real API, say)."""
    connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if host not in LOOPBACK:
            pytest.fail(f"a Runware contract test tried to reach {address!r}")
        return connect(self, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", guarded)
        yield


@dataclass
class Sdk:
    """Runs a coroutine with an official client on a loopback-only aiohttp session."""

    base_url: str
    elsewhere: list[str] = field(default_factory=list)  # URLs refused, asserted empty

    def __call__(self, work: Callable[[Runware], Awaitable[Any]], *, key: str = KEY) -> Any:
        return asyncio.run(self._run(work, key))

    async def _run(self, work: Callable[[Runware], Awaitable[Any]], key: str) -> Any:
        async def refuse_elsewhere(
            _: aiohttp.ClientSession, __: SimpleNamespace, params: aiohttp.TraceRequestStartParams
        ) -> None:
            if params.url.host not in LOOPBACK:
                self.elsewhere.append(str(params.url))
                raise aiohttp.ClientConnectionError(f"not loopback: {params.url}")

        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(refuse_elsewhere)
        async with aiohttp.ClientSession(trace_configs=[trace]) as session:
            client = Runware(
                api_key=key,
                transport="rest",
                http_base_url=self.base_url,
                dependencies=RuntimeDependencies(session=session),
                max_retries=0,
            )
            try:
                return await work(client)
            finally:
                await client.close()


@dataclass
class Emulator:
    url: str
    app: FastAPI
    sdk: Sdk


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    app = create_app(api_key=KEY, polls_until_done=2)
    with serve_in_thread(app) as url:
        yield Emulator(url, app, Sdk(f"{url}/v1"))


@pytest.fixture
def sdk(emulator: Emulator) -> Iterator[Sdk]:
    emulator.app.state.faults.clear()
    yield emulator.sdk
    assert emulator.sdk.elsewhere == []


def data_uri(width: int = 48, height: int = 32) -> str:
    return ours._data_uri(ImageInput(png(width, height), "image/png"))


def job(**fields: Any) -> dict[str, Any]:
    """An img2img job in the SDK's terms: what a caller passes to `run()`."""
    params: dict[str, Any] = {
        "taskType": "imageInference",
        "model": MODEL,
        "positivePrompt": "a vivid photo",
        "seedImage": data_uri(),
        "width": 192,
        "height": 128,
        "strength": 0.8,
        "numberResults": 1,
        "outputType": "URL",
        "outputFormat": "PNG",
        "includeCost": True,
        "safety": {"checkContent": True},
    }
    return {k: v for k, v in {**params, **fields}.items() if v is not None}


def result_keys() -> set[str]:
    return set(task_map.ImageInferenceResult.__annotations__) | {"status"}


# --- the emulator, driven by the official client ---------------------------------------------


def test_async_inference_is_acked_then_polled_to_the_image(sdk: Sdk, emulator: Emulator) -> None:
    task_uuid = str(uuid.uuid4())

    (item,) = sdk(lambda client: client.run(job(taskUUID=task_uuid)))

    assert set(item) <= result_keys()
    assert (item["taskType"], item["taskUUID"], item["status"]) == (
        "imageInference",
        task_uuid,
        "success",
    )
    uuid.UUID(item["imageUUID"])
    assert item["cost"] == COST_PER_IMAGE
    assert item["NSFWContent"] is False  # checked, as asked, and clean
    assert emulator.app.state.polls[task_uuid] == 2  # the SDK polled until done
    image = sdk(lambda client: fetch(client, item["imageURL"]))
    with Image.open(io.BytesIO(image)) as output:
        assert (output.format, output.size) == ("PNG", (192, 128))


async def fetch(client: Runware, url: str) -> bytes:
    session = await client._ensure_validation_session()  # the injected loopback session
    async with session.get(url) as response:
        return await response.read()


def test_sync_inference_and_get_response(sdk: Sdk) -> None:
    task_uuid = str(uuid.uuid4())

    (item,) = sdk(lambda client: client.run(job(taskUUID=task_uuid, deliveryMethod="sync")))
    polled = sdk(lambda client: client.get_response({"taskUUID": task_uuid}))
    polled += sdk(lambda client: client.get_response({"taskUUID": task_uuid}))

    assert set(item) <= result_keys()
    assert "status" not in item  # a sync answer is the result itself
    assert [p["status"] for p in polled] == ["processing", "success"]  # polls_until_done=2
    assert polled[1]["imageUUID"] == item["imageUUID"]


@pytest.mark.parametrize("through_run", [False, True])
def test_an_uploaded_image_is_a_seed_image(sdk: Sdk, through_run: bool) -> None:
    image = data_uri(320, 320)

    async def upload_then_infer(client: Runware) -> tuple[dict[str, Any], Any]:
        uploaded: dict[str, Any]
        if through_run:  # `run()` adds deliveryMethod to the upload, as the issue found
            (uploaded,) = await client.run({"taskType": "imageUpload", "image": image})
        else:
            (typed,) = await client.image_upload({"image": image})
            uploaded = dict(typed)
        seeded = job(seedImage=uploaded["imageUUID"], width=320, height=320)
        (result,) = await client.run(seeded)
        return uploaded, result

    uploaded, result = sdk(upload_then_infer)

    assert set(uploaded) == set(task_map.ImageUploadResult.__annotations__)
    assert uploaded["taskType"] == "imageUpload"
    uuid.UUID(uploaded["imageUUID"])
    assert result["imageURL"]


@pytest.mark.parametrize(
    ("safety", "flag"),
    [({"checkContent": True}, True), (None, None), ({"checkContent": False}, None)],
)
def test_nsfw_is_reported_only_when_asked(
    sdk: Sdk, safety: dict[str, Any] | None, flag: bool | None
) -> None:
    prompt = f"a vivid photo {NSFW_MARKER}"

    (item,) = sdk(lambda client: client.run(job(positivePrompt=prompt, safety=safety)))

    assert item.get("NSFWContent") == flag


def test_a_bad_key_is_the_sdks_auth_error(sdk: Sdk) -> None:
    with pytest.raises(RunwareError) as caught:
        sdk(lambda client: client.run(job()), key="rw_wrong")

    assert (caught.value.code, caught.value.status_code, caught.value.retryable) == (
        "auth",
        401,
        False,
    )


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"width": None}, "width"),  # the emulator refuses a task without width
        ({"height": None}, "height"),
        ({"width": 2112}, "width"),
        ({"height": 64}, "height"),
        ({"width": 200}, "width"),
        ({"checkNSFW": True}, "checkNSFW"),
        ({"positivePrompt": None}, "positivePrompt"),
    ],
)
def test_a_task_runware_refuses_is_the_sdks_validation_error(
    sdk: Sdk, emulator: Emulator, fields: dict[str, Any], parameter: str
) -> None:
    task_uuid = str(uuid.uuid4())

    with pytest.raises(RunwareError) as caught:
        sdk(lambda client: client.run(job(taskUUID=task_uuid, **fields)))

    assert (caught.value.code, caught.value.parameter, caught.value.status_code) == (
        "validation",
        parameter,
        400,
    )
    assert caught.value.task_uuid == task_uuid
    assert task_uuid not in emulator.app.state.jobs


def test_a_reused_task_uuid_is_the_sdks_validation_error(sdk: Sdk) -> None:
    task_uuid = str(uuid.uuid4())
    sdk(lambda client: client.run(job(taskUUID=task_uuid, deliveryMethod="sync")))

    with pytest.raises(RunwareError) as caught:
        sdk(lambda client: client.run(job(taskUUID=task_uuid)))

    assert (caught.value.code, caught.value.parameter) == ("validation", "taskUUID")


def test_a_failed_run_is_the_sdks_provider_error_from_errors_only(
    sdk: Sdk, emulator: Emulator
) -> None:
    emulator.app.state.faults.clear()
    task_uuid = str(uuid.uuid4())
    answers: list[Any] = []

    async def run_recording(client: Runware) -> Any:
        transport = client._rest_transport
        assert transport is not None
        send = transport.send_request

        async def recording(data: Any, options: Any = None) -> Any:
            answers.append(await send(data, options))
            return answers[-1]

        transport.send_request = recording  # type: ignore[method-assign]
        return await client.run(job(taskUUID=task_uuid))

    fault_failed(emulator, "CUDA out of memory")
    with pytest.raises(RunwareError) as caught:
        sdk(run_recording)

    assert (caught.value.code, caught.value.task_uuid, str(caught.value)) == (
        "provider",
        task_uuid,
        "CUDA out of memory",
    )
    assert caught.value.retryable is True
    # The ack, a processing poll, then the failure: in `errors` only, no item in `data`.
    ack, processing, failed = answers
    assert ack == {"data": [{"taskType": "imageInference", "taskUUID": task_uuid}]}
    assert processing["data"][0]["status"] == "processing"
    assert failed["data"] == []
    assert [(e["code"], e["taskUUID"]) for e in failed["errors"]] == [("inferenceError", task_uuid)]


def fault_failed(emulator: Emulator, message: str) -> None:
    emulator.app.state.faults.add(
        Fault(kind="failed", message=message, path_contains="imageInference")
    )


# --- our error classification against the SDK's --------------------------------------------


def our_class(code: str) -> str:
    """What our client makes of a task error code: the SDK's vocabulary for comparison."""
    if code in ours.SAFETY_CODES:
        return "safety"
    error = ours.code_error(code)
    if isinstance(error, ProviderAuthError):
        return "auth"
    if isinstance(error, ProviderRejectedError):
        return "validation"
    return "other"


@pytest.mark.parametrize("code", sorted(sdk_errors._SAFETY_CODES | sdk_errors._AUTH_CODES))
def test_each_safety_and_auth_code_of_the_sdk_is_classified_as_the_sdk_does(code: str) -> None:
    assert our_class(code) == sdk_errors.derive_code(code)


@pytest.mark.parametrize(
    "code",
    ["invalidApiKey", "invalidSeedImage", "missingParameter", "unknownParameter", "invalidWidth"],
)
def test_validation_and_key_codes_agree_with_the_sdk(code: str) -> None:
    assert our_class(code) == sdk_errors.derive_code(code)


# --- our requests against the SDK's ----------------------------------------------------------


@dataclass
class Captured:
    method: str
    path: str
    authorization: str | None
    content_type: str | None
    tasks: list[dict[str, Any]]


@pytest.fixture
def capture() -> Iterator[tuple[str, list[Captured]]]:
    """A loopback server that keeps each request: an inference is acked, a poll finds it
    done, an upload is stored, as Runware answers them."""
    seen: list[Captured] = []
    app = FastAPI()

    @app.post("/v1")
    async def tasks(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        headers = request.headers
        seen.append(
            Captured(
                request.method,
                request.url.path,
                headers.get("authorization"),
                headers.get("content-type"),
                body,
            )
        )
        return JSONResponse({"data": [answer(task) for task in body]})

    with serve_in_thread(app) as url:
        yield url, seen


def answer(task: dict[str, Any]) -> dict[str, Any]:
    framing = {"taskType": task["taskType"], "taskUUID": task["taskUUID"]}
    if task["taskType"] == "imageUpload":
        return {**framing, "imageUUID": str(uuid.uuid4()), "imageURL": "https://im.runware.ai/u"}
    if task["taskType"] == "getResponse":
        done = {"taskType": "imageInference", "taskUUID": task["taskUUID"], "status": "success"}
        return {**done, "imageUUID": str(uuid.uuid4()), "imageURL": "https://im.runware.ai/x"}
    return framing


def our_client(url: str) -> ours.RunwareProvider:
    wire = transport("runware", f"{url}/v1", KEY, map_error=ours.map_error, sleep=RecordingSleep())
    return ours.RunwareProvider(transport=wire, outputs=OutputPolicy.of(url, allow_loopback=True))


def the_job(data: bytes, **options: Any) -> Any:
    values: dict[str, Any] = {"prompt": "a vivid photo", "idempotency_key": "edit-contract"}
    return generation_request(
        MODEL, ImageInput(data, "image/png"), **{**values, **options}, output_format="PNG"
    )


def the_sdks(captured: Captured) -> dict[str, Any]:
    (task,) = captured.tasks
    return task


def sdk_params(task: dict[str, Any]) -> dict[str, Any]:
    """The job's parameters as an SDK caller passes them: no framing the SDK adds itself."""
    return {k: v for k, v in task.items() if k not in ("deliveryMethod",)}


@pytest.mark.parametrize(
    "options",
    [{}, {"negative_prompt": "blurry", "steps": 30, "guidance": 6.5, "strength": 0.45}],
)
def test_our_inference_task_is_the_sdks_field_by_field(
    capture: tuple[str, list[Captured]], options: dict[str, Any]
) -> None:
    url, seen = capture
    with closing(our_client(url)) as client:
        client.submit(the_job(png(1000, 750), **options))
    (mine,) = seen
    (task,) = mine.tasks

    Sdk(f"{url}/v1")(lambda sdk_client: sdk_client.run(sdk_params(task)))
    theirs = seen[1]

    assert the_sdks(theirs) == task, differing(the_sdks(theirs), task)
    assert (mine.method, mine.path, mine.authorization) == ("POST", "/v1", f"Bearer {KEY}")
    assert (theirs.method, theirs.path, theirs.authorization) == (
        mine.method,
        mine.path,
        mine.authorization,
    )
    assert mine.content_type == theirs.content_type == "application/json"
    # The SDK's poll of the same task is ours too. (The answer's output host is not on
    # the capture client's allow-list, so the poll's outcome is refused: only its request
    # matters here.)
    with closing(our_client(url)) as client, contextlib.suppress(ProviderError):
        client.poll(task["taskUUID"])
    assert (
        seen[2].tasks
        == seen[-1].tasks
        == [{"taskType": "getResponse", "taskUUID": task["taskUUID"]}]
    )


def differing(theirs: dict[str, Any], mine: dict[str, Any]) -> dict[str, Any]:
    keys = set(theirs) | set(mine)
    return {k: (theirs.get(k), mine.get(k)) for k in sorted(keys) if theirs.get(k) != mine.get(k)}


def test_our_upload_task_is_the_sdks(capture: tuple[str, list[Captured]]) -> None:
    url, seen = capture
    big = png(320, 320, noisy=True)
    with closing(our_client(url)) as client:
        client.submit(the_job(big))
    upload, inference = seen[0].tasks[0], seen[1].tasks[0]

    params = {"image": upload["image"], "taskUUID": upload["taskUUID"]}
    Sdk(f"{url}/v1")(lambda sdk_client: sdk_client.image_upload(params))  # type: ignore[arg-type]

    assert the_sdks(seen[2]) == upload
    assert inference["seedImage"] != upload["image"]  # the imageUUID the upload answered


def required(params: type) -> set[str]:
    """The keys a generated TypedDict of the SDK marks required (no `NotRequired[...]`)."""
    hints = typing.get_type_hints(params, include_extras=True)
    return {k for k, v in hints.items() if typing.get_origin(v) is not typing.NotRequired}


def literals(params: type, key: str) -> set[Any]:
    hint = typing.get_type_hints(params, include_extras=True)[key]
    if typing.get_origin(hint) is typing.NotRequired:
        (hint,) = typing.get_args(hint)
    return set(typing.get_args(hint))


# Curated img2img models of the SDK's types (generated from Runware's schemas).
SCHEMA_TYPES = [
    task_map.StabilityaiStableDiffusionXlV10VaeFixParams,
    task_map.StabilityaiStableDiffusion3Params,
]


@pytest.mark.parametrize("params", SCHEMA_TYPES, ids=lambda p: p.__name__)
@pytest.mark.parametrize("size", [(1000, 750), (4000, 3000), (100, 100)])
def test_our_inference_task_has_what_the_sdks_schema_requires(
    capture: tuple[str, list[Captured]], params: type, size: tuple[int, int]
) -> None:
    url, seen = capture
    with closing(our_client(url)) as client:
        outcome = client.submit(the_job(png(*size)))
    (task,) = seen[0].tasks

    assert outcome == Outcome.pending(task["taskUUID"])
    assert required(params) <= set(task), required(params) - set(task)
    # The generated types keep the seed image under `inputs`; the API reference documents
    # the top-level `seedImage` we send (see the issue: it matched), so it is the one extra.
    assert set(task) - set(params.__annotations__) == {"seedImage"}
    for key in ("outputType", "outputFormat"):
        assert task[key] in literals(params, key)
    for side in (task["width"], task["height"]):
        assert side % 64 == 0
        assert 128 <= side <= 2048
    assert task["safety"] == {"checkContent": True}
