"""Warm handler overhead per route: `handler(event, context)` of each function, invoked
with API Gateway v2 events against moto in-process, against the bare FastAPI + Mangum
handler of `bench/baseline_app.py` in the same run.

The time inside AWS calls (moto's work here, a network round trip on Lambda) is measured
on botocore's `before-call`/`after-call` hooks and shown apart, so "own" is what our
middleware, validation, serialisation and image work cost per request.

    python -m bench.warm_handler [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.counting import AwsCallCounter
from bench.events import Handler, quiet_invoke
from bench.routes import Route, baseline_event, prepare_routes

WARMUP = 2
REPEAT = 30


@dataclass(frozen=True, slots=True)
class Timing:
    name: str
    total_ms: float  # median
    aws_ms: float  # median time inside AWS calls
    own_ms: float  # median of (total - aws) per invocation


def time_baseline(repeat: int) -> Timing:
    from bench.baseline_app import handler

    def invoke() -> None:
        response = quiet_invoke(handler, baseline_event())
        assert response["statusCode"] == 200, response

    for _ in range(WARMUP):
        invoke()
    totals = []
    for _ in range(repeat):
        started = time.perf_counter()
        invoke()
        totals.append(time.perf_counter() - started)
    median = statistics.median(totals) * 1000
    return Timing("baseline: bare FastAPI + Mangum, GET → JSON", median, 0.0, median)


def time_route(route: Route, counter: AwsCallCounter, repeat: int) -> Timing:
    handler: Handler = route.handler()
    for _ in range(WARMUP):
        route.invoke(handler)
    totals, aws, own = [], [], []
    for _ in range(repeat):
        with counter.counting() as calls:
            started = time.perf_counter()
            route.invoke(handler)
            elapsed = time.perf_counter() - started
        totals.append(elapsed)
        aws.append(calls.seconds)
        own.append(elapsed - calls.seconds)
    return Timing(
        f"`{route.name}`",
        statistics.median(totals) * 1000,
        statistics.median(aws) * 1000,
        statistics.median(own) * 1000,
    )


def measure(repeat: int) -> list[Timing]:
    baseline = time_baseline(repeat)
    counter = AwsCallCounter()
    from bench.stack import moto_stack

    with moto_stack():
        routes = prepare_routes()
        return [baseline, *(time_route(route, counter, repeat) for route in routes)]


def render(timings: Sequence[Timing], repeat: int) -> str:
    base = timings[0].total_ms
    lines = [
        f"Median of {repeat} warm invocations per route (after {WARMUP} untimed).",
        "",
        "| handler | total ms | vs baseline | in AWS calls (moto) ms | own ms | own vs baseline |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for t in timings:
        lines.append(
            f"| {t.name} | {t.total_ms:.2f} | {t.total_ms / base:.1f}x | {t.aws_ms:.2f} | "
            f"{t.own_ms:.2f} | {t.own_ms / base:.1f}x |"
        )
    return "\n".join(lines)


HEADER = """\
## Warm handler overhead per route (`bench/warm_handler.py`)

What a warm invocation of each function costs in the handler, against a bare FastAPI +
Mangum handler (`bench/baseline_app.py`: one GET route answering a small JSON document)
measured in the same run. Each function's real `handler` (powertools logging context and
EMF flush, Mangum, the platform middleware with identity, CSRF and security headers, the
route, the use case) is invoked with API Gateway v2 events against moto in-process. The
time spent inside AWS calls is measured on botocore's `before-call`/`after-call` hooks and
shown apart: on Lambda it is a network round trip to DynamoDB or S3 (a few ms each)
instead of moto's in-process work, so "own" is the part that is ours on both."""


def run(repeat: int = REPEAT) -> str:
    return "\n\n".join([HEADER, render(measure(repeat), repeat)])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.warm_handler")
    parser.add_argument("--repeat", type=int, default=REPEAT)
    args = parser.parse_args(argv)
    print(render(measure(args.repeat), args.repeat))


if __name__ == "__main__":
    main()
