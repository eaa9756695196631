"""The Replicate emulator driven by the official `replicate` client (1.0.7), and our
client's create request checked field by field against the one the official client builds.

The official client talks to the emulator only (`base_url`); a transport refuses, and fails
the test, any request to another origin. Flows covered:
- `predictions.create(wait=...)`: 201 with the finished run, then `reload()` (GET);
- `predictions.create` without wait, then `wait()` (polls GET until terminal);
- `predictions.cancel` of a running prediction (200, `canceled`);
- `predictions.list` and `paginate`: pages of `results` with `next`/`previous` cursors;
- `replicate.run("owner/name:version")`: create with `Prefer: wait`, the version's schema
  (`GET /v1/models/{owner}/{name}/versions/{id}`), its output read as a `FileOutput`; and a
  wait answered `processing` with the output, which `run()` takes as done (no poll);
- `models.predictions.create(model="owner/name")`: `POST /v1/models/{owner}/{name}/predictions`;
- `files.create` / `files.get`: the File object (`etag`, `checksums`, `expires_at`, `urls`);
- `webhooks.default.secret()`, and a delivered webhook validated by `Webhooks.validate`;
- errors as `ReplicateError` (problem+json `title`, `detail`, `status`): a missing version,
  a missing or non-object input, an invalid input field, an unknown version, a bad token;
- our `ReplicateProvider.submit` sends the same method, path, `Prefer`, `Authorization`,
  `Content-Type` and body fields as `predictions.create` for the same job.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from PIL import Image
from replicate.client import Client
from replicate.exceptions import ReplicateError
from replicate.helpers import FileOutput
from replicate.pagination import paginate
from replicate.webhook import Webhooks

from aiimage.providers.base import ImageInput
from aiimage.providers.outputs import OutputPolicy
from aiimage.providers.replicate import MODELS, ReplicateProvider, map_error, verify_webhook
from infra.emulators.replicate import WireRequest, create_app
from infra.emulators.server import serve_in_thread
from tests.functional.provider_emulators import RecordingSleep, png, transport
from tests.generation import generation_request

TOKEN = "r8_contractTestToken0123456789abcdef"
ESRGAN = "nightmareai/real-esrgan"
VERSION = MODELS[ESRGAN].version


class EmulatorOnly(httpx.BaseTransport):
    """The official client's transport: the emulator's origin, nothing else."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        if origin != self.origin:
            pytest.fail(f"the official client tried {request.method} {request.url}")
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, FastAPI]]:
    app = create_app(api_token=TOKEN, processing_seconds=0.0)
    with serve_in_thread(app) as url:
        yield url, app


@pytest.fixture(scope="module")
def slow() -> Iterator[tuple[str, FastAPI]]:
    app = create_app(api_token=TOKEN, processing_seconds=2.0)
    with serve_in_thread(app) as url:
        yield url, app


@pytest.fixture
def app(served: tuple[str, FastAPI]) -> FastAPI:
    served[1].state.finished_wait = "succeeded"
    served[1].state.page_size = 100
    served[1].state.received.clear()
    served[1].state.wire.clear()
    return served[1]


def official(url: str, token: str = TOKEN) -> Client:
    client = Client(api_token=token, base_url=url, transport=EmulatorOnly(url))
    client.poll_interval = 0.05
    return client


@pytest.fixture
def client(served: tuple[str, FastAPI], app: FastAPI) -> Client:
    return official(served[0])


def image_uri(width: int = 48, height: int = 32) -> str:
    return "data:image/png;base64," + base64.b64encode(png(width, height)).decode()


def job_input() -> dict[str, Any]:
    return {"image": image_uri(), "scale": 2, "face_enhance": False}


def read_output(output: Any) -> bytes:
    """`run()`'s output: a FileOutput for an https URL (replicate.delivery); the emulator
    serves plain http on loopback, which the client hands back as the URL string."""
    if isinstance(output, FileOutput):
        return output.read()
    assert isinstance(output, str)
    assert output.startswith("http://127.0.0.1:")
    return httpx.get(output).content


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


# --- predictions -----------------------------------------------------------------------------


def test_create_with_wait_answers_the_finished_run(client: Client) -> None:
    prediction = client.predictions.create(version=VERSION, input=job_input(), wait=10)

    assert (prediction.status, prediction.model, prediction.version) == (
        "succeeded",
        ESRGAN,
        VERSION,
    )
    assert isinstance(prediction.output, str)
    assert set(prediction.metrics or {}) == {"predict_time", "total_time"}
    assert prediction.urls is not None
    assert set(prediction.urls) == {"get", "cancel", "web"}
    assert prediction.urls["web"] == f"https://replicate.com/p/{prediction.id}"
    prediction.reload()
    assert prediction.status == "succeeded"


def test_create_then_wait_polls_until_terminal(slow: tuple[str, FastAPI]) -> None:
    prediction = official(slow[0]).predictions.create(version=VERSION, input=job_input())
    created: str = prediction.status

    prediction.wait()

    assert (created, prediction.status) in (("starting", "succeeded"), ("processing", "succeeded"))
    assert (
        sum(1 for r in slow[1].state.received if r == f"GET /v1/predictions/{prediction.id}") >= 1
    )


def test_cancel_a_running_prediction(slow: tuple[str, FastAPI]) -> None:
    client = official(slow[0])
    prediction = client.predictions.create(version=VERSION, input=job_input())

    canceled = client.predictions.cancel(prediction.id)

    assert canceled.status == "canceled"
    assert client.predictions.get(prediction.id).status == "canceled"


def test_list_pages_newest_first_with_cursors(client: Client, app: FastAPI) -> None:
    ids = [
        client.predictions.create(version=VERSION, input=job_input(), wait=10).id for _ in range(3)
    ]
    app.state.page_size = 2

    first = client.predictions.list()
    pages = list(paginate(client.predictions.list))

    assert [p.id for p in first][:2] == ids[::-1][:2]
    assert first.next is not None
    assert first.previous is None
    second = client.predictions.list(first.next)
    assert second.previous is not None
    listed = [p.id for page in pages for p in page]
    assert listed[:3] == ids[::-1]
    assert len(listed) == len(set(listed))


def test_run_by_version_reads_the_schema_and_returns_a_file_output(
    client: Client, app: FastAPI
) -> None:
    output = client.run(f"{ESRGAN}:{VERSION}", input=job_input())

    assert png_size(read_output(output)) == (96, 64)
    assert f"GET /v1/models/{ESRGAN}/versions/{VERSION}" in app.state.received


def test_run_takes_a_wait_answered_processing_with_output_as_done(
    client: Client, app: FastAPI
) -> None:
    app.state.finished_wait = "processing"

    output = client.run(f"{ESRGAN}:{VERSION}", input=job_input())

    assert png_size(read_output(output)) == (96, 64)
    assert not [r for r in app.state.received if r.startswith("GET /v1/predictions")]


def test_model_predictions_run_the_models_latest_version(client: Client, app: FastAPI) -> None:
    prediction = client.models.predictions.create(model=ESRGAN, input=job_input(), wait=10)

    assert (prediction.status, prediction.version) == ("succeeded", VERSION)
    assert app.state.wire[-1].path == f"/v1/models/{ESRGAN}/predictions"
    with pytest.raises(ReplicateError) as caught:
        client.models.predictions.create(model="nobody/nothing", input=job_input())
    assert caught.value.status == 404


# --- files and the webhook secret -------------------------------------------------------------


def test_files_carry_etag_checksums_and_urls(client: Client) -> None:
    data = png()

    created = client.files.create(io.BytesIO(data), filename="in.png", content_type="image/png")
    fetched = client.files.get(created.id)

    for file in (created, fetched):
        assert (file.name, file.content_type, file.size) == ("in.png", "image/png", len(data))
        assert file.checksums["md5"] == file.etag
        assert len(file.checksums["sha256"]) == 64
        assert file.expires_at is not None
        assert file.urls["get"].endswith(f"/v1/files/{created.id}")


def test_the_default_webhook_secret_validates_a_delivered_webhook(
    client: Client, app: FastAPI
) -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    receiver = FastAPI()

    @receiver.post("/hook")
    async def hook(request: Request) -> Response:
        received.append((dict(request.headers), await request.body()))
        return Response(status_code=204)

    with serve_in_thread(receiver) as hook_url:
        secret = client.webhooks.default.secret()
        prediction = client.predictions.create(
            version=VERSION,
            input=job_input(),
            webhook=f"{hook_url}/hook",
            webhook_events_filter=["completed"],
            wait=10,
        )
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.02)

    assert secret.key == app.state.webhook_secret
    ((headers, body),) = received
    assert (
        Webhooks.validate(headers=headers, body=body.decode(), secret=secret, tolerance=300) is None
    )
    verify_webhook(secret.key, headers, body, now=time.time())
    assert prediction.id in body.decode()


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "title"),
    [
        ({"input": {"image": "x"}}, 422, "Invalid version or not permitted"),
        ({"version": VERSION}, 422, "Input validation failed"),
        ({"version": VERSION, "input": "an image"}, 422, "Input validation failed"),
        (
            {"version": VERSION, "input": {"image": image_uri(), "scale": 20}},
            422,
            "Input validation failed",
        ),
        ({"version": "0" * 64, "input": {}}, 422, "Invalid version"),
    ],
)
def test_refusals_are_problem_json(
    served: tuple[str, FastAPI], app: FastAPI, body: dict[str, Any], status: int, title: str
) -> None:
    # Sent raw: the official client cannot even build some of these (it requires a version).
    answer = httpx.post(
        f"{served[0]}/v1/predictions", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    error = ReplicateError.from_response(answer)

    assert answer.headers["content-type"] == "application/problem+json"
    assert (error.status, error.title) == (status, title)
    assert error.detail
    if title == "Input validation failed":
        (field,) = answer.json()["invalid_fields"]
        assert field["field"].startswith("input")


def test_the_official_client_sees_refusals_as_replicate_errors(
    served: tuple[str, FastAPI], client: Client
) -> None:
    with pytest.raises(ReplicateError) as invalid:
        client.predictions.create(version=VERSION, input={"image": image_uri(), "scale": 20})
    with pytest.raises(ReplicateError) as unauthenticated:
        official(served[0], token="r8_wrong").predictions.get("x")

    assert (invalid.value.status, invalid.value.title) == (422, "Input validation failed")
    assert "scale" in (invalid.value.detail or "")
    assert unauthenticated.value.status == 401


# --- our request, field by field, against the official client's ---------------------------------


def test_our_create_request_is_the_one_the_official_client_builds(
    served: tuple[str, FastAPI], app: FastAPI, client: Client
) -> None:
    url, hook = served[0], "https://example.test/webhooks/replicate"
    data = png()
    ours = ReplicateProvider(
        transport=transport(
            "replicate", f"{url}/v1", TOKEN, map_error=map_error, sleep=RecordingSleep()
        ),
        outputs=OutputPolicy.of(url, allow_loopback=True),
    )
    with closing(ours):
        job = generation_request(
            ESRGAN, ImageInput(data, "image/png"), scale=2, wait_seconds=10, webhook_url=hook
        )
        assert ours.submit(job).status == "succeeded"
    theirs_input = {"image": image_uri(), "scale": 2, "face_enhance": False}
    client.predictions.create(
        version=VERSION,
        input=theirs_input,
        webhook=hook,
        webhook_events_filter=["completed"],
        wait=10,
    )

    mine, official_request = app.state.wire[-2], app.state.wire[-1]
    assert isinstance(mine, WireRequest)
    assert isinstance(official_request, WireRequest)
    assert (mine.method, mine.path) == (official_request.method, official_request.path)
    for header in ("prefer", "authorization", "content-type"):
        assert mine.headers.get(header) == official_request.headers.get(header), header
    assert sorted(mine.body) == sorted(official_request.body)
    for field in official_request.body:
        assert mine.body[field] == official_request.body[field], field
