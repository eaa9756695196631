"""The operations CLI: `python -m aiimage.ops <command> …` (with `PYTHONPATH` as in the
README). Each command prints its details and one summary line, and exits 1 when anything
failed (2 for bad arguments). Long runs show a progress bar on stderr.

    recover-stuck --minutes 30 [--requeue | --fail]
    sweep-reservations [--pretend] [--minutes 30]
    sweep-quarantine [--pretend] [--minutes 20]
    prune [--pretend] [--request-days 90] [--ledger-days 365]
    backfill-storage [--pretend] [--limit 200] [--request-id ID]
    dispatch [--pretend] [--limit N]
    kill-switch on|off [--message TEXT] [--message-de TEXT] [--message-en TEXT]
    event-policy TENANT_ID EVENT_SLUG [--no-custom-prompt] [--styles a,b] [--disable|--enable]
                 [--prompt-in-manifest|--no-prompt-in-manifest]
    blocked-terms TERM [TERM ...]
    rebuild-stats TENANT_ID EVENT_SLUG [--pretend]
    summary TENANT_ID EVENT_SLUG
    spend [--day YYYY-MM-DD]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING

from aiimage.ops.target import LOCAL_ENDPOINT

if TYPE_CHECKING:  # the commands import the layer only once the target is set
    from aiimage.ops.recover import Mode
    from aiimage.ops.report import Report


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m aiimage.ops", description=__doc__.split("\n\n")[0]
    )
    # A flag, not an option with an optional value: `--local recover-stuck` must not take
    # the command for the URL.
    root.add_argument("--local", action="store_true", help="work on the local stack of `make dev`")
    root.add_argument(
        "--moto-url",
        default=LOCAL_ENDPOINT,
        metavar="URL",
        help=f"with --local: the stack's moto server (default {LOCAL_ENDPOINT})",
    )
    root.add_argument("--local-stack-name", default="aiimage-local", help=argparse.SUPPRESS)
    root.add_argument("--json", action="store_true", help="print the summary as JSON")
    root.add_argument("--quiet", action="store_true", help="no details, no progress bar")
    commands = root.add_subparsers(dest="command", required=True)

    recover = commands.add_parser("recover-stuck", help="requests without progress for N minutes")
    recover.add_argument("--minutes", type=int, default=30)
    action = recover.add_mutually_exclusive_group()
    action.add_argument("--requeue", action="store_true", help="send them on again")
    action.add_argument("--fail", action="store_true", help="fail them, releasing the budget")

    sweep = commands.add_parser(
        "sweep-reservations",
        help="refund Enhancer quota a killed generate left reserved; delete its original",
    )
    sweep.add_argument("--pretend", action="store_true", help="dry run: list only")
    sweep.add_argument(
        "--minutes", type=int, default=30, help="older than this (at least 15: the longest run)"
    )

    quarantine = commands.add_parser(
        "sweep-quarantine", help="delete direct uploads never consumed (raw bytes in quarantine)"
    )
    quarantine.add_argument("--pretend", action="store_true", help="dry run: list only")
    quarantine.add_argument(
        "--minutes",
        type=int,
        default=None,
        help="older than this (default: the presign lifetime plus 15; at least the lifetime)",
    )

    prune = commands.add_parser(
        "prune", help="delete requests, images and ledger lines past retention"
    )
    prune.add_argument("--pretend", action="store_true", help="dry run: list only")
    prune.add_argument("--request-days", type=int, default=None)
    prune.add_argument("--ledger-days", type=int, default=None)

    backfill = commands.add_parser(
        "backfill-storage", help="store outputs that only have a provider URL"
    )
    backfill.add_argument("--pretend", action="store_true", help="dry run: list only")
    backfill.add_argument("--limit", type=int, default=200)
    backfill.add_argument("--request-id", default=None)

    dispatch = commands.add_parser("dispatch", help="send queued requests to the submit queue")
    dispatch.add_argument("--pretend", action="store_true", help="dry run: list only")
    dispatch.add_argument("--limit", type=int, default=None)

    kill = commands.add_parser("kill-switch", help="switch AI editing off (on) or back on (off)")
    kill.add_argument("state", choices=("on", "off"))
    kill.add_argument("--message", default=None, help="what callers are told while it is on")
    for lang in ("de", "en"):
        kill.add_argument(
            f"--message-{lang}", default=None, help=f"the same text in {lang} (the guest page's)"
        )

    policy = commands.add_parser("event-policy", help="tighten (or relax) an event's policy")
    policy.add_argument("tenant_id")
    policy.add_argument("event_slug")
    prompts = policy.add_mutually_exclusive_group()
    prompts.add_argument("--no-custom-prompt", dest="custom_prompt", action="store_false")
    prompts.add_argument("--custom-prompt", dest="custom_prompt", action="store_true")
    policy.set_defaults(custom_prompt=None)
    manifest = policy.add_mutually_exclusive_group()
    manifest.add_argument("--prompt-in-manifest", dest="prompt_in_manifest", action="store_true")
    manifest.add_argument(
        "--no-prompt-in-manifest", dest="prompt_in_manifest", action="store_false"
    )
    policy.set_defaults(prompt_in_manifest=None)
    policy.add_argument("--styles", help="comma-separated allowed style keys ('' for all)")
    switch = policy.add_mutually_exclusive_group()
    switch.add_argument("--disable", dest="enabled", action="store_false")
    switch.add_argument("--enable", dest="enabled", action="store_true")
    policy.set_defaults(enabled=None)
    policy.add_argument("--message", default=None, help="the event's policy_message")

    terms = commands.add_parser("blocked-terms", help="add words to the global blocked_terms")
    terms.add_argument("terms", nargs="+")

    rebuild = commands.add_parser("rebuild-stats", help="recompute an event's counters")
    rebuild.add_argument("tenant_id")
    rebuild.add_argument("event_slug")
    rebuild.add_argument("--pretend", action="store_true", help="dry run: show the counts")

    summary = commands.add_parser("summary", help="an event's summary (counters and alerts)")
    summary.add_argument("tenant_id")
    summary.add_argument("event_slug")

    spend = commands.add_parser(
        "spend", help="a UTC day's provider spend against the daily ceilings (USD)"
    )
    spend.add_argument("--day", type=_day, default=None, help="YYYY-MM-DD (default: today, UTC)")
    return root


def _day(value: str) -> str:
    try:
        return date.fromisoformat(value).isoformat() if len(value) == 10 else _bad_day(value)
    except ValueError:
        return _bad_day(value)


def _bad_day(value: str) -> str:
    raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {value!r}")


def run(args: argparse.Namespace) -> Report:
    """Run one parsed command (imports after the target environment is set)."""
    show = not args.quiet and sys.stderr.isatty()
    if args.command == "recover-stuck":
        from aiimage.ops.recover import recover_stuck

        mode: Mode = "requeue" if args.requeue else "fail" if args.fail else "list"
        return recover_stuck(minutes=args.minutes, mode=mode, show_progress=show)
    if args.command == "sweep-reservations":
        from aiimage.ops.reservations import sweep_reservations

        return sweep_reservations(minutes=args.minutes, pretend=args.pretend, show_progress=show)
    if args.command == "sweep-quarantine":
        from aiimage.ops.quarantine import sweep_quarantine

        older_than = None if args.minutes is None else timedelta(minutes=args.minutes)
        return sweep_quarantine(older_than=older_than, pretend=args.pretend, show_progress=show)
    if args.command == "prune":
        from aiimage.ops.prune import prune

        return prune(
            request_days=args.request_days,
            ledger_days=args.ledger_days,
            pretend=args.pretend,
            show_progress=show,
        )
    if args.command == "backfill-storage":
        from aiimage.ops.backfill import backfill_storage

        return backfill_storage(
            limit=args.limit, request_id=args.request_id, pretend=args.pretend, show_progress=show
        )
    if args.command == "dispatch":
        from aiimage.ops.dispatch import dispatch_queued

        return dispatch_queued(limit=args.limit, pretend=args.pretend, show_progress=show)
    if args.command == "kill-switch":
        from aiimage.ops.kill_switch import kill_switch

        by_lang = {"de": args.message_de, "en": args.message_en}
        messages = {lang: text for lang, text in by_lang.items() if text}
        return kill_switch(args.state == "on", message=args.message, messages=messages)
    if args.command == "event-policy":
        return _event_policy(args)
    if args.command == "blocked-terms":
        from aiimage.ops.policy import add_blocked_terms

        return add_blocked_terms(args.terms)
    if args.command == "rebuild-stats":
        from aiimage.ops.rebuild import rebuild_stats

        return rebuild_stats(args.tenant_id, args.event_slug, pretend=args.pretend)
    if args.command == "spend":
        from aiimage.ops.spend import spend_report

        return spend_report(args.day)
    from aiimage.ops.summary import event_summary

    return event_summary(args.tenant_id, args.event_slug)


def _event_policy(args: argparse.Namespace) -> Report:
    from aiimage.ops.policy import event_policy

    styles = None
    if args.styles is not None:
        styles = [key.strip() for key in args.styles.split(",") if key.strip()]
    return event_policy(
        args.tenant_id,
        args.event_slug,
        allow_custom_prompt=args.custom_prompt,
        include_prompt_in_manifest=args.prompt_in_manifest,
        allowed_style_keys=styles,
        enabled=args.enabled,
        message=args.message,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    for name, value in (("minutes", "minutes"), ("limit", "limit")):
        number = getattr(args, value, None)
        if number is not None and number < 1:
            parser().error(f"--{name} must be at least 1")
    if args.command == "sweep-reservations" and args.minutes < 15:
        parser().error("--minutes must be at least 15 (the longest a function can run)")
    for name in ("request_days", "ledger_days"):
        number = getattr(args, name, None)
        if number is not None and number < 1:
            parser().error(f"--{name.replace('_', '-')} must be at least 1")
    if args.local:
        from aiimage.ops.target import use_local_stack

        use_local_stack(args.moto_url, args.local_stack_name)
    try:
        report = run(args)
    except Exception as exc:
        print(f"{args.command}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        for line in report.details:
            print(line)
    print(json.dumps(report.as_dict()) if args.json else report.summary())
    return 0 if report.ok else 1
