"""The hostile-image corpus (tests/fuzz/hostile_images.py) through `sanitize` and through
`POST /api/ai-image/generate`: a clear 4xx or a clean result, never a 5xx, and a refused
image costs nothing and leaves nothing in the bucket."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image

from aiimage.errors import AppError
from aiimage.imaging.validation import sanitize
from generate_api.app import app as generate_app
from tests.conftest import assert_security_headers
from tests.faults.conftest import used_today
from tests.functional.enhancer_support import browser, bucket_keys
from tests.fuzz.hostile_images import Sample, corpus

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
SAMPLES = {sample.name: sample for sample in corpus()}


def test_the_corpus_covers_every_kind_the_issue_names() -> None:
    names = " ".join(SAMPLES)
    for kind in (
        "bomb",
        "truncated",
        "polyglot",
        "65000x65000",
        "cmyk",
        "16-bit",
        "animated",
        "exif-bomb",
        "named-jpg",
        "svg",
        "heic",
    ):
        assert kind in names, kind


@pytest.mark.parametrize("name", SAMPLES)
def test_sanitize_refuses_clearly_or_returns_a_clean_image(name: str) -> None:
    sample = SAMPLES[name]
    if sample.refusal is not None:
        with pytest.raises(AppError) as refused:
            sanitize(sample.data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
        assert (refused.value.status, refused.value.code) == sample.refusal
        return
    clean = sanitize(sample.data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    for fragment in sample.must_drop:
        assert fragment not in clean.data
    with Image.open(io.BytesIO(clean.data)) as reopened:
        assert reopened.format == clean.format
        assert reopened.size == (clean.width, clean.height)
        assert getattr(reopened, "n_frames", 1) == 1  # first frame only
        assert "exif" not in reopened.info
        reopened.load()  # the output itself decodes


@pytest.mark.usefixtures("aws_stack")
def test_generate_answers_each_sample_with_a_4xx_or_a_result(
    settings_env: Callable[..., None],
) -> None:
    # One stack for the whole corpus (its set-up dominates); each sample is a new guest, all
    # from one network, whose allowance (tested in test_guest_network) must not bind here.
    settings_env(GUEST_NETWORK_DAILY_LIMIT=str(len(SAMPLES)))
    outcomes = {name: _generate(sample) for name, sample in SAMPLES.items()}
    expected = {name: sample.refusal or (200, "ok") for name, sample in SAMPLES.items()}
    assert outcomes == expected


def _generate(sample: Sample) -> tuple[int, str]:
    with browser(generate_app) as client:
        response = client.post(
            "/api/ai-image/generate",
            data={"model": "nightmareai/real-esrgan", "scale": "2"},
            files={"image": (sample.filename, sample.data, sample.content_type)},
        )
        guest = client.cookies["guest_id"].partition(".")[0]
    assert response.status_code < 500, (sample.name, response.text)
    assert_security_headers(response.headers)
    stored = [key for key in bucket_keys() if f"/guest/{guest}/" in key]
    if response.status_code == 200:
        assert used_today(f"guest#{guest}") == 1, sample.name
        assert len(stored) == 2, sample.name
        return 200, "ok"
    # A refused image is never charged, nor stored.
    assert used_today(f"guest#{guest}") == 0, sample.name
    assert stored == [], sample.name
    body = response.json()
    assert body["success"] is False
    return response.status_code, str(body["error"]["code"])
