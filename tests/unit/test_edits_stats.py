"""The event counters behind the tenant summary: a hand-computed scenario through the real
create/run paths, alert flags exactly at their thresholds, counters exact under racing
duplicate transitions, O(1) reads, and the seed's log signals."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ai_edits_api.app import app
from aiimage import aws
from aiimage.edits import abuse, admission, request_store, runner, stats
from aiimage.edits.abuse import AbuseBlockedError
from aiimage.edits.admission import Actor, EditCreate
from aiimage.edits.budget import budget_store
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import EditRequest, GuestLimits
from aiimage.observability import logger
from aiimage.providers.base import Outcome
from aiimage.safety import PromptBlockedError
from infra.seed_edits import DemoCatalog, seed_demo
from tests.conftest import TEST_ENV, make_token
from tests.functional.enhancer_support import jpeg

pytestmark = pytest.mark.usefixtures("aws_stack")
ACTOR = Actor(kind="guest", scope_hash="a" * 32)
ADMIN = Actor(kind="tenant", scope_hash="b" * 32, user_id="admin-1")  # no guest limits
COST = 20_000  # the demo style's estimate and the fake outcome's cost, in micro-USD


@pytest.fixture
def demo() -> DemoCatalog:
    seeded = seed_demo(bucket=TEST_ENV["IMAGES_BUCKET"])
    # The scenarios create many edits as one guest: not what the guest limits are for.
    event = catalog().get_event(seeded.tenant_id, seeded.event_slug)
    roomy = GuestLimits(edits_per_minute=100, edits_per_day=1000)
    catalog().put_event_policy(
        seeded.tenant_id,
        seeded.event_slug,
        event.ai_editing.model_copy(update={"guest_limits": roomy}),
    )
    return seeded


def create(demo: DemoCatalog, prompt: str | None = None, actor: Actor = ACTOR) -> EditRequest:
    event = catalog().get_event(demo.tenant_id, demo.event_slug)
    body = EditCreate(style_key="watercolor", prompt=prompt)
    return admission.create_edit(actor, event, demo.photo_id, body)


def take(request: EditRequest) -> EditRequest:
    taken = request_store.transition(request, from_status=("queued",), to_status="processing")
    assert taken is not None
    return taken


def succeed(request: EditRequest) -> None:
    outcome = Outcome(
        "succeeded", image=jpeg(64, 48), content_type="image/jpeg", cost_micros=20_000
    )
    runner.persist(request, "fake", outcome)


def summary(demo: DemoCatalog) -> stats.Summary:
    return stats.summarize(catalog().get_event(demo.tenant_id, demo.event_slug))


def block_terms(*terms: str) -> None:
    current = catalog().get_settings()
    catalog().update_settings({"blocked_terms": list(terms)}, expected_version=current.version)


def test_summary_numbers_match_a_hand_computed_scenario(demo: DemoCatalog) -> None:
    block_terms("forbidden")
    for _ in range(2):  # blocked at create by prompt safety
        with pytest.raises(PromptBlockedError):
            create(demo, prompt="something forbidden")
    queued = [create(demo) for _ in range(11)]
    runner.fail(queued[0], "stuck", "never taken")  # failed from queued: not a provider run
    running = [take(r) for r in queued[1:]]  # 10 processing
    for request in running[:5]:
        succeed(request)
    for request in running[5:8]:
        runner.fail(request, "provider_failed", "the provider failed")
    runner.block(running[8])  # the provider's moderation
    for latency in (1_000, 2_000, 3_000, 30_000):
        stats.record_latency(running[9], "fake", latency)

    s = summary(demo)
    # queued 0, processing 1 (running[9]), succeeded 5, failed 1 + 3, blocked 2 + 1
    assert s.counts == {"queued": 0, "processing": 1, "succeeded": 5, "failed": 4, "blocked": 3}
    assert s.total == 13
    assert s.samples.finished == 12
    assert s.failure_rate == round(4 / 12, 4)
    assert s.moderation_hit_rate == round(3 / 12, 4)
    assert s.samples.provider_runs == 9  # 5 succeeded + 3 failed + 1 blocked, all from processing
    assert s.provider_failure_rate == round(3 / 9, 4)
    assert s.samples.latency == 4
    assert s.average_provider_latency_ms == 9_000.0  # (1 + 2 + 3 + 30) s / 4
    assert s.observability.alerts.failure_rate_threshold_reached is False  # 0.333 < 0.35
    assert s.observability.alerts.latency_threshold_reached is False  # 9 s < 15 s
    assert s.spend.event_spent_micros == 5 * COST
    assert s.spend.tenant_spent_micros == 5 * COST  # the budget ledger's month
    assert s.spend.tenant_reserved_micros == COST  # running[9] still holds its reservation

    runner.fail(running[9], "provider_failed", "the provider failed")  # 5 of 13 = 0.385
    s = summary(demo)
    assert s.counts["failed"] == 5
    assert s.counts["processing"] == 0
    assert s.observability.alerts.failure_rate_threshold_reached is True
    assert s.spend.tenant_reserved_micros == 0


NO_SPEND = stats.SummarySpend(
    month="2025-01", event_spent_micros=0, tenant_spent_micros=0, tenant_reserved_micros=0
)


def alerts(**values: int) -> stats.SummaryAlerts:
    """The alerts of a summary of these counters (the spend plays no part in them)."""
    return stats._summary_from(values, spend=NO_SPEND).observability.alerts


def test_failure_rate_alert_needs_the_minimum_samples() -> None:
    # 9 finished, all failed: below the 10 samples the alert needs.
    assert not alerts(n_failed=9).failure_rate_threshold_reached
    assert alerts(n_failed=10).failure_rate_threshold_reached
    # Requests still in flight are no samples.
    assert not alerts(n_failed=9, n_queued=50, n_processing=50).failure_rate_threshold_reached


@pytest.mark.parametrize(
    ("failed", "succeeded", "reached"),
    [
        (7, 13, True),  # 7 / 20 = 0.35 exactly: reached
        (6, 14, False),  # 0.30
        (4, 6, True),  # 0.40 with exactly the minimum 10 samples
        (3, 7, False),  # 0.30 with 10 samples
        (34, 66, False),  # 0.34
        (35, 65, True),  # 0.35
    ],
)
def test_failure_rate_alert_flips_exactly_at_the_threshold(
    failed: int, succeeded: int, reached: bool
) -> None:
    assert alerts(n_failed=failed, n_succeeded=succeeded).failure_rate_threshold_reached is reached


@pytest.mark.parametrize(
    ("total_ms", "samples", "reached"),
    [(15_000, 1, True), (14_999, 1, False), (45_000, 3, True), (44_999, 3, False), (0, 0, False)],
)
def test_latency_alert_flips_exactly_at_the_threshold(
    total_ms: int, samples: int, reached: bool
) -> None:
    assert (
        alerts(latency_ms_sum=total_ms, latency_samples=samples).latency_threshold_reached
        is reached
    )


def test_thresholds_are_settings(settings_env: Callable[..., None]) -> None:
    settings_env(
        AI_FAILURE_RATE_ALERT_THRESHOLD="0.5",
        AI_FAILURE_RATE_MIN_SAMPLES="4",
        AI_LATENCY_WARNING_MS="1000",
    )
    assert alerts(n_failed=2, n_succeeded=2).failure_rate_threshold_reached
    assert not alerts(n_failed=2, n_succeeded=3).failure_rate_threshold_reached
    assert not alerts(n_failed=3).failure_rate_threshold_reached  # 3 samples < 4
    assert alerts(latency_ms_sum=1000, latency_samples=1).latency_threshold_reached


def test_racing_duplicate_transitions_move_the_counters_once(demo: DemoCatalog) -> None:
    requests = [create(demo) for _ in range(3)]
    barrier = threading.Barrier(24)
    results: list[object] = []

    def race(request: EditRequest) -> None:
        barrier.wait()
        results.append(
            request_store.transition(request, from_status=("queued",), to_status="processing")
        )

    def race_fail(request: EditRequest) -> None:
        barrier.wait()
        runner.fail(request, "stuck", "x")

    threads = [threading.Thread(target=race, args=(requests[i % 2],)) for i in range(16)]
    threads += [threading.Thread(target=race_fail, args=(requests[2],)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if isinstance(r, EditRequest)]
    assert len(winners) == 2  # one per raced request
    s = summary(demo)
    assert s.counts == {"queued": 0, "processing": 2, "succeeded": 0, "failed": 1, "blocked": 0}
    # The failed request's reservation was released exactly once.
    assert budget_store().month_usage(demo.tenant_id).reserved_micros == 2 * COST


def test_a_stale_copy_still_fails_from_the_stored_status(demo: DemoCatalog) -> None:
    queued = create(demo)
    take(queued)
    runner.fail(queued, "stuck", "x")  # the caller's copy says queued; it is processing
    s = summary(demo)
    assert s.counts["failed"] == 1
    assert s.counts["processing"] == 0
    assert s.counts["queued"] == 0
    assert s.samples.provider_runs == 1
    assert s.provider_failure_rate == 1.0


class CallCounter:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, event_name: str, **kwargs: Any) -> None:
        self.calls.append(event_name.rsplit(".", 1)[-1])


@pytest.fixture
def dynamodb_calls() -> Iterator[CallCounter]:
    counter = CallCounter()
    client = aws.dynamodb()
    client.meta.events.register("before-call.dynamodb", counter)
    yield counter
    client.meta.events.unregister("before-call.dynamodb", counter)


def test_the_summary_costs_the_same_reads_for_5_and_50_requests(
    demo: DemoCatalog, dynamodb_calls: CallCounter
) -> None:
    event = catalog().get_event(demo.tenant_id, demo.event_slug)
    seen = []
    for target in (5, 50):
        while summary(demo).total < target:
            create(demo, actor=ADMIN)
        dynamodb_calls.calls.clear()
        assert stats.summarize(event).total == target
        seen.append(list(dynamodb_calls.calls))
    assert seen[0] == seen[1] == ["GetItem", "GetItem"]


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the powertools logger writes (its JSON lines), for this test only."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    output = io.StringIO()
    previous = handler.setStream(output)
    yield output
    handler.setStream(previous)


def log_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_failure_rate_alert_is_logged_once_per_cooldown(
    demo: DemoCatalog, log_output: io.StringIO
) -> None:
    for _ in range(12):
        runner.fail(take(create(demo, prompt="a secret prompt")), "provider_failed", "down")
    alerts = [
        line
        for line in log_lines(log_output.getvalue())
        if line["message"] == "AI failure-rate alert threshold reached"
    ]
    assert len(alerts) == 1  # the 10th failure crossed it; the next two are in the cooldown
    alert = alerts[0]
    assert alert["tenant_id"] == demo.tenant_id
    assert alert["event_id"] == "evt-summer-party"
    assert alert["scope_hash"] == ACTOR.scope_hash
    assert alert["samples"] == 10
    assert alert["failure_rate"] == 1.0
    assert "secret" not in json.dumps(alerts)


def test_a_slow_provider_call_is_a_latency_warning(
    demo: DemoCatalog, log_output: io.StringIO
) -> None:
    request = create(demo, prompt="a secret prompt")
    stats.record_latency(request, "runware", 14_999)
    stats.record_latency(request, "runware", 15_000)
    warnings = [
        line
        for line in log_lines(log_output.getvalue())
        if line["message"] == "AI provider latency warning"
    ]
    assert [w["latency_ms"] for w in warnings] == [15_000]
    assert warnings[0]["scope_hash"] == ACTOR.scope_hash
    assert warnings[0]["event_id"] == "evt-summer-party"
    assert warnings[0]["tenant_id"] == demo.tenant_id
    assert "secret" not in json.dumps(warnings)
    assert summary(demo).average_provider_latency_ms == 14_999.5


def test_create_logs_carry_scope_event_and_tenant(
    demo: DemoCatalog, settings_env: Callable[..., None], log_output: io.StringIO
) -> None:
    settings_env(ABUSE_ESCALATION_THRESHOLD_PER_HOUR="1")
    abuse.abuse_counter.cache_clear()
    create(demo)
    with pytest.raises(AbuseBlockedError):  # past the threshold: blocked
        create(demo, prompt="a secret prompt")
    lines = [
        line
        for line in log_lines(log_output.getvalue())
        if line["message"] == "AI abuse escalation threshold reached"
    ]
    assert len(lines) == 1
    assert lines[0]["scope_hash"] == ACTOR.scope_hash
    assert lines[0]["event_id"] == "evt-summer-party"
    assert "secret" not in json.dumps(lines)
    abuse.abuse_counter.cache_clear()


def test_the_summary_route_has_the_full_shape(demo: DemoCatalog) -> None:
    request = take(create(demo))
    succeed(request)
    stats.record_latency(request, "fake", 20_000)
    token = make_token("admin-1", tenant_id=demo.tenant_id)
    with TestClient(app) as client:
        response = client.get(
            f"/api/v1/tenant/events/{demo.event_slug}/ai-edits/summary",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["counts"]["succeeded"] == 1
    assert data["total"] == 1
    assert data["failure_rate"] == 0.0
    assert data["provider_failure_rate"] == 0.0
    assert data["average_provider_latency_ms"] == 20_000.0
    assert data["spend"]["event_spent_micros"] == COST
    assert data["observability"]["alerts"] == {
        "failure_rate_threshold_reached": False,
        "latency_threshold_reached": True,
    }
    assert data["observability"]["thresholds"] == {
        "failure_rate": 0.35,
        "failure_rate_min_samples": 10,
        "latency_warning_ms": 15_000,
    }


def test_the_create_log_keys_do_not_outlive_the_create(
    demo: DemoCatalog, log_output: io.StringIO
) -> None:
    create(demo)
    logger.info("an unrelated line")
    line = next(x for x in log_lines(log_output.getvalue()) if x["message"] == "an unrelated line")
    assert "scope_hash" not in line
    assert "event_id" not in line
