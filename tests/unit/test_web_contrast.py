"""WCAG AA contrast of the colours axe cannot judge: the text of locked (disabled) model cards
and of the disabled button (axe leaves disabled controls out of its contrast rule)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[2] / "functions/web_app/static/app.css").read_text()
AA_TEXT = 4.5


def variables() -> dict[str, str]:
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", CSS))


def rule(selector: str) -> str:
    match = re.search(re.escape(selector) + r"\s*\{([^}]*)\}", CSS)
    assert match, selector
    return match.group(1)


def colour(value: str) -> str:
    value = value.strip()
    named = re.fullmatch(r"var\(--([\w-]+)\)", value)
    if named:
        return variables()[named.group(1)]
    return {"#fff": "#ffffff"}.get(value, value)


def luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def declared(body: str, name: str) -> str:
    match = re.search(rf"(?<![\w-]){name}:\s*([^;]+);", body)
    assert match, name
    return match.group(1)


@pytest.mark.parametrize(
    ("selector", "fg", "bg"),
    [
        (".choice.disabled", "color", "background"),
        (".button.primary:disabled", "color", "background"),
    ],
)
def test_disabled_controls_keep_aa_contrast(selector: str, fg: str, bg: str) -> None:
    body = rule(selector)
    assert "opacity" not in body  # opacity would blend the text into the page
    ratio = contrast(colour(declared(body, fg)), colour(declared(body, bg)))
    assert ratio >= AA_TEXT, f"{selector}: {ratio:.2f}:1"


def test_the_reason_text_on_a_locked_card_keeps_aa_contrast() -> None:
    muted, surface = variables()["muted"], variables()["surface"]
    assert contrast(muted, surface) >= AA_TEXT
    assert contrast(variables()["accent"], "#e6ecfb") >= AA_TEXT  # secondary buttons
