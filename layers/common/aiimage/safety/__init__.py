"""Prompt safety for both products: one check for every prompt and negative prompt that
reaches a provider (the Enhancer's `prompt`/`negative_prompt`, a Magic Edits wish, a style
template after substitution).

`check_prompt(text, terms)` returns the first blocked term `text` contains, or None; it
never raises. `refuse_blocked(texts, terms)` raises `PromptBlockedError` (403
`prompt_blocked`) for the first text that contains one. Normalisation is in
`aiimage.safety.normalise`, matching in `aiimage.safety.matching`.

Which terms: `blocked_terms(configured)`. A configured list *replaces* the baseline that
ships with the layer (`blocked_terms.txt`, German and English), it does not add to it:

- the Enhancer: the `BLOCKED_TERMS` environment variable (`Settings.blocked_terms`,
  comma-separated); unset or empty, the baseline;
- Magic Edits: the global runtime setting `blocked_terms` (superadmin settings, or
  `ops blocked-terms`, which adds to the list in force); unset (null), the Enhancer's list.

To extend the baseline, configure the baseline plus the new words (`ops blocked-terms`
does exactly that for Magic Edits).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib.resources import files

from aiimage.errors import ForbiddenError
from aiimage.safety.matching import matcher
from aiimage.safety.normalise import normalise

__all__ = [
    "PromptBlockedError",
    "baseline_terms",
    "blocked_terms",
    "check_prompt",
    "normalise",
    "refuse_blocked",
]


class PromptBlockedError(ForbiddenError):
    default_code = "prompt_blocked"
    default_message = "The prompt contains a blocked term"


@lru_cache(maxsize=1)
def baseline_terms() -> tuple[str, ...]:
    """The shipped list (one term a line, `#` comments), read once per process."""
    text = files("aiimage.safety").joinpath("blocked_terms.txt").read_text(encoding="utf-8")
    lines = (line.strip() for line in text.splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


def blocked_terms(configured: Sequence[str] | None) -> tuple[str, ...]:
    """The terms in force: the configured list where there is one, else the baseline."""
    return baseline_terms() if configured is None else tuple(configured)


def check_prompt(prompt: str | None, terms: Sequence[str]) -> str | None:
    """The first blocked term (as configured) that `prompt` contains, or None."""
    if not prompt or not terms:
        return None
    return matcher(tuple(terms)).match(prompt)


def refuse_blocked(texts: Iterable[tuple[str, str | None]], terms: Sequence[str]) -> None:
    """Raise `PromptBlockedError` naming the first field (of `(field, text)` pairs) whose
    text holds a blocked term. The term itself is not echoed back."""
    for field, text in texts:
        if check_prompt(text, terms) is not None:
            raise PromptBlockedError(details={"field": field})
