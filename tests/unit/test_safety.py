"""Prompt safety (`aiimage.safety`): whole-word matching of blocked terms through Unicode
confusables, separators, fillers, leetspeak and word forms, with the shipped baseline."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiimage.safety import baseline_terms, blocked_terms, check_prompt, normalise


def fullwidth(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


TERMS = ("nude", "ass", "naked child", "cunt", "god", "kill", "porn")


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        # plain words, whole words only
        ("a nude photo of me", "nude"),
        ("Nude", "nude"),
        ("kick ass.", "ass"),
        ("ass-kicking", "ass"),
        ("first class seats", None),
        ("a classy look", None),
        ("passing the bass", None),
        ("Scunthorpe United", None),
        ("as it gets", None),  # `as` is not a shortened `ass`
        ("as good as it gets", "god"),  # a doubled letter is a stretched one: list with care
        ("godzilla", None),
        ("oh god", "god"),
        ("skill", None),
        ("make it porn", "porn"),
        ("pornography", None),
        # multi-word terms as phrases
        ("a naked child", "naked child"),
        ("NAKED\tchild", "naked child"),
        ("naked, child", "naked child"),
        ("naked-child", "naked child"),
        ("nakedchild", "naked child"),
        ("naked and child", None),
        ("a naked tree, a child", None),
        # separators inside a word
        ("n.u.d.e", "nude"),
        ("n u d e", "nude"),
        ("n-u-d-e", "nude"),
        ("n_u_d_e", "nude"),
        ("n*u*d*e beach", "nude"),
        ("n . u . d . e", "nude"),
        ("nu.de", "nude"),
        ("a n u d e photo", "nude"),
        ("n.a.k.e.d c.h.i.l.d", "naked child"),
        ("naked c-h-i-l-d", "naked child"),
        ("p o r n", "porn"),
        # repeated letters
        ("nuuude", "nude"),
        ("NUUUUUUUUUUUUUUDE", "nude"),
        ("asssss", "ass"),
        ("kiiiilll", "kill"),
        ("gooood", "god"),
        ("nuude", "nude"),  # a doubled letter is stretching too
        ("as", None),
        # leetspeak and symbols
        ("nud3", "nude"),
        ("a$$", "ass"),
        ("@ss", "ass"),
        ("4ss", "ass"),
        ("p0rn", "porn"),
        ("k1ll", "kill"),
        ("ki11", "kill"),
        ("g0d", "god"),
        # Unicode tricks
        (fullwidth("nude"), "nude"),
        (fullwidth("NUDE"), "nude"),
        ("nu\u200dde", "nude"),  # zero-width joiner
        ("n\u200bu\u200cd\ufeffe", "nude"),  # zero-width space, non-joiner, BOM
        ("nu\u00adde", "nude"),  # soft hyphen
        ("nüdé", "nude"),  # accents
        ("nu\u0301de\u0308", "nude"),  # combining marks
        ("nud\N{CYRILLIC SMALL LETTER IE}", "nude"),
        ("\N{CYRILLIC SMALL LETTER A}ss", "ass"),
        ("\N{CYRILLIC CAPITAL LETTER A}SS", "ass"),
        ("p\N{GREEK SMALL LETTER OMICRON}rn", "porn"),
        ("".join(unicodedata.lookup(f"MATHEMATICAL BOLD SMALL {ch}") for ch in "NUDE"), "nude"),
        ("ⓝⓤⓓⓔ", "nude"),  # circled
        ("\u202enude\u202c", "nude"),  # bidi override
        # nothing to find
        ("", None),
        (None, None),
        ("   ", None),
        ("a watercolor portrait in the style of Monet", None),
    ],
)
def test_examples(prompt: str | None, expected: str | None) -> None:
    assert check_prompt(prompt, TERMS) == expected


def test_returns_the_term_as_configured() -> None:
    assert check_prompt("n.u.d.e", ["  NÜDE "]) == "  NÜDE "
    assert check_prompt("naked child", ["Naked  Child"]) == "Naked  Child"


def test_empty_lists_and_empty_terms_match_nothing() -> None:
    assert check_prompt("nude", []) is None
    assert check_prompt("nude", ["", "  ", "...", "\u200b"]) is None
    assert check_prompt("...", ["", "..."]) is None


def test_terms_are_normalised_too() -> None:
    assert check_prompt("nude", ["ｎúｄｅ"]) == "ｎúｄｅ"
    assert check_prompt("kill", ["k1ll"]) == "k1ll"
    assert check_prompt("n-word here", ["n-word"]) == "n-word"
    assert check_prompt("nword", ["n-word"]) == "n-word"
    assert check_prompt("sword", ["n-word"]) is None


def test_long_runs_in_terms() -> None:
    assert check_prompt("zzz", ["zzzz"]) is None
    assert check_prompt("zzzz", ["zzzz"]) == "zzzz"
    assert check_prompt("zzzzzzzzzz", ["zzzz"]) == "zzzz"


def test_normalise() -> None:
    assert normalise(fullwidth("HÉLLO") + "\u200b Wörld") == "hello world"
    assert normalise("Straße") == "strasse"
    assert normalise("n1ce p@$$ 4ll") == "nice pass all"
    cyrillic = "".join(
        unicodedata.lookup(f"CYRILLIC CAPITAL LETTER {n}") for n in ("A", "VE", "ES")
    )
    assert normalise(cyrillic) == "abc"


def test_long_prompts_are_handled() -> None:
    prompt = ("lorem ipsum dolor " * 3000) + "nude"
    assert check_prompt(prompt, TERMS) == "nude"
    assert check_prompt("l1" * 20000, ["lil"]) is None
    assert check_prompt("a." * 20000, TERMS) is None


def test_lone_surrogates_do_not_raise() -> None:
    assert check_prompt("\ud800nude\udfff", TERMS) == "nude"
    assert check_prompt("nude \ud800", TERMS) == "nude"


# -- properties ------------------------------------------------------------------------

BLOCKED = ("nude", "ass", "naked child", "porn")
BLOCKED_LETTERS = set("".join(BLOCKED).replace(" ", ""))
# Letters that no blocked term uses, nor maps to (leetspeak, look-alikes).
SAFE_LETTERS = "bfgjqvwxyzBFGJQVWXYZ" + "þ" + "中文字日本語"
assert not BLOCKED_LETTERS & set(normalise(SAFE_LETTERS))
SEPARATORS = st.sampled_from([" ", "  ", ".", ",", "-", "_", "\n", "\t", "!", "?", "/"])

safe_words = st.text(alphabet=SAFE_LETTERS, min_size=1, max_size=12)


@st.composite
def safe_texts(draw: st.DrawFn) -> str:
    words = draw(st.lists(safe_words, max_size=30))
    parts: list[str] = []
    for word in words:
        parts.append(word)
        parts.append(draw(SEPARATORS))
    return "".join(parts)


@given(before=st.text(), after=st.text(), term=st.sampled_from(BLOCKED))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_a_blocked_word_in_any_text_is_found(before: str, after: str, term: str) -> None:
    assert check_prompt(f"{before} {term} {after}", BLOCKED) is not None


@given(text=safe_texts())
@settings(max_examples=300)
def test_text_without_the_terms_letters_passes(text: str) -> None:
    assert check_prompt(text, BLOCKED) is None


@given(prompt=st.text(), terms=st.lists(st.text(), max_size=8))
@settings(max_examples=400)
def test_never_raises(prompt: str, terms: list[str]) -> None:
    result = check_prompt(prompt, terms)
    assert result is None or result in terms
    normalise(prompt)


@given(
    prompt=st.text(alphabet=st.characters(codec=None), max_size=60),
    terms=st.lists(st.text(max_size=6), max_size=4),
)
def test_never_raises_on_any_code_point(prompt: str, terms: list[str]) -> None:
    check_prompt(prompt, terms)


@given(
    before=st.text(),
    after=st.text(),
    term=st.sampled_from(BLOCKED),
    change=st.sampled_from([str.upper, str.lower, str.swapcase, str.title, fullwidth]),
)
@settings(max_examples=300)
def test_case_and_width_changes_keep_a_detection(
    before: str, after: str, term: str, change: Callable[[str], str]
) -> None:
    prompt = f"{before} {term} {after}"
    assert check_prompt(prompt, BLOCKED) is not None
    assert check_prompt(change(prompt), BLOCKED) is not None


@given(term=st.sampled_from(BLOCKED), separator=st.sampled_from([".", "-", "_", " ", " . "]))
def test_separated_letters_are_found(term: str, separator: str) -> None:
    letters = [ch for ch in term if ch != " "]
    assert check_prompt(separator.join(letters), BLOCKED) == term


@given(term=st.sampled_from(BLOCKED), stretch=st.integers(min_value=3, max_value=40))
def test_stretched_letters_are_found(term: str, stretch: int) -> None:
    stretched = "".join(ch * stretch if ch != " " else ch for ch in term)
    assert check_prompt(stretched, BLOCKED) == term


# -- finding 2 of issue 15: the bypasses of the old normaliser, against the baseline ----

BASELINE = baseline_terms()


@pytest.mark.parametrize(
    ("prompt", "term"),
    [
        ("nudes", "nude"),
        ("nudity", "nude"),
        ("nu de", "nude"),
        ("nud e", "nude"),
        ("nu\nde", "nude"),
        ("nu....de", "nude"),
        ("kiII", "kill"),
        ("k!ll", "kill"),
        ("k|ll", "kill"),
        ("\u0578\u057dde", "nude"),  # Armenian vo, seh
        ("\u1952ude", "nude"),  # Tai Le nga
        ("nu\u0289de", "nude"),  # u bar
        ("nu\u3164de", "nude"),  # Hangul filler
        ("nu\u115fde", "nude"),
        ("nu\u1160de", "nude"),
        ("nu\uffa0de", "nude"),
        ("NUDITY at the beach", "nude"),
        ("the killer", "kill"),
        ("kill!", "kill"),
        ("eine nackte Frau", "nackt"),
        ("ein Mörder", "mörder"),
        ("Sieg Heil", "sieg heil"),
        ("oben-ohne", "oben ohne"),
    ],
)
def test_the_reported_bypasses_are_refused(prompt: str, term: str) -> None:
    assert check_prompt(prompt, BASELINE) == term


@pytest.mark.parametrize(
    "prompt",
    [
        "Kilimanjaro at sunrise",
        "a skill tree",
        "skilled craftsmen",
        "my dog Bloodhound in the park",
        "first class lounge",
        "Scunthorpe United",
        "Therapist office, warm light",
        # German compounds: innocent ones pass, only listed compounds are refused.
        "Nacktschnecke im Garten",  # slug
        "ein Nacktmull",  # naked mole rat
        "ein Mordsspaß",
        "Mords-Hunger",
        "Kinderfest im Sommer",
        "Nudeln mit Tomatensoße",
        "the road to Mordor",
        "Essex and Sussex",
        "a sharp, detailed, well-exposed photograph",
        "a watercolor portrait in the style of Monet",
    ],
)
def test_innocent_prompts_pass_the_baseline(prompt: str) -> None:
    assert check_prompt(prompt, BASELINE) is None


def test_the_baseline_ships_german_and_english_and_configuration_replaces_it() -> None:
    assert {"nude", "nackt", "kill", "mörder", "nazi"} <= set(BASELINE)
    assert blocked_terms(None) == BASELINE
    assert blocked_terms(["zebra"]) == ("zebra",)
    assert check_prompt("nude", blocked_terms(["zebra"])) is None  # replaced, not added to
    assert check_prompt("z.e.b.r.a", blocked_terms(["zebra"])) == "zebra"
    assert blocked_terms([]) == ()


_INNOCENT = (
    "a an as at be by do go he in is it me my no of on or so to up us we "
    "the and for you are was not but all any can had her one our out day get has him his "
    "how man new now old see two way who boy did its let put say she too use dad mom "
    "portrait photo light style beach party wedding family garden forest sunset city night "
    "castle dragon knight queen king skill class pass glass grass kiss miss "
    "ein eine der die das und mit von zu im am an auf fur ist nicht ich du er sie es wir "
    "ihr hund katze baum haus garten strand hochzeit feier kinder kind mutter vater sonne "
    "mond stern berg see meer wald stadt nacht tag licht farbe bild foto stil blume"
)
INNOCENT_WORDS = _INNOCENT.split()
FILLERS = st.sampled_from(
    [" ", ".", "-", "_", "\n", "....", "\u200b", "\u00ad", "\u3164", "\u115f", "\uffa0"]
)


@given(words=st.lists(st.sampled_from(INNOCENT_WORDS), min_size=1, max_size=12))
@settings(max_examples=400)
def test_sentences_of_innocent_words_pass(words: list[str]) -> None:
    assert check_prompt(" ".join(words), BASELINE) is None


@st.composite
def disguised(draw: st.DrawFn, term: str) -> str:
    """`term` with fillers, separators and confusables put in at random places."""
    swaps = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "n": "\u0578", "u": "\u057d",
             "i": "1", "l": "I", "k": "\u043a"}  # fmt: skip
    out: list[str] = []
    for ch in term:
        if ch != " " and draw(st.booleans()):
            ch = swaps.get(ch, ch.upper())
        out.append(ch)
        if draw(st.integers(0, 3)) == 0:
            out.append(draw(FILLERS))
    return "".join(out)


@given(data=st.data(), term=st.sampled_from(["nude", "naked", "kill", "porn", "nazi", "nackt"]))
@settings(max_examples=400)
def test_disguised_terms_are_still_found(data: st.DataObject, term: str) -> None:
    prompt = data.draw(disguised(term))
    before = data.draw(st.sampled_from(INNOCENT_WORDS))
    assert check_prompt(f"{before}, {prompt}", BASELINE) == term
