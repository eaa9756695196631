"""Make moto's DynamoDB serialise writes the way DynamoDB does.

DynamoDB applies each conditional write atomically: the condition is evaluated and the
update applied as one step. moto evaluates and applies in plain Python with no lock, so
under concurrent threads two writers can both pass a condition (`hits < 15`) before either
writes, and a correct limiter appears to over-admit. One lock around moto's DynamoDB
request handling restores the per-item serialisability our exactness tests rely on. It is
applied in-process for `mock_aws` tests and inside the local stack's moto server.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_lock = threading.RLock()
_applied = False


def serialize_dynamodb() -> None:
    """Idempotently wrap moto's DynamoDB dispatcher in a process-wide lock."""
    global _applied
    if _applied:
        return
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        with _lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _applied = True
