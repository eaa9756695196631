"""What the Magic Edits limit tests share: a settable clock, the warnings logged, and work
started by many threads at once.

The fixtures are registered under their own names (`clock`, `warnings_logged`), so a test
module imports `clock_fixture` and asks for `clock`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar
from unittest import mock

import pytest

from aiimage import observability

T = TypeVar("T")

START = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)


class Clock:
    """`now()` for the code under test; a test moves it by setting `now`."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(name="clock")
def clock_fixture() -> Clock:
    return Clock(START)


Warnings = list[tuple[str, dict[str, Any]]]


@pytest.fixture(name="warnings_logged")
def warnings_fixture() -> Iterator[Warnings]:
    """Every `logger.warning`: (message, structured keys), from any thread."""
    calls: Warnings = []
    lock = threading.Lock()

    def record(message: str, *args: Any, **kwargs: Any) -> None:
        with lock:
            calls.append((message, kwargs))

    with mock.patch.object(observability.logger, "warning", side_effect=record):
        yield calls


def run_concurrently(count: int, work: Callable[[int], T]) -> list[T]:
    """`work(0)` … `work(count - 1)`, each on its own thread, released together."""
    start = threading.Barrier(count)

    def attempt(index: int) -> T:
        start.wait()
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(attempt, range(count)))
