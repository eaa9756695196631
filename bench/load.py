"""A bounded load test of the local stack over loopback: concurrent guests, each with its
own cookies and CSRF token, spend their daily quota on `POST /api/ai-image/generate`
(small JPEGs, the `local` provider) and read `GET /api/ai-image/usage`; one burst guest
fires more concurrent generates than the rate limit admits.

What must hold, and is checked: no 5xx at all; every guest gets exactly its daily limit
of 200s, then 403 `quota_exceeded`, and its usage reads exactly the limit; the burst
gets exactly `rate limit` requests past the limiter (its quota's worth of 200s, the rest
403) and 429 for every other. Latencies (p50/p95 per route and outcome) are reported,
never asserted.

    python -m bench.load [--guests N] [--extra K] [--burst B] [--duration S] [--url URL]
                         [--write]

Without `--url` it starts the local stack itself (`python -m infra.local --port 0
--moto-port 0`, loopback only, no emulators: the `local` provider does the work) and
stops it afterwards. `--write` puts the result into docs/reliability.md (`## Load`).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import queue
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.events import small_jpeg

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "reliability.md"
READY_PREFIX = "LOCAL_STACK_READY"  # infra.local.READY_PREFIX (not imported: it loads uvicorn)
READY_TIMEOUT_SECONDS = 90
USAGE = "/api/ai-image/usage"
GENERATE = "/api/ai-image/generate"
MODEL = "@cf/runwayml/stable-diffusion-v1-5-img2img"  # the local provider on the local stack
RATE_LIMIT = 15  # Settings.generate_rate_limit_per_minute, as the template leaves it


@dataclass(frozen=True, slots=True)
class Sample:
    route: str
    status: int
    code: str | None
    seconds: float


@dataclass
class GuestResult:
    generated: int = 0
    refused_quota: int = 0
    other: list[str] = field(default_factory=list)  # anything unexpected, described
    usage_after: int | None = None
    limit: int | None = None


@dataclass
class LoadReport:
    guests: int
    extra: int
    burst: int
    seconds: float
    samples: list[Sample]  # all, the lone guest's included
    alone: list[Sample]  # the lone guest's: service times without contention
    guest_results: list[GuestResult]
    burst_statuses: Counter[int]
    daily_limit: int
    rate_limit: int

    @property
    def server_errors(self) -> int:
        return sum(1 for s in self.samples if s.status >= 500)

    def problems(self) -> list[str]:
        """Everything that is not exactly as it must be; empty when the run is clean."""
        found = []
        if self.server_errors:
            found.append(f"{self.server_errors} responses with status 5xx")
        for number, guest in enumerate(self.guest_results):
            if guest.generated != self.daily_limit:
                found.append(f"guest {number}: {guest.generated} images, not {self.daily_limit}")
            if guest.refused_quota != self.extra:
                found.append(
                    f"guest {number}: {guest.refused_quota} quota refusals, not {self.extra}"
                )
            if guest.usage_after != self.daily_limit:
                found.append(f"guest {number}: usage reads {guest.usage_after}")
            found += [f"guest {number}: {other}" for other in guest.other]
        if self.burst:
            admitted = min(self.burst, self.rate_limit)
            expected = Counter(
                {
                    200: min(admitted, self.daily_limit),
                    403: max(0, admitted - self.daily_limit),
                    429: self.burst - admitted,
                }
            )
            expected = +expected  # drop zero counts
            if self.burst_statuses != expected:
                found.append(
                    f"burst of {self.burst}: {dict(self.burst_statuses)}, expected {dict(expected)}"
                )
        return found


# --- the local stack ---------------------------------------------------------------------


@contextmanager
def local_stack(env: Mapping[str, str] | None = None) -> Iterator[str]:
    """`python -m infra.local` on free loopback ports; yields the API's base URL."""
    environment = dict(os.environ if env is None else env)
    environment["PYTHONPATH"] = os.pathsep.join(
        str(ROOT / p) for p in ("layers/common", "functions", ".")
    )
    environment["PYTHONUNBUFFERED"] = "1"
    environment.pop("EMULATORS", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.local", "--port", "0", "--moto-port", "0"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stdout = process.stdout
    if stdout is None:  # stdout=PIPE always gives one
        process.kill()
        raise RuntimeError("the local stack started without an output pipe")
    output: list[str] = []
    ready: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def drain() -> None:
        # Read to the end, so the stack never blocks on a full pipe under load.
        for line in stdout:
            output.append(line)
            if line.startswith(READY_PREFIX):
                ready.put(json.loads(line.removeprefix(READY_PREFIX)))
        ready.put(None)

    threading.Thread(target=drain, daemon=True).start()
    try:
        try:
            announced = ready.get(timeout=READY_TIMEOUT_SECONDS)
        except queue.Empty:
            announced = None
        if announced is None:
            raise RuntimeError("the local stack did not start:\n" + "".join(output[-50:]))
        yield str(announced["api"])
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the guests --------------------------------------------------------------------------


_loopback_guests = itertools.count()


def _transport(base: str) -> httpx.AsyncHTTPTransport | None:
    """On the local stack, a loopback address of its own per guest (127.0.0.2, .3, ...):
    the stack counts guests per network too (GUEST_NETWORK_DAILY_LIMIT) by the socket's
    address, and real guests come from networks of their own."""
    if httpx.URL(base).host != "127.0.0.1":
        return None
    n = next(_loopback_guests)
    return httpx.AsyncHTTPTransport(local_address=f"127.0.{n // 250}.{n % 250 + 2}")


class Guest:
    """A browser of its own: its guest cookie, a CSRF cookie + header, same Origin."""

    def __init__(self, base: str, samples: list[Sample]) -> None:
        self.csrf = secrets.token_hex(16)
        self.client = httpx.AsyncClient(
            base_url=base,
            headers={"Origin": base, "X-CSRF-Token": self.csrf},
            timeout=60,
            transport=_transport(base),
        )
        # The stack's cookies are `Secure`; httpx's jar never returns those over http (a
        # browser does, for 127.0.0.1), so the jar is filled by hand.
        self.client.cookies.set("csrf_token", self.csrf)
        self.samples = samples

    async def close(self) -> None:
        await self.client.aclose()

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        started = time.perf_counter()
        response = await self.client.request(method, path, **kwargs)
        elapsed = time.perf_counter() - started
        code = None
        if response.status_code >= 400:
            try:
                code = response.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = None
        self.samples.append(Sample(f"{method} {path}", response.status_code, code, elapsed))
        guest_cookie = response.cookies.get("guest_id")
        if guest_cookie:
            self.client.cookies.set("guest_id", guest_cookie)
        return response

    async def usage(self) -> dict[str, Any]:
        response = await self.call("GET", USAGE)
        if response.status_code != 200:
            return {}
        data: dict[str, Any] = response.json()["data"]["usage"]
        return data

    async def generate(self, image: bytes) -> httpx.Response:
        return await self.call(
            "POST",
            GENERATE,
            data={"model": MODEL},
            files={"image": ("photo.jpg", image, "image/jpeg")},
        )


async def one_guest(base: str, image: bytes, extra: int, samples: list[Sample]) -> GuestResult:
    guest = Guest(base, samples)
    result = GuestResult()
    try:
        first = await guest.usage()
        result.limit = int(first.get("limit", -1))
        for attempt in range(result.limit + extra):
            response = await guest.generate(image)
            expected_ok = attempt < result.limit
            if response.status_code == 200 and expected_ok:
                result.generated += 1
            elif response.status_code == 403 and not expected_ok:
                code = response.json()["error"]["code"]
                if code == "quota_exceeded":
                    result.refused_quota += 1
                else:
                    result.other.append(f"attempt {attempt}: 403 {code}")
            else:
                result.other.append(
                    f"attempt {attempt}: {response.status_code} {response.text[:120]}"
                )
        result.usage_after = int((await guest.usage()).get("used", -1))
    finally:
        await guest.close()
    return result


async def burst_guest(base: str, image: bytes, burst: int, samples: list[Sample]) -> Counter[int]:
    """One guest, `burst` generates at once: the rate limiter decides, exactly."""
    guest = Guest(base, samples)
    try:
        await guest.usage()  # the guest cookie first, so every request is the same guest
        # A fixed one-minute window: start the burst well inside one.
        into_minute = time.time() % 60
        if into_minute > 45:
            await asyncio.sleep(60 - into_minute + 0.5)
        responses = await asyncio.gather(*(guest.generate(image) for _ in range(burst)))
    finally:
        await guest.close()
    return Counter(r.status_code for r in responses)


async def warm_up(base: str, image: bytes) -> None:
    """First requests of a fresh stack pay for lazy imports, clients and key reads: not
    part of any figure."""
    guest = Guest(base, [])
    try:
        await guest.usage()
        await guest.generate(image)
        await guest.usage()
    finally:
        await guest.close()


async def run_load(
    base: str, *, guests: int, extra: int, burst: int, duration: float
) -> LoadReport:
    image = small_jpeg(256, 192)
    alone: list[Sample] = []
    await warm_up(base, image)
    started = time.perf_counter()
    # The baseline of the same run: one guest alone, nothing else in flight.
    results = [await one_guest(base, image, extra, alone)]
    samples = list(alone)
    deadline = time.perf_counter() + duration
    # Guests start in waves of `guests` at once until the time budget is spent: at least one.
    while True:
        wave = await asyncio.gather(
            *(one_guest(base, image, extra, samples) for _ in range(guests))
        )
        results += wave
        if time.perf_counter() >= deadline or duration <= 0:
            break
    burst_statuses = await burst_guest(base, image, burst, samples) if burst else Counter[int]()
    limits = {r.limit for r in results}
    daily_limit = limits.pop() if len(limits) == 1 else -1
    return LoadReport(
        guests=len(results),
        extra=extra,
        burst=burst,
        seconds=time.perf_counter() - started,
        samples=samples,
        alone=alone,
        guest_results=results,
        burst_statuses=burst_statuses,
        daily_limit=int(daily_limit or -1),
        rate_limit=RATE_LIMIT,
    )


# --- the report --------------------------------------------------------------------------


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    index = fraction * (len(ordered) - 1)
    low = int(index)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (index - low)


def _groups(samples: Sequence[Sample]) -> dict[tuple[str, int, str | None], list[float]]:
    groups: dict[tuple[str, int, str | None], list[float]] = defaultdict(list)
    for s in samples:
        groups[(s.route, s.status, s.code)].append(s.seconds)
    return groups


def latency_table(samples: Sequence[Sample], alone: Sequence[Sample]) -> str:
    """p50/p95 per route and outcome under load, against the lone guest's p50."""
    quiet = {key: statistics.median(values) for key, values in _groups(alone).items()}
    lines = [
        "| route | status | requests | p50 ms | p95 ms | max ms | alone p50 ms | p50 vs alone |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for key, values in sorted(_groups(samples).items()):
        route, status, code = key
        label = f"{status} {code}" if code else str(status)
        p50 = statistics.median(values)
        base = quiet.get(key)
        lines.append(
            f"| `{route}` | {label} | {len(values)} | {p50 * 1000:.0f} | "
            f"{_percentile(values, 0.95) * 1000:.0f} | {max(values) * 1000:.0f} | "
            + (f"{base * 1000:.0f} | {p50 / base:.1f}x |" if base else "— | — |")
        )
    return "\n".join(lines)


def render(report: LoadReport, *, parallel: int) -> str:
    total = len(report.samples)
    problems = report.problems()
    statuses = Counter(s.status for s in report.samples)
    rate = total / report.seconds if report.seconds else 0.0
    admitted = min(report.burst, report.rate_limit)
    lines = [
        f"Run: one guest alone first (the baseline), then {parallel} guests at a time, "
        f"{report.guests} guests in all, each: usage, {report.daily_limit} + {report.extra} "
        f"generates (256x192 JPEG), usage; then one guest's burst of {report.burst} "
        f"concurrent generates. {total} requests in "
        f"{report.seconds:.1f} s ({rate:.1f} requests/s), on "
        f"{os.cpu_count()} vCPUs, Python {platform.python_version()}.",
        "",
        "| check | expected | measured |",
        "|---|---|---|",
        f"| responses with status 5xx | 0 | {report.server_errors} |",
        f"| 200s per guest | exactly {report.daily_limit} | "
        f"{_spread(g.generated for g in report.guest_results)} |",
        f"| 403 `quota_exceeded` per guest | exactly {report.extra} | "
        f"{_spread(g.refused_quota for g in report.guest_results)} |",
        f"| usage `used` per guest afterwards | exactly {report.daily_limit} | "
        f"{_spread(g.usage_after or 0 for g in report.guest_results)} |",
        f"| burst: past the rate limiter (200 + 403) | exactly {admitted} | "
        f"{report.burst_statuses[200] + report.burst_statuses[403]} |",
        f"| burst: 200 (the guest's quota) | exactly {min(admitted, report.daily_limit)} | "
        f"{report.burst_statuses[200]} |",
        f"| burst: 429 `rate_limited` | exactly {report.burst - admitted} | "
        f"{report.burst_statuses[429]} |",
        "",
        "All statuses: "
        + ", ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))
        + ".",
        "",
        latency_table(report.samples, report.alone),
        "",
        "Verdict: "
        + ("**clean** (every check exact, no 5xx)." if not problems else "**FAILED**: ")
        + "; ".join(problems),
    ]
    return "\n".join(lines)


def _spread(values: Any) -> str:
    counted = Counter(values)
    if len(counted) == 1:
        (value,) = counted
        return f"{value} for every guest"
    return ", ".join(f"{v}: {n} guests" for v, n in sorted(counted.items()))


SECTION_INTRO = """\
## Load

A bounded load test of the local stack over loopback (`make load`, `python -m bench.load`):
the HTTP functions behind the local API gateway (uvicorn, one process), moto as a server,
the `local` provider doing the image work. Concurrent guests, each with its own cookies
and CSRF token (as separate browsers), spend their daily quota on generate and read their
usage; then one guest fires more concurrent generates than the rate limit admits. Checked
exactly: no 5xx; each guest gets its daily limit of 200s, then 403 `quota_exceeded`, and
its usage reads the limit; the burst gets exactly the rate limit past the limiter and 429
for the rest. Latencies are reported (p50/p95) against one guest alone measured first in
the same run, never asserted: the client, the stack (one process for every function) and
moto share the machine's cores, so under load they show queueing on one small machine,
not what Lambda, with an instance per concurrent request, would show. A reduced run of
the same code is a test (`tests/functional/test_load.py`: 0 5xx, exact counts)."""


OPEN_POINTS = "## Open points"


def write_section(section: str, document: Path = DOCUMENT) -> None:
    """Replace the `## Load` section of docs/reliability.md, or add it (before the closing
    "Open points", if there are any); the rest of the document is left as it is."""
    text = document.read_text() if document.exists() else "# Reliability\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "## Load"), None)
    if start is None:
        # A new section goes before the closing "Open points", if the document has them.
        closing = next((i for i, line in enumerate(lines) if line.strip() == OPEN_POINTS), None)
        if closing is None:
            new = text.rstrip() + "\n\n" + section + "\n"
        else:
            before, after = "\n".join(lines[:closing]), "\n".join(lines[closing:])
            new = before.rstrip() + "\n\n" + section + "\n\n" + after + "\n"
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        tail = lines[end:]
        new = "\n".join([*lines[:start], section, *(["", *tail] if tail else [])]).rstrip() + "\n"
    document.write_text(new)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--guests", type=int, default=25, help="guests at a time (25)")
    parser.add_argument("--extra", type=int, default=2, help="generates past the quota (2)")
    parser.add_argument("--burst", type=int, default=25, help="concurrent burst size (25)")
    parser.add_argument(
        "--duration", type=float, default=30, help="start waves of guests for S seconds (30)"
    )
    parser.add_argument("--url", help="an already running stack (default: start one)")
    parser.add_argument("--write", action="store_true", help="update docs/reliability.md")
    args = parser.parse_args(argv)
    if args.guests < 1 or args.extra < 0 or args.burst < 0:
        parser.error("--guests must be at least 1, --extra and --burst not negative")

    def go(base: str) -> LoadReport:
        return asyncio.run(
            run_load(
                base,
                guests=args.guests,
                extra=args.extra,
                burst=args.burst,
                duration=args.duration,
            )
        )

    if args.url:
        report = go(args.url.rstrip("/"))
    else:
        with local_stack() as base:
            report = go(base)
    ran_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = "\n\n".join(
        [SECTION_INTRO, f"Last run: {ran_at}.", render(report, parallel=args.guests)]
    )
    print(section)
    if args.write:
        write_section(section)
        print(f"wrote {DOCUMENT.relative_to(ROOT)}", file=sys.stderr)
    return 1 if report.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
