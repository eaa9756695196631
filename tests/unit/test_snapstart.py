"""SnapStart: the hooks every handler registers, what a snapshot keeps and what it must not
(a secret, a Magic Edits settings cache entry, a client built before it with its pool), and
the re-seeded jitter of each restored copy. The hooks are called directly, as Lambda's
runtime calls what `snapshot_restore_py` registered."""

from __future__ import annotations

import gc
import json
import os
import random
import subprocess
import sys
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import snapshot_restore_py
import yaml
from mangum import Mangum

from aiimage import aws, credentials, snapstart
from aiimage.edits import catalog_store, runner
from aiimage.errors import ConfigurationError
from aiimage.http.app import create_app, observed
from aiimage.providers import registry
from aiimage.providers.transport import ProviderTransport
from infra.template import TEMPLATE_PATH, CfnLoader, Resolver, load_template

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = sorted(path.parent.name for path in (ROOT / "functions").glob("*/app.py"))
PARAMETER = "/aiimage/test/guest-cookie-secret"
SECRET = "ssm-guest-cookie-secret-0123456789abcdef"


def _collected(ref: weakref.ref[Any]) -> bool:
    gc.collect()
    return ref() is None


def _pools(client: Any) -> int:
    """Connection pools a botocore client holds (urllib3 opens one per host on first use)."""
    return len(client._endpoint.http_session._manager.pools)


# --- registration ----------------------------------------------------------------------------


@pytest.mark.parametrize("handler", HANDLERS)
def test_every_handler_registers_both_hooks_once(handler: str) -> None:
    """In a fresh interpreter, as Lambda's init imports the handler module and nothing else."""
    probe = (
        f"import {handler}.app, json, snapshot_restore_py as s\n"
        "print(json.dumps([[f.__module__ + '.' + f.__qualname__ for f, _, _ in hooks]\n"
        "    for hooks in (s.get_before_snapshot(), s.get_after_restore())]))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("layers/common", "functions", ".")),
    }
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    before, after = json.loads(done.stdout.strip().splitlines()[-1])
    assert before == ["aiimage.snapstart.before_snapshot"]
    assert after == ["aiimage.snapstart.after_restore"]


def test_registering_again_adds_warmers_not_hooks() -> None:
    before = len(snapshot_restore_py.get_before_snapshot())
    after = len(snapshot_restore_py.get_after_restore())
    snapstart.register()
    snapstart.register()
    assert len(snapshot_restore_py.get_before_snapshot()) == before
    assert len(snapshot_restore_py.get_after_restore()) == after


# --- before_snapshot: what is kept -----------------------------------------------------------


@pytest.mark.usefixtures("aws_stack")
def test_the_app_is_warm_and_its_openapi_schema_unbuilt() -> None:
    app = create_app("snapshot probe")
    observed(Mangum(app, lifespan="off"))
    assert app.middleware_stack is None  # Starlette would build it on the first request
    snapstart.before_snapshot()
    assert app.middleware_stack is not None
    assert app.openapi_schema is None


@pytest.mark.usefixtures("aws_stack")
def test_settings_and_aws_clients_are_kept_without_a_connection() -> None:
    snapstart.before_snapshot()
    assert aws._client.cache_info().currsize == 3  # DynamoDB, SQS, SSM
    assert aws.s3.cache_info().currsize == 1  # its key is not an SSM secret here
    for client in (aws.dynamodb(), aws.sqs(), aws.ssm(), aws.s3()):
        assert _pools(client) == 0
    assert aws._client.cache_info().currsize == 3  # the calls above were cache hits


# --- before_snapshot: what is dropped --------------------------------------------------------


@pytest.mark.usefixtures("aws_stack")
def test_no_secret_read_from_ssm_is_kept(
    settings_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GUEST_COOKIE_SECRET")
    settings_env(GUEST_COOKIE_SECRET_PARAM=PARAMETER)
    aws.ssm().put_parameter(Name=PARAMETER, Value=SECRET, Type="SecureString")
    assert credentials.guest_cookie_secret().get_secret_value() == SECRET
    cache = weakref.ref(aws.ssm_parameters())
    assert PARAMETER in json.dumps(list(aws.ssm_parameters().store), default=str)

    snapstart.before_snapshot()

    assert _collected(cache)
    assert aws.ssm_parameters.cache_info().currsize == 0
    # Gone from SSM, the secret cannot come from a cache any more: nothing holds it.
    aws.ssm().delete_parameter(Name=PARAMETER)
    with pytest.raises(ConfigurationError, match="could not be read"):
        credentials.guest_cookie_secret()


@pytest.mark.usefixtures("aws_stack")
def test_an_s3_client_carrying_an_r2_key_from_ssm_is_not_kept(
    settings_env: Callable[..., None],
) -> None:
    settings_env(
        STORAGE_ENDPOINT_URL="https://account.r2.example",
        STORAGE_ACCESS_KEY_ID="r2-access-key-id",
        STORAGE_SECRET_ACCESS_KEY_PARAM="/aiimage/test/r2-secret",
    )
    aws.ssm().put_parameter(Name="/aiimage/test/r2-secret", Value="r2-secret", Type="SecureString")
    client = weakref.ref(aws.s3())

    snapstart.before_snapshot()

    assert _collected(client)
    assert aws.s3.cache_info().currsize == 0
    assert aws.ssm_parameters.cache_info().currsize == 0


@pytest.mark.usefixtures("aws_stack")
def test_no_magic_edits_settings_cache_entry_is_kept() -> None:
    catalog = catalog_store.catalog()
    catalog.cached_settings()
    assert catalog._cache._entry is not None
    held = weakref.ref(catalog)
    del catalog

    snapstart.before_snapshot()

    assert _collected(held)
    assert catalog_store.catalog.cache_info().currsize == 0


@pytest.mark.usefixtures("aws_stack")
def test_no_client_built_before_the_snapshot_is_kept(settings_env: Callable[..., None]) -> None:
    """A provider's httpx client (and the pool its connections live in), its cached webhook
    secret, and a boto3 client that sent requests: all gone with the process caches."""
    settings_env(REPLICATE_API_TOKEN="r8-test-token")
    provider = registry.replicate()
    provider._secret = ("whsec_cached", 0.0)
    http_client = weakref.ref(provider._transport.client)
    held_provider = weakref.ref(provider)
    del provider
    dynamodb = aws.dynamodb()
    dynamodb.list_tables()
    used_client = weakref.ref(dynamodb)
    del dynamodb

    snapstart.before_snapshot()

    assert _collected(http_client)
    assert _collected(held_provider)
    assert _collected(used_client)
    assert _pools(aws.dynamodb()) == 0


# --- after_restore ---------------------------------------------------------------------------


def _draws() -> list[float]:
    """The jitter the code draws from `random`: the poll worker's redelivery delay, a
    provider retry's pause, and the generator itself (DynamoDB conflicts, botocore)."""
    return [
        *(float(runner.poll_delay(8)) for _ in range(4)),
        *(ProviderTransport._backoff(6) for _ in range(4)),
        *(random.random() for _ in range(4)),
    ]


def test_each_restored_copy_draws_its_own_jitter() -> None:
    snapshot = random.getstate()

    def restore(*, hook: bool) -> list[float]:
        random.setstate(snapshot)  # every copy resumes with the snapshot's generator
        if hook:
            snapstart.after_restore()
        return _draws()

    try:
        # Without the hook, two copies would draw the very same "random" delays.
        assert restore(hook=False) == restore(hook=False)
        first, second = restore(hook=True), restore(hook=True)
        assert first != second
        assert first != restore(hook=False)
    finally:
        random.seed()


# --- the template ----------------------------------------------------------------------------


def _function_globals() -> dict[str, Any]:
    document = yaml.load(TEMPLATE_PATH.read_text(), Loader=CfnLoader)  # noqa: S506 - SafeLoader
    globals_: dict[str, Any] = document["Globals"]["Function"]
    return globals_


@pytest.mark.parametrize(("enabled", "applied"), [("true", "PublishedVersions"), ("false", "None")])
def test_every_function_publishes_to_an_alias_with_snapstart_switchable(
    enabled: str, applied: str
) -> None:
    template = load_template()
    globals_ = _function_globals()
    assert globals_["AutoPublishAlias"] == "live"
    assert template.parameters["EnableSnapStart"].default == "true"
    resolver = Resolver(template, parameters={"EnableSnapStart": enabled})
    assert resolver.resolve(globals_["SnapStart"]) == {"ApplyOn": applied}
    # No function opts out, and none has what SnapStart refuses.
    assert len(template.functions) == len(HANDLERS)
    for function in template.functions:
        properties = template.resources[function].properties
        assert "AutoPublishAlias" not in properties, function
        assert "SnapStart" not in properties, function
        assert "ProvisionedConcurrencyConfig" not in properties, function
        assert "FileSystemConfigs" not in properties, function
        assert int(properties.get("EphemeralStorage", {}).get("Size", 512)) <= 512, function
