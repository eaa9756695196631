"""The Workers AI client against the Workers AI emulator, over real HTTP.

Everything between the client and the emulator is the documented wire protocol: JSON runs
answered with PNG bytes, the v4 error envelope with its codes, and faults queued through
the emulator's `/__emulator/faults`. The envelope's success branch (JSON-output models),
which the SD models never take, is driven by a scripted server speaking the same shapes.
"""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from PIL import Image, ImageChops, ImageDraw

from aiimage.errors import AppError, ConfigurationError
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
from aiimage.providers.codes import TIMEOUT_CODE
from aiimage.providers.workers_ai import (
    MODELS,
    SD15_IMG2IMG,
    SDXL_BASE,
    WorkersAiProvider,
    map_error,
    seconds_until_utc_midnight,
)
from infra.emulators.server import serve_in_thread
from infra.emulators.workers_ai import create_app
from tests.functional import provider_emulators
from tests.functional.provider_emulators import RecordingSleep, serving, transport
from tests.generation import generation_request

TOKEN = "cf-emulator-test-token-0123456789abcdef"
ACCOUNT = "0123456789abcdef0123456789abcdef"
NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # 12 h before the daily reset
PROMPT = "a vivid photo of a lighthouse"
CLIENT_TIMEOUT = 2.0


@dataclass
class Emulator(provider_emulators.Emulator):
    @property
    def base_url(self) -> str:
        return f"{self.url}/client/v4"

    def reset(self) -> None:
        super().reset()
        assert httpx.delete(f"{self.url}/__emulator/requests").status_code == 204

    @property
    def requests(self) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/__emulator/requests")
        assert response.status_code == 200
        records: list[dict[str, Any]] = response.json()
        return records

    def run(self, model: str, body: Any, *, token: str = TOKEN, account: str = ACCOUNT) -> Any:
        """A raw run request, to check the emulator's own protocol."""
        url = f"{self.base_url}/accounts/{account}/ai/run/{model}"
        headers = {"Authorization": f"Bearer {token}"}
        if isinstance(body, bytes):
            return httpx.post(url, content=body, headers=headers, timeout=10)
        return httpx.post(url, json=body, headers=headers, timeout=10)


@pytest.fixture(scope="module")
def server() -> Iterator[Emulator]:
    yield from serving(create_app(api_token=TOKEN, account_id=ACCOUNT), Emulator)


@pytest.fixture
def emulator(server: Emulator) -> Emulator:
    server.reset()
    return server


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


ProviderFactory = Callable[..., WorkersAiProvider]


@pytest.fixture
def make_provider(sleep: RecordingSleep) -> Iterator[ProviderFactory]:
    with ExitStack() as made:

        def make(
            base_url: str, *, token: str = TOKEN, account: str = ACCOUNT, max_retries: int = 2
        ) -> WorkersAiProvider:
            wire = transport(
                "workers_ai",
                base_url,
                token,
                timeout=CLIENT_TIMEOUT,
                max_retries=max_retries,
                # A fixed clock: the 3036 delay (until midnight UTC) is then known.
                map_error=functools.partial(map_error, now=lambda: NOON),
                sleep=sleep,
            )
            provider = WorkersAiProvider(account_id=account, transport=wire)
            return made.enter_context(closing(provider))

        yield make


@pytest.fixture
def provider(emulator: Emulator, make_provider: ProviderFactory) -> WorkersAiProvider:
    return make_provider(emulator.base_url)


def picture(width: int = 64, height: int = 48, fmt: str = "PNG") -> bytes:
    """A colourful picture: every style visibly changes it."""
    image = Image.new("RGB", (width, height), (40, 90, 160))
    draw = ImageDraw.Draw(image)
    draw.rectangle((4, 4, width // 2, height // 2), fill=(220, 60, 30))
    draw.ellipse((width // 3, height // 3, width - 4, height - 4), fill=(30, 200, 90))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def request(
    model: str = SD15_IMG2IMG, data: bytes | None = None, **options: Any
) -> GenerationRequest:
    image = ImageInput(picture() if data is None else data, "image/png")
    values: dict[str, Any] = {"prompt": PROMPT, "wait_seconds": 10.0, **options}
    return generation_request(model, image, **values)


def decoded(outcome: Outcome) -> Image.Image:
    assert outcome.status == "succeeded", outcome
    assert outcome.image is not None
    assert outcome.content_type == "image/png"
    image = Image.open(io.BytesIO(outcome.image))
    assert image.format == "PNG"
    image.load()
    return image


def assert_token_hidden(exc: AppError) -> None:
    for text in (str(exc), repr(exc), exc.message, repr(exc.details), repr(exc.headers)):
        assert TOKEN not in text


# --- runs --------------------------------------------------------------------------------


def test_sd15_img2img_returns_a_restyled_png_of_the_input_size(
    provider: WorkersAiProvider, emulator: Emulator
) -> None:
    source = picture(64, 48)

    outcome = provider.submit(request(SD15_IMG2IMG, source, strength=0.7, guidance=9.0))

    result = decoded(outcome)
    assert result.size == (64, 48)
    # Workers AI reports no usage: the model's 1,000 neurons at 11,000 micro-USD per 1,000.
    assert outcome.cost_micros == 11_000
    original = Image.open(io.BytesIO(source)).convert("RGB")
    assert ImageChops.difference(result.convert("RGB"), original).getbbox() is not None
    (run,) = emulator.requests
    assert run["account"] == ACCOUNT
    assert run["model"] == SD15_IMG2IMG  # the `@` and `/` reached the route unencoded
    assert run["body"] == {
        "prompt": PROMPT,
        "num_steps": 20,
        "guidance": 9.0,
        "image_b64": len(source),
        "strength": 0.7,
    }


@pytest.mark.parametrize(
    ("strength", "sent"), [(1.0, 0.95), (0.99, 0.95), (0.0, 0.05), (None, 0.5), (0.3, 0.3)]
)
def test_img2img_strength_is_always_below_one(
    provider: WorkersAiProvider, emulator: Emulator, strength: float | None, sent: float
) -> None:
    provider.submit(request(SD15_IMG2IMG, strength=strength))

    assert emulator.requests[0]["body"]["strength"] == sent


def test_sdxl_steps_are_capped_at_the_api_maximum(
    provider: WorkersAiProvider, emulator: Emulator
) -> None:
    source = picture(80, 64, "JPEG")

    outcome = provider.submit(request(SDXL_BASE, source, steps=50, negative_prompt="blurry, text"))

    assert decoded(outcome).size == (80, 64)
    body = emulator.requests[0]["body"]
    assert body["num_steps"] == 20
    assert body["negative_prompt"] == "blurry, text"
    assert body["image_b64"] == len(source)


def test_fewer_steps_are_sent_as_asked(provider: WorkersAiProvider, emulator: Emulator) -> None:
    provider.submit(request(SDXL_BASE, steps=8))

    assert emulator.requests[0]["body"]["num_steps"] == 8


def test_sdxl_without_an_image_is_text_to_image(
    provider: WorkersAiProvider, emulator: Emulator
) -> None:
    outcome = provider.submit(request(SDXL_BASE, b""))

    assert decoded(outcome).size == (1024, 1024)  # the API's default size
    assert outcome.cost_micros == 22_000  # SDXL: 2,000 neurons
    body = emulator.requests[0]["body"]
    assert "image_b64" not in body
    assert "strength" not in body


def test_sd15_img2img_without_an_image_is_refused_before_sending(
    provider: WorkersAiProvider, emulator: Emulator
) -> None:
    with pytest.raises(ProviderRejectedError):
        provider.submit(request(SD15_IMG2IMG, b""))

    assert emulator.requests == []


@pytest.mark.parametrize("prompt", [None, "", "   "])
def test_a_missing_prompt_is_refused_before_sending(
    provider: WorkersAiProvider, emulator: Emulator, prompt: str | None
) -> None:
    with pytest.raises(ProviderRejectedError):
        provider.submit(request(SD15_IMG2IMG, prompt=prompt))

    assert emulator.requests == []


def test_a_model_outside_the_catalog_is_refused_before_sending(
    provider: WorkersAiProvider, emulator: Emulator
) -> None:
    assert "@cf/lykon/dreamshaper-8-lcm" not in MODELS
    with pytest.raises(ProviderRejectedError):
        provider.submit(request("@cf/lykon/dreamshaper-8-lcm"))

    assert emulator.requests == []


def test_an_unknown_model_is_rejected_by_the_api(emulator: Emulator, sleep: RecordingSleep) -> None:
    wire = transport(
        "workers_ai",
        emulator.base_url,
        TOKEN,
        timeout=CLIENT_TIMEOUT,
        max_retries=2,
        map_error=map_error,
        sleep=sleep,
    )
    with pytest.raises(ProviderRejectedError) as caught:
        wire.request(
            "POST",
            f"/accounts/{ACCOUNT}/ai/run/@cf/nobody/no-such-model",
            idempotent=False,
            json={"prompt": PROMPT},
        )
    wire.close()

    assert caught.value.details == {"providerStatus": 400, "providerCode": 5007}
    assert len(emulator.requests) == 1


def test_poll_raises_and_cancel_is_a_no_op(provider: WorkersAiProvider, emulator: Emulator) -> None:
    with pytest.raises(ProviderRejectedError):
        provider.poll("anything")
    provider.cancel("anything")

    assert emulator.requests == []


def test_no_time_left_fails_before_sending(provider: WorkersAiProvider, emulator: Emulator) -> None:
    with pytest.raises(ProviderUnavailableError) as caught:
        provider.submit(request(wait_seconds=0))

    assert caught.value.code == TIMEOUT_CODE
    assert emulator.requests == []


# --- faults ------------------------------------------------------------------------------


def test_capacity_429_is_retried_after_retry_after(
    provider: WorkersAiProvider, emulator: Emulator, sleep: RecordingSleep
) -> None:
    emulator.fault("rate_limit", retry_after=1, code=3040)

    decoded(provider.submit(request()))

    assert sleep.delays == [1.0]
    assert len(emulator.requests) == 2


def test_a_retry_after_beyond_the_callers_wait_is_not_waited_for(
    provider: WorkersAiProvider, emulator: Emulator, sleep: RecordingSleep
) -> None:
    emulator.fault("rate_limit", retry_after=5, code=3040)

    with pytest.raises(ProviderRateLimitedError) as caught:
        provider.submit(request(wait_seconds=2))

    assert caught.value.retry_after == 5
    assert sleep.delays == []
    assert len(emulator.requests) == 1


def test_daily_quota_3036_waits_for_midnight_utc_and_is_not_retried(
    provider: WorkersAiProvider, emulator: Emulator, sleep: RecordingSleep
) -> None:
    emulator.fault("rate_limit", code=3036, retry_after=1)

    with pytest.raises(ProviderRateLimitedError) as caught:
        provider.submit(request())

    assert caught.value.retry_after == 12 * 3600  # NOON → next 00:00 UTC
    assert sleep.delays == []
    assert len(emulator.requests) == 1


@pytest.mark.parametrize(
    ("now", "seconds"),
    [
        (datetime(2026, 11, 20, 23, 59, 30, tzinfo=UTC), 30),
        (datetime(2026, 11, 20, 0, 0, tzinfo=UTC), 86400),
        (datetime(2026, 12, 31, 18, 0, 0, 500_000, tzinfo=UTC), 6 * 3600),
    ],
)
def test_seconds_until_utc_midnight(now: datetime, seconds: int) -> None:
    assert seconds_until_utc_midnight(now) == seconds


def test_408_request_timeout_is_unavailable(
    provider: WorkersAiProvider, emulator: Emulator, sleep: RecordingSleep
) -> None:
    emulator.fault("server_error", status=408)

    with pytest.raises(ProviderUnavailableError) as caught:
        provider.submit(request())

    assert caught.value.details == {"providerStatus": 408, "providerCode": 3007}
    assert len(emulator.requests) == 1


def test_a_slow_answer_beyond_the_timeout_is_not_retried(
    provider: WorkersAiProvider, emulator: Emulator, sleep: RecordingSleep
) -> None:
    emulator.fault("slow", delay=CLIENT_TIMEOUT + 1.5)

    with pytest.raises(ProviderUnavailableError) as caught:
        provider.submit(request())

    assert caught.value.code == TIMEOUT_CODE
    assert sleep.delays == []
    assert len(emulator.requests) == 1  # a run may be billed: never sent twice


def test_the_read_timeout_never_exceeds_the_callers_wait(
    provider: WorkersAiProvider, emulator: Emulator
) -> None:
    emulator.fault("slow", delay=1.5)  # within the client timeout, beyond the wait

    with pytest.raises(ProviderUnavailableError) as caught:
        provider.submit(request(wait_seconds=0.5))

    assert caught.value.code == TIMEOUT_CODE


def test_a_slow_answer_within_the_timeout_succeeds(
    provider: WorkersAiProvider, emulator: Emulator
) -> None:
    emulator.fault("slow", delay=0.2)

    decoded(provider.submit(request()))


@pytest.mark.parametrize(
    ("options", "status", "code"),
    [({}, 400, 5004), ({"code": 3006}, 413, 3006), ({"code": 3042}, 404, 3042)],
)
def test_a_failed_run_is_rejected_with_the_provider_code(
    provider: WorkersAiProvider,
    emulator: Emulator,
    options: dict[str, Any],
    status: int,
    code: int,
) -> None:
    emulator.fault("failed", message=f"the prompt was {PROMPT}", **options)

    with pytest.raises(ProviderRejectedError) as caught:
        provider.submit(request())

    assert caught.value.details == {"providerStatus": status, "providerCode": code}
    # The provider's message (which may quote the input) stays out of our error.
    assert PROMPT not in str(caught.value)


def test_a_fault_applies_only_to_its_path(provider: WorkersAiProvider, emulator: Emulator) -> None:
    emulator.fault("server_error", status=500, path_contains="stable-diffusion-xl")

    decoded(provider.submit(request(SD15_IMG2IMG)))
    with pytest.raises(ProviderUnavailableError):
        provider.submit(request(SDXL_BASE))


# --- credentials -------------------------------------------------------------------------


def test_another_account_is_a_provider_auth_error(
    emulator: Emulator, make_provider: ProviderFactory
) -> None:
    provider = make_provider(emulator.base_url, account="f" * 32)

    with pytest.raises(ProviderAuthError) as caught:
        provider.submit(request())

    assert caught.value.provider_details == {"providerStatus": 403, "providerCode": 10000}
    assert caught.value.details is None  # for the operators' log, not for the caller


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("rate_limit", {"code": 3036}),
        ("server_error", {"status": 502, "count": 3}),
        ("malformed", {}),
        ("failed", {"message": TOKEN}),
        ("auth", {}),
    ],
)
def test_errors_never_carry_the_token(
    provider: WorkersAiProvider, emulator: Emulator, kind: str, options: dict[str, Any]
) -> None:
    emulator.fault(kind, **options)

    with pytest.raises(AppError) as caught:
        provider.submit(request())

    assert_token_hidden(caught.value)


def test_from_settings_talks_to_the_configured_endpoint(
    emulator: Emulator, settings_env: Callable[..., None]
) -> None:
    settings_env(
        CLOUDFLARE_ACCOUNT_ID=ACCOUNT,
        CLOUDFLARE_API_TOKEN=TOKEN,
        WORKERS_AI_BASE_URL=emulator.base_url,
    )
    provider = WorkersAiProvider.from_settings()
    try:
        decoded(provider.submit(request()))
    finally:
        provider.close()

    assert len(emulator.requests) == 1


def test_from_settings_needs_an_account_id(settings_env: Callable[..., None]) -> None:
    settings_env(CLOUDFLARE_API_TOKEN=TOKEN)

    with pytest.raises(ConfigurationError):
        WorkersAiProvider.from_settings()


def test_the_token_is_only_needed_for_a_request(
    emulator: Emulator, settings_env: Callable[..., None]
) -> None:
    settings_env(CLOUDFLARE_ACCOUNT_ID=ACCOUNT, WORKERS_AI_BASE_URL=emulator.base_url)
    provider = WorkersAiProvider.from_settings()  # no token yet: still constructible

    with pytest.raises(ConfigurationError):
        provider.submit(request())

    assert emulator.requests == []


# --- the error mapping -------------------------------------------------------------------


def envelope_error(code: int) -> dict[str, Any]:
    return {"success": False, "errors": [{"code": code, "message": "x"}], "messages": []}


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "retry_after"),
    [
        (429, envelope_error(3040), {"Retry-After": "3"}, ProviderRateLimitedError, 3),
        (429, envelope_error(3040), {}, ProviderRateLimitedError, 5),
        (429, envelope_error(3036), {}, ProviderRateLimitedError, 12 * 3600),
        (429, None, {"Retry-After": "7"}, ProviderRateLimitedError, 7),
        (403, envelope_error(10000), {}, ProviderAuthError, None),
        (400, envelope_error(10000), {}, ProviderAuthError, None),
        (403, envelope_error(5016), {}, ProviderAuthError, None),
        (408, envelope_error(3008), {}, ProviderUnavailableError, None),
        (400, envelope_error(5004), {}, ProviderRejectedError, None),
        (400, envelope_error(3003), {}, ProviderRejectedError, None),
        (413, envelope_error(3006), {}, ProviderRejectedError, None),
        (404, envelope_error(3042), {}, ProviderRejectedError, None),
        (405, None, {}, ProviderRejectedError, None),
        (502, None, {}, ProviderUnavailableError, None),
        (524, None, {}, ProviderUnavailableError, None),
    ],
)
def test_map_error(
    status: int,
    body: dict[str, Any] | None,
    headers: dict[str, str],
    expected: type[ProviderError],
    retry_after: int | None,
) -> None:
    content = b"<html>error</html>" if body is None else None
    response = httpx.Response(status, json=body, content=content, headers=headers)

    error = map_error(response, now=lambda: NOON)

    assert type(error) is expected
    if retry_after is not None:
        assert isinstance(error, ProviderRateLimitedError)
        assert error.retry_after == retry_after
    if body is not None and not isinstance(error, ProviderRateLimitedError):
        # A refusal of our key keeps the provider's answer for the log only.
        details = error.provider_details if isinstance(error, ProviderAuthError) else error.details
        assert details is not None
        assert details["providerCode"] == body["errors"][0]["code"]


# --- the JSON envelope (a scripted server: the SD models answer raw PNG) -----------------


@dataclass
class Scripted:
    url: str
    app: FastAPI


@pytest.fixture(scope="module")
def scripted() -> Iterator[Scripted]:
    app = FastAPI()
    app.state.answer = Response(b"", media_type="image/png")

    @app.post("/client/v4/accounts/{account}/ai/run/{model:path}")
    async def run() -> Response:
        answer: Response = app.state.answer
        return answer

    with serve_in_thread(app) as url:
        yield Scripted(f"{url}/client/v4", app)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def success(result: Any) -> JSONResponse:
    return JSONResponse({"success": True, "errors": [], "messages": [], "result": result})


@pytest.mark.parametrize(
    ("answer", "content_type"),
    [
        (success({"image": b64(picture())}), "image/png"),
        (success({"image": b64(picture(fmt="JPEG"))}), "image/jpeg"),
        (Response(picture(fmt="WEBP"), media_type="image/webp"), "image/webp"),
    ],
)
def test_an_image_answer_succeeds_with_its_sniffed_type(
    scripted: Scripted, make_provider: ProviderFactory, answer: Response, content_type: str
) -> None:
    scripted.app.state.answer = answer

    outcome = make_provider(scripted.url).submit(request())

    assert outcome.status == "succeeded"
    assert outcome.content_type == content_type
    assert outcome.image is not None
    Image.open(io.BytesIO(outcome.image)).verify()


def unlabelled(data: bytes) -> Response:
    """An answer with no Content-Type at all."""
    response = Response(data)
    del response.headers["content-type"]
    return response


@pytest.mark.parametrize(
    ("answer", "content_type"),
    [
        (Response(picture(), media_type="application/octet-stream"), "image/png"),
        (Response(picture(fmt="JPEG"), media_type="binary/octet-stream"), "image/jpeg"),
        (Response(picture(fmt="WEBP"), media_type="text/plain"), "image/webp"),
        (Response(picture(fmt="JPEG"), media_type="image/png"), "image/jpeg"),
        (unlabelled(picture()), "image/png"),
    ],
    ids=["octet-stream-png", "binary-jpeg", "text-plain-webp", "jpeg-labelled-png", "unlabelled"],
)
def test_a_binary_result_is_taken_by_its_bytes_not_its_label(
    scripted: Scripted, make_provider: ProviderFactory, answer: Response, content_type: str
) -> None:
    """The output schema promises the image bytes; a proxy or CDN may relabel them."""
    scripted.app.state.answer = answer

    outcome = make_provider(scripted.url).submit(request())

    assert outcome.status == "succeeded"
    assert outcome.content_type == content_type
    assert outcome.image is not None
    Image.open(io.BytesIO(outcome.image)).verify()


@pytest.mark.parametrize(
    "answer",
    [
        Response(b"GIF89a\x01\x00\x01\x00", media_type="application/octet-stream"),
        Response(b"%PDF-1.7 not an image", media_type="application/octet-stream"),
        unlabelled(b""),
        unlabelled(b"<html><body>502 Bad Gateway</body></html>"),
    ],
    ids=["octet-stream-gif", "octet-stream-pdf", "unlabelled-empty", "unlabelled-html"],
)
def test_a_binary_result_that_is_no_image_of_ours_is_malformed(
    scripted: Scripted, make_provider: ProviderFactory, answer: Response
) -> None:
    scripted.app.state.answer = answer

    with pytest.raises(ProviderUnavailableError) as caught:
        make_provider(scripted.url).submit(request())

    assert caught.value.code == "provider_malformed"


@pytest.mark.parametrize(
    "answer",
    [
        Response(b"", media_type="image/png"),
        Response(b"GIF89a-ish but not really", media_type="image/gif"),
        Response(b"<html>oops</html>", media_type="text/html"),
        Response(b'{"success": true, "result": {"ima', media_type="application/json"),
        success({"image": "not base64 !"}),
        success({"image": ""}),
        success({"image": b64(b"just text")}),
        success({"no_image": True}),
        success(None),
    ],
    ids=[
        "empty-png",
        "not-an-image",
        "html",
        "truncated-json",
        "bad-base64",
        "empty-base64",
        "base64-of-text",
        "no-image-field",
        "null-result",
    ],
)
def test_a_malformed_answer_is_unavailable(
    scripted: Scripted, make_provider: ProviderFactory, answer: Response
) -> None:
    scripted.app.state.answer = answer

    with pytest.raises(ProviderUnavailableError) as caught:
        make_provider(scripted.url).submit(request())

    assert caught.value.code == "provider_malformed"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (3040, ProviderRateLimitedError),
        (5004, ProviderRejectedError),
        (10000, ProviderAuthError),
        (9999, ProviderUnavailableError),
    ],
)
def test_an_envelope_failure_with_http_200_is_mapped_by_its_code(
    scripted: Scripted,
    make_provider: ProviderFactory,
    sleep: RecordingSleep,
    code: int,
    expected: type[ProviderError],
) -> None:
    scripted.app.state.answer = JSONResponse(envelope_error(code))

    with pytest.raises(expected):
        make_provider(scripted.url).submit(request())

    assert sleep.delays == []


# --- the emulator's own protocol ---------------------------------------------------------


def test_text_to_image_is_deterministic_per_prompt(emulator: Emulator) -> None:
    first = emulator.run(SDXL_BASE, {"prompt": "a red kite", "width": 256, "height": 320})
    again = emulator.run(SDXL_BASE, {"prompt": "a red kite", "width": 256, "height": 320})
    other = emulator.run(SDXL_BASE, {"prompt": "a blue boat", "width": 256, "height": 320})

    assert first.status_code == 200
    assert first.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(first.content)).size == (256, 320)
    assert first.content == again.content
    assert first.content != other.content


def test_the_image_int_array_is_accepted(emulator: Emulator) -> None:
    source = picture(32, 32)

    response = emulator.run(SD15_IMG2IMG, {"prompt": "mono", "image": list(source), "strength": 1})

    assert response.status_code == 200
    result = Image.open(io.BytesIO(response.content)).convert("RGB")
    assert result.size == (32, 32)
    red, green, blue = result.split()  # "mono" at full strength: grey
    assert red.tobytes() == green.tobytes() == blue.tobytes()
    assert emulator.requests[0]["body"]["image"] == len(source)


@pytest.mark.parametrize(
    ("model", "body", "status", "code"),
    [
        (SD15_IMG2IMG, b"not json", 400, 3003),
        (SD15_IMG2IMG, b"", 400, 3003),
        (SD15_IMG2IMG, ["a", "list"], 400, 3003),
        ("@cf/nobody/nothing", {"prompt": "x"}, 400, 5007),
        (SDXL_BASE, {}, 400, 3003),
        (SDXL_BASE, {"negative_prompt": "x"}, 400, 3003),
        (SDXL_BASE, {"prompt": ""}, 400, 5004),
        (SDXL_BASE, {"prompt": "x", "num_steps": 21}, 400, 5004),
        (SDXL_BASE, {"prompt": "x", "num_steps": "20"}, 400, 5004),
        (SDXL_BASE, {"prompt": "x", "num_steps": True}, 400, 5004),
        (SDXL_BASE, {"prompt": "x", "seed": 1.5}, 400, 5004),
        (SDXL_BASE, {"prompt": "x", "guidance": "7.5"}, 400, 5004),
        (SDXL_BASE, {"prompt": "x", "negative_prompt": None}, 400, 5004),
        (SDXL_BASE, {"prompt": 7}, 400, 5004),
        (SDXL_BASE, {"prompt": "x", "width": 100}, 400, 5004),
        (SDXL_BASE, {"prompt": "x", "height": 4096}, 400, 5004),
        (SDXL_BASE, {"prompt": "x", "strength": 1.5}, 400, 5004),
        (SDXL_BASE, {"prompt": "x", "image": [1, 2], "image_b64": "AQI="}, 400, 5004),
        (SDXL_BASE, {"prompt": "x", "image": [1, 256]}, 400, 5004),
        (SDXL_BASE, {"prompt": "x", "image_b64": "%%%"}, 400, 5004),
        (SDXL_BASE, {"prompt": "x", "image_b64": b64(b"not an image")}, 400, 5004),
        (SD15_IMG2IMG, {"prompt": "x"}, 400, 3003),
    ],
)
def test_the_emulator_validates_like_the_api(
    emulator: Emulator, model: str, body: Any, status: int, code: int
) -> None:
    response = emulator.run(model, body)

    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["success"] is False
    assert payload["errors"][0]["code"] == code
    assert payload["result"] is None


def test_the_emulator_checks_token_and_account(emulator: Emulator) -> None:
    body = {"prompt": "x", "width": 256, "height": 256}

    assert emulator.run(SDXL_BASE, body, token="wrong").status_code == 401
    assert emulator.run(SDXL_BASE, body, account="other").status_code == 403
    assert emulator.run(SDXL_BASE, body).status_code == 200
    assert [r["account"] for r in emulator.requests] == [ACCOUNT, "other", ACCOUNT]
