"""The Runware client against the Runware emulator, over real HTTP; and the fake provider.

Everything between the client and the emulator is the documented task protocol: one
`POST /v1` with a JSON array of tasks, async `imageInference` acks, `getResponse` polls,
`imageUpload`, per-task `errors[]`, and faults queued through `/__emulator/faults`.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image

from aiimage.providers import runware
from aiimage.providers.base import (
    GenerationRequest,
    ImageInput,
    Outcome,
    ProviderAuthError,
    ProviderRateLimitedError,
    ProviderRejectedError,
    ProviderUnavailableError,
)
from aiimage.providers.fake import FakeProvider
from aiimage.providers.outputs import OutputPolicy
from aiimage.providers.runware import RunwareProvider, map_error, task_uuid_for
from infra.emulators.runware import COST_PER_IMAGE, TaskRecord, create_app
from infra.emulators.server import serve_in_thread
from tests.functional import provider_emulators
from tests.functional.provider_emulators import (
    RecordingSleep,
    png,
    poll_until_done,
    serving,
    serving_image,
    transport,
)
from tests.generation import generation_request

KEY = "rw_emulatorTestKey0123456789abcdef"
MODEL = "runware:101@1"
POLLS_UNTIL_DONE = 2


@dataclass
class Emulator(provider_emulators.Emulator):
    def reset(self) -> None:
        super().reset()
        self.app.state.requests.clear()

    def tasks(self, task_type: str) -> list[TaskRecord]:
        return [r for r in self.app.state.requests if r.task_type == task_type]

    @property
    def jobs(self) -> dict[str, Any]:
        return dict(self.app.state.jobs)

    def polls(self, task_uuid: str) -> int:
        return int(self.app.state.polls.get(task_uuid, 0))


@pytest.fixture(scope="module")
def server() -> Iterator[Emulator]:
    yield from serving(create_app(api_key=KEY, polls_until_done=POLLS_UNTIL_DONE), Emulator)


@pytest.fixture
def emulator(server: Emulator) -> Emulator:
    server.reset()
    return server


ProviderFactory = Callable[..., RunwareProvider]


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def make_provider(sleep: RecordingSleep) -> Iterator[ProviderFactory]:
    with ExitStack() as made:

        def make(
            emulator: Emulator,
            *,
            key: str = KEY,
            max_retries: int = 2,
            outputs: OutputPolicy | None = None,
            url: str | None = None,
        ) -> RunwareProvider:
            base_url = url or f"{emulator.url}/v1"
            wire = transport(
                "runware", base_url, key, map_error=map_error, sleep=sleep, max_retries=max_retries
            )
            # The emulator serves its outputs on its own (loopback) origin.
            outputs = outputs or OutputPolicy.of(emulator.url, allow_loopback=True)
            provider = RunwareProvider(transport=wire, outputs=outputs)
            return made.enter_context(closing(provider))

        yield make


@pytest.fixture
def provider(emulator: Emulator, make_provider: ProviderFactory) -> RunwareProvider:
    return make_provider(emulator)


def request(data: bytes | None = None, **options: Any) -> GenerationRequest:
    url = options.pop("url", None)
    image = ImageInput(data if data is not None else png(), "image/png", url=url)
    values: dict[str, Any] = {"prompt": "a vivid photo", **options}
    return generation_request(MODEL, image, **values)


def image_format(outcome: Outcome) -> tuple[str | None, tuple[int, int]]:
    assert outcome.status == "succeeded", outcome
    assert outcome.image is not None
    with Image.open(io.BytesIO(outcome.image)) as image:
        image.load()
        return image.format, image.size


# --- the async flow ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output_format", "pil_format", "content_type", "wire"),
    [
        ("WEBP", "WEBP", "image/webp", "WEBP"),
        ("PNG", "PNG", "image/png", "PNG"),
        ("JPEG", "JPEG", "image/jpeg", "JPG"),
    ],
)
def test_submit_is_pending_then_polls_to_the_real_image(
    provider: RunwareProvider,
    emulator: Emulator,
    output_format: Any,
    pil_format: str,
    content_type: str,
    wire: str,
) -> None:
    submitted = provider.submit(request(output_format=output_format))

    assert submitted.status == "pending"
    assert submitted.job_id is not None
    first = provider.poll(submitted.job_id)
    assert first == Outcome.pending(submitted.job_id)  # polls_until_done=2
    finished = provider.poll(submitted.job_id)
    # The task's width and height (the 48x32 input within Runware's bounds), not the input's.
    assert image_format(finished) == (pil_format, (192, 128))
    assert finished.content_type == content_type
    assert finished.cost_micros == 6_500  # COST_PER_IMAGE, 0.0065 USD
    assert finished.job_id == submitted.job_id
    assert emulator.polls(submitted.job_id) == POLLS_UNTIL_DONE
    (task,) = emulator.tasks("imageInference")
    assert task.fields == {
        "taskUUID": submitted.job_id,
        "model": MODEL,
        "positivePrompt": "a vivid photo",
        "seedImage": "data:image/png",
        "strength": 0.8,
        "numberResults": 1,
        "outputType": "URL",
        "outputFormat": wire,
        "includeCost": True,
        "deliveryMethod": "async",
        "width": 192,
        "height": 128,
        "safety": {"checkContent": True},
    }


def test_the_output_is_the_stylized_input_not_a_copy(provider: RunwareProvider) -> None:
    data = png()
    submitted = provider.submit(request(data, prompt="sepia portrait", output_format="PNG"))
    assert submitted.job_id is not None

    finished = poll_until_done(provider, submitted.job_id)

    assert finished.image is not None
    with Image.open(io.BytesIO(finished.image)) as out, Image.open(io.BytesIO(data)) as src:
        assert out.convert("RGB").tobytes() != src.convert("RGB").tobytes()


def test_the_options_are_sent_clamped(provider: RunwareProvider, emulator: Emulator) -> None:
    provider.submit(request(negative_prompt="blurry", strength=1.7, steps=500, guidance=42.0))

    (task,) = emulator.tasks("imageInference")
    assert task.fields["negativePrompt"] == "blurry"
    assert task.fields["strength"] == 1.0
    assert task.fields["steps"] == 100
    assert task.fields["CFGScale"] == 30.0


def test_an_idempotency_key_names_the_task(provider: RunwareProvider) -> None:
    first = provider.submit(request(idempotency_key="edit-123"))

    assert first.job_id == task_uuid_for("edit-123")
    assert task_uuid_for("edit-123") == task_uuid_for("edit-123")
    assert task_uuid_for("edit-123") != task_uuid_for("edit-124")


def test_a_resubmission_after_a_crash_is_the_same_pending_task(
    provider: RunwareProvider, emulator: Emulator
) -> None:
    before = len(emulator.jobs)
    first = provider.submit(request(idempotency_key="edit-crash"))
    second = provider.submit(request(idempotency_key="edit-crash"))  # conflictTaskUUID

    assert first.status == second.status == "pending"
    assert first.job_id == second.job_id
    assert len(emulator.tasks("imageInference")) == 2
    assert len(emulator.jobs) == before + 1  # the emulator holds one task
    assert first.job_id in emulator.jobs
    assert first.job_id is not None
    assert poll_until_done(provider, first.job_id).status == "succeeded"


def test_without_a_key_every_submit_is_a_new_task(provider: RunwareProvider) -> None:
    assert provider.submit(request()).job_id != provider.submit(request()).job_id


def test_an_nsfw_result_is_failed_and_never_downloaded(provider: RunwareProvider) -> None:
    submitted = provider.submit(request(prompt="moderation-test please"))
    assert submitted.job_id is not None

    outcome = poll_until_done(provider, submitted.job_id)

    assert outcome.status == "failed"
    assert outcome.error == "nsfw"
    assert outcome.image is None
    assert outcome.metrics == {"nsfw": 1.0}
    assert outcome.job_id == submitted.job_id
    # The image was generated, then flagged: Runware bills it, so the cost comes along.
    assert outcome.cost_micros == 6_500


@pytest.mark.parametrize(("include_cost", "cost"), [(True, COST_PER_IMAGE), (False, None)])
def test_the_emulator_reports_cost_only_when_asked(
    emulator: Emulator, include_cost: bool, cost: float | None
) -> None:
    task = {
        "taskType": "imageInference",
        "taskUUID": task_uuid_for(f"cost-{include_cost}"),
        "model": MODEL,
        "positivePrompt": "vivid",
        "seedImage": runware._data_uri(ImageInput(png(), "image/png")),
        "deliveryMethod": "sync",
        "includeCost": include_cost,
        "width": 192,
        "height": 128,
    }

    answer = httpx.post(
        f"{emulator.url}/v1", json=[task], headers={"Authorization": f"Bearer {KEY}"}
    )

    (item,) = answer.json()["data"]
    assert item.get("cost") == cost
    assert ("cost" in item) is include_cost


def test_no_prompt_is_rejected_without_a_call(
    provider: RunwareProvider, emulator: Emulator
) -> None:
    for prompt in (None, "  "):
        with pytest.raises(ProviderRejectedError) as caught:
            provider.submit(request(prompt=prompt))
        assert caught.value.code == "provider_prompt_missing"

    assert emulator.app.state.requests == []


def test_cancel_is_a_no_op(provider: RunwareProvider, emulator: Emulator) -> None:
    provider.cancel("5b0f7a3e-0000-4000-8000-000000000000")

    assert emulator.app.state.requests == []


def test_polling_an_unknown_task_is_rejected(provider: RunwareProvider) -> None:
    with pytest.raises(ProviderRejectedError) as caught:
        provider.poll("5b0f7a3e-0000-4000-8000-000000000000")

    assert caught.value.details == {"providerCode": "invalidTaskUUID"}


def test_an_invalid_parameter_is_rejected_with_its_code(provider: RunwareProvider) -> None:
    with pytest.raises(ProviderRejectedError) as caught:
        provider.submit(request(prompt="x" * 4000))  # the emulator's cap is 3000

    assert caught.value.details == {"providerCode": "invalidParameter"}
    assert "xxxx" not in str(caught.value)


# --- how the seed image travels -----------------------------------------------------------


def test_a_big_image_is_uploaded_first(provider: RunwareProvider, emulator: Emulator) -> None:
    data = png(320, 320, noisy=True)
    assert len(data) > runware.MAX_DATA_URI_BYTES

    submitted = provider.submit(request(data, output_format="PNG"))
    assert submitted.job_id is not None

    (upload,) = emulator.tasks("imageUpload")
    assert upload.fields["image"] == "data:image/png"
    (task,) = emulator.tasks("imageInference")
    uuid.UUID(str(task.fields["seedImage"]))  # the uploaded imageUUID, not the bytes
    assert (task.fields["width"], task.fields["height"]) == (320, 320)
    assert task.fields["safety"] == {"checkContent": True}
    assert image_format(poll_until_done(provider, submitted.job_id)) == ("PNG", (320, 320))


@pytest.fixture(scope="module")
def image_host() -> Iterator[str]:
    yield from serving_image()


def test_an_image_url_is_passed_through(
    provider: RunwareProvider, emulator: Emulator, image_host: str
) -> None:
    url = f"{image_host}/input.png?X-Amz-Signature=abc"

    submitted = provider.submit(request(png(), url=url, output_format="PNG"))
    assert submitted.job_id is not None

    (task,) = emulator.tasks("imageInference")
    assert task.fields["seedImage"] == url
    assert emulator.tasks("imageUpload") == []
    # The size comes from the bytes we hold (48x32 → 192x128); the emulator fetched the URL's
    # 20x10 picture and answers in the task's size.
    assert (task.fields["width"], task.fields["height"]) == (192, 128)
    assert image_format(poll_until_done(provider, submitted.job_id)) == ("PNG", (192, 128))


# --- faults -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [503, 504])
def test_a_queue_error_is_retried(
    provider: RunwareProvider, emulator: Emulator, sleep: RecordingSleep, status: int
) -> None:
    submitted = provider.submit(request())
    assert submitted.job_id is not None
    emulator.fault("server_error", status=status, path_contains="getResponse")

    assert poll_until_done(provider, submitted.job_id).status == "succeeded"
    assert len(sleep.delays) == 1


def test_a_lasting_504_is_unavailable(
    provider: RunwareProvider, emulator: Emulator, sleep: RecordingSleep
) -> None:
    emulator.fault("server_error", status=504, count=10)

    with pytest.raises(ProviderUnavailableError) as caught:
        provider.submit(request())

    assert caught.value.details == {"providerStatus": 504, "providerCode": "serverError"}
    assert len(sleep.delays) == 2


def test_no_balance_is_our_problem_not_the_callers(
    provider: RunwareProvider, emulator: Emulator
) -> None:
    emulator.fault("server_error", status=402, message="Insufficient balance")

    with pytest.raises(ProviderUnavailableError) as caught:
        provider.submit(request())

    assert caught.value.code == "provider_payment_required"
    assert caught.value.status == 502


@pytest.mark.parametrize("code", [None, 1])
def test_a_malformed_answer_is_unavailable(
    provider: RunwareProvider, emulator: Emulator, code: int | None
) -> None:
    emulator.fault("malformed", code=code)

    with pytest.raises(ProviderUnavailableError) as caught:
        provider.submit(request())

    assert caught.value.code == "provider_malformed"


def test_a_slow_answer_within_the_timeout_succeeds(
    provider: RunwareProvider, emulator: Emulator
) -> None:
    emulator.fault("slow", delay=0.3, path_contains="imageInference")

    assert provider.submit(request()).status == "pending"


def test_a_failed_task_is_a_failed_outcome_reported_only_in_errors(
    provider: RunwareProvider, emulator: Emulator
) -> None:
    emulator.fault("failed", message="CUDA out of memory", path_contains="imageInference")
    submitted = provider.submit(request())
    assert submitted.job_id is not None
    provider.poll(submitted.job_id)  # processing (polls_until_done=2)

    # The reference moves a failed task to `errors`: no item of it stays in `data`.
    answer = httpx.post(
        f"{emulator.url}/v1",
        json=[{"taskType": "getResponse", "taskUUID": submitted.job_id}],
        headers={"Authorization": f"Bearer {KEY}"},
    )
    body = answer.json()
    assert body["data"] == []
    assert [(e["code"], e["taskUUID"]) for e in body["errors"]] == [
        ("inferenceError", submitted.job_id)
    ]

    outcome = provider.poll(submitted.job_id)
    assert outcome == Outcome.failed("inferenceError: CUDA out of memory", job_id=submitted.job_id)
    assert outcome.cost_micros is None  # an errored task reports no cost: nothing billed


# --- per-task errors ----------------------------------------------------------------------


def test_the_emulator_answers_data_and_errors_side_by_side(emulator: Emulator) -> None:
    taken = task_uuid_for("edit-side-by-side")
    fresh = task_uuid_for("edit-side-by-side-2")
    task = {
        "taskType": "imageInference",
        "model": MODEL,
        "positivePrompt": "vivid",
        "seedImage": runware._data_uri(ImageInput(png(), "image/png")),
        "deliveryMethod": "async",
        "width": 192,
        "height": 128,
    }
    headers = {"Authorization": f"Bearer {KEY}"}
    httpx.post(f"{emulator.url}/v1", json=[{**task, "taskUUID": taken}], headers=headers)

    answer = httpx.post(
        f"{emulator.url}/v1",
        json=[{**task, "taskUUID": taken}, {**task, "taskUUID": fresh}],
        headers=headers,
    )

    assert answer.status_code == 200
    body = answer.json()
    assert body["data"] == [{"taskType": "imageInference", "taskUUID": fresh}]
    assert [(e["code"], e["taskUUID"]) for e in body["errors"]] == [("conflictTaskUUID", taken)]


def test_the_authentication_task_is_an_alternative_to_the_header(emulator: Emulator) -> None:
    ours = [{"taskType": "authentication", "apiKey": KEY}]
    wrong = [{"taskType": "authentication", "apiKey": "nope"}]

    assert httpx.post(f"{emulator.url}/v1", json=ours).status_code == 200
    denied = httpx.post(f"{emulator.url}/v1", json=wrong)
    assert denied.status_code == 401
    assert denied.json()["errors"][0]["code"] == "invalidApiKey"
    assert all(r.fields == {} for r in emulator.tasks("authentication"))  # the key not kept


@pytest.fixture
def scripted() -> Iterator[tuple[str, list[Any]]]:
    """A server that answers each POST with the next scripted body (HTTP 200), or the
    response a scripted callable builds from the tasks sent."""
    answers: list[Any] = []
    app = FastAPI()

    @app.post("/v1")
    async def tasks(request: Request) -> JSONResponse:
        sent = json.loads(await request.body())
        body = answers.pop(0)
        body = body(sent) if callable(body) else body
        return body if isinstance(body, JSONResponse) else JSONResponse(body)

    with serve_in_thread(app) as url:
        yield url, answers


def test_errors_of_other_tasks_do_not_matter(
    make_provider: ProviderFactory, emulator: Emulator, scripted: tuple[str, list[Any]]
) -> None:
    url, answers = scripted
    provider = make_provider(emulator, url=f"{url}/v1")
    other = {"code": "invalidSeedImage", "message": "no", "taskUUID": "someone-else"}
    answers.append(
        lambda sent: {"data": [{"taskType": "imageInference", "taskUUID": sent[0]["taskUUID"]}]}
    )
    answers.append(
        lambda sent: {
            "data": [{"taskType": "imageInference", "taskUUID": sent[0]["taskUUID"]}],
            "errors": [other],
        }
    )

    submitted = provider.submit(request())
    assert submitted.job_id is not None
    assert provider.poll(submitted.job_id) == Outcome.pending(submitted.job_id)


def test_an_error_for_our_task_in_a_200_answer_counts(
    make_provider: ProviderFactory, emulator: Emulator, scripted: tuple[str, list[Any]]
) -> None:
    url, answers = scripted
    provider = make_provider(emulator, url=f"{url}/v1")
    answers.append(
        lambda sent: {
            "data": [],
            "errors": [
                {"code": "unsupportedModel", "message": "m", "taskUUID": sent[0]["taskUUID"]}
            ],
        }
    )

    with pytest.raises(ProviderRejectedError) as caught:
        provider.submit(request())

    assert caught.value.details == {"providerCode": "unsupportedModel"}


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"code": "timeoutProvider", "message": "too slow"}, "timeoutProvider: too slow"),
        ({"code": "nsfwContentDetected", "message": "flagged"}, "nsfw"),
    ],
)
def test_an_item_with_status_error_is_a_failed_outcome(
    make_provider: ProviderFactory,
    emulator: Emulator,
    scripted: tuple[str, list[Any]],
    error: dict[str, str],
    expected: str,
) -> None:
    url, answers = scripted
    provider = make_provider(emulator, url=f"{url}/v1")
    task_uuid = task_uuid_for("edit-item-error")
    answers.append(
        {
            "data": [
                {
                    "taskType": "imageInference",
                    "taskUUID": task_uuid,
                    "status": "error",
                    "error": error,
                }
            ]
        }
    )

    assert provider.poll(task_uuid) == Outcome.failed(expected, job_id=task_uuid)


def test_an_already_finished_answer_is_downloaded_at_once(
    make_provider: ProviderFactory, emulator: Emulator, scripted: tuple[str, list[Any]]
) -> None:
    # A sync-like answer pointing at an image the emulator serves.
    submitted = make_provider(emulator).submit(request(output_format="PNG"))
    assert submitted.job_id is not None
    make_provider(emulator).poll(submitted.job_id)
    image_url = emulator.app.state.jobs[submitted.job_id].items[0]["imageURL"]
    url, answers = scripted
    provider = make_provider(emulator, url=f"{url}/v1")
    answers.append(
        lambda sent: {
            "data": [
                {
                    "taskType": "imageInference",
                    "taskUUID": sent[0]["taskUUID"],
                    "imageUUID": "x",
                    "imageURL": image_url,
                    "cost": 0.01,
                }
            ]
        }
    )

    outcome = provider.submit(request(output_format="PNG"))

    assert image_format(outcome)[0] == "PNG"
    assert outcome.cost_micros == 10_000


# --- outputs ------------------------------------------------------------------------------


def test_an_output_over_the_size_cap_is_refused(
    provider: RunwareProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RunwareProvider, "max_output_bytes", 100)
    submitted = provider.submit(request())
    assert submitted.job_id is not None

    with pytest.raises(ProviderUnavailableError, match="too large"):
        poll_until_done(provider, submitted.job_id)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://im.runware.ai/image/x.webp", True),
        ("https://runware.ai/x.webp", True),
        ("https://im.runware.ai:443/x.webp", True),
        ("https://im.runware.ai:8443/x.webp", False),  # the port is part of the origin
        ("http://im.runware.ai/x.webp", False),  # and so is the scheme
        ("https://runware.ai.evil.example/x.webp", False),
        ("https://evilrunware.ai/x.webp", False),
        ("http://169.254.169.254/", False),
        ("https://api.runware.ai/v1", True),
    ],
)
def test_the_output_allow_list_admits_runware_and_its_subdomains(url: str, allowed: bool) -> None:
    provider = RunwareProvider.from_settings()
    try:
        assert provider.is_allowed(url) is allowed
    finally:
        provider.close()


def test_from_settings_talks_to_the_configured_api(
    settings_env: Callable[..., None], emulator: Emulator
) -> None:
    settings_env(RUNWARE_API_KEY=KEY, RUNWARE_BASE_URL=f"{emulator.url}/v1")
    provider = RunwareProvider.from_settings()
    try:
        submitted = provider.submit(request(output_format="JPEG"))
        assert submitted.job_id is not None
        outcome = poll_until_done(provider, submitted.job_id)
    finally:
        provider.close()

    assert image_format(outcome)[0] == "JPEG"
    assert len(emulator.jobs) >= 1


def test_map_error_reads_retry_after_and_codes() -> None:
    def response(status: int, body: Any = None, **headers: str) -> httpx.Response:
        return httpx.Response(
            status, json=body, headers=headers, request=httpx.Request("POST", "https://x/v1")
        )

    limited = map_error(response(429, {"errors": []}, **{"Retry-After": "7"}))
    assert isinstance(limited, ProviderRateLimitedError)
    assert limited.retry_after == 7
    invalid_key = map_error(response(400, {"errors": [{"code": "invalidApiKey"}]}))
    assert isinstance(invalid_key, ProviderAuthError)
    quota = map_error(response(400, {"errors": [{"code": "insufficientCredits"}]}))
    assert isinstance(quota, ProviderUnavailableError)
    assert quota.code == "provider_payment_required"
    page = httpx.Response(524, text="<html>", request=httpx.Request("POST", "https://x/v1"))
    assert isinstance(map_error(page), ProviderUnavailableError)


# --- width and height ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1000, 750), (1024, 768)),  # in bounds: each side to the nearest multiple of 64
        ((4000, 3000), (2048, 1536)),  # scaled down to a 2048 long side, aspect kept
        ((3000, 4000), (1536, 2048)),
        ((100, 100), (128, 128)),  # scaled up to a 128 short side
        ((48, 32), (192, 128)),
        ((1920, 1080), (1920, 1088)),
        ((2048, 2048), (2048, 2048)),
        ((600, 400), (576, 384)),
        ((5000, 100), (2048, 128)),  # no scale fits both bounds: the long side wins, then clamped
        ((1, 1), (128, 128)),
    ],
)
def test_the_task_size_is_the_input_within_runware_bounds(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert runware.task_size(*size) == expected


def test_every_size_is_a_multiple_of_64_in_bounds() -> None:
    for width in (1, 63, 64, 127, 128, 129, 500, 1023, 2047, 2049, 4096, 12000):
        for height in (1, 100, 128, 700, 2048, 3333, 9000):
            sized = runware.task_size(width, height)
            assert all(128 <= side <= 2048 and side % 64 == 0 for side in sized), (width, height)


def inference_task(**fields: Any) -> dict[str, Any]:
    task = {
        "taskType": "imageInference",
        "taskUUID": str(uuid.uuid4()),
        "model": MODEL,
        "positivePrompt": "vivid",
        "seedImage": runware._data_uri(ImageInput(png(), "image/png")),
        "deliveryMethod": "sync",
        "width": 192,
        "height": 128,
    }
    return {k: v for k, v in {**task, **fields}.items() if v is not None}


def post(emulator: Emulator, *tasks: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{emulator.url}/v1", json=list(tasks), headers={"Authorization": f"Bearer {KEY}"}
    )


@pytest.mark.parametrize(
    ("fields", "code", "parameter"),
    [
        ({"width": None}, "missingParameter", "width"),
        ({"height": None}, "missingParameter", "height"),
        ({"width": 64}, "invalidParameter", "width"),
        ({"height": 2112}, "invalidParameter", "height"),
        ({"width": 200}, "invalidParameter", "width"),  # not a multiple of 64
        ({"checkNSFW": True}, "unknownParameter", "checkNSFW"),  # the old name
        ({"safety": {"checkContent": True, "level": 3}}, "unknownParameter", "safety.level"),
    ],
)
def test_the_emulator_refuses_a_task_runware_refuses(
    emulator: Emulator, fields: dict[str, Any], code: str, parameter: str
) -> None:
    task = inference_task(**fields)
    answer = post(emulator, task)

    assert answer.status_code == 400
    (error,) = answer.json()["errors"]
    assert (error["code"], error["parameter"], error["taskType"]) == (
        code,
        parameter,
        "imageInference",
    )
    assert task["taskUUID"] not in emulator.jobs


def test_the_emulator_answers_in_the_task_size(emulator: Emulator) -> None:
    (item,) = post(emulator, inference_task(width=256, height=640)).json()["data"]

    output = httpx.get(item["imageURL"])
    with Image.open(io.BytesIO(output.content)) as image:
        assert image.size == (256, 640)


@pytest.mark.parametrize(
    ("safety", "prompt", "flag"),
    [
        (None, "moderation-test please", None),  # not asked: never flagged, never checked
        ({"checkContent": True}, "moderation-test please", True),
        ({"checkContent": True}, "a vivid photo", False),
        ({"mode": "fast"}, "moderation-test please", True),
        ({"checkContent": True, "mode": "none"}, "moderation-test please", None),  # mode wins
    ],
)
def test_the_emulator_checks_content_only_when_asked(
    emulator: Emulator, safety: dict[str, Any] | None, prompt: str, flag: bool | None
) -> None:
    (item,) = post(emulator, inference_task(safety=safety, positivePrompt=prompt)).json()["data"]

    assert item.get("NSFWContent") == flag
    assert ("NSFWContent" in item) is (flag is not None)


def test_the_emulator_accepts_the_delivery_method_the_sdk_adds_to_an_upload(
    emulator: Emulator,
) -> None:
    upload = {
        "taskType": "imageUpload",
        "taskUUID": str(uuid.uuid4()),
        "image": runware._data_uri(ImageInput(png(), "image/png")),
        "deliveryMethod": "async",
    }

    answer = post(emulator, upload)

    assert answer.status_code == 200, answer.text
    (item,) = answer.json()["data"]
    uuid.UUID(item["imageUUID"])


# --- error codes (runware-python: runware/errors.py) ----------------------------------------

SAFETY_REFUSALS = [
    "sensitiveContentDetected",
    "unsafeContentDetected",
    "moderationFailed",
    "invalidProviderContent",
    "nsfwContentDetected",
    "contentPolicyViolation",
]
OUR_CREDENTIALS = [
    "invalidCredentials",
    "invalidAuthentication",
    "tokenExpired",
    "invalidApiKey",
    "unauthorized",
    "accountSuspended",
]


def refusing(code: str, *, status: int = 200) -> Callable[[list[Any]], Any]:
    def answer(sent: list[Any]) -> Any:
        error = {"code": code, "message": "refused", "taskUUID": sent[0]["taskUUID"]}
        return JSONResponse({"data": [], "errors": [error]}, status_code=status)

    return answer


@pytest.fixture
def scripted_provider(
    make_provider: ProviderFactory, emulator: Emulator, scripted: tuple[str, list[Any]]
) -> tuple[RunwareProvider, list[Any]]:
    url, answers = scripted
    return make_provider(emulator, url=f"{url}/v1", max_retries=0), answers


@pytest.mark.parametrize("status", [200, 400])
@pytest.mark.parametrize("code", SAFETY_REFUSALS)
def test_a_safety_code_on_submit_is_a_refusal(
    scripted_provider: tuple[RunwareProvider, list[Any]], code: str, status: int
) -> None:
    provider, answers = scripted_provider
    answers.append(refusing(code, status=status))

    outcome = provider.submit(request(idempotency_key=f"edit-{code}"))

    assert outcome == Outcome.failed("nsfw", job_id=task_uuid_for(f"edit-{code}"))


@pytest.mark.parametrize("status", [200, 400])
@pytest.mark.parametrize("code", SAFETY_REFUSALS)
def test_a_safety_code_on_poll_is_a_refusal(
    scripted_provider: tuple[RunwareProvider, list[Any]], code: str, status: int
) -> None:
    provider, answers = scripted_provider
    answers.append(refusing(code, status=status))
    job_id = task_uuid_for("edit-poll-refused")

    assert provider.poll(job_id) == Outcome.failed("nsfw", job_id=job_id)


@pytest.mark.parametrize("status", [200, 400])
@pytest.mark.parametrize("code", OUR_CREDENTIALS)
def test_a_credentials_code_is_our_auth_error_not_the_callers(
    scripted_provider: tuple[RunwareProvider, list[Any]], code: str, status: int
) -> None:
    provider, answers = scripted_provider
    answers.extend([refusing(code, status=status), refusing(code, status=status)])

    with pytest.raises(ProviderAuthError) as submitted:
        provider.submit(request())
    with pytest.raises(ProviderAuthError) as polled:
        provider.poll(task_uuid_for("edit-auth"))

    for caught in (submitted, polled):
        assert (caught.value.code, caught.value.status) == ("provider_auth", 502)
        assert caught.value.provider_details["providerCode"] == code


# --- the fake provider --------------------------------------------------------------------


def test_the_fake_provider_answers_like_runware_without_a_call() -> None:
    fake = FakeProvider()

    submitted = fake.submit(request(idempotency_key="edit-1", output_format="PNG"))

    assert submitted.status == "pending"
    assert submitted.job_id is not None
    assert submitted.job_id.startswith("fake-")
    again = fake.submit(request(idempotency_key="edit-1", output_format="PNG"))
    assert again.job_id == submitted.job_id
    outcome = fake.poll(submitted.job_id)
    assert image_format(outcome) == ("PNG", (48, 32))
    assert outcome.content_type == "image/png"
    assert outcome.cost_micros == 0
    assert outcome.metrics == {"fake": 1.0}


def test_the_fake_provider_answers_a_job_of_another_process() -> None:
    job_id = "fake-5b0f7a3e-0000-5000-8000-000000000000"

    first, again = FakeProvider().poll(job_id), FakeProvider().poll(job_id)

    assert image_format(first)[0] == "WEBP"
    assert first.image == again.image
    assert first.metrics == {"fake": 1.0}
