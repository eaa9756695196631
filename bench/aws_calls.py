"""AWS calls per request, per route, counted with botocore's `before-call` hook on the
cached clients of `aiimage.aws` (every client the functions use comes from there).

Each route's Lambda handler is invoked with an API Gateway v2 event against moto: once
cold (first invocation in the process: caches empty) and then warm, which is what the
budgets are about. Counting calls is not timing: the same counter runs as a unit test
(`tests/unit/test_aws_calls.py`), and this module exits non-zero when a route is over.

    python -m bench.aws_calls [--markdown]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from bench.counting import AwsCallCounter, AwsCalls
from bench.routes import Limit, Route, prepare_routes

WARM_RUNS = 3


@dataclass(frozen=True, slots=True)
class RouteCalls:
    route: Route
    cold: AwsCalls
    warm: AwsCalls  # the last of WARM_RUNS warm invocations

    def over(self) -> list[tuple[Limit, int]]:
        return [
            (lim, lim.actual(self.warm))
            for lim in self.route.limits
            if lim.actual(self.warm) > lim.limit
        ]


def count_calls(routes: Sequence[Route], counter: AwsCallCounter | None = None) -> list[RouteCalls]:
    """Invoke each route cold, then `WARM_RUNS` times warm, counting AWS calls."""
    counter = counter or AwsCallCounter()
    results = []
    for route in routes:
        handler = route.handler()
        with counter.counting() as cold:
            route.invoke(handler)
        warm = []
        for _ in range(WARM_RUNS):
            with counter.counting() as calls:
                route.invoke(handler)
            warm.append(calls)
        results.append(RouteCalls(route, cold, warm[-1]))
    return results


def _cell(calls: AwsCalls) -> str:
    return (
        f"{calls.count('dynamodb')} DynamoDB, {calls.count('s3')} S3, "
        f"{calls.count('sqs')} SQS, {calls.count('ssm')} SSM"
    )


def render(results: Sequence[RouteCalls]) -> str:
    lines = [
        "| route | warm calls | of which | target | verdict |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        limits = r.route.limits
        target = "; ".join(f"{lim.label} ≤ {lim.limit}" for lim in limits) or "(none)"
        actual = "; ".join(f"{lim.label} {lim.actual(r.warm)}" for lim in limits)
        verdict = "—" if not limits else ("**over**" if r.over() else "ok")
        lines.append(
            f"| `{r.route.name}` | {_cell(r.warm)} | {r.warm.describe()} | {target}"
            f"{' (actual: ' + actual + ')' if actual else ''} | {verdict} |"
        )
    lines.append("")
    lines.append("First invocation in a fresh process (cold caches), for comparison:")
    lines.append("")
    lines += [f"- `{r.route.name}`: {_cell(r.cold)} ({r.cold.describe()})" for r in results]
    return "\n".join(lines)


HEADER = """\
## AWS calls per request (`bench/aws_calls.py`)

Every request's latency and cost on Lambda is mostly its calls to DynamoDB, S3 and SQS.
Each route's Lambda handler is invoked with an API Gateway v2 event against moto (every
table, queue and bucket created from `template.yaml`); a `before-call` hook on each cached
client of `aiimage.aws` counts the calls. The table shows a warm invocation (caches filled,
as on every request after a function's first); a new guest per invocation where the route
spends a per-caller allowance. The baseline is the target, a count, not a time; the same
counter runs in `tests/unit/test_aws_calls.py`, and `python -m bench.aws_calls` exits
non-zero when a route is over its target."""


NOTES = """\
Reading the Enhancer rows: a guest's usage reads its quota month and its network's day in
one consistent `BatchGetItem`; a guest's generate takes both in one `TransactWriteItems`
(issue 14: the per-network allowance), which replaces the quota's `UpdateItem`, so the
count stays 4 (rate limit, reserve, commit, usage answer). The transaction's price is in
write units, not calls: 2 per item instead of 1, about 4 WCU for the reserve.
A paid route (Workers AI, Replicate, Runware) adds 2 `UpdateItem`s on its provider's spend
day item (the reservation before the call and the settle after it: the daily ceilings of
issue 14), so 6; the `local` provider costs nothing, writes no spend and stays at 4. They
cannot join the quota's writes: another item, and a transaction on the hot day item would
conflict under load (`tests/functional/test_spend_ceilings.py` holds the +2).
Reading the create-edit row: a guest's join token addresses an alias item that carries a
copy of the event (one `GetItem`; every change of the event rewrites both in one
transaction); the photo, the style, the event's package, the tenant (its budget) and the
event's add-ons (one item) come in one consistent `BatchGetItem`; the abuse counter (it
also refuses a blocked guest), the guest's create rate limit and the budget reservation
are one conditional `UpdateItem` each (the reservation stays its own write: it returns the
new total that decides the soft-cap alert exactly, and a later refusal releases it); the
guest's and its network's daily allowances are one `TransactWriteItems` (both or neither;
issue 14), and the request and its event's counters another. A tenant user's create skips
the three guest writes: 4 calls.
The AI-editing settings are cached per process (read once per 30 s), which is the one
call the warm invocation saves over the first. Before this layout the route made 10 calls
(alias, event, photo, style, package, tenant one `GetItem` each, plus an add-ons
`Query`)."""


def run() -> str:
    from bench.stack import moto_stack

    with moto_stack():
        results = count_calls(prepare_routes())
    over = [r for r in results if r.over()]
    for r in over:
        detail = ", ".join(f"{lim.label} {n} > {lim.limit}" for lim, n in r.over())
        print(f"OVER TARGET {r.route.name}: {detail} ({r.warm.describe()})", file=sys.stderr)
    return "\n\n".join([HEADER, render(results), NOTES])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.aws_calls")
    parser.parse_args(argv)
    from bench.stack import moto_stack

    with moto_stack():
        results = count_calls(prepare_routes())
    print(render(results))
    return 1 if any(r.over() for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
