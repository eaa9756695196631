"""The template, the apps, the settings and the layer's requirements agree."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest
from fastapi import FastAPI

from aiimage.settings import Settings
from infra.requirements import LAYER_REQUIREMENTS, render
from infra.template import Function, load_template

TEMPLATE = load_template()
FUNCTIONS = sorted(TEMPLATE.functions.values(), key=lambda f: f.logical_id)
HTTP_FUNCTIONS = [f for f in FUNCTIONS if f.routes]


def function_module(function: Function) -> ModuleType:
    return importlib.import_module(function.handler.rpartition(".")[0])


def app_paths(app: FastAPI) -> set[str]:
    # The OpenAPI document is the public view of an app's routes (included routers too).
    return set(app.openapi()["paths"])


def settings_env_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.add(alias.upper() if isinstance(alias, str) else name.upper())
    return names


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.logical_id)
def test_every_handler_exists(function: Function) -> None:
    module = function_module(function)
    handler_name = function.handler.rpartition(".")[2]
    assert callable(getattr(module, handler_name, None)), function.handler


@pytest.mark.parametrize("function", HTTP_FUNCTIONS, ids=lambda f: f.logical_id)
def test_template_routes_and_app_routes_are_the_same(function: Function) -> None:
    app = function_module(function).app
    assert isinstance(app, FastAPI)
    # API Gateway's greedy `{key+}` is FastAPI's `{key:path}`, which OpenAPI shows as `{key}`.
    declared = {route.path.replace("+}", "}") for route in function.routes}
    assert declared == app_paths(app), f"{function.logical_id}: template vs app routes differ"
    # ANY: the app answers every method (405 + Allow, CSRF) exactly as it does locally.
    assert {route.method for route in function.routes} == {"ANY"}


def test_no_two_functions_claim_the_same_route() -> None:
    seen: dict[str, str] = {}
    for function in HTTP_FUNCTIONS:
        for route in function.routes:
            assert route.path not in seen, f"{route.path}: {seen.get(route.path)} and {function}"
            seen[route.path] = function.logical_id


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.logical_id)
def test_every_env_var_the_template_sets_is_a_setting(function: Function) -> None:
    unknown = set(function.environment) - settings_env_names()
    assert not unknown, f"{function.logical_id} sets variables Settings does not read: {unknown}"


def test_layer_requirements_match_pyproject() -> None:
    assert LAYER_REQUIREMENTS.read_text() == render(), "run `make requirements`"
