"""Hypothesis properties of the input parsers: the object-key parser the delivery proxy
trusts, the generate endpoint's multipart form, and the blocked-terms normaliser (its
detection properties are in tests/unit/test_safety.py; these add stability)."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiimage.errors import AppError, NotFoundError
from aiimage.identity import guest
from aiimage.safety import check_prompt, normalise
from aiimage.storage.keys import ROOT, InvalidKeyError, new_key, parse_key, parse_upload_key
from generate_api.app import app as generate_app
from tests.functional.enhancer_support import browser, bucket_keys, jpeg

SEGMENT = st.text(alphabet=string.ascii_letters + string.digits + "-_./\\%:", max_size=40)


@given(st.text(max_size=600))
@settings(max_examples=500)
def test_any_text_is_a_key_or_a_clear_refusal(raw: str) -> None:
    try:
        key = parse_key(raw)
    except (InvalidKeyError, NotFoundError):
        return
    assert str(key) == raw  # only the canonical form is accepted: nothing was normalised
    assert ".." not in raw
    assert "//" not in raw


@given(st.lists(SEGMENT, min_size=1, max_size=7))
@settings(max_examples=500)
def test_key_shaped_paths_never_escape_their_owner(segments: list[str]) -> None:
    raw = "/".join([ROOT, *segments])
    try:
        key = parse_key(raw)
    except (InvalidKeyError, NotFoundError):
        return
    assert str(key) == raw
    assert raw.count("/") == 4
    assert key.owner_id.replace("-", "").replace("_", "").isalnum()


@given(
    owner_id=st.from_regex(r"[0-9a-f]{32}", fullmatch=True),
    kind=st.sampled_from(["uploads", "originals", "results"]),
    content_type=st.sampled_from(["image/webp", "image/png", "image/jpeg"]),
)
def test_every_new_key_parses_back_to_itself(owner_id: str, kind: str, content_type: str) -> None:
    key = new_key(kind, guest(owner_id), content_type)  # type: ignore[arg-type]
    # Uploads live in quarantine: generate parses them, the delivery proxy never does.
    assert (parse_upload_key if kind == "uploads" else parse_key)(str(key)) == key
    assert key.content_type == content_type


@given(st.text(max_size=300))
@settings(max_examples=300)
def test_normalising_is_stable(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once


@given(
    prefix=st.text(max_size=30),
    suffix=st.text(max_size=30),
    filler=st.sampled_from(["\u200b", "\u200d", "\u00ad", "\u2060"]),
)
@settings(max_examples=300)
def test_invisible_characters_do_not_hide_a_term(prefix: str, suffix: str, filler: str) -> None:
    hidden = filler.join("nude")
    assert check_prompt(f"{prefix} {hidden} {suffix}", ["nude"]) == "nude"


FIELD_VALUES = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", "true", "false", "null", "[]", "{}", "\x00", "1e309", "-0", "\uff12"]),
)
FORM = st.dictionaries(
    st.sampled_from(
        [
            "model",
            "scale",
            "face_enhance",
            "prompt",
            "negative_prompt",
            "strength",
            "guidance",
            "steps",
            "uploadKey",
            "unknown",
        ]
    ),
    FIELD_VALUES,
    max_size=6,
)


@pytest.mark.usefixtures("aws_stack")
@given(form=FORM, with_image=st.booleans(), filename=st.text(max_size=20))
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_any_multipart_form_is_answered_without_a_5xx(
    form: dict[str, str], with_image: bool, filename: str
) -> None:
    files = {"image": (filename or "a.jpg", jpeg(32, 24), "image/jpeg")} if with_image else None
    with browser(generate_app) as client:
        try:
            response = client.post("/api/ai-image/generate", data=form, files=files)
        except AppError as exc:  # pragma: no cover - the middleware must have answered
            pytest.fail(f"escaped the envelope: {exc!r}")
    assert response.status_code < 500, (form, response.text)
    body = response.json()
    assert body["success"] is (response.status_code == 200)
    if response.status_code >= 400:
        assert set(body["error"]) >= {"type", "code", "message"}
        for key in bucket_keys():  # a refused request stores nothing of this guest
            assert client.cookies["guest_id"].partition(".")[0] not in key
