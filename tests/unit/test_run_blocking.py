"""`run_blocking`: inline on Lambda (one invocation per execution environment), in the
threadpool wherever requests share the event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from starlette.requests import Request

from aiimage.http.app import run_blocking


def _request(**extra: Any) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], **extra})


def _thread_and(value: int, *, plus: int) -> tuple[int, int]:
    return threading.get_ident(), value + plus


@pytest.mark.parametrize(("extra", "inline"), [({"aws.event": {}}, True), ({}, False)])
def test_the_call_runs_inline_only_under_mangum(extra: dict[str, Any], inline: bool) -> None:
    async def call() -> tuple[int, tuple[int, int]]:
        answer = await run_blocking(_request(**extra), _thread_and, 2, plus=3)
        return threading.get_ident(), answer

    loop_thread, (worker_thread, value) = asyncio.run(call())
    assert value == 5
    assert (worker_thread == loop_thread) is inline


def test_an_error_is_raised_as_it_is_in_both_modes() -> None:
    def fail() -> None:
        raise KeyError("boom")

    modes: tuple[dict[str, Any], ...] = ({"aws.event": {}}, {})
    for extra in modes:
        with pytest.raises(KeyError, match="boom"):
            asyncio.run(run_blocking(_request(**extra), fail))
