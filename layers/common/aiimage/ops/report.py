"""What an operations command did: one summary line, details, and the exit status."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from aiimage.errors import AppError
from aiimage.observability import LogEvent, logger

T = TypeVar("T")
# What one item's work may fail with while the run goes on: our errors and AWS's.
ITEM_ERRORS: tuple[type[Exception], ...] = (AppError, ClientError, BotoCoreError)


@dataclass(slots=True)
class Report:
    command: str
    dry_run: bool = False
    found: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    verb: str = "changed"  # what `changed` means for this command: requeued, deleted, ...
    note: str | None = None
    details: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @contextmanager
    def item(self, also: tuple[type[Exception], ...] = (), **context: str) -> Iterator[None]:
        """One item's work: a failure (`ITEM_ERRORS`, or `also`) is counted and logged with
        `context`, and the run goes on with the next item (found again by the next run)."""
        try:
            yield
        except (*ITEM_ERRORS, *also):
            self.failed += 1
            logger.exception(
                LogEvent.OPS_COMMAND_FAILED, extra={"command": self.command, **context}
            )

    def summary(self) -> str:
        parts = [f"found {self.found}", f"{self.verb} {self.changed}"]
        if self.skipped:
            parts.append(f"skipped {self.skipped}")
        parts.append(f"failed {self.failed}")
        line = f"{self.command}: " + ", ".join(parts)
        if self.dry_run:
            line += " (dry run: nothing changed)"
        if self.note:
            line += f" - {self.note}"
        return line

    def as_dict(self) -> dict[str, object]:
        return {
            "command": self.command,
            "dry_run": self.dry_run,
            "found": self.found,
            self.verb: self.changed,
            "skipped": self.skipped,
            "failed": self.failed,
            "note": self.note,
        }


def progress(items: Iterable[T], *, total: int | None, desc: str, enabled: bool) -> Iterator[T]:
    """A progress bar on stderr for long runs (stdout stays the report)."""
    yield from tqdm(items, total=total, desc=desc, file=sys.stderr, disable=not enabled)
