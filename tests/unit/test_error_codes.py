"""`aiimage.errors.ERROR_CODES` lists every machine code the API can answer with, so the
pages can translate each one and the OpenAPI description can enumerate them. This test
finds the codes in the source (every `code="…"` keyword, every `default_code`, the provider
outcome constants) and fails on a code missing from the list or listed but never raised."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from aiimage import errors
from aiimage.providers import codes as provider_codes

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "layers" / "common" / "aiimage", ROOT / "functions"]
# Wire models of a provider's own answers: their `code` is the provider's, mapped to ours.
PROVIDER_WIRE_MODELS = {"TaskError"}


def _provider_wire_call(node: ast.Call) -> bool:
    return isinstance(node.func, ast.Name) and node.func.id in PROVIDER_WIRE_MODELS


def _codes_in(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and not _provider_wire_call(node):
            for keyword in node.keywords:
                value = keyword.value
                constant = isinstance(value, ast.Constant) and isinstance(value.value, str)
                if keyword.arg == "code" and constant:
                    yield value.value  # type: ignore[attr-defined]
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for target in targets:
            if (
                isinstance(target, ast.Name)
                and target.id == "default_code"
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
            ):
                yield value.value


def source_codes() -> set[str]:
    found = {provider_codes.TIMEOUT_CODE}
    for root in SOURCES:
        for path in root.rglob("*.py"):
            found.update(_codes_in(ast.parse(path.read_text(), filename=str(path))))
    return found


def test_every_code_the_source_raises_is_listed() -> None:
    missing = source_codes() - set(errors.ERROR_CODES)
    assert not missing, f"add to aiimage.errors.ERROR_CODES: {sorted(missing)}"


def test_every_listed_code_is_raised_somewhere() -> None:
    stale = set(errors.ERROR_CODES) - source_codes()
    assert not stale, f"listed in ERROR_CODES but raised nowhere: {sorted(stale)}"


def test_the_list_is_sorted_and_unique() -> None:
    assert list(errors.ERROR_CODES) == sorted(set(errors.ERROR_CODES))


def test_the_openapi_description_enumerates_every_code() -> None:
    from aiimage.http.models import ErrorBody

    schema = ErrorBody.model_json_schema()
    assert schema["properties"]["code"]["enum"] == list(errors.ERROR_CODES)
