"""AWS calls counted with botocore's event hooks on the cached clients of `aiimage.aws`
(every client the functions use comes from there, the idempotency layer's included)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# --- AWS calls, counted on botocore's event hooks -----------------------------------------


@dataclass
class AwsCalls:
    """Calls made through the cached clients of `aiimage.aws` while counting, and the time
    spent inside them (request signing to parsed response: moto's work, in-process)."""

    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    seconds: float = 0.0
    _started: dict[int, float] = field(default_factory=dict)

    def count(self, service: str, operations: tuple[str, ...] | None = None) -> int:
        return sum(
            n
            for (svc, op), n in self.calls.items()
            if svc == service and (operations is None or op in operations)
        )

    def describe(self) -> str:
        return ", ".join(f"{svc}.{op} x{n}" for (svc, op), n in sorted(self.calls.items()))


DYNAMODB_READS = ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems")
S3_WRITES = ("PutObject", "CopyObject", "CompleteMultipartUpload")


class AwsCallCounter:
    """Registers `before-call`/`after-call` hooks once on each client of `aiimage.aws`
    (they are cached per process), then counts into whichever `AwsCalls` is active."""

    def __init__(self) -> None:
        self._active: AwsCalls | None = None
        self._hooked: set[int] = set()

    def _hook(self) -> None:
        from aiimage import aws  # after the caller's environment is in place

        for client in (aws.dynamodb(), aws.s3(), aws.sqs(), aws.ssm()):
            if id(client) in self._hooked:
                continue
            client.meta.events.register("before-call.*.*", self._before)
            client.meta.events.register("after-call.*.*", self._after)
            self._hooked.add(id(client))

    def _before(self, model: Any, context: Any = None, **_: Any) -> None:
        active = self._active
        if active is not None:
            active.calls[(model.service_model.service_name, model.name)] += 1
            active._started[id(context)] = time.perf_counter()

    def _after(self, model: Any, context: Any = None, **_: Any) -> None:
        active = self._active
        if active is not None:
            started = active._started.pop(id(context), None)
            if started is not None:
                active.seconds += time.perf_counter() - started

    @contextmanager
    def counting(self) -> Iterator[AwsCalls]:
        self._hook()
        calls = AwsCalls()
        self._active = calls
        try:
            yield calls
        finally:
            self._active = None
