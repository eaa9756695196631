"""A signing function fails closed at its cold start in AWS (issue 21): an unusable C2PA
bundle is one `configuration_error` log line naming the parameter and the reason, at import
and again before a SnapStart snapshot; the init does not crash, and a request that would
sign answers the configuration error before any provider call or quota spent."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aiimage import snapstart
from aiimage.enhancer import dispatch as dispatch_module
from aiimage.enhancer import generate as generate_module
from aiimage.http.app import create_app
from aiimage.imaging import provenance
from aiimage.observability import logger
from aiimage.workers import sqs_batch_handler
from generate_api.app import app as generate_app
from infra.signing import local_signing
from tests.functional.enhancer_support import browser, bucket_keys, jpeg
from usage_api.app import app as usage_app

SD15 = "@cf/runwayml/stable-diffusion-v1-5-img2img"
PARAMETER = "/aiimage/dev/c2pa-signing-bundle"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    output = io.StringIO()
    previous = handler.setStream(output)
    yield output
    handler.setStream(previous)


@pytest.fixture(autouse=True)
def fresh_init(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process of its own: nothing logged yet, no SnapStart warmer registered."""
    monkeypatch.setattr(provenance, "_logged", set())
    monkeypatch.setattr(snapstart, "_warmers", [])


def errors(output: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in output.getvalue().splitlines() if line.startswith("{")]
    return [line for line in lines if line["message"] == "configuration_error"]


def bundle(kind: str) -> str:
    now = datetime.now(UTC)
    if kind == "expired":
        return local_signing(valid_for=timedelta(days=1), now=now - timedelta(days=3)).bundle
    if kind == "not_yet_valid":
        return local_signing(now=now + timedelta(days=2)).bundle
    if kind == "key_mismatch":
        key = local_signing().bundle.split("-----BEGIN CERTIFICATE-----", 1)[0]
        chain = local_signing().bundle.split("-----BEGIN CERTIFICATE-----", 1)[1]
        return f"{key}-----BEGIN CERTIFICATE-----{chain}"
    return ""  # missing


@pytest.fixture
def in_aws(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    def enter(settings_env: Callable[..., None], **values: str) -> None:
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "aiimage-dev-GenerateApiFunction")
        settings_env(STAGE="dev", **values)

    return enter


@pytest.mark.parametrize("reason", ["missing", "expired", "not_yet_valid", "key_mismatch"])
def test_an_unusable_bundle_is_one_clear_log_line_at_an_http_cold_start(
    reason: str,
    in_aws: Callable[..., None],
    settings_env: Callable[..., None],
    log_output: io.StringIO,
) -> None:
    in_aws(settings_env, C2PA_SIGNING_BUNDLE=bundle(reason))
    create_app("signs", signs=True)  # the init goes on: the other routes still answer
    (logged,) = errors(log_output)
    assert logged["level"] == "ERROR"
    assert logged["code"] == "misconfigured"  # the alarmed metric filter's pattern
    assert logged["parameter"] == "C2PA_SIGNING_BUNDLE"
    assert logged["reason"] == reason


def test_the_log_names_the_ssm_parameter_and_a_worker_checks_too(
    in_aws: Callable[..., None], settings_env: Callable[..., None], log_output: io.StringIO
) -> None:
    in_aws(settings_env, C2PA_SIGNING_BUNDLE=bundle("expired"), C2PA_SIGNING_BUNDLE_PARAM=PARAMETER)
    sqs_batch_handler(lambda record: None, signs=True)
    (logged,) = errors(log_output)
    assert (logged["parameter"], logged["reason"]) == (PARAMETER, "expired")


def test_before_the_snapshot_the_check_runs_again_and_logs_once_per_init(
    in_aws: Callable[..., None], settings_env: Callable[..., None], log_output: io.StringIO
) -> None:
    in_aws(settings_env, C2PA_SIGNING_BUNDLE=bundle("expired"))
    create_app("signs", signs=True)
    assert provenance._log_if_unusable in snapstart._warmers
    snapstart.before_snapshot()
    assert len(errors(log_output)) == 1  # the same reason is not logged twice in one init
    provenance._logged.clear()  # as a restored copy's next init would
    snapstart.before_snapshot()
    assert len(errors(log_output)) == 2


def test_nothing_is_checked_outside_aws_nor_for_a_function_that_does_not_sign(
    in_aws: Callable[..., None],
    settings_env: Callable[..., None],
    log_output: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings_env(C2PA_SIGNING_BUNDLE="")
    create_app("local", signs=True)  # no AWS_LAMBDA_FUNCTION_NAME
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "aiimage-local")
    create_app("local stage", signs=True)  # STAGE=local: make dev makes its own bundle
    in_aws(settings_env, C2PA_SIGNING_BUNDLE="")
    create_app("usage", signs=False)
    sqs_batch_handler(lambda record: None)
    assert errors(log_output) == []
    assert snapstart._warmers == []


def test_a_usable_bundle_logs_nothing(
    in_aws: Callable[..., None], settings_env: Callable[..., None], log_output: io.StringIO
) -> None:
    in_aws(settings_env, C2PA_SIGNING_BUNDLE=local_signing().bundle)
    create_app("signs", signs=True)
    assert errors(log_output) == []


@pytest.mark.usefixtures("aws_stack")
def test_after_a_failed_init_a_generate_is_the_configuration_error_with_nothing_spent(
    in_aws: Callable[..., None],
    settings_env: Callable[..., None],
    log_output: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expired = bundle("expired")
    in_aws(settings_env, C2PA_SIGNING_BUNDLE=expired)
    create_app("AI Image Enhancer: generate", signs=True)
    assert [line["reason"] for line in errors(log_output)] == ["expired"]
    settings_env(STAGE="test")  # the requests of this test run on the test stage's providers
    calls: list[object] = []
    real_dispatch = dispatch_module.dispatch

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real_dispatch(*args, **kwargs)

    monkeypatch.setattr(generate_module, "dispatch", counted)
    with browser(generate_app) as client:
        refused = client.post(
            "/api/ai-image/generate",
            data={"model": SD15},
            files={"image": ("a.jpg", jpeg(), "image/jpeg")},
        )
        assert refused.status_code == 500
        body = refused.json()
        assert body["success"] is False
        assert (body["error"]["type"], body["error"]["code"]) == ("server_error", "misconfigured")
        assert calls == []
        assert bucket_keys() == []
        with browser(usage_app, cookies=dict(client.cookies)) as usage:
            assert usage.get("/api/ai-image/usage").json()["data"]["usage"]["used"] == 0
        # The same request with a usable bundle: the refusal was the signing check alone.
        settings_env(C2PA_SIGNING_BUNDLE=local_signing().bundle)
        served = client.post(
            "/api/ai-image/generate",
            data={"model": SD15},
            files={"image": ("a.jpg", jpeg(), "image/jpeg")},
        )
        assert served.status_code == 200, served.text
        assert len(calls) == 1
        with browser(usage_app, cookies=dict(client.cookies)) as usage:
            assert usage.get("/api/ai-image/usage").json()["data"]["usage"]["used"] == 1
