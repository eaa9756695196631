"""Issue 19's remaining API parts: the time estimate from the recent latency per provider and
model, style preview images, the kill switch's message by language, and a guest's monthly
usage without a made-up limit."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from aiimage import aws
from aiimage.edits import request_store, stats
from aiimage.edits.catalog_store import catalog
from aiimage.enhancer.estimate import estimated_seconds
from aiimage.enhancer.jobs import Job
from aiimage.enhancer.model_catalog import GenerateParams
from aiimage.limits import latency
from aiimage.limits.latency import LatencyLog, latency_log
from infra.seed_edits import STYLES, SUMMER_TOKEN, seed_demo
from tests.conftest import TEST_ENV, make_token
from tests.functional.edits_world import TOKEN_A, style
from tests.functional.test_ai_edits_api import code, create, tenant_client
from tests.unit.edits_fixtures import START, Clock, clock_fixture, run_concurrently
from usage_api.app import app as usage_app

pytestmark = pytest.mark.usefixtures("aws_stack")
__all__ = ["clock_fixture"]
LIMITS = TEST_ENV["LIMITS_TABLE"]


# --- the recent latency -------------------------------------------------------------------


def test_the_estimate_is_the_mean_of_the_recent_requests(clock: Clock) -> None:
    log = LatencyLog(LIMITS, clock=clock)
    assert log.estimate_seconds("local", "style:dream") is None
    log.record("local", "style:dream", 4000)
    log.record("local", "style:dream", 8000)
    assert log.estimate_seconds("local", "style:dream") == 6
    # Per provider and model: another model has no data of its own.
    assert log.estimate_seconds("local", "style:sepia") is None
    assert log.estimate_seconds("runware", "style:dream") is None
    # The window covers this hour and the two before it.
    clock.now = START + timedelta(hours=2)
    log.record("local", "style:dream", 12000)
    assert log.estimate_seconds("local", "style:dream") == 8  # (4 + 8 + 12) / 3
    clock.now = START + timedelta(hours=3)
    assert log.estimate_seconds("local", "style:dream") == 12
    clock.now = START + timedelta(hours=5)
    assert log.estimate_seconds("local", "style:dream") is None
    # A sub-second mean still reads as a second, never as 0.
    log.record("local", "style:dream", 300)
    assert log.estimate_seconds("local", "style:dream") == 1


def test_parallel_samples_are_all_counted(clock: Clock) -> None:
    log = LatencyLog(LIMITS, clock=clock)
    run_concurrently(24, lambda index: log.record("local", "style:dream", 1000 + index * 100))
    item = aws.dynamodb().get_item(
        TableName=LIMITS,
        Key={"pk": {"S": "latency#local#style:dream"}, "sk": {"S": "h#2026-11-23T15"}},
    )["Item"]
    assert item["samples"] == {"N": "24"}
    assert item["ms_sum"] == {"N": str(sum(1000 + index * 100 for index in range(24)))}
    assert log.estimate_seconds("local", "style:dream") == 2  # 2150 ms


def test_a_guest_edit_carries_the_estimate_of_its_style(guest: TestClient) -> None:
    created = create(guest, {"style_key": "watercolor"})
    request_id = created.json()["data"]["request_id"]
    polled = guest.get(f"/api/v1/events/{TOKEN_A}/ai-edits/{request_id}").json()["data"]
    assert polled["estimated_seconds"] is None  # no data yet
    latency_log().record("local", "style:dream", 4000)
    latency_log().record("local", "style:dream", 8000)
    polled = guest.get(f"/api/v1/events/{TOKEN_A}/ai-edits/{request_id}").json()["data"]
    assert polled["status"] == "queued"
    assert polled["estimated_seconds"] == 6
    # The create answers none (its call budget); "my edits" shows no estimate either.
    assert create(guest, {"style_key": "watercolor"}).json()["data"]["estimated_seconds"] is None


def test_a_succeeded_edit_adds_its_duration(guest: TestClient) -> None:
    catalog().put_style(style("sepia", provider_model="style:sepia"))
    created = create(guest, {"style_key": "sepia"}).json()["data"]
    request = request_store.load_edit("tenant-a", "party", created["request_id"])
    started = request.model_copy(
        update={"status": "processing", "created_at": datetime.now(UTC) - timedelta(seconds=9)}
    )
    stats.after_transition(started, "processing", "succeeded")
    assert latency.estimate("local", "style:sepia") == 9
    # A finished request has no estimate.
    assert stats.estimated_seconds(started.model_copy(update={"status": "succeeded"})) is None


def _job(status: str, provider: str | None) -> Job:
    """Only what the estimate reads of a job."""
    fields: dict[str, Any] = {
        "status": status,
        "provider": provider,
        "params": GenerateParams(model="nightmareai/real-esrgan"),
    }
    return Job.model_construct(**fields)


def test_an_enhancer_job_carries_the_estimate_of_its_provider_and_model() -> None:
    assert estimated_seconds(_job("queued", "local")) is None
    latency_log().record("local", "nightmareai/real-esrgan", 3000)
    latency_log().record("local", "nightmareai/real-esrgan", 5000)
    assert estimated_seconds(_job("processing", "local")) == 4
    assert estimated_seconds(_job("succeeded", "local")) is None
    # Queued, no provider yet: the first available route of the model (locally: `local`).
    assert estimated_seconds(_job("queued", None)) == 4


# --- style previews -----------------------------------------------------------------------


def test_the_demo_styles_have_distinct_small_previews() -> None:
    seed_demo(bucket=TEST_ENV["IMAGES_BUCKET"])
    with TestClient(_edits_app(), base_url="https://app.test") as client:
        styles = client.get(f"/api/v1/events/{SUMMER_TOKEN}/ai-styles").json()["data"]
        assert {item["key"] for item in styles} == {s.key for s in STYLES}
        bodies = set()
        for item in styles:
            url = item["preview_url"]
            assert url == f"/api/v1/events/{SUMMER_TOKEN}/ai-styles/{item['key']}/preview"
            answer = client.get(url)
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "image/webp"
            assert answer.headers["cache-control"] == "public, max-age=86400"
            assert len(answer.content) < 20_000
            with Image.open(io.BytesIO(answer.content)) as image:
                assert image.format == "WEBP"
                assert max(image.size) == 320
            bodies.add(answer.content)
            cached = client.get(url, headers={"If-None-Match": answer.headers["etag"]})
            assert cached.status_code == 304
        assert len(bodies) == len(STYLES)


def test_a_style_without_a_preview_has_no_url_and_no_image(guest: TestClient) -> None:
    [item] = [
        s
        for s in guest.get(f"/api/v1/events/{TOKEN_A}/ai-styles").json()["data"]
        if s["key"] == "watercolor"
    ]
    assert item["preview_url"] is None
    for path in ("watercolor", "no-such-style", "retired"):
        answer = guest.get(f"/api/v1/events/{TOKEN_A}/ai-styles/{path}/preview")
        assert (answer.status_code, code(answer)) == (404, "unknown_style")
    answer = guest.get("/api/v1/events/not-a-real-token/ai-styles/watercolor/preview")
    assert (answer.status_code, code(answer)) == (404, "unknown_event")


def _edits_app() -> Any:
    from ai_edits_api.app import app

    return app


# --- the kill switch's message ------------------------------------------------------------


def test_feature_disabled_carries_the_message_and_its_translations(guest: TestClient) -> None:
    store = catalog()
    messages = {"de": "Wartung bis 18 Uhr", "en": "Maintenance until 6 pm"}
    store.update_settings(
        {"is_enabled": False, "status_message": "Wartung", "status_messages": messages},
        expected_version=store.get_settings().version,
    )
    refused = create(guest, {"style_key": "watercolor"})
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "feature_disabled"
    assert error["message"] == "Wartung"
    assert error["details"] == {"statusMessages": messages}


def test_feature_disabled_without_translations_has_none(guest: TestClient) -> None:
    store = catalog()
    store.update_settings({"is_enabled": False}, expected_version=store.get_settings().version)
    error = create(guest, {"style_key": "watercolor"}).json()["error"]
    assert error["code"] == "feature_disabled"
    assert error["details"] == {"statusMessages": {}}


def test_a_bad_translation_table_is_refused(world: None) -> None:
    with tenant_client("tenant-a", roles=["superadmin"]) as client:
        answer = client.put(
            "/api/v1/admin/ai-editing/settings",
            json={"expected_version": 0, "changes": {"status_messages": "not a table"}},
        )
    assert (answer.status_code, code(answer)) == (400, "invalid_settings"), answer.text
    assert catalog().get_settings().status_messages == {}


# --- a guest's monthly usage --------------------------------------------------------------


def test_a_guests_month_has_no_limit_of_its_own() -> None:
    with TestClient(usage_app, base_url="https://app.test") as client:
        guest_usage = client.get("/api/ai-image/usage").json()["data"]
        assert guest_usage["monthlyUsage"]["limit"] is None
        assert guest_usage["monthlyUsage"]["used"] == 0
        assert guest_usage["usage"]["limit"] == 3
        token = make_token("user-9", plan="pro")
        user = client.get("/api/ai-image/usage", headers={"Authorization": f"Bearer {token}"})
        assert user.json()["data"]["monthlyUsage"]["limit"] == 400


def test_the_kill_switch_command_sets_and_clears_the_translations(guest: TestClient) -> None:
    from aiimage.ops import cli

    args = cli.parser().parse_args(
        ["kill-switch", "on", "--message", "Pause", "--message-de", "Pause bis 18 Uhr",
         "--message-en", "Paused until 6 pm"]
    )  # fmt: skip
    assert cli.run(args).changed == 1
    error = create(guest, {"style_key": "watercolor"}).json()["error"]
    assert error["message"] == "Pause"
    assert error["details"] == {
        "statusMessages": {"de": "Pause bis 18 Uhr", "en": "Paused until 6 pm"}
    }
    assert cli.run(cli.parser().parse_args(["kill-switch", "off"])).changed == 1
    settings = catalog().get_settings()
    assert (settings.is_enabled, settings.status_message, settings.status_messages) == (
        True,
        None,
        {},
    )
    assert create(guest, {"style_key": "watercolor"}).status_code == 201


def test_a_request_queued_while_paused_carries_the_messages(guest: TestClient) -> None:
    request_id = create(guest, {"style_key": "watercolor"}).json()["data"]["request_id"]
    path = f"/api/v1/events/{TOKEN_A}/ai-edits/{request_id}"
    assert guest.get(path).json()["data"]["pause_messages"] == {}
    store = catalog()
    messages = {"de": "Wartung bis 18 Uhr", "en": "Maintenance until 6 pm"}
    store.update_settings(
        {"is_enabled": False, "status_messages": messages},
        expected_version=store.get_settings().version,
    )
    polled = guest.get(path).json()["data"]
    assert (polled["paused"], polled["pause_messages"]) == (True, messages)
