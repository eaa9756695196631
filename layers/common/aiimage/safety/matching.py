"""Whole-word matching of blocked terms in the comparison form (`aiimage.safety.normalise`).

- Tokens are the maximal runs of letters (and strokes) of the normalised text.
- Separators and fillers inside a word: neighbouring tokens are glued when what separates
  them is short (at most `MAX_GLUE` characters, a run of whitespace counting as one):
  `n.u.d.e`, `nu de`, `nud e`, `nu\\nde`, `nu....de`. A candidate is a run of *whole* glued
  tokens, so a term is never found inside a word (`skill`, `Kilimanjaro`, `class`,
  `Scunthorpe`, `Therapist` pass). The price of gluing across spaces: two real words that
  spell a term together (`por no`) are refused; the baseline list is chosen with that in
  mind. Multi-word terms (`sieg heil`) are their words glued.
- Repeated letters: a run of a letter in the text matches a run of at least that letter
  in the term (`nuude`, `nuuuude` are `nude`; `kil` is not `kill`). A configured `god`
  therefore also refuses `good`.
- Strokes (`AMBIGUOUS`: `1`, `|`, `!`) match a term's `i` or `l` inside a word and are
  dropped at its edges; the text's `l` also matches a term's `i` (`kiII`, `k!ll`, `k|ll`).
- A letter of another script in a Latin word, which no confusable maps, stands for any one
  letter (`ᥒude`: the Tai Le letter that looks like `n`). Only one per candidate.
- Word forms: each term word also matches itself followed by one English or German
  inflection suffix, a final `e` dropped before it (`nudes`, `nudity`, `killer`, `nackte`).

Each term list is compiled once (cached by tuple) into one alternation matched whole
(`fullmatch`) against each candidate; candidates are bounded in length, so the work is
linear in the prompt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from aiimage.safety.normalise import AMBIGUOUS, canonical

MAX_GLUE = 8
# Any one letter, for a lone foreign letter in a Latin word.
_WILD = "\x02"
SUFFIXES = (
    # English
    "s", "es", "ed", "er", "ers", "ing", "ings", "y", "ies", "ity", "ities",
    # German
    "e", "en", "er", "es", "em", "ern", "n", "ung", "ungen",
)  # fmt: skip


def _is_letter(ch: str) -> bool:
    return ch.isalpha() or ch == AMBIGUOUS


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    glued_to_next: bool


def _separator_length(separator: str) -> int:
    return len(re.sub(r"\s+", " ", separator))


def _with_wildcard(candidate: str) -> str:
    foreign = [index for index, ch in enumerate(candidate) if ch.isalpha() and not ch.isascii()]
    latin = sum(1 for ch in candidate if ch.isascii() and ch.isalpha())
    if len(foreign) != 1 or latin < 2:
        return candidate
    index = foreign[0]
    return candidate[:index] + _WILD + candidate[index + 1 :]


def tokens(text: str) -> list[_Token]:
    """The tokens of a canonical text, each marked glued to the next or not."""
    spans = [match.span() for match in re.finditer(rf"[^\W\d_]+|{AMBIGUOUS}+", text)]
    merged: list[tuple[int, int]] = []
    for begin, end in spans:  # letters and strokes that touch are one token
        if merged and merged[-1][1] == begin:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((begin, end))
    result: list[_Token] = []
    for position, (begin, end) in enumerate(merged):
        glued = False
        if position + 1 < len(merged):
            glued = _separator_length(text[end : merged[position + 1][0]]) <= MAX_GLUE
        result.append(_Token(text[begin:end], glued))
    return result


def _letter_class(ch: str) -> str:
    """What in the text stands for the term letter `ch`."""
    if ch in ("i", AMBIGUOUS):
        return f"[il{AMBIGUOUS}{_WILD}]"
    if ch == "l":
        return f"[l{AMBIGUOUS}{_WILD}]"
    return f"[{re.escape(ch)}{_WILD}]"


def _runs(word: str) -> str:
    """Each run of k identical letters as `class{k,}`."""
    return "".join(
        f"{_letter_class(run.group(1))}{{{len(run.group(0))},}}"
        for run in re.finditer(r"(.)\1*", word, flags=re.DOTALL)
    )


@lru_cache(maxsize=1)
def _suffix_pattern() -> str:
    forms = sorted({canonical(suffix, term=True) for suffix in SUFFIXES}, key=len, reverse=True)
    return "(?:" + "|".join(_runs(form) for form in forms) + ")"


def _word_pattern(word: str) -> str:
    suffix = _suffix_pattern()
    pattern = f"{_runs(word)}{suffix}?"
    if word.endswith("e") and len(word) > 2:
        pattern = f"(?:{pattern}|{_runs(word[:-1])}{suffix})"
    return pattern


@dataclass(frozen=True, slots=True)
class _Term:
    original: str
    pattern: re.Pattern[str]


def _longest_run(words: Sequence[str]) -> int:
    return max(
        (len(run.group(0)) for word in words for run in re.finditer(r"(.)\1*", word)),
        default=1,
    )


class Matcher:
    def __init__(self, terms: tuple[str, ...]) -> None:
        self.terms: list[_Term] = []
        words_seen: list[str] = []
        longest = 0
        for original in terms:
            words = [token.text for token in tokens(canonical(original, term=True))]
            if not words:
                continue
            pattern = "".join(_word_pattern(word) for word in words)
            self.terms.append(_Term(original, re.compile(pattern)))
            words_seen.extend(words)
            longest = max(longest, sum(len(word) for word in words) + len(words) * 6)
        # Text runs are cut to the longest run of a term: no longer run can matter.
        self.longest_run = _longest_run(words_seen)
        self.max_candidate = longest * self.longest_run
        self.any = re.compile("|".join(f"(?:{term.pattern.pattern})" for term in self.terms))

    def match(self, prompt: str) -> str | None:
        if not self.terms:
            return None
        squeeze = re.compile(rf"(.)\1{{{self.longest_run},}}", flags=re.DOTALL)
        found = [
            _Token(
                squeeze.sub(lambda m: m.group(1) * self.longest_run, token.text),
                token.glued_to_next,
            )
            for token in tokens(canonical(prompt))
        ]
        for index in range(len(found)):
            candidate = ""
            for end in range(index, len(found)):
                candidate += found[end].text
                if len(candidate) > self.max_candidate:
                    break
                term = self._term_of(candidate)
                if term is not None:
                    return term
                if not found[end].glued_to_next:
                    break
        return None

    def _term_of(self, candidate: str) -> str | None:
        trimmed = candidate.strip(AMBIGUOUS)
        for form in dict.fromkeys((candidate, trimmed, _with_wildcard(trimmed))):
            if form and self.any.fullmatch(form):
                matching = (t.original for t in self.terms if t.pattern.fullmatch(form))
                return next(matching, self.terms[0].original)  # the alternation found one
        return None


@lru_cache(maxsize=64)
def matcher(terms: tuple[str, ...]) -> Matcher:
    return Matcher(terms)
