"""How many provider status calls a Magic Edits job costs with the poll worker's backoff
(`aiimage.edits.runner.poll_delay`), against fixed 5-second polling, for jobs of several
durations. A simulation of the schedule itself (seeded, 2,000 jobs per duration): the
numbers are status calls and waiting time, not wall-clock measurements.

    python -m bench.poll_schedule [--markdown]
"""

from __future__ import annotations

import argparse
import random
import statistics

from aiimage.edits.runner import POLL_MAX_DELAY_SECONDS, poll_delay

DURATIONS = (10, 30, 60, 120, 300, 900)
FIXED_INTERVAL = 5
JOBS = 2000


def polls_with_backoff(duration: float) -> tuple[int, float]:
    """Status calls until the job is seen finished, and how late it is seen."""
    elapsed, polls = float(poll_delay(0)), 1  # the first poll follows the submit's delay
    while elapsed < duration:
        elapsed += poll_delay(polls)
        polls += 1
    return polls, elapsed - duration


def polls_fixed(duration: float) -> int:
    return max(1, -(-int(duration) // FIXED_INTERVAL))


def simulate() -> list[tuple[int, float, int, float, float]]:
    random.seed(20261123)
    rows = []
    for duration in DURATIONS:
        backoff = [polls_with_backoff(duration) for _ in range(JOBS)]
        fixed_polls = polls_fixed(duration)
        mean_polls = statistics.mean(p for p, _ in backoff)
        mean_late = statistics.mean(late for _, late in backoff)
        rows.append((duration, mean_polls, fixed_polls, mean_polls / fixed_polls, mean_late))
    return rows


HEADER = ("job takes s", "backoff calls", "fixed-5s calls", "ratio", "backoff seen late s")


def markdown_table(rows: list[tuple[int, float, int, float, float]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "--:|" * len(HEADER)]
    lines += [f"| {d} | {b:.1f} | {f} | {r:.2f}x | {late:.1f} |" for d, b, f, r, late in rows]
    return "\n".join(lines)


SECTION_INTRO = """\
## Magic Edits: provider status calls per job (`bench/poll_schedule.py`)

The poll worker makes one status call per message and re-queues a pending job with an
exponential, jittered delay: before poll *k* it waits a random time in [c/2, c] with
c = min({cap} s, 5 s · 2^k) (`aiimage.edits.runner.poll_delay`). The benchmark simulates that
schedule for {jobs:,} jobs per duration (seeded) and compares it with polling every 5 s, the
baseline computed in the same run. It counts status calls, not wall-clock time.

```sh
.venv/bin/python -m bench.poll_schedule --markdown   # PYTHONPATH as in the Makefile
```"""

SECTION_NOTES = """\
The end-to-end tests confirm the count on real runs: a Runware emulator job that finishes
on its third status call takes exactly three calls (`polls == 2` recorded, test
`tests/functional/test_edit_workers_runware.py`). The price of fewer calls is latency: a
five-minute job is noticed about {late_300:.0f} s late on average. With Runware's completion
webhook configured (`RunwareWebhookTokenParam` and `PublicBaseUrl`), a job that finishes
before its first poll costs **0** status calls and is stored as soon as the webhook arrives
(`test_a_completion_webhook_finishes_the_request_with_zero_polls`); the polls stay as the
safety net for a lost webhook."""


def run() -> str:
    """The Markdown section of docs/benchmarks.md."""
    rows = simulate()
    late_300 = next(late for d, _, _, _, late in rows if d == 300)
    return "\n\n".join(
        [
            SECTION_INTRO.format(cap=POLL_MAX_DELAY_SECONDS, jobs=JOBS),
            markdown_table(rows),
            SECTION_NOTES.format(late_300=late_300),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.poll_schedule")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    rows = simulate()
    if args.markdown:
        print(markdown_table(rows))
    else:
        print(f"{HEADER[0]:>12} {HEADER[1]:>14} {HEADER[2]:>15} {HEADER[3]:>7} {HEADER[4]:>20}")
        for d, b, f, r, late in rows:
            print(f"{d:>12} {b:>14.1f} {f:>15} {r:>6.2f}x {late:>20.1f}")
    cap = POLL_MAX_DELAY_SECONDS
    print(f"\nschedule: the delay before poll k is drawn from [c/2, c], c = min({cap}, 5*2^k)")


if __name__ == "__main__":
    main()
