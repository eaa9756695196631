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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.poll_schedule")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    random.seed(20261123)
    rows = []
    for duration in DURATIONS:
        backoff = [polls_with_backoff(duration) for _ in range(JOBS)]
        fixed_polls = polls_fixed(duration)
        mean_polls = statistics.mean(p for p, _ in backoff)
        mean_late = statistics.mean(late for _, late in backoff)
        rows.append((duration, mean_polls, fixed_polls, mean_polls / fixed_polls, mean_late))
    header = ("job takes s", "backoff calls", "fixed-5s calls", "ratio", "backoff seen late s")
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "--:|" * len(header))
        for d, b, f, r, late in rows:
            print(f"| {d} | {b:.1f} | {f} | {r:.2f}x | {late:.1f} |")
    else:
        print(f"{header[0]:>12} {header[1]:>14} {header[2]:>15} {header[3]:>7} {header[4]:>20}")
        for d, b, f, r, late in rows:
            print(f"{d:>12} {b:>14.1f} {f:>15} {r:>6.2f}x {late:>20.1f}")
    cap = POLL_MAX_DELAY_SECONDS
    print(f"\nschedule: the delay before poll k is drawn from [c/2, c], c = min({cap}, 5*2^k)")


if __name__ == "__main__":
    main()
