"""The pages' messages: every error code the API can answer has a German and an English text,
refusals are marked as such, and no text of a page is the server's English message."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiimage.errors import ERROR_CODES
from web_app.messages import ERROR_MESSAGES, LANGS, MESSAGES, REFUSALS, UNKNOWN_ERROR, Lang

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "docs" / "api" / "openapi.yaml"
STATIC = ROOT / "functions" / "web_app" / "static"
# What a guest must never read: provider names, keys, configuration.
INTERNALS = re.compile(r"runware|replicate|cloudflare|token is configured|api key|ssm", re.I)


def openapi_codes() -> list[str]:
    document: dict[str, Any] = yaml.safe_load(OPENAPI.read_text("utf-8"))
    body = document["components"]["schemas"]["ErrorBody"]["properties"]["code"]
    codes: list[str] = body.get("enum", [])
    return codes


def test_the_openapi_description_enumerates_the_codes() -> None:
    codes = openapi_codes()
    if not codes:
        pytest.skip("the OpenAPI description enumerates no error codes yet")
    assert set(codes) == set(ERROR_CODES)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("code", sorted(set(ERROR_CODES) | set(openapi_codes())))
def test_every_error_code_has_a_text_in_each_language(code: str, lang: Lang) -> None:
    text = ERROR_MESSAGES[lang].get(code)
    assert text, f"no {lang} text for the error code {code!r} (web_app/messages.py)"
    assert not INTERNALS.search(text)
    assert text.rstrip().endswith((".", "!", ")")), text


def test_german_and_english_texts_differ_and_share_placeholders() -> None:
    for code, german in ERROR_MESSAGES["de"].items():
        english = ERROR_MESSAGES["en"][code]
        assert german != english, code
        assert re.findall(r"\{(\w+)\}", german) == re.findall(r"\{(\w+)\}", english), code
    assert set(ERROR_MESSAGES["de"]) == set(ERROR_MESSAGES["en"])


def test_the_refusals_are_known_codes_and_say_what_to_do() -> None:
    for code in (
        "prompt_blocked",
        "feature_disabled",
        "quota_exceeded",
        "rate_limited",
        "budget_exceeded",
        "event_policy",
    ):
        assert code in REFUSALS
    assert set(ERROR_MESSAGES["en"]) >= REFUSALS
    assert "Available again from {reset}" in ERROR_MESSAGES["en"]["quota_exceeded"]
    assert "Wieder verfügbar ab {reset}" in ERROR_MESSAGES["de"]["quota_exceeded"]
    assert "{seconds}" in ERROR_MESSAGES["de"]["rate_limited"]


def test_a_provider_failure_reads_the_same_and_says_nothing_was_charged() -> None:
    provider_codes = [c for c in ERROR_CODES if c.startswith("provider_")] + ["misconfigured"]
    expected: tuple[tuple[Lang, str], ...] = (
        ("de", "nichts berechnet"),
        ("en", "Nothing was charged"),
    )
    for lang, charged in expected:
        texts = {ERROR_MESSAGES[lang][code] for code in provider_codes}
        assert len(texts) == 1
        assert charged in texts.pop()
    assert MESSAGES["de"]["js.status.failed"].endswith("Es wurde nichts berechnet.")
    assert MESSAGES["en"]["js.status.failed"] == "Could not be processed. Nothing was charged."


def test_an_unknown_code_gets_a_generic_text_not_the_server_message() -> None:
    assert set(UNKNOWN_ERROR) == set(LANGS)
    script = (STATIC / "common.js").read_text("utf-8")
    # The scripts never put an envelope's `message` on the page.
    for name in ("common.js", "enhancer.js", "edits.js"):
        source = (STATIC / name).read_text("utf-8")
        assert "err.message" not in source, name
        assert "error_message" not in source, name
    assert "config.unknownError" in script


def test_the_reset_time_is_in_the_future_tense() -> None:
    assert "Zurückgesetzt" not in " ".join(MESSAGES["de"].values())
    assert MESSAGES["de"]["js.resetAt"].startswith("Neues Kontingent ab")
    assert MESSAGES["de"]["js.limitReached"].endswith("Wieder verfügbar ab {reset}.")
    assert MESSAGES["en"]["js.limitReached"].endswith("Available again from {reset}.")


@pytest.mark.parametrize("lang", LANGS)
def test_every_js_message_the_scripts_use_exists(lang: Lang) -> None:
    used: set[str] = set()
    for name in ("common.js", "enhancer.js", "edits.js"):
        source = (STATIC / name).read_text("utf-8")
        # `t("stage." + …)` and the like are covered by the stages and statuses below.
        used |= {key for key in re.findall(r'\bt\("([\w.]+)"', source) if not key.endswith(".")}
        used |= {f"stage.{s}" for s in ("uploading", "queued", "processing", "storing")}
        used |= {f"status.{s}" for s in ("queued", "processing", "succeeded", "failed")}
    missing = sorted(key for key in used if f"js.{key}" not in MESSAGES[lang])
    assert not missing
