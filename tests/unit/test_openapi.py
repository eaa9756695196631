"""docs/api/openapi.yaml is valid OpenAPI and is exactly what the apps generate."""

from __future__ import annotations

import yaml
from openapi_spec_validator import validate

from infra.openapi import OPENAPI_PATH, render


def test_the_committed_document_matches_the_code() -> None:
    assert OPENAPI_PATH.read_text() == render(), "run `make openapi` and commit the result"


def test_the_document_is_valid_openapi() -> None:
    document = yaml.safe_load(OPENAPI_PATH.read_text())
    validate(document)
    assert "/api/ai-image/generate" in document["paths"]
    assert "/r2-ai/{key}" in document["paths"]
