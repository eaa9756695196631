"""Recent end-to-end latency per provider and model: what the pages' time estimates read.

Layout (limits table): one item per provider, model and UTC hour,
`pk=latency#{provider}#{model}`, `sk=h#{YYYY-MM-DDTHH}`, with `ms_sum` and `samples`.
A finished request adds its duration with ONE `UpdateItem` (`ADD ms_sum :ms, samples :one`):
no read, so parallel workers never lose a sample. An estimate reads the current hour and the
`WINDOW_HOURS - 1` before it in one BatchGetItem and divides the sums; with no sample in
the window there is no estimate (the pages then show their generic waiting text). The
items expire with the table's TTL a day after their hour.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError

from aiimage import aws
from aiimage.observability import LogEvent, logger
from aiimage.settings import get_settings
from aiimage.singletons import singleton

WINDOW_HOURS = 3
_RETENTION = timedelta(days=1)
# A key part is bounded: a model id is at most this long in a key (longer ones share it).
_MAX_MODEL = 200


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _pk(provider: str, model: str) -> str:
    return f"latency#{provider}#{model[:_MAX_MODEL]}"


def _hour(moment: datetime) -> str:
    return "h#" + moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


class LatencyLog:
    def __init__(self, table: str, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._table = table
        self._clock = clock

    def record(self, provider: str, model: str, duration_ms: int) -> None:
        """Add one finished request's duration to its hour (one atomic ADD)."""
        now = self._clock()
        expires = int((now + _RETENTION + timedelta(hours=1)).timestamp())
        aws.dynamodb().update_item(
            TableName=self._table,
            Key={"pk": {"S": _pk(provider, model)}, "sk": {"S": _hour(now)}},
            UpdateExpression="ADD ms_sum :ms, samples :one SET expires_at = :expires",
            ExpressionAttributeValues={
                ":ms": {"N": str(max(0, duration_ms))},
                ":one": {"N": "1"},
                ":expires": {"N": str(expires)},
            },
        )

    def estimate_seconds(self, provider: str, model: str) -> int | None:
        """The mean duration of the window's requests in whole seconds (at least 1), or
        None without a sample."""
        now = self._clock()
        pk = _pk(provider, model)
        keys = [
            {"pk": {"S": pk}, "sk": {"S": _hour(now - timedelta(hours=back))}}
            for back in range(WINDOW_HOURS)
        ]
        total = samples = 0
        for item in aws.batch_get_items(self._table, keys):
            total += int(item.get("ms_sum", {"N": "0"})["N"])
            samples += int(item.get("samples", {"N": "0"})["N"])
        if samples == 0:
            return None
        return max(1, round(total / samples / 1000))


@singleton
def latency_log() -> LatencyLog:
    return LatencyLog(get_settings().limits_table)


def record_duration(provider: str, model: str, duration_ms: int) -> None:
    """Best effort: a lost sample must not fail (and re-run) the request that finished."""
    try:
        latency_log().record(provider, model, duration_ms)
    except (ClientError, BotoCoreError):
        logger.exception(LogEvent.LATENCY_UNAVAILABLE, provider=provider, model=model)


def estimate(provider: str, model: str) -> int | None:
    """Best effort: without the log the pages show their generic waiting text."""
    try:
        return latency_log().estimate_seconds(provider, model)
    except (ClientError, BotoCoreError):
        logger.exception(LogEvent.LATENCY_UNAVAILABLE, provider=provider, model=model)
        return None
