"""What the Magic Edits tenant summary costs at 100 and at 10,000 requests per event: the
O(1) counters (`aiimage.edits.stats.summarize`) against the previous approach, paging
through every request of the event (one Query per 100 requests), measured in the same run.

The first 100 requests are written through the real code path (`requests._put`: the
request and its event's counters in one transaction), every 10th moved through real
transitions (processing → succeeded / failed / blocked) with a provider latency. The rest
up to 10,000 are batch-written in their final status, with the counters moved by exactly
the increments the real path computes (`stats.increments`), one ADD per batch: moto
needs minutes for 10,000 transactions, and the summary reads the same items either way.
DynamoDB calls and returned items are counted with botocore event hooks; read units are
estimated from the returned items' sizes (strongly consistent: one unit per started 4 KB
of each item for GetItem, per 4 KB of the page for Query).

    python -m bench.summary_reads [--large 10000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiimage.edits.models import EditStatus

_ENV = {
    "STAGE": "test",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "LIMITS_TABLE": "bench-summary-limits",
    "EDITS_TABLE": "bench-summary-edits",
    "IMAGES_BUCKET": "bench-summary-images",
    "GUEST_COOKIE_SECRET": "bench-guest-cookie-secret-0123456789abcdef",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
SMALL = 100
LARGE = 10_000
PAGE = 100  # what the previous summary read per Query page


@dataclass(frozen=True, slots=True)
class Cost:
    calls: dict[str, int]
    items: int
    read_units: float
    median_ms: float

    @property
    def call_count(self) -> int:
        return sum(self.calls.values())


class Counter:
    """botocore hooks: the operations called and the items (and their sizes) returned."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.items = 0
        self.read_units = 0.0

    def before(self, event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        self.calls[operation] = self.calls.get(operation, 0) + 1

    def after(self, event_name: str, parsed: dict[str, Any], **_: Any) -> None:
        if "Item" in parsed:
            self.items += 1
            self.read_units += math.ceil(max(1, _size(parsed["Item"])) / 4096)
        elif "Items" in parsed:
            self.items += len(parsed["Items"])
            self.read_units += math.ceil(max(1, sum(_size(i) for i in parsed["Items"])) / 4096)


def _size(item: dict[str, Any]) -> int:
    return len(json.dumps(item, separators=(",", ":"), default=str))


@contextmanager
def counting() -> Iterator[Counter]:
    from aiimage import aws

    counter = Counter()
    events = aws.dynamodb().meta.events
    events.register("before-call.dynamodb", counter.before)
    events.register("after-call.dynamodb", counter.after)
    try:
        yield counter
    finally:
        events.unregister("before-call.dynamodb", counter.before)
        events.unregister("after-call.dynamodb", counter.after)


def _request(event: Any, number: int, now: datetime) -> Any:
    from aiimage.edits.models import EditRequest

    return EditRequest(
        request_id=f"{int(now.timestamp() * 1000):013x}{number:016x}",
        tenant_id=event.tenant_id,
        event_id=event.event_id,
        event_slug=event.slug,
        photo_id="photo-1",
        style_key="watercolor",
        provider="fake",
        provider_model="style:enhance",
        status="queued",
        cost_estimate_micros=20_000,
        requested_by="guest:" + "c" * 32,
        created_at=now,
        updated_at=now,
    )


def _fill(event: Any, target: int, existing: int) -> None:
    """Requests through the real store path; every 10th also runs to a terminal status."""
    from aiimage.edits import request_store, runner, stats

    now = datetime.now(UTC)
    for number in range(existing, target):
        request = _request(event, number, now)
        request_store.insert(request)
        if number % 10:
            continue
        taken = request_store.transition(request, from_status=("queued",), to_status="processing")
        if taken is None:
            raise RuntimeError(f"request {request.request_id} was not queued")
        stats.record_latency(taken, "fake", 800 + number % 5_000)
        outcome = number // 10 % 4
        if outcome == 0:
            runner.fail(taken, "provider_failed", "bench")
        elif outcome == 1:
            runner.block(taken)
        else:
            request_store.transition(
                taken, from_status=("processing",), to_status="succeeded", result_key="x"
            )


def _batch_fill(event: Any, target: int, existing: int) -> None:
    """Requests in their final status by BatchWriteItem; counters by the same increments."""
    from aiimage import aws
    from aiimage.edits import request_store, stats
    from aiimage.settings import get_settings

    table = get_settings().edits_table
    now = datetime.now(UTC)
    statuses: tuple[EditStatus, ...] = ("succeeded", "succeeded", "failed", "blocked", "succeeded")
    for start in range(existing, target, 25):
        items: list[Any] = []
        delta: dict[str, int] = {}
        for number in range(start, min(start + 25, target)):
            status = statuses[number % len(statuses)]
            request = _request(event, number, now).model_copy(update={"status": status})
            item = request_store._to_item(request) | request_store._index_attributes(
                request, dispatched=False
            )
            items.append({"PutRequest": {"Item": item}})
            steps: tuple[tuple[EditStatus | None, EditStatus], ...] = (
                (None, "queued"),
                ("queued", "processing"),
                ("processing", status),
            )
            for old, new in steps:
                for name, value in stats.increments(old, new, {}, request).items():
                    delta[name] = delta.get(name, 0) + value
        pending: Any = {table: items}
        while pending:
            pending = aws.dynamodb().batch_write_item(RequestItems=pending)["UnprocessedItems"]
        delta = {k: v for k, v in delta.items() if v}
        aws.dynamodb().transact_write_items(
            TransactItems=[stats.update_item(table, event.tenant_id, event.slug, delta)]
        )


def _paging_summary(event: Any) -> dict[str, int]:
    """The previous summary: page through every request of the event."""
    from aiimage.edits.request_store import list_edits

    counts: dict[str, int] = {}
    cursor = None
    while True:
        page = list_edits(event, limit=PAGE, cursor=cursor)
        for request in page.requests:
            counts[request.status] = counts.get(request.status, 0) + 1
        if page.next_cursor is None:
            return counts
        cursor = page.next_cursor


def _measure(call: Callable[[], object], repeat: int) -> Cost:
    """The calls of one run, and the median time of `repeat` runs (the first also warms)."""
    if repeat == 1:  # one run, counted and timed
        with counting() as counter:
            started = time.perf_counter()
            call()
            elapsed = (time.perf_counter() - started) * 1000
        return Cost(counter.calls, counter.items, counter.read_units, elapsed)
    with counting() as counter:
        call()
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return Cost(counter.calls, counter.items, counter.read_units, statistics.median(timings))


def measure(large: int = LARGE, repeat: int = 20) -> dict[tuple[str, int], Cost]:
    for name, value in _ENV.items():
        os.environ.setdefault(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "GUEST_COOKIE_SECRET_PARAM"):
        os.environ.pop(name, None)

    from moto import mock_aws

    from aiimage.edits import stats
    from aiimage.edits.catalog_store import catalog
    from aiimage.singletons import reset_singletons
    from infra.emulation import serialize_dynamodb
    from infra.resources import create_resources
    from infra.seed_edits import seed_demo
    from infra.template import load_template

    reset_singletons()
    serialize_dynamodb()
    results: dict[tuple[str, int], Cost] = {}
    with mock_aws():
        reset_singletons()
        create_resources(
            load_template(),
            parameters={"AppOrigin": "https://app.bench"},
            physical_names={
                "LimitsTable": os.environ["LIMITS_TABLE"],
                "EditsTable": os.environ["EDITS_TABLE"],
                "ImagesBucket": os.environ["IMAGES_BUCKET"],
            },
        )
        demo = seed_demo(bucket=os.environ["IMAGES_BUCKET"])
        event = catalog().get_event(demo.tenant_id, demo.event_slug)
        existing = 0
        for size in (SMALL, large):
            (_fill if size == SMALL else _batch_fill)(event, size, existing)
            existing = size
            counted = (stats.summarize(event).total, sum(_paging_summary(event).values()))
            if counted != (size, size):
                raise RuntimeError(f"{size} requests written, counters and paging say {counted}")
            results[("counters", size)] = _measure(lambda: stats.summarize(event), repeat)
            # Paging 10,000 requests takes seconds per run on moto: one timed run there.
            paging_repeat = repeat if size == SMALL else 1
            results[("paging", size)] = _measure(lambda: _paging_summary(event), paging_repeat)
    reset_singletons()
    return results


def render(results: dict[tuple[str, int], Cost], large: int) -> str:
    base = results[("counters", SMALL)]
    lines = [
        f"Tenant summary of one event, {SMALL} vs {large:,} requests (moto, same run); "
        "ratios against the counters at 100 requests",
        "",
        "| summary | requests | DynamoDB calls | items read | ≈ read units | median ms | "
        "ms vs baseline |",
        "|---|--:|---|--:|--:|--:|--:|",
    ]
    for approach, label in (("counters", "O(1) counters"), ("paging", "paging (previous)")):
        for size in (SMALL, large):
            cost = results[(approach, size)]
            calls = ", ".join(f"{n} {op}" for op, n in sorted(cost.calls.items()))
            lines.append(
                f"| {label} | {size:,} | {calls} | {cost.items:,} | {cost.read_units:g} | "
                f"{cost.median_ms:.1f} | {cost.median_ms / base.median_ms:.2f}x |"
            )
    small, big = results[("counters", SMALL)], results[("counters", large)]
    lines += [
        "",
        f"Counters: {big.call_count} calls at {large:,} requests vs {small.call_count} at "
        f"{SMALL} (ratio {big.call_count / small.call_count:.2f}); time ratio "
        f"{big.median_ms / small.median_ms:.2f}.",
        f"Paging: {results[('paging', large)].call_count} calls at {large:,} vs "
        f"{results[('paging', SMALL)].call_count} at {SMALL}; time ratio "
        f"{results[('paging', large)].median_ms / results[('paging', SMALL)].median_ms:.1f}.",
    ]
    return "\n".join(lines)


def run() -> str:
    """The benchmark's Markdown section (for `bench/__main__.py`)."""
    return "## Magic Edits summary reads (`bench/summary_reads.py`)\n\n" + render(measure(), LARGE)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.summary_reads")
    parser.add_argument("--large", type=int, default=LARGE)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    print(render(measure(args.large, args.repeat), args.large))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
