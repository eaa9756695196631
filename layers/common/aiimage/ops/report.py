"""What an operations command did: one summary line, details, and the exit status."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


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
