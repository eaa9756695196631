"""Prompt safety: does a prompt contain one of the configured blocked terms?

Text and terms go through the same normalisation (`normalise`):

1. drop invisible format characters (Unicode category Cf: zero-width space/joiners, word
   joiner, BOM, soft hyphen, bidi controls);
2. NFKC (fullwidth, circled, mathematical and other compatibility forms of letters become
   plain letters);
3. casefold;
4. NFKD and drop combining marks (Mn, Me): accents go, `nüdé` -> `nude`;
5. map look-alikes to Latin letters: Cyrillic and Greek homoglyphs (Cyrillic a, Greek omicron),
   and leetspeak (`0`->o, `3`->e, `4`->a, `5`->s, `7`->t, `8`->b, `9`->g, `@`->a, `$`->s).
   `1` stands for `i` or `l`: matching treats it as either (`normalise` shows it as `i`).

Matching works on words, never on substrings of words (a blocked `ass` does not match
`class`, `cunt` does not match `Scunthorpe`):

- tokens are the maximal runs of letters of the normalised text;
- repeated letters: a run of three or more identical letters in the text matches the same
  letter run of any shorter length in a term (`nuuude` matches `nude`, `asss` matches
  `ass`); shorter runs must match exactly, so `as` does not match `ass` and `good` does not
  match `god`;
- separators inside a word: neighbouring tokens are glued when what separates them is short
  (at most 3 characters) and either contains no whitespace (`n.u.d.e`, `n-u-d-e`, `n_u_d_e`,
  `nu.de`) or both tokens are single letters (`n u d e`). Every run of whole glued tokens is a
  candidate word: the term must equal a concatenation of whole tokens, so obfuscations are
  caught without matching inside ordinary words. (The price: a word spelled out letter by
  letter, `c l a s s`, exposes its inner runs, `a s s`.)
- multi-word terms (`naked child`) match consecutive words, whatever separates them, and
  also the glued forms (`nakedchild`, `n.a.k.e.d c.h.i.l.d`).

Each term list is compiled once (cached by tuple) into alternations of regular expressions
that are matched whole (`fullmatch`) against each candidate; candidates are bounded in
length, so the work is linear in the prompt. `check_prompt` never raises.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

# The ambiguous `1` (i or l) keeps this placeholder internally.
_ONE = "1"

# Leetspeak and symbols.
_LOOKALIKES: dict[str, str] = {
    "0": "o",
    "3": "e",
    "4": "a",
    "5": "s",
    "7": "t",
    "8": "b",
    "9": "g",
    "@": "a",
    "$": "s",
}
# Homoglyphs, by Unicode name (lower case: the text is casefolded first).
_HOMOGLYPHS: dict[str, str] = {
    # Cyrillic
    "CYRILLIC SMALL LETTER A": "a",
    "CYRILLIC SMALL LETTER VE": "b",
    "CYRILLIC SMALL LETTER IE": "e",
    "CYRILLIC SMALL LETTER IO": "e",
    "CYRILLIC SMALL LETTER DZE": "s",
    "CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I": "i",
    "CYRILLIC SMALL LETTER YI": "i",
    "CYRILLIC SMALL LETTER JE": "j",
    "CYRILLIC SMALL LETTER KA": "k",
    "CYRILLIC SMALL LETTER EM": "m",
    "CYRILLIC SMALL LETTER EN": "h",
    "CYRILLIC SMALL LETTER O": "o",
    "CYRILLIC SMALL LETTER ER": "p",
    "CYRILLIC SMALL LETTER ES": "c",
    "CYRILLIC SMALL LETTER TE": "t",
    "CYRILLIC SMALL LETTER U": "y",
    "CYRILLIC SMALL LETTER HA": "x",
    "CYRILLIC SMALL LETTER KOMI DE": "d",
    "CYRILLIC SMALL LETTER QA": "q",
    "CYRILLIC SMALL LETTER WE": "w",
    "CYRILLIC SMALL LETTER SHHA": "h",
    "CYRILLIC SMALL LETTER PALOCHKA": "l",
    "LATIN SMALL LETTER SCRIPT G": "g",
    # Greek
    "GREEK SMALL LETTER ALPHA": "a",
    "GREEK SMALL LETTER BETA": "b",
    "GREEK SMALL LETTER GAMMA": "y",
    "GREEK SMALL LETTER EPSILON": "e",
    "GREEK SMALL LETTER ETA": "n",
    "GREEK SMALL LETTER IOTA": "i",
    "GREEK SMALL LETTER KAPPA": "k",
    "GREEK SMALL LETTER MU": "u",
    "GREEK SMALL LETTER NU": "v",
    "GREEK SMALL LETTER OMICRON": "o",
    "GREEK SMALL LETTER RHO": "p",
    "GREEK SMALL LETTER TAU": "t",
    "GREEK SMALL LETTER UPSILON": "u",
    "GREEK SMALL LETTER CHI": "x",
    "GREEK SMALL LETTER OMEGA": "w",
    # Latin look-alikes
    "LATIN SMALL LETTER DOTLESS I": "i",
    "LATIN SMALL LETTER DOTLESS J": "j",
    "LATIN SMALL LETTER ALPHA": "a",
    "LATIN SMALL LETTER IOTA": "i",
    "LATIN LETTER SMALL CAPITAL L": "l",
}
_LOOKALIKES.update({unicodedata.lookup(name): latin for name, latin in _HOMOGLYPHS.items()})
_TRANSLATE = str.maketrans(_LOOKALIKES)

# A text run of this many identical letters matches a shorter run in a term.
_STRETCH = 3
# Separators of at most this many characters can glue two tokens.
_MAX_GLUE = 3


def _canonical(text: str) -> str:
    """Steps 1-5 of the module doc, `1` kept as the i-or-l placeholder."""
    visible = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    folded = unicodedata.normalize("NFKC", visible).casefold()
    decomposed = unicodedata.normalize("NFKD", folded)
    bare = "".join(ch for ch in decomposed if unicodedata.category(ch) not in ("Mn", "Me"))
    return bare.translate(_TRANSLATE)


def normalise(text: str) -> str:
    """The comparison form of `text`: no invisible characters, compatibility forms folded,
    case-folded, accents dropped, look-alikes and leetspeak mapped to Latin letters."""
    return _canonical(text).replace(_ONE, "i")


def _is_letter(ch: str) -> bool:
    return ch.isalpha() or ch == _ONE


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    glued_to_next: bool


def _tokens(canonical: str) -> list[_Token]:
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for index, ch in enumerate(canonical):
        if _is_letter(ch):
            if start is None:
                start = index
        elif start is not None:
            spans.append((start, index))
            start = None
    if start is not None:
        spans.append((start, len(canonical)))
    tokens: list[_Token] = []
    for position, (begin, end) in enumerate(spans):
        glued = False
        if position + 1 < len(spans):
            next_begin, next_end = spans[position + 1]
            separator = canonical[end:next_begin]
            if len(separator) <= _MAX_GLUE:
                singles = end - begin == 1 and next_end - next_begin == 1
                glued = singles or not any(ch.isspace() for ch in separator)
        tokens.append(_Token(canonical[begin:end], glued))
    return tokens


def _letter_class(ch: str) -> str:
    if ch in ("i", "l"):
        return f"[{ch}{_ONE}]"
    if ch == _ONE:
        return f"[{_ONE}il]"
    return re.escape(ch)


def _word_pattern(word: str) -> str:
    """A term word as a regex: each run of k identical letters matches exactly k, or any
    stretched run of at least max(k, 3)."""
    parts: list[str] = []
    for match in re.finditer(r"(.)\1*", word, flags=re.DOTALL):
        letter, count = _letter_class(match.group(1)), len(match.group(0))
        if count >= _STRETCH - 1:  # k, or more: any run of at least k
            parts.append(f"{letter}{{{count},}}")
        else:  # exactly k, or a stretched run of at least _STRETCH
            parts.append(f"{letter}{{{count}}}(?:{letter}{{{_STRETCH - count},}})?")
    return "".join(parts)


def _squeeze(word: str, longest: int) -> str:
    """Cut runs of identical letters to `longest` (still a stretched run)."""
    return re.sub(rf"(.)\1{{{longest},}}", lambda m: m.group(1) * longest, word, flags=re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Term:
    original: str
    glued: re.Pattern[str]  # the words concatenated
    phrase: re.Pattern[str] | None  # the words separated by single spaces (2+ words)
    words: int


class _Matcher:
    def __init__(self, terms: tuple[str, ...]) -> None:
        self.terms: list[_Term] = []
        longest_run = _STRETCH
        longest_term = 1
        for original in terms:
            words = [token.text for token in _tokens(_canonical(original))]
            if not words:
                continue
            glued = "".join(_word_pattern(word) for word in words)
            phrase = " ".join(_word_pattern(word) for word in words) if len(words) > 1 else None
            self.terms.append(
                _Term(
                    original=original,
                    glued=re.compile(glued),
                    phrase=re.compile(phrase) if phrase else None,
                    words=len(words),
                )
            )
            for word in words:
                for run in re.finditer(r"(.)\1*", word, flags=re.DOTALL):
                    longest_run = max(longest_run, len(run.group(0)))
            longest_term = max(longest_term, sum(len(word) for word in words))
        self.longest_run = longest_run
        # Identical-letter runs of the text are squeezed to `longest_run`, so no longer
        # candidate can match (bar runs mixing `1` with `i`/`l`: a bounded loss).
        self.max_candidate = longest_term * longest_run
        self.glued_any = _alternation([term.glued for term in self.terms])
        self.phrase_any: dict[int, re.Pattern[str]] = {}
        for count in {term.words for term in self.terms if term.phrase is not None}:
            self.phrase_any[count] = _alternation(
                [term.phrase for term in self.terms if term.phrase and term.words == count]
            )

    def match(self, prompt: str) -> str | None:
        if not self.terms:
            return None
        tokens = [
            _Token(_squeeze(token.text, self.longest_run), token.glued_to_next)
            for token in _tokens(_canonical(prompt))
        ]
        found = self._glued_match(tokens)
        return found if found is not None else self._phrase_match(tokens)

    def _glued_match(self, tokens: Sequence[_Token]) -> str | None:
        """Glued candidates: every run of whole tokens joined by glue (single tokens too)."""
        for index in range(len(tokens)):
            candidate = ""
            for end in range(index, len(tokens)):
                candidate += tokens[end].text
                if len(candidate) > self.max_candidate:
                    break
                if self.glued_any.fullmatch(candidate):
                    return self._which(candidate, phrase=False)
                if not tokens[end].glued_to_next:
                    break
        return None

    def _phrase_match(self, tokens: Sequence[_Token]) -> str | None:
        """Phrase candidates: consecutive tokens, and consecutive glued groups."""
        words_by_kind = ([token.text for token in tokens], _glued_groups(tokens))
        for count, pattern in self.phrase_any.items():
            for words in words_by_kind:
                for start in range(len(words) - count + 1):
                    candidate = " ".join(words[start : start + count])
                    if len(candidate) > self.max_candidate + count:
                        continue
                    if pattern.fullmatch(candidate):
                        return self._which(candidate, phrase=True)
        return None

    def _which(self, candidate: str, *, phrase: bool) -> str:
        for term in self.terms:
            pattern = term.phrase if phrase else term.glued
            if pattern is not None and pattern.fullmatch(candidate):
                return term.original
        return self.terms[0].original  # unreachable: the alternation matched one of them


def _glued_groups(tokens: Sequence[_Token]) -> list[str]:
    """The words that glue makes of consecutive tokens ("e-mail" -> "email")."""
    groups: list[str] = []
    current: list[str] = []
    for token in tokens:
        current.append(token.text)
        if not token.glued_to_next:
            groups.append("".join(current))
            current = []
    return groups


def _alternation(patterns: Sequence[re.Pattern[str] | None]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p.pattern})" for p in patterns if p is not None))


@lru_cache(maxsize=64)
def _matcher(terms: tuple[str, ...]) -> _Matcher:
    return _Matcher(terms)


def check_prompt(prompt: str | None, blocked_terms: Sequence[str]) -> str | None:
    """The first blocked term (as configured) that `prompt` contains, or None."""
    if not prompt or not blocked_terms:
        return None
    return _matcher(tuple(blocked_terms)).match(prompt)
