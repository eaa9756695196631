"""What the provider client tests share: an emulator served in a thread with its fault
queue, a transport with the tests' settings and a recording sleep, polling, a test image."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import Response
from PIL import Image
from pydantic import SecretStr

from aiimage.providers.base import Outcome
from aiimage.providers.transport import ProviderTransport
from infra.emulators.server import serve_in_thread


@dataclass
class Emulator:
    """An emulator app served over HTTP; its faults are queued through `/__emulator/faults`."""

    url: str
    app: FastAPI

    def fault(self, kind: str, **options: Any) -> None:
        response = httpx.post(f"{self.url}/__emulator/faults", json={"kind": kind, **options})
        assert response.status_code == 204, response.text

    def reset(self) -> None:
        assert httpx.delete(f"{self.url}/__emulator/faults").status_code == 204


E = TypeVar("E", bound=Emulator)


def serving(app: FastAPI, emulator: Callable[[str, FastAPI], E]) -> Iterator[E]:
    """For a module-scoped fixture: `yield from serving(create_app(...), Emulator)`."""
    with serve_in_thread(app) as url:
        yield emulator(url, app)


def serving_image() -> Iterator[str]:
    """A plain HTTP server holding one PNG at `/input.png`, like a presigned URL of the
    object store (20x10 pixels)."""
    app = FastAPI()

    @app.get("/input.png")
    def image() -> Response:
        return Response(png(20, 10), media_type="image/png")

    with serve_in_thread(app) as url:
        yield url


@dataclass
class RecordingSleep:
    """The transport's sleep between retries: recorded, not slept."""

    delays: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def transport(
    provider: str,
    base_url: str,
    token: str,
    *,
    map_error: Callable[[httpx.Response], Any],
    sleep: RecordingSleep,
    max_retries: int = 2,
    timeout: float = 10.0,
) -> ProviderTransport:
    return ProviderTransport(
        provider=provider,
        base_url=base_url,
        token=lambda: SecretStr(token),
        timeout=timeout,
        max_retries=max_retries,
        map_error=map_error,
        sleep=sleep,
    )


class Polled(Protocol):
    def poll(self, job_id: str) -> Outcome: ...


def poll_until_done(
    provider: Polled, job_id: str, *, attempts: int = 10, interval: float = 0.0
) -> Outcome:
    for _ in range(attempts):
        outcome = provider.poll(job_id)
        if outcome.status != "pending":
            return outcome
        time.sleep(interval)
    pytest.fail(f"{job_id} did not finish after {attempts} polls")


def png(width: int = 48, height: int = 32, *, noisy: bool = False) -> bytes:
    if noisy:  # random pixels do not compress: a big PNG from a small picture
        image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    else:
        image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
