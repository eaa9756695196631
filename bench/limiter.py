"""Limiter exactness at 200 concurrent callers: 200 threads released at once against the
rate limiter (limit 50 per window) and the quota (daily cap 20) of one owner, on moto
in-process. Exact means: admitted == limit, every other caller refused, and the stored
counter equal to the admitted count. The baseline, in the same run, is the read-then-write
limiter that a single conditional write replaces (GetItem, compare, PutItem).

    python -m bench.limiter
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from bench.stack import moto_stack

CALLERS = 200
RATE_LIMIT = 50
DAILY_CAP = 20
WINDOW_START = 1_799_999_940.0  # a minute boundary: the whole burst falls in one window


@dataclass(frozen=True, slots=True)
class Exactness:
    label: str
    expected: int
    admitted: int
    refused: int
    errors: int
    stored: int

    @property
    def exact(self) -> bool:
        return self.admitted == self.expected == self.stored and self.errors == 0


def burst(attempt: Callable[[], bool], callers: int = CALLERS) -> tuple[int, int, int]:
    """`callers` threads released together; (admitted, refused, errors)."""
    gate = threading.Barrier(callers)

    def one() -> str:
        gate.wait()
        try:
            return "admitted" if attempt() else "refused"
        except Exception:  # counted: an error is a failure of exactness
            return "error"

    with ThreadPoolExecutor(max_workers=callers) as pool:
        outcomes = list(pool.map(lambda _: one(), range(callers)))
    return outcomes.count("admitted"), outcomes.count("refused"), outcomes.count("error")


def rate_limiter_case() -> Exactness:
    from aiimage.errors import RateLimitedError
    from aiimage.limits.rate_limiter import RateLimiter
    from aiimage.settings import get_settings

    table = get_settings().limits_table
    limiter = RateLimiter(table, clock=lambda: WINDOW_START + 1)

    def attempt() -> bool:
        try:
            limiter.hit("bench", "guest#burst", limit=RATE_LIMIT, window_seconds=60)
        except RateLimitedError:
            return False
        return True

    admitted, refused, errors = burst(attempt)
    stored = _logged_admissions(table, "rate#bench#guest#burst")
    return Exactness(
        f"rate limiter, limit {RATE_LIMIT}", RATE_LIMIT, admitted, refused, errors, stored
    )


def quota_case() -> Exactness:
    from aiimage.errors import QuotaExceededError
    from aiimage.limits.plans import Entitlements
    from aiimage.limits.quota import QuotaStore
    from aiimage.settings import get_settings

    table = get_settings().limits_table
    now = datetime.fromtimestamp(WINDOW_START, UTC)
    store = QuotaStore(table, clock=lambda: now)
    plan = Entitlements(
        monthly_images=10 * DAILY_CAP, daily_burst_cap=DAILY_CAP, max_upscale=2, face_enhance=False
    )

    def attempt() -> bool:
        try:
            store.reserve("guest#burst", plan)
        except QuotaExceededError:
            return False
        return True

    admitted, refused, errors = burst(attempt)
    stored = store.usage("guest#burst", plan).daily.used
    return Exactness(f"quota, daily cap {DAILY_CAP}", DAILY_CAP, admitted, refused, errors, stored)


def naive_case() -> Exactness:
    """The baseline: read the count, compare, write count + 1 (no condition)."""
    from aiimage import aws
    from aiimage.settings import get_settings

    table = get_settings().limits_table
    key = {"pk": {"S": "naive#guest#burst"}, "sk": {"S": "w"}}
    client = aws.dynamodb()

    def attempt() -> bool:
        item = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item", {})
        hits = int(item.get("hits", {}).get("N", "0"))
        if hits >= RATE_LIMIT:
            return False
        client.put_item(TableName=table, Item={**key, "hits": {"N": str(hits + 1)}})
        return True

    admitted, refused, errors = burst(attempt)
    stored = _number(table, "naive#guest#burst", "w", "hits")
    return Exactness(
        f"baseline: read-then-write, limit {RATE_LIMIT}",
        RATE_LIMIT,
        admitted,
        refused,
        errors,
        stored,
    )


def _logged_admissions(table: str, pk: str) -> int:
    """The admissions in a sliding-log item (its `t0 … t{limit-1}` slots that hold a time)."""
    from aiimage import aws

    key = {"pk": {"S": pk}, "sk": {"S": "log#60"}}
    item = aws.dynamodb().get_item(TableName=table, Key=key, ConsistentRead=True).get("Item", {})
    return sum(1 for name, value in item.items() if name[1:].isdigit() and value["N"] != "0")


def _number(table: str, pk: str, sk: str, attribute: str) -> int:
    from aiimage import aws

    item = (
        aws.dynamodb()
        .get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True)
        .get("Item", {})
    )
    return int(item.get(attribute, {}).get("N", "0"))


def measure() -> tuple[list[Exactness], float]:
    started = time.perf_counter()
    with moto_stack():
        results = [naive_case(), rate_limiter_case(), quota_case()]
    return results, time.perf_counter() - started


def render(results: Sequence[Exactness], seconds: float) -> str:
    lines = [
        f"{CALLERS} threads per case, released together by a barrier ({seconds:.1f} s in all).",
        "",
        "| limiter | expected | admitted | admitted / expected | refused | errors "
        "| stored counter | exact |",
        "|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.label} | {r.expected} | {r.admitted} | {r.admitted / r.expected:.2f}x | "
            f"{r.refused} | {r.errors} | {r.stored} | {'yes' if r.exact else '**no**'} |"
        )
    return "\n".join(lines)


HEADER = """\
## Limiter exactness at 200 concurrent callers (`bench/limiter.py`)

200 threads, released together by a barrier, take from one owner's rate-limit window
(limit 50) and one owner's daily quota (cap 20) through `RateLimiter.hit` and
`QuotaStore.reserve`, on moto in-process with DynamoDB's per-item atomicity
(`infra/emulation.py`). Each check is one conditional `UpdateItem`, so exactly the limit is
admitted and the stored counter agrees. The baseline, in the same run, is a read-then-write
limiter (GetItem, compare, PutItem) under the same burst: it admits more than its limit,
which is what a single conditional write prevents."""


def run() -> str:
    results, seconds = measure()
    return "\n\n".join([HEADER, render(results, seconds)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.limiter")
    parser.parse_args(argv)
    results, seconds = measure()
    print(render(results, seconds))
    return 0 if all(r.exact for r in results[1:]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
