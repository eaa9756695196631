"""Fault injection shared by the emulators.

Tests (or a developer against `make dev`) queue faults with
`POST /__emulator/faults {"kind": ..., "count": 1, ...}`; each matching request consumes one.
`DELETE /__emulator/faults` clears the queue. Kinds:
- `rate_limit`: 429 with `Retry-After: retry_after` (and the provider's own body shape)
- `server_error`: 500 (or `status`, e.g. 503) with the provider's error body
- `slow`: sleep `delay` seconds, then answer normally
- `malformed`: 200 with a body that is not what the protocol promises
- `failed`: the provider's "the run failed" answer (e.g. a failed prediction)
- `auth`: 401 with the provider's error body

An emulator names its own answer to each fault it answers at once (`FaultAnswers`);
`answer` applies them, and `slow` (handled, then answered late) to the rest.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from pydantic import BaseModel, Field

FaultKind = Literal["rate_limit", "server_error", "slow", "malformed", "failed", "auth"]


class Fault(BaseModel):
    kind: FaultKind
    count: int = Field(default=1, ge=1, le=1000)
    retry_after: int = Field(default=1, ge=0, le=3600)
    delay: float = Field(default=0.0, ge=0, le=120)
    status: int = Field(default=500, ge=400, le=599)
    # Provider-specific error code and message for the error body (e.g. Workers AI 3036).
    code: int | None = None
    message: str | None = None
    # Only requests whose path contains this substring consume the fault (None: any).
    path_contains: str | None = None


class FaultQueue:
    def __init__(self) -> None:
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, path: str) -> Fault | None:
        """The next fault that applies to `path`, consuming one of its counts."""
        with self._lock:
            for fault in self._faults:
                if fault.path_contains is None or fault.path_contains in path:
                    remaining = fault.count - 1
                    if remaining == 0:
                        self._faults.remove(fault)
                    else:
                        fault.count = remaining
                    return fault.model_copy(update={"count": 1})
        return None

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/__emulator")

        @router.post("/faults", status_code=204)
        def add_fault(fault: Fault) -> None:
            self.add(fault)

        @router.delete("/faults", status_code=204)
        def clear_faults() -> None:
            self.clear()

        return router


# The provider's own answer to each fault kind that replaces the request's answer.
FaultAnswers = Mapping[FaultKind, Callable[[Fault], Response]]


def emulator_app(title: str) -> tuple[FastAPI, FaultQueue]:
    """An emulator's app (no API docs) with its fault queue on `app.state.faults` and the
    `/__emulator/faults` routes, and `app.state.requests` for what it records."""
    app = FastAPI(title=title, openapi_url=None, docs_url=None, redoc_url=None)
    faults = FaultQueue()
    app.state.faults = faults
    app.state.requests = []
    app.include_router(faults.router())
    return app, faults


def immediate_answer(fault: Fault | None, answers: FaultAnswers) -> Response | None:
    """The emulator's answer to `fault` in place of the request's; None when the request is
    handled (no fault, `slow`, and the kinds the emulator applies while handling it)."""
    if fault is None or fault.kind not in answers:
        return None
    return answers[fault.kind](fault)


async def answer(
    fault: Fault | None, answers: FaultAnswers, handle: Callable[[], Awaitable[Response]]
) -> Response:
    """The answer to a request that drew `fault`: an immediate one from `answers`, else the
    request's own from `handle`, late by `delay` for `slow`. The work is done at once, so a
    client that gives up has still started (and would pay for) the run, as with the real
    APIs."""
    if (immediate := immediate_answer(fault, answers)) is not None:
        return immediate
    response = await handle()
    if fault is not None and fault.kind == "slow":
        await asyncio.sleep(fault.delay)
    return response
