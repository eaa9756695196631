"""The Replicate client against the Replicate emulator, over real HTTP.

Everything between the client and the emulator is the documented wire protocol: creates
with `Prefer: wait`, polling, cancelling, file uploads, problem+json errors and faults
queued through the emulator's `/__emulator/faults`.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from PIL import Image

from aiimage.errors import ConfigurationError
from aiimage.providers import replicate
from aiimage.providers.base import (
    GenerationRequest,
    ImageInput,
    Outcome,
    ProviderRateLimitedError,
    ProviderRejectedError,
    ProviderUnavailableError,
)
from aiimage.providers.codes import TIMEOUT_CODE
from aiimage.providers.outputs import OutputPolicy
from aiimage.providers.replicate import MODELS, ReplicateProvider, map_error
from infra.emulators.replicate import MISSING, CreateRecord, PredictTime, create_app
from tests.functional import provider_emulators
from tests.functional.provider_emulators import (
    RecordingSleep,
    png,
    serving,
    serving_image,
    transport,
)
from tests.generation import generation_request

TOKEN = "r8_emulatorTestToken0123456789abcdef"
ESRGAN, GFPGAN, CODEFORMER = "nightmareai/real-esrgan", "tencentarc/gfpgan", "sczhou/codeformer"
PROCESSING_SECONDS = 3.0  # the slow emulator's run time: well beyond a 1 s `Prefer: wait`
POLL_ATTEMPTS = 200
POLL_INTERVAL = 0.05


@dataclass
class Emulator(provider_emulators.Emulator):
    def reset(self) -> None:
        super().reset()
        self.app.state.requests.clear()
        self.app.state.received.clear()
        self.app.state.predict_time = None
        self.app.state.finished_wait = "succeeded"

    def answer_finished_waits_as_processing(self) -> None:
        """A wait that finishes answers `processing` with the output, as the API often does."""
        self.app.state.finished_wait = "processing"

    def script_predict_time(self, seconds: PredictTime) -> None:
        self.app.state.predict_time = seconds

    @property
    def creates(self) -> list[CreateRecord]:
        return list(self.app.state.requests)

    def received(self, method: str, path: str) -> int:
        return sum(1 for r in self.app.state.received if r == f"{method} /v1{path}")


@pytest.fixture(scope="module")
def fast_server() -> Iterator[Emulator]:
    yield from serving(create_app(api_token=TOKEN, processing_seconds=0.0), Emulator)


@pytest.fixture(scope="module")
def slow_server() -> Iterator[Emulator]:
    yield from serving(create_app(api_token=TOKEN, processing_seconds=PROCESSING_SECONDS), Emulator)


@pytest.fixture
def emulator(fast_server: Emulator) -> Emulator:
    fast_server.reset()
    return fast_server


@pytest.fixture
def slow_emulator(slow_server: Emulator) -> Emulator:
    slow_server.reset()
    return slow_server


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


ProviderFactory = Callable[..., ReplicateProvider]


@pytest.fixture
def make_provider(sleep: RecordingSleep) -> Iterator[ProviderFactory]:
    with ExitStack() as made:

        def make(
            emulator: Emulator,
            *,
            token: str = TOKEN,
            max_retries: int = 2,
            outputs: OutputPolicy | None = None,
            downloader: httpx.Client | None = None,
        ) -> ReplicateProvider:
            wire = transport(
                "replicate",
                f"{emulator.url}/v1",
                token,
                map_error=map_error,
                sleep=sleep,
                max_retries=max_retries,
            )
            provider = ReplicateProvider(
                transport=wire,
                # The emulator serves its outputs on its own (loopback) origin.
                outputs=outputs or OutputPolicy.of(emulator.url, allow_loopback=True),
                downloader=downloader,
            )
            return made.enter_context(closing(provider))

        yield make


@pytest.fixture
def provider(emulator: Emulator, make_provider: ProviderFactory) -> ReplicateProvider:
    return make_provider(emulator)


def request(model: str = ESRGAN, data: bytes | None = None, **options: Any) -> GenerationRequest:
    url = options.pop("url", None)
    image = ImageInput(data if data is not None else png(), "image/png", url=url)
    return generation_request(model, image, **{"wait_seconds": 10.0, **options})


def size_of(outcome: Outcome) -> tuple[int, int]:
    assert outcome.status == "succeeded", outcome
    assert outcome.image is not None
    assert outcome.content_type == "image/png"
    with Image.open(io.BytesIO(outcome.image)) as image:
        assert image.format == "PNG"
        return image.size


def poll_until_done(provider: ReplicateProvider, job_id: str) -> Outcome:
    return provider_emulators.poll_until_done(
        provider, job_id, attempts=POLL_ATTEMPTS, interval=POLL_INTERVAL
    )


# --- models and their inputs -------------------------------------------------------------


@pytest.mark.parametrize("scale", [2, 4])
def test_real_esrgan_upscales_by_the_scale(
    provider: ReplicateProvider, emulator: Emulator, scale: int
) -> None:
    outcome = provider.submit(request(ESRGAN, png(48, 32), scale=scale))

    assert size_of(outcome) == (48 * scale, 32 * scale)
    assert outcome.job_id
    (create,) = emulator.creates
    assert create.version == MODELS[ESRGAN].version
    assert create.input == {"image": "<data>", "scale": scale, "face_enhance": False}


def test_face_enhance_is_passed_through(provider: ReplicateProvider, emulator: Emulator) -> None:
    outcome = provider.submit(request(ESRGAN, scale=2, face_enhance=True))

    assert size_of(outcome) == (96, 64)
    assert emulator.creates[0].input["face_enhance"] is True


def test_gfpgan_sends_the_image_as_img(provider: ReplicateProvider, emulator: Emulator) -> None:
    outcome = provider.submit(request(GFPGAN, scale=4))

    assert size_of(outcome) == (48 * 4, 32 * 4)
    (create,) = emulator.creates
    assert create.version == MODELS[GFPGAN].version
    assert create.input == {"img": "<data>", "version": "v1.4", "scale": 4}


@pytest.mark.parametrize(("strength", "fidelity"), [(0.3, 0.3), (None, 0.5)])
def test_codeformer_fidelity_comes_from_the_strength(
    provider: ReplicateProvider, emulator: Emulator, strength: float | None, fidelity: float
) -> None:
    outcome = provider.submit(request(CODEFORMER, strength=strength))

    assert size_of(outcome) == (96, 64)  # CodeFormer upscales by 2 unless told otherwise
    assert emulator.creates[0].input == {
        "image": "<data>",
        "codeformer_fidelity": fidelity,
        "background_enhance": True,
        "face_upsample": True,
        "upscale": 2,
    }


def test_an_unknown_model_is_a_configuration_error(provider: ReplicateProvider) -> None:
    with pytest.raises(ConfigurationError):
        provider.submit(request("someone/else"))


# --- how the input image travels -----------------------------------------------------------


def test_a_small_image_travels_as_a_data_uri(
    provider: ReplicateProvider, emulator: Emulator
) -> None:
    provider.submit(request(scale=2))

    assert emulator.creates[0].image_source == "data"
    assert emulator.received("POST", "/files") == 0


def test_a_large_image_is_uploaded_first(provider: ReplicateProvider, emulator: Emulator) -> None:
    data = png(320, 320, noisy=True)
    assert len(data) > replicate.MAX_DATA_URI_BYTES

    outcome = provider.submit(request(data=data, scale=2))

    assert size_of(outcome) == (640, 640)
    (create,) = emulator.creates
    assert create.image_source == "file"
    assert create.image_ref.startswith(f"{emulator.url}/v1/files/")
    assert emulator.received("POST", "/files") == 1


@pytest.fixture(scope="module")
def image_host() -> Iterator[str]:
    yield from serving_image()


def test_an_image_url_is_passed_through(
    provider: ReplicateProvider, emulator: Emulator, image_host: str
) -> None:
    url = f"{image_host}/input.png?X-Amz-Signature=abc"
    outcome = provider.submit(request(data=png(), url=url, scale=4))

    assert size_of(outcome) == (80, 40)  # the URL's picture, not the inline bytes
    assert emulator.creates[0].image_source == "url"
    assert emulator.creates[0].image_ref == url


# --- sync and async runs ------------------------------------------------------------------


@pytest.mark.parametrize(("wait", "header"), [(5.9, "wait=5"), (0.2, "wait=1"), (500, "wait=60")])
def test_prefer_wait_is_the_callers_wait_within_replicates_bounds(
    provider: ReplicateProvider, emulator: Emulator, wait: float, header: str
) -> None:
    outcome = provider.submit(request(scale=2, wait_seconds=wait))

    assert outcome.status == "succeeded"
    assert emulator.creates[0].prefer == header


def test_a_wait_answered_processing_with_its_output_is_done_without_a_poll(
    provider: ReplicateProvider, emulator: Emulator
) -> None:
    # The API marks the run terminal just after `Prefer: wait` answers: 201 `processing`
    # with `output` filled, which the official client (replicate.run) takes as done.
    emulator.answer_finished_waits_as_processing()

    outcome = provider.submit(request(scale=2))

    assert size_of(outcome) == (96, 64)
    assert emulator.received("POST", "/predictions") == 1
    polls = [r for r in emulator.app.state.received if r.startswith("GET /v1/predictions")]
    assert polls == []
    # No metric before the terminal state: the model's estimate (4,500 micro-USD), never 0.
    assert (outcome.cost_micros, outcome.metrics) == (4_500, {})


def test_a_wait_answered_processing_without_output_is_pending(
    make_provider: ProviderFactory, slow_emulator: Emulator
) -> None:
    slow_emulator.answer_finished_waits_as_processing()
    provider = make_provider(slow_emulator)

    submitted = provider.submit(request(scale=2, wait_seconds=1))

    assert (submitted.status, submitted.cost_micros) == ("pending", None)


def test_a_slow_run_is_pending_then_polled_to_success(
    make_provider: ProviderFactory, slow_emulator: Emulator
) -> None:
    provider = make_provider(slow_emulator)

    submitted = provider.submit(request(scale=2, wait_seconds=1))

    assert submitted.status == "pending"
    assert submitted.job_id is not None
    finished = poll_until_done(provider, submitted.job_id)
    assert size_of(finished) == (96, 64)
    assert finished.job_id == submitted.job_id
    assert "predict_time" in finished.metrics


def test_a_cancelled_prediction_polls_as_failed(
    make_provider: ProviderFactory, slow_emulator: Emulator
) -> None:
    provider = make_provider(slow_emulator)
    submitted = provider.submit(request(scale=2, wait_seconds=1))
    assert submitted.status == "pending"
    assert submitted.job_id is not None

    provider.cancel(submitted.job_id)

    outcome = provider.poll(submitted.job_id)
    assert (outcome.status, outcome.error, outcome.job_id) == (
        "failed",
        "canceled",
        submitted.job_id,
    )
    assert outcome.image is None
    provider.cancel(submitted.job_id)  # already terminal: nothing to do, no error


def test_cancelling_an_unknown_prediction_is_not_an_error(provider: ReplicateProvider) -> None:
    provider.cancel("doesnotexist0000000000000a")


def test_polling_an_unknown_prediction_is_rejected(provider: ReplicateProvider) -> None:
    with pytest.raises(ProviderRejectedError) as caught:
        provider.poll("doesnotexist0000000000000a")
    assert caught.value.details == {"providerStatus": 404}


def test_an_invalid_input_is_rejected_without_echoing_it(provider: ReplicateProvider) -> None:
    with pytest.raises(ProviderRejectedError) as caught:
        provider.submit(request(scale=20))  # real-esrgan takes 0..10

    assert caught.value.details == {"providerStatus": 422}
    assert "scale" not in str(caught.value)


# --- faults -------------------------------------------------------------------------------


def test_a_long_rate_limit_is_not_waited_for(
    provider: ReplicateProvider, emulator: Emulator, sleep: RecordingSleep
) -> None:
    emulator.fault("rate_limit", retry_after=30)

    with pytest.raises(ProviderRateLimitedError) as caught:
        provider.submit(request(scale=2))

    assert caught.value.retry_after == 30
    assert sleep.delays == []


def test_a_create_that_outlasts_its_wait_is_not_retried(
    provider: ReplicateProvider, emulator: Emulator
) -> None:
    # wait_seconds=1: Prefer wait=1 and a read timeout of 1 s + margin, below the delay.
    emulator.fault("slow", delay=replicate.WAIT_MARGIN_SECONDS + 3, path_contains="/predictions")

    with pytest.raises(ProviderUnavailableError) as caught:
        provider.submit(request(scale=2, wait_seconds=1))

    assert caught.value.code == TIMEOUT_CODE
    # The emulator created the prediction (the run goes on); a retry would have made two.
    assert len(emulator.creates) == 1
    assert emulator.received("POST", "/predictions") == 1


def test_a_slow_poll_within_the_timeout_succeeds(
    provider: ReplicateProvider, emulator: Emulator
) -> None:
    submitted = provider.submit(request(scale=2))
    assert submitted.job_id is not None
    emulator.fault("slow", delay=0.3)

    assert provider.poll(submitted.job_id).status == "succeeded"


def test_a_failed_run_is_a_failed_outcome_with_the_providers_error(
    provider: ReplicateProvider, emulator: Emulator
) -> None:
    message = "NSFW content detected. Try running it again, or try a different prompt."
    emulator.fault("failed", message=message)

    outcome = provider.submit(request(scale=2))

    assert outcome.status == "failed"
    assert outcome.error == message
    assert outcome.job_id
    assert outcome.image is None


def test_a_failed_upload_is_mapped(provider: ReplicateProvider, emulator: Emulator) -> None:
    emulator.fault("server_error", status=500, path_contains="/files")

    with pytest.raises(ProviderUnavailableError):
        provider.submit(request(data=png(320, 320, noisy=True), scale=2))

    assert emulator.received("POST", "/predictions") == 0


# --- outputs ------------------------------------------------------------------------------


def test_an_output_that_is_not_an_image_is_refused(
    make_provider: ProviderFactory, emulator: Emulator
) -> None:
    def html(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, html="<html>login</html>")

    downloader = httpx.Client(transport=httpx.MockTransport(html))
    provider = make_provider(emulator, downloader=downloader)

    with pytest.raises(ProviderUnavailableError, match="not an image"):
        provider.submit(request(scale=2))


def test_an_output_over_the_size_cap_is_refused(
    provider: ReplicateProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ReplicateProvider, "max_output_bytes", 100)

    with pytest.raises(ProviderUnavailableError, match="too large"):
        provider.submit(request(scale=4))


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://replicate.delivery/x.png", True),
        ("https://pbxt.replicate.delivery/x.png", True),
        ("https://replicate.delivery:8443/x.png", False),  # the port is part of the origin
        ("http://replicate.delivery/x.png", False),  # and so is the scheme
        ("https://replicate.delivery.evil.example/x.png", False),
        ("https://evilreplicate.delivery/x.png", False),
        ("http://169.254.169.254/", False),
    ],
)
def test_the_output_allow_list_admits_replicate_delivery_and_its_subdomains(
    url: str, allowed: bool
) -> None:
    provider = ReplicateProvider.from_settings()
    try:
        assert provider.is_allowed(url) is allowed
    finally:
        provider.close()


# --- error mapping and configuration --------------------------------------------------------


def _response(status: int, body: Any = None, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, json=body, headers=headers, request=httpx.Request("GET", "https://x/v1")
    )


def test_no_credit_is_our_problem_not_the_callers() -> None:
    error = map_error(_response(402, {"detail": "Payment required", "status": 402}))

    assert isinstance(error, ProviderUnavailableError)
    assert error.code == "provider_payment_required"
    assert error.status == 502


def test_retry_after_comes_from_the_body_or_the_header() -> None:
    from_body = map_error(
        _response(429, {"detail": "throttled", "status": 429, "retry_after": 4.2})
    )
    from_header = map_error(_response(429, {"detail": "throttled"}, **{"Retry-After": "7"}))

    assert isinstance(from_body, ProviderRateLimitedError)
    assert from_body.retry_after == 5
    assert isinstance(from_header, ProviderRateLimitedError)
    assert from_header.retry_after == 7


def test_an_html_error_page_is_unavailable() -> None:
    page = httpx.Response(
        524, text="<html>cloudflare</html>", request=httpx.Request("POST", "https://x/v1")
    )
    error = map_error(page)

    assert isinstance(error, ProviderUnavailableError)
    assert error.details == {"providerStatus": 524}


def test_from_settings_talks_to_the_configured_api(
    settings_env: Callable[..., None], emulator: Emulator
) -> None:
    settings_env(REPLICATE_API_TOKEN=TOKEN, REPLICATE_BASE_URL=f"{emulator.url}/v1")
    provider = ReplicateProvider.from_settings()
    try:
        outcome = provider.submit(request(GFPGAN, scale=2))
    finally:
        provider.close()

    assert size_of(outcome) == (96, 64)
    assert len(emulator.creates) == 1


# --- what each run cost (metrics.predict_time x the model's hardware price) ----------------
# The default price table: real-esrgan and gfpgan on gpu-t4 (225 micro-USD a second,
# estimates 4,500 and 2,250), codeformer on gpu-l40s (975 a second, estimate 9,750).


@pytest.mark.parametrize(
    ("model", "seconds", "micros"),
    [
        (ESRGAN, 8.2, 1_845),  # 8.2 s x 225 = 1,845
        (GFPGAN, 4.0, 900),
        (CODEFORMER, 0.0127, 13),  # 12.38 rounded up
        (ESRGAN, MISSING, 4_500),  # no metric: the model's estimate, never 0
        (CODEFORMER, MISSING, 9_750),
    ],
)
def test_a_succeeded_prediction_costs_its_predict_time_on_the_models_hardware(
    provider: ReplicateProvider,
    emulator: Emulator,
    model: str,
    seconds: PredictTime,
    micros: int,
) -> None:
    emulator.script_predict_time(seconds)

    outcome = provider.submit(request(model, scale=2))

    assert outcome.status == "succeeded", outcome
    assert outcome.cost_micros == micros
    assert outcome.metrics == ({} if seconds == MISSING else {"predict_time": seconds})


def test_the_measured_predict_time_is_billed_when_nothing_is_scripted(
    make_provider: ProviderFactory, slow_emulator: Emulator
) -> None:
    provider = make_provider(slow_emulator)
    submitted = provider.submit(request(scale=2, wait_seconds=1))
    assert submitted.status == "pending"
    assert submitted.cost_micros is None  # not terminal: nothing known, nothing billed yet
    assert submitted.job_id is not None

    finished = poll_until_done(provider, submitted.job_id)

    seconds = finished.metrics["predict_time"]
    assert seconds >= PROCESSING_SECONDS
    assert finished.cost_micros == math.ceil(Decimal(str(seconds)) * 225)


@pytest.mark.parametrize(("seconds", "micros"), [(2.0, 450), (MISSING, 4_500)])
def test_a_failed_prediction_that_ran_is_billed_too(
    provider: ReplicateProvider, emulator: Emulator, seconds: PredictTime, micros: int
) -> None:
    emulator.script_predict_time(seconds)
    emulator.fault("failed", message="CUDA out of memory")

    outcome = provider.submit(request(scale=2))

    assert (outcome.status, outcome.error) == ("failed", "CUDA out of memory")
    assert outcome.cost_micros == micros


@pytest.mark.parametrize(("seconds", "micros"), [(1.5, 338), (MISSING, 4_500)])
def test_a_canceled_prediction_is_billed_for_the_time_it_ran(
    make_provider: ProviderFactory, slow_emulator: Emulator, seconds: PredictTime, micros: int
) -> None:
    provider = make_provider(slow_emulator)
    slow_emulator.script_predict_time(seconds)
    submitted = provider.submit(request(scale=2, wait_seconds=1))
    assert submitted.job_id is not None

    provider.cancel(submitted.job_id)
    outcome = provider.poll(submitted.job_id)

    assert (outcome.status, outcome.error) == ("failed", "canceled")
    assert outcome.cost_micros == micros  # 1.5 s x 225 = 337.5, rounded up


def test_the_emulator_reports_metrics_on_terminal_states_only(slow_emulator: Emulator) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Prefer": "wait=1"}
    image = "data:image/png;base64," + base64.b64encode(png()).decode()
    body = {"version": MODELS[ESRGAN].version, "input": {"image": image, "scale": 2}}
    created = httpx.post(
        f"{slow_emulator.url}/v1/predictions", json=body, headers=headers, timeout=10
    ).json()
    assert created["status"] == "processing"
    assert created["metrics"] == {}
    assert created["model"] == ESRGAN  # priced by owner/name although created by version

    canceled = httpx.post(
        f"{slow_emulator.url}/v1/predictions/{created['id']}/cancel", headers=headers
    ).json()
    assert canceled["status"] == "canceled"
    assert set(canceled["metrics"]) == {"predict_time", "total_time"}
    assert canceled["metrics"]["total_time"] >= canceled["metrics"]["predict_time"] > 0


def test_an_aborted_prediction_never_ran_and_costs_nothing(provider: ReplicateProvider) -> None:
    # Its deadline passed before it started (Cancel-After): Replicate bills nothing.
    body = b'{"id": "abc", "model": "nightmareai/real-esrgan", "status": "aborted", "metrics": {}}'

    outcome = provider._outcome_of(body)

    assert (outcome.status, outcome.cost_micros) == ("failed", None)
