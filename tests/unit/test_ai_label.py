"""Every result on the web pages carries the visible AI label (EU AI Act, Art. 50), in the
page's language, beside the machine-readable marks in the file itself."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from infra.seed_edits import seed_demo
from tests.conftest import TEST_ENV
from web_app.app import app

LABELS = {"de": "KI-generiert", "en": "AI-generated"}


@pytest.fixture
def client(aws_stack: None) -> Iterator[TestClient]:
    seed_demo(bucket=TEST_ENV["IMAGES_BUCKET"])  # the event the join token opens
    with TestClient(app, base_url="https://app.test") as c:
        yield c


@pytest.mark.parametrize("path", ["/tools/imag-enhancer/app", "/e/demo-join-token-0001"])
@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_result_is_labelled_as_ai_generated(client: TestClient, path: str, lang: str) -> None:
    text = client.get(path, params={"lang": lang}).text
    labels = re.findall(r'<[^>]*class="[^"]*ai-label[^"]*"[^>]*>([^<]*)<', text)
    assert labels == [LABELS[lang]]
