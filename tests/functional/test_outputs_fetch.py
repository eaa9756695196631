"""Finding 4 of issue 15, over real sockets: the output allow-list compares scheme, host and
port, refuses the API's own origin, and refuses loopback after resolution. A listener
counts the connections it accepts, so "refused" means no connection was ever opened."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import closing

import pytest
from fastapi import FastAPI
from fastapi.responses import Response

from aiimage.providers.base import ProviderUnavailableError
from aiimage.providers.replicate import ReplicateProvider
from aiimage.providers.runware import RunwareProvider
from infra.emulators.server import serve_in_thread
from tests.functional.provider_emulators import png

PNG = png(8, 8)


class Listener:
    """A TCP listener on 127.0.0.1 that counts connections and answers one PNG over HTTP."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.recv(65536)
                head = f"HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: {len(PNG)}"
                conn.sendall(f"{head}\r\nconnection: close\r\n\r\n".encode() + PNG)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    served = Listener()
    yield served
    served.close()


@pytest.fixture(scope="module")
def api() -> Iterator[FastAPI]:
    """A provider API (Replicate's poll, Runware's task call) whose finished run names the
    output URL a test sets on `app.state.output`; it serves outputs on its own origin too."""
    app = FastAPI()
    app.state.output = ""

    @app.get("/v1/__outputs/{name}")
    def output(name: str) -> Response:
        return Response(PNG, media_type="image/png")

    @app.get("/v1/predictions/{job_id}")
    def prediction(job_id: str) -> dict[str, object]:
        return {"id": job_id, "status": "succeeded", "output": app.state.output}

    @app.post("/v1")
    def tasks() -> dict[str, object]:
        item = {"taskType": "imageInference", "taskUUID": "p1", "status": "success"}
        return {"data": [{**item, "imageURL": app.state.output}]}

    with serve_in_thread(app) as url:
        app.state.url = url
        yield app


@pytest.fixture
def emulator(api: FastAPI) -> str:
    return str(api.state.url)


@pytest.fixture(params=["replicate", "runware"])
def make_client(
    request: pytest.FixtureRequest, emulator: str, settings_env: Callable[..., None]
) -> Iterator[Callable[..., ReplicateProvider | RunwareProvider]]:
    made: list[ReplicateProvider | RunwareProvider] = []

    def make(**env: str) -> ReplicateProvider | RunwareProvider:
        settings_env(
            REPLICATE_BASE_URL=f"{emulator}/v1",
            REPLICATE_API_TOKEN="r8_test",
            RUNWARE_BASE_URL=f"{emulator}/v1",
            RUNWARE_API_KEY="rw_test",
            **env,
        )
        kind = ReplicateProvider if request.param == "replicate" else RunwareProvider
        client = kind.from_settings()
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def download(api: FastAPI) -> Callable[[ReplicateProvider | RunwareProvider, str], bytes | None]:
    """Poll a run whose output is `url`: the client fetches it as it fetches any result."""

    def poll(client: ReplicateProvider | RunwareProvider, url: str) -> bytes | None:
        api.state.output = url
        return client.poll("p1").image

    return poll


Download = Callable[[ReplicateProvider | RunwareProvider, str], bytes | None]


def test_the_allow_listed_emulator_origin_is_fetched(
    make_client: Callable[..., ReplicateProvider | RunwareProvider],
    emulator: str,
    download: Download,
) -> None:
    client = make_client()
    assert download(client, f"{emulator}/v1/__outputs/p1.png") == PNG


def test_another_port_of_an_allowed_loopback_host_is_never_connected_to(
    make_client: Callable[..., ReplicateProvider | RunwareProvider],
    listener: Listener,
    download: Download,
) -> None:
    # The finding: the emulator's host with another port (`http://127.0.0.1:<port>/evil.png`).
    client = make_client()
    with pytest.raises(ProviderUnavailableError) as refused:
        download(client, f"{listener.url}/evil.png")
    assert refused.value.code == "provider_output_refused"
    assert listener.connections == 0


def test_the_apis_own_origin_is_never_fetched_from(
    make_client: Callable[..., ReplicateProvider | RunwareProvider],
    emulator: str,
    download: Download,
) -> None:
    # Our API and the provider's base URL on one origin: the API's own origin still wins.
    client = make_client(PUBLIC_BASE_URL=emulator)
    with pytest.raises(ProviderUnavailableError) as refused:
        download(client, f"{emulator}/v1/__outputs/p1.png")
    assert refused.value.code == "provider_output_refused"


def test_the_apis_host_name_is_refused_on_any_port(
    make_client: Callable[..., ReplicateProvider | RunwareProvider],
    listener: Listener,
    download: Download,
) -> None:
    client = make_client(
        PUBLIC_BASE_URL="https://localhost",
        PROVIDER_OUTPUT_ORIGINS=f"http://localhost:{listener.port}",
    )
    with pytest.raises(ProviderUnavailableError) as refused:
        download(client, f"http://localhost:{listener.port}/x.png")
    assert refused.value.code == "provider_output_refused"
    assert listener.connections == 0


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_deployed_stages_never_connect_to_loopback_even_for_an_allowed_origin(
    make_client: Callable[..., ReplicateProvider | RunwareProvider],
    listener: Listener,
    download: Download,
    stage: str,
) -> None:
    client = make_client(STAGE=stage, PROVIDER_OUTPUT_ORIGINS=listener.url)
    assert client.is_allowed(f"{listener.url}/x.png")  # the origin passes; the address not
    with pytest.raises(ProviderUnavailableError) as refused:
        download(client, f"{listener.url}/x.png")
    assert refused.value.code == "provider_output_refused"
    assert listener.connections == 0


def test_a_name_that_resolves_to_loopback_is_refused_after_resolution(
    make_client: Callable[..., ReplicateProvider | RunwareProvider],
    listener: Listener,
    download: Download,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A public-looking allow-listed name whose DNS answer is 127.0.0.1 (rebinding).
    client = make_client(PROVIDER_OUTPUT_ORIGINS=f"http://outputs.example:{listener.port}")
    real = socket.getaddrinfo

    def rebinding(host: str, *args: object, **kwargs: object) -> object:
        if host == "outputs.example":
            return real("127.0.0.1", *args, **kwargs)  # type: ignore[arg-type]
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(ProviderUnavailableError) as refused:
        download(client, f"http://outputs.example:{listener.port}/x.png")
    assert refused.value.code == "provider_output_refused"
    assert listener.connections == 0


def test_the_listener_counts_what_a_permitted_fetch_opens(listener: Listener) -> None:
    # The counter the refusals rely on does count: a permitted loopback origin connects.
    from aiimage.providers.outputs import OutputPolicy, fetch_output, output_client

    policy = OutputPolicy.of(listener.url, allow_loopback=True)
    with closing(output_client(5.0, policy)) as client:
        data, content_type = fetch_output(
            client, f"{listener.url}/x.png", policy=policy, max_bytes=1024
        )
    assert (data, content_type, listener.connections) == (PNG, "image/png", 1)
