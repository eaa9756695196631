"""The contract every real provider client keeps, run against all three (Workers AI,
Replicate, Runware), each against its emulator over real HTTP.

What a client does the same way as the others is tested here once: a refusal of our
credentials is a `ProviderAuthError` (502 `provider_auth`, alarmed, never retried); any
other 4xx is `ProviderRejectedError`; a 429 is waited for as its `Retry-After` says, then
raised with it; 503 is retried, 500 and a malformed answer are unavailable; no error
carries the key; the key is read on every call (a rotated SSM value arrives, through the
five-minute cache). The clients whose results are URLs fetch only from their allow-list.
What only one provider does stays in its own file (test_workers_ai.py, test_replicate.py,
test_runware.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import pytest
from pydantic import SecretStr
from starlette.middleware.base import BaseHTTPMiddleware

from aiimage import aws
from aiimage.errors import AppError, UpstreamError
from aiimage.observability import LogEvent
from aiimage.providers import registry
from aiimage.providers import replicate as replicate_client
from aiimage.providers import runware as runware_client
from aiimage.providers import workers_ai as workers_ai_client
from aiimage.providers.base import (
    AiImageProvider,
    GenerationRequest,
    ImageInput,
    Outcome,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitedError,
    ProviderRejectedError,
    ProviderUnavailableError,
)
from aiimage.providers.outputs import OutputDownloadingProvider, OutputPolicy
from aiimage.providers.params import GenerationParams
from aiimage.providers.transport import ProviderTransport
from infra.emulators import replicate as replicate_emulator
from infra.emulators import runware as runware_emulator
from infra.emulators import workers_ai as workers_ai_emulator
from infra.emulators.server import serve_in_thread
from tests.functional import provider_emulators
from tests.functional.provider_emulators import RecordingSleep, png

TOKEN = "contract-emulator-token-0123456789abcdef"
STALE = "contract-revoked-token-0123456789abcdef"
ACCOUNT = "0123456789abcdef0123456789abcdef"
Token = Callable[[], SecretStr | None]


class Client(AiImageProvider, Protocol):
    def close(self) -> None: ...


@dataclass(frozen=True)
class Case:
    """One provider client and how to talk to its emulator."""

    name: registry.ProviderName
    api_path: str  # the emulator's API prefix (the client's base URL is url + api_path)
    submit_path: str  # what a submit's path contains (faults are aimed at it)
    model: str
    make: Callable[[ProviderTransport, OutputPolicy], Client]
    map_error: Callable[..., Any]
    # The settings that make `registry` build this client against the emulator at `url`,
    # its key read from the SSM parameter named `param`.
    settings: Callable[[str, str], dict[str, str]]

    def request(self) -> GenerationRequest:
        return GenerationRequest(
            model=self.model,
            image=ImageInput(png(), "image/png"),
            params=GenerationParams(
                prompt="a vivid photo", scale=2 if self.name == "replicate" else None
            ),
            wait_seconds=10.0,
        )


CASES = [
    Case(
        name="workers_ai",
        api_path="/client/v4",
        submit_path="/ai/run/",
        model=workers_ai_client.SD15_IMG2IMG,
        make=lambda wire, _: workers_ai_client.WorkersAiProvider(
            account_id=ACCOUNT, transport=wire
        ),
        map_error=workers_ai_client.map_error,
        settings=lambda url, param: {
            "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
            "CLOUDFLARE_API_TOKEN_PARAM": param,
            "WORKERS_AI_BASE_URL": f"{url}/client/v4",
        },
    ),
    Case(
        name="replicate",
        api_path="/v1",
        submit_path="/predictions",
        model="nightmareai/real-esrgan",
        make=lambda wire, outputs: replicate_client.ReplicateProvider(
            transport=wire, outputs=outputs
        ),
        map_error=replicate_client.map_error,
        settings=lambda url, param: {
            "REPLICATE_API_TOKEN_PARAM": param,
            "REPLICATE_BASE_URL": f"{url}/v1",
        },
    ),
    Case(
        name="runware",
        api_path="/v1",
        submit_path="/v1",
        model="runware:101@1",
        make=lambda wire, outputs: runware_client.RunwareProvider(transport=wire, outputs=outputs),
        map_error=runware_client.map_error,
        settings=lambda url, param: {
            "RUNWARE_API_KEY_PARAM": param,
            "RUNWARE_BASE_URL": f"{url}/v1",
        },
    ),
]
DOWNLOADING = [case for case in CASES if case.name != "workers_ai"]


@dataclass
class Emulator(provider_emulators.Emulator):
    """Counts what reached the emulator's API (every emulator logs the paths it served)."""

    hits: list[str]

    def reset(self) -> None:
        super().reset()
        self.hits.clear()

    def calls(self, path: str) -> int:
        return sum(1 for hit in self.hits if path in hit)


def _emulator_app(name: str) -> Any:
    if name == "workers_ai":
        return workers_ai_emulator.create_app(api_token=TOKEN, account_id=ACCOUNT)
    if name == "replicate":
        return replicate_emulator.create_app(api_token=TOKEN, processing_seconds=0.0)
    return runware_emulator.create_app(api_key=TOKEN, polls_until_done=1)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Emulator]]:
    with ExitStack() as running:
        emulators: dict[str, Emulator] = {}
        for case in CASES:
            app = _emulator_app(case.name)
            hits: list[str] = []

            async def record(request: Any, call_next: Any, hits: list[str] = hits) -> Any:
                if not request.url.path.startswith("/__emulator"):
                    hits.append(f"{request.method} {request.url.path}")
                return await call_next(request)

            app.add_middleware(BaseHTTPMiddleware, dispatch=record)
            url = running.enter_context(serve_in_thread(app))
            emulators[case.name] = Emulator(url, app, hits)
        yield emulators


@pytest.fixture(params=CASES, ids=lambda case: case.name)
def case(request: pytest.FixtureRequest) -> Case:
    chosen: Case = request.param
    return chosen


@pytest.fixture
def emulator(servers: dict[str, Emulator], case: Case) -> Emulator:
    server = servers[case.name]
    server.reset()
    return server


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


ClientFactory = Callable[..., Client]


@pytest.fixture
def make_client(case: Case, emulator: Emulator, sleep: RecordingSleep) -> Iterator[ClientFactory]:
    with ExitStack() as made:

        def make(
            *, token: Token = lambda: SecretStr(TOKEN), outputs: OutputPolicy | None = None
        ) -> Client:
            wire = ProviderTransport(
                provider=case.name,
                base_url=f"{emulator.url}{case.api_path}",
                token=token,
                timeout=5.0,
                max_retries=2,
                map_error=case.map_error,
                sleep=sleep,
            )
            # The emulator serves its outputs on its own (loopback) origin.
            client = case.make(wire, outputs or OutputPolicy.of(emulator.url, allow_loopback=True))
            return made.enter_context(closing(client))

        yield make


@pytest.fixture
def client(make_client: ClientFactory) -> Client:
    return make_client()


def finished(client: provider_emulators.Polled, outcome: Outcome) -> Outcome:
    """The outcome once the run is over (Runware acknowledges first, then is polled)."""
    if outcome.status == "pending" and outcome.job_id is not None:
        return provider_emulators.poll_until_done(client, outcome.job_id)
    return outcome


def succeeded(client: Client, outcome: Outcome) -> None:
    done = finished(client, outcome)
    assert done.status == "succeeded", done
    assert done.image
    assert (done.content_type or "").startswith("image/")


def assert_key_hidden(error: BaseException) -> None:
    texts = [str(error), repr(error)]
    if isinstance(error, AppError):
        texts += [error.message, repr(error.details), repr(error.headers)]
    if isinstance(error, ProviderAuthError):
        texts.append(repr(error.provider_details))
    for text in texts:
        assert TOKEN not in text
        assert STALE not in text


# --- the happy path ---------------------------------------------------------------------


def test_a_submit_succeeds_and_sends_the_key_as_a_bearer_token(
    case: Case, client: Client, emulator: Emulator
) -> None:
    succeeded(client, client.submit(case.request()))
    assert emulator.calls(case.submit_path) >= 1


# --- our credentials ---------------------------------------------------------------------


def test_a_refused_key_is_a_502_provider_auth_logged_as_a_misconfiguration(
    case: Case,
    make_client: ClientFactory,
    emulator: Emulator,
    sleep: RecordingSleep,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(token=lambda: SecretStr(STALE))

    with pytest.raises(ProviderError) as caught:
        client.submit(case.request())

    error = caught.value
    assert isinstance(error, ProviderAuthError)
    assert isinstance(error, UpstreamError)  # our fault: a 5xx, not the caller's 403
    assert (error.status, error.type, error.code) == (502, "server_error", "provider_auth")
    assert error.provider == case.name
    assert error.details is None  # nothing about our key reaches the caller
    assert error.provider_details  # … but the operators see the provider's answer
    assert sleep.delays == []  # retrying the same key cannot help
    assert emulator.calls(case.submit_path) == 1
    assert_key_hidden(error)
    (logged,) = [r for r in caplog.records if r.getMessage() == LogEvent.PROVIDER_MISCONFIGURED]
    assert logged.levelname == "ERROR"
    assert STALE not in caplog.text


def test_an_auth_fault_is_a_provider_auth_error(
    case: Case, client: Client, emulator: Emulator
) -> None:
    emulator.fault("auth", path_contains=case.submit_path)

    with pytest.raises(ProviderAuthError) as caught:
        client.submit(case.request())

    assert caught.value.status == 502
    assert_key_hidden(caught.value)


def test_the_key_is_read_on_every_call(
    case: Case, make_client: ClientFactory, emulator: Emulator
) -> None:
    current = {"token": TOKEN}
    reads: list[str] = []

    def token() -> SecretStr:
        reads.append(current["token"])
        return SecretStr(current["token"])

    client = make_client(token=token)
    succeeded(client, client.submit(case.request()))
    current["token"] = STALE  # revoked: the same client must now send the new value
    with pytest.raises(ProviderAuthError):
        client.submit(case.request())
    current["token"] = TOKEN
    succeeded(client, client.submit(case.request()))

    assert STALE in reads
    assert reads[-1] == TOKEN


class ShiftedClock(datetime):
    """powertools' parameter cache asks `datetime.now()` whether a value expired."""

    offset = timedelta()

    @classmethod
    def now(cls, tz: Any = None) -> ShiftedClock:
        real = datetime.now(tz) + cls.offset
        return cls.fromtimestamp(real.timestamp(), tz)


@pytest.mark.usefixtures("aws_stack")
def test_a_rotated_ssm_key_reaches_the_cached_client_within_five_minutes(
    case: Case,
    emulator: Emulator,
    settings_env: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aws_lambda_powertools.utilities.parameters import base

    monkeypatch.setattr(base, "datetime", ShiftedClock)
    monkeypatch.setattr(ShiftedClock, "offset", timedelta())
    param = f"/aiimage/test/{case.name}-key"
    aws.ssm().put_parameter(Name=param, Value=STALE, Type="SecureString")
    settings_env(**case.settings(emulator.url, param))
    client = registry.get_provider(case.name)

    with pytest.raises(ProviderAuthError):  # the stored key was revoked at the provider
        client.submit(case.request())
    aws.ssm().put_parameter(Name=param, Value=TOKEN, Type="SecureString", Overwrite=True)
    with pytest.raises(ProviderAuthError):  # still the cached value
        client.submit(case.request())
    monkeypatch.setattr(ShiftedClock, "offset", timedelta(seconds=aws.SECRET_MAX_AGE_SECONDS + 1))

    outcome = client.submit(case.request())

    assert registry.get_provider(case.name) is client  # the same cached client …
    done = finished(client, outcome)  # … now sends the rotated key
    assert done.status == "succeeded", done


# --- other refusals and faults -----------------------------------------------------------


def test_another_4xx_is_rejected_and_not_retried(
    case: Case, client: Client, emulator: Emulator, sleep: RecordingSleep
) -> None:
    emulator.fault("server_error", status=400, path_contains=case.submit_path)

    with pytest.raises(ProviderRejectedError) as caught:
        client.submit(case.request())

    assert (caught.value.status, caught.value.type) == (400, "validation_error")
    assert sleep.delays == []
    assert emulator.calls(case.submit_path) == 1


def test_a_rate_limit_is_retried_after_the_advertised_delay(
    case: Case, client: Client, emulator: Emulator, sleep: RecordingSleep
) -> None:
    emulator.fault("rate_limit", retry_after=2, path_contains=case.submit_path)

    succeeded(client, client.submit(case.request()))

    assert sleep.delays == [2.0]


def test_a_lasting_rate_limit_is_raised_with_its_retry_after(
    case: Case, client: Client, emulator: Emulator, sleep: RecordingSleep
) -> None:
    emulator.fault("rate_limit", count=10, retry_after=3, path_contains=case.submit_path)

    with pytest.raises(ProviderRateLimitedError) as caught:
        client.submit(case.request())

    assert caught.value.retry_after == 3
    assert caught.value.headers == {"Retry-After": "3"}
    assert sleep.delays == [3.0, 3.0]  # max_retries=2: three attempts
    assert emulator.calls(case.submit_path) == 3
    assert_key_hidden(caught.value)


def test_a_503_is_retried(
    case: Case, client: Client, emulator: Emulator, sleep: RecordingSleep
) -> None:
    emulator.fault("server_error", status=503, path_contains=case.submit_path)

    succeeded(client, client.submit(case.request()))

    assert len(sleep.delays) == 1
    assert 0 <= sleep.delays[0] <= 0.5  # the first backoff step


def test_a_500_is_unavailable_without_a_retry(
    case: Case, client: Client, emulator: Emulator, sleep: RecordingSleep
) -> None:
    emulator.fault("server_error", status=500, path_contains=case.submit_path)

    with pytest.raises(ProviderUnavailableError) as caught:
        client.submit(case.request())

    assert (caught.value.status, caught.value.type) == (502, "server_error")
    assert (caught.value.details or {}).get("providerStatus") == 500
    assert sleep.delays == []
    assert emulator.calls(case.submit_path) == 1
    assert_key_hidden(caught.value)


def test_a_malformed_answer_is_unavailable(
    case: Case, client: Client, emulator: Emulator, sleep: RecordingSleep
) -> None:
    emulator.fault("malformed", path_contains=case.submit_path)

    with pytest.raises(ProviderUnavailableError) as caught:
        client.submit(case.request())

    assert sleep.delays == []
    assert_key_hidden(caught.value)


@pytest.mark.parametrize("retryable", [False, True], ids=["no-retry", "retry"])
def test_every_failure_is_a_provider_error(
    case: Case, client: Client, emulator: Emulator, retryable: bool
) -> None:
    kind, options = ("rate_limit", {"count": 10}) if retryable else ("auth", {})
    emulator.fault(kind, path_contains=case.submit_path, **options)

    with pytest.raises(ProviderError):  # one except clause catches every provider failure
        client.submit(case.request())


# --- outputs (the clients whose results are URLs) ------------------------------------------


@pytest.mark.parametrize("case", DOWNLOADING, ids=lambda case: case.name)
def test_an_output_on_a_host_off_the_allow_list_is_refused(
    case: Case, make_client: ClientFactory, emulator: Emulator
) -> None:
    client = make_client(outputs=OutputPolicy.of("https://outputs.example"))

    with pytest.raises(ProviderUnavailableError) as caught:
        finished(client, client.submit(case.request()))

    assert caught.value.code == "provider_output_refused"
    assert isinstance(client, OutputDownloadingProvider)
    assert not client.is_allowed(f"{emulator.url}/__outputs/x.png")
    assert emulator.calls("/__outputs/") == 0  # refused before any request


def test_the_registry_holds_one_client_per_provider(settings_env: Callable[..., None]) -> None:
    settings_env(CLOUDFLARE_ACCOUNT_ID=ACCOUNT, CLOUDFLARE_API_TOKEN=TOKEN, RUNWARE_API_KEY=TOKEN)
    for name in ("workers_ai", "replicate", "runware", "local", "fake"):
        assert registry.get_provider(name) is registry.get_provider(name)
    assert registry.get_provider("replicate") is registry.replicate()
    assert registry.get_provider("runware") is registry.runware()
