"""The operations commands against moto: each dry run changes nothing, each real run does
what it says, the CLI reports and exits as documented, and the scheduled function runs
the same code."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from ops_scheduled.app import handler as scheduled_handler

from aiimage import aws
from aiimage.edits import admission, request_store, runner, stats
from aiimage.edits.admission import Actor, EditCreate
from aiimage.edits.budget import BudgetStore, budget_store
from aiimage.edits.catalog_store import catalog
from aiimage.edits.console import tenant_events
from aiimage.edits.models import EditRequest
from aiimage.errors import ForbiddenError
from aiimage.ops import backfill, cli, dispatch, index, prune, rebuild, recover
from aiimage.ops.kill_switch import kill_switch
from infra.seed_edits import DemoCatalog, seed_demo
from infra.sqs_poller import LambdaContext
from tests.conftest import TEST_ENV
from tests.functional.enhancer_support import jpeg

pytestmark = pytest.mark.usefixtures("aws_stack")
ACTOR = Actor(kind="guest", scope_hash="b" * 32)
BUCKET = TEST_ENV["IMAGES_BUCKET"]


@pytest.fixture
def demo() -> DemoCatalog:
    return seed_demo(bucket=BUCKET)


def set_settings(**changes: Any) -> None:
    current = catalog().get_settings()
    catalog().update_settings(changes, expected_version=current.version)


def create(demo: DemoCatalog) -> EditRequest:
    event = catalog().get_event(demo.tenant_id, demo.event_slug)
    return admission.create_edit(ACTOR, event, demo.photo_id, EditCreate(style_key="watercolor"))


def load(request: EditRequest) -> EditRequest:
    return request_store.load_edit(request.tenant_id, request.event_slug, request.request_id)


def table_snapshot() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for table in (TEST_ENV["EDITS_TABLE"], TEST_ENV["LIMITS_TABLE"]):
        items += aws.dynamodb().scan(TableName=table).get("Items", [])
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def objects() -> list[str]:
    listed = aws.s3().list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return sorted(o["Key"] for o in listed if "/ai-edits/" in o["Key"])  # not the photos


def drain(queue: str) -> list[str]:
    """Every message body in the queue (and the queue emptied)."""
    bodies: list[str] = []
    while True:
        messages = (
            aws.sqs()
            .receive_message(QueueUrl=TEST_ENV[queue], MaxNumberOfMessages=10, VisibilityTimeout=0)
            .get("Messages", [])
        )
        if not messages:
            return bodies
        for message in messages:
            bodies.append(message["Body"])
            aws.sqs().delete_message(
                QueueUrl=TEST_ENV[queue], ReceiptHandle=message["ReceiptHandle"]
            )


def later(minutes: int) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


# --- recover-stuck ------------------------------------------------------------------------


def test_recover_stuck_lists_only_old_requests_and_changes_nothing(demo: DemoCatalog) -> None:
    created = [create(demo) for _ in range(3)]
    taken = request_store.transition(created[0], from_status=("queued",), to_status="processing")
    assert taken is not None
    before, messages = table_snapshot(), drain("EDITS_QUEUE_URL")
    assert len(messages) == 3  # the seed auto-dispatches

    assert recover.recover_stuck(minutes=30).found == 0  # nothing is 30 minutes old yet
    report = recover.recover_stuck(minutes=30, now=later(31))
    assert (report.found, report.changed, report.failed) == (3, 3, 0)
    assert report.dry_run
    assert "dry run" in report.summary()
    assert {line.split()[0].rsplit("/", 1)[1] for line in report.details} == {
        r.request_id for r in created
    }
    assert table_snapshot() == before
    assert drain("EDITS_QUEUE_URL") == []


def test_recover_stuck_requeues_each_request_where_it_belongs(
    demo: DemoCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued, fresh_processing, polling = (create(demo) for _ in range(3))
    request_store.transition(fresh_processing, from_status=("queued",), to_status="processing")
    taken = request_store.transition(polling, from_status=("queued",), to_status="processing")
    assert taken is not None
    request_store.transition(
        taken,
        from_status=("processing",),
        to_status="processing",
        expected_polls=0,
        provider_job_id="task-1",
        polls=2,
    )
    drain("EDITS_QUEUE_URL")

    report = recover.recover_stuck(minutes=30, mode="requeue", now=later(31))
    assert (report.found, report.changed, report.failed) == (3, 3, 0)
    submits = sorted(drain("EDITS_QUEUE_URL"))
    assert (
        sorted(
            request_store.EditMessage(demo.tenant_id, demo.event_slug, r.request_id).to_json()
            for r in (queued, fresh_processing)
        )
        == submits
    )
    polls = drain("EDITS_POLL_QUEUE_URL")
    assert polls == [
        runner.PollMessage(demo.tenant_id, demo.event_slug, polling.request_id, 2).to_json()
    ]
    # Claimed: their progress is now, so the next run does not requeue them again.
    assert recover.recover_stuck(minutes=30, mode="requeue", now=later(31)).found == 0
    assert load(queued).status == "queued"


def test_recover_stuck_fail_releases_the_budget(demo: DemoCatalog) -> None:
    stuck = create(demo)
    request_store.transition(stuck, from_status=("queued",), to_status="processing")
    assert budget_store().month_usage(demo.tenant_id).reserved_micros == 20_000

    report = recover.recover_stuck(minutes=30, mode="fail", now=later(31))
    assert (report.found, report.changed) == (1, 1)
    failed = load(stuck)
    assert failed.status == "failed"
    assert failed.error_code == "stuck"
    assert budget_store().month_usage(demo.tenant_id).reserved_micros == 0
    # Terminal requests leave the index: nothing is found again.
    assert recover.recover_stuck(minutes=30, mode="fail", now=later(31)).found == 0


# --- dispatch -----------------------------------------------------------------------------


def test_dispatch_sends_queued_requests_once(demo: DemoCatalog) -> None:
    set_settings(queue_auto_dispatch=False)
    created = [create(demo) for _ in range(4)]
    assert drain("EDITS_QUEUE_URL") == []  # nothing dispatched on create

    before = table_snapshot()
    pretend = dispatch.dispatch_queued(pretend=True)
    assert (pretend.found, pretend.changed) == (4, 0)
    assert table_snapshot() == before
    assert drain("EDITS_QUEUE_URL") == []

    report = dispatch.dispatch_queued()
    assert (report.found, report.changed, report.failed) == (4, 4, 0)
    sent = sorted(drain("EDITS_QUEUE_URL"))
    assert sent == sorted(
        request_store.EditMessage(demo.tenant_id, demo.event_slug, r.request_id).to_json()
        for r in created
    )
    assert dispatch.dispatch_queued().found == 0  # claimed as dispatched
    assert all(load(r).status == "queued" for r in created)  # the worker takes them


def test_dispatch_waits_while_the_kill_switch_is_on(demo: DemoCatalog) -> None:
    set_settings(queue_auto_dispatch=False)
    create(demo)
    kill_switch(True, message="Provider outage")
    report = dispatch.dispatch_queued()
    assert (report.found, report.changed, report.skipped) == (1, 0, 1)
    assert drain("EDITS_QUEUE_URL") == []
    kill_switch(False)
    assert dispatch.dispatch_queued().changed == 1


# --- kill switch --------------------------------------------------------------------------


def test_kill_switch_refuses_new_requests_with_the_message(demo: DemoCatalog) -> None:
    report = kill_switch(True, message="Back at 18:00")
    assert report.changed == 1
    assert "OFF" in (report.note or "")
    catalog().invalidate_settings_cache()
    with pytest.raises(ForbiddenError) as refused:
        create(demo)
    assert refused.value.code == "feature_disabled"
    assert refused.value.message == "Back at 18:00"
    assert kill_switch(False).changed == 1
    settings = catalog().get_settings()
    assert settings.is_enabled
    assert settings.status_message is None
    create(demo)


# --- prune --------------------------------------------------------------------------------


def old_request(demo: DemoCatalog, days: int, *, stored: bool) -> EditRequest:
    created = datetime.now(UTC) - timedelta(days=days)
    request_id = f"{int(created.timestamp() * 1000):013x}{days:016x}"
    request = EditRequest(
        request_id=request_id,
        tenant_id=demo.tenant_id,
        event_id="evt-summer-party",
        event_slug=demo.event_slug,
        photo_id=demo.photo_id,
        style_key="watercolor",
        provider="fake",
        provider_model="style:enhance",
        status="succeeded",
        cost_estimate_micros=20_000,
        requested_by=f"guest:{ACTOR.scope_hash}",
        created_at=created,
        updated_at=created,
        result_key=f"events/{demo.event_slug}/ai-edits/{request_id}.webp" if stored else None,
        provider_url=None if stored else "https://im.runware.ai/image/x.webp",
    )
    request_store.insert(request)
    if request.result_key:
        aws.s3().put_object(Bucket=BUCKET, Key=request.result_key, Body=b"webp")
    return request


def old_ledger_line(demo: DemoCatalog, days: int, request_id: str) -> None:
    moment = datetime.now(UTC) - timedelta(days=days)
    store = BudgetStore(TEST_ENV["EDITS_TABLE"], clock=lambda: moment)
    tenant = catalog().get_tenant(demo.tenant_id)
    store.settle(
        store.reserve(demo.tenant_id, tenant.budget, request_id, 1_000),
        1_000,
        event_id="evt-summer-party",
        provider="fake",
    )


def ledger_lines(demo: DemoCatalog) -> int:
    return len(budget_store().ledger(demo.tenant_id))


def test_prune_pretend_lists_and_changes_nothing(demo: DemoCatalog) -> None:
    old = [old_request(demo, 120, stored=True), old_request(demo, 95, stored=False)]
    old_request(demo, 30, stored=True)
    old_ledger_line(demo, 400, "ledger-old")
    old_ledger_line(demo, 100, "ledger-recent")
    before, stored = table_snapshot(), objects()

    report = prune.prune(pretend=True)
    assert report.found == 3  # 2 requests over 90 days, 1 ledger line over 365
    assert sorted(d.split()[0] for d in report.details) == ["ledger", "request", "request"]
    assert all(r.request_id in "".join(report.details) for r in old)
    assert table_snapshot() == before
    assert objects() == stored


def test_prune_deletes_old_requests_their_images_and_ledger_lines(demo: DemoCatalog) -> None:
    gone = [old_request(demo, 120, stored=True), old_request(demo, 91, stored=True)]
    kept = old_request(demo, 30, stored=True)
    old_ledger_line(demo, 400, "ledger-old")
    old_ledger_line(demo, 100, "ledger-recent")
    assert ledger_lines(demo) == 2

    report = prune.prune()
    assert (report.found, report.changed, report.failed) == (3, 3, 0)
    assert objects() == [kept.result_key]
    assert load(kept).status == "succeeded"
    for request in gone:
        with pytest.raises(Exception, match="No such AI edit"):
            load(request)
    assert ledger_lines(demo) == 1
    # Overrides: a shorter retention takes the 30-day request as well.
    assert prune.prune(request_days=20, ledger_days=50).changed == 2
    assert objects() == []
    assert ledger_lines(demo) == 0


def test_requests_carry_a_ttl_after_the_retention(demo: DemoCatalog) -> None:
    request = create(demo)
    item = aws.dynamodb().get_item(
        TableName=TEST_ENV["EDITS_TABLE"],
        Key={
            "pk": {"S": f"tenant#{demo.tenant_id}"},
            "sk": {"S": f"event#{demo.event_slug}#edit#{request.request_id}"},
        },
    )["Item"]
    expires = datetime.fromtimestamp(int(item["expires_at"]["N"]), UTC)
    assert abs(expires - request.created_at - timedelta(days=90 + 7)) < timedelta(seconds=1)
    ttl = aws.dynamodb().describe_time_to_live(TableName=TEST_ENV["EDITS_TABLE"])
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"


# --- backfill-storage ---------------------------------------------------------------------


def fake_fetch(calls: list[str]) -> Callable[[str, str], bytes]:
    def fetch(url: str, provider: str) -> bytes:
        calls.append(url)
        return jpeg(80, 60)

    return fetch


def test_backfill_pretend_lists_and_changes_nothing(demo: DemoCatalog) -> None:
    missing = old_request(demo, 2, stored=False)
    old_request(demo, 3, stored=True)
    before, stored = table_snapshot(), objects()
    calls: list[str] = []
    report = backfill.backfill_storage(pretend=True, fetcher=fake_fetch(calls))
    assert report.found == 1
    assert missing.request_id in report.details[0]
    assert table_snapshot() == before
    assert objects() == stored
    assert calls == []


def test_backfill_stores_watermarked_copies_up_to_the_limit(demo: DemoCatalog) -> None:
    missing = [old_request(demo, days, stored=False) for days in (2, 3, 4)]
    calls: list[str] = []
    report = backfill.backfill_storage(limit=2, fetcher=fake_fetch(calls))
    assert (report.found, report.changed, report.failed) == (2, 2, 0)
    report = backfill.backfill_storage(fetcher=fake_fetch(calls))
    assert (report.found, report.changed) == (1, 1)
    for request in missing:
        done = load(request)
        assert done.result_key == f"events/{demo.event_slug}/ai-edits/{request.request_id}.webp"
        data = aws.s3().get_object(Bucket=BUCKET, Key=done.result_key)["Body"].read()
        assert data[:4] == b"RIFF"
        assert data[8:12] == b"WEBP"
    assert backfill.backfill_storage(fetcher=fake_fetch(calls)).found == 0
    assert len(calls) == 3


def test_backfill_one_request_by_id(demo: DemoCatalog) -> None:
    first, second = old_request(demo, 2, stored=False), old_request(demo, 5, stored=False)
    report = backfill.backfill_storage(request_id=second.request_id, fetcher=fake_fetch([]))
    assert (report.found, report.changed) == (1, 1)
    assert load(second).result_key is not None
    assert load(first).result_key is None


def test_backfill_fetches_only_from_the_providers_output_hosts(demo: DemoCatalog) -> None:
    request = old_request(demo, 2, stored=False)
    aws.dynamodb().update_item(
        TableName=TEST_ENV["EDITS_TABLE"],
        Key={
            "pk": {"S": f"tenant#{demo.tenant_id}"},
            "sk": {"S": f"event#{demo.event_slug}#edit#{request.request_id}"},
        },
        UpdateExpression="SET provider_url = :u, provider = :p",
        ExpressionAttributeValues={
            ":u": {"S": "http://169.254.169.254/latest/meta-data"},
            ":p": {"S": "runware"},
        },
    )
    report = backfill.backfill_storage()  # the real fetcher: refused before any connection
    assert (report.found, report.changed, report.failed) == (1, 0, 1)
    assert load(request).result_key is None
    assert cli.main(["--quiet", "backfill-storage"]) == 1


# --- CLI and the scheduled function -------------------------------------------------------


def test_cli_prints_a_summary_and_exits_by_outcome(
    demo: DemoCatalog, capsys: pytest.CaptureFixture[str]
) -> None:
    set_settings(queue_auto_dispatch=False)
    create(demo)
    assert cli.main(["dispatch", "--pretend"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "dispatch: found 1, dispatched 0, failed 0 (dry run: nothing changed)"
    assert cli.main(["--json", "dispatch"]) == 0
    assert '"dispatched": 1' in capsys.readouterr().out
    assert cli.main(["recover-stuck", "--minutes", "30"]) == 0
    assert cli.main(["summary", demo.tenant_id, demo.event_slug]) == 0
    assert "alerts: failure_rate=False" in capsys.readouterr().out
    with pytest.raises(SystemExit) as bad:
        cli.main(["recover-stuck", "--minutes", "0"])
    assert bad.value.code == 2
    with pytest.raises(SystemExit):
        cli.main(["recover-stuck", "--requeue", "--fail"])
    assert cli.main(["summary", demo.tenant_id, "no-such-event"]) == 1


def test_kill_switch_from_the_cli(demo: DemoCatalog, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["kill-switch", "on", "--message", "Maintenance"]) == 0
    assert "AI editing is OFF ('Maintenance')" in capsys.readouterr().out
    assert not catalog().get_settings().is_enabled
    assert cli.main(["kill-switch", "off"]) == 0
    assert catalog().get_settings().is_enabled


@pytest.mark.parametrize(
    ("event", "module", "function"),
    [
        ({"command": "dispatch"}, dispatch, "dispatch_queued"),
        ({"command": "recover-stuck", "minutes": 30, "mode": "requeue"}, recover, "recover_stuck"),
        ({"command": "prune"}, prune, "prune"),
    ],
)
def test_the_scheduled_function_runs_the_cli_code(
    demo: DemoCatalog,
    monkeypatch: pytest.MonkeyPatch,
    event: dict[str, Any],
    module: Any,
    function: str,
) -> None:
    original = getattr(module, function)
    calls: list[dict[str, Any]] = []

    def spy(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(module, function, spy)
    result = scheduled_handler(event, LambdaContext("OpsScheduledFunction"))
    assert len(calls) == 1
    assert result["failed"] == 0
    if event["command"] == "recover-stuck":
        assert calls[0] == {"minutes": 30, "mode": "requeue"}


def test_the_scheduled_dispatch_really_dispatches(demo: DemoCatalog) -> None:
    set_settings(queue_auto_dispatch=False)
    request = create(demo)
    result = scheduled_handler({"command": "dispatch"}, LambdaContext("OpsScheduledFunction"))
    assert result["dispatched"] == 1
    assert drain("EDITS_QUEUE_URL") == [
        request_store.EditMessage(demo.tenant_id, demo.event_slug, request.request_id).to_json()
    ]


def test_a_failed_scheduled_run_is_a_function_error(demo: DemoCatalog) -> None:
    old_request(demo, 2, stored=False)
    with pytest.raises(ValueError, match="Unknown scheduled command"):
        scheduled_handler({"command": "nope"}, LambdaContext("OpsScheduledFunction"))


def test_index_keys_parse_only_request_addresses() -> None:
    assert index.parse_request_key("tenant#t1", "event#party#edit#0123") == ("t1", "party", "0123")
    assert index.parse_request_key("tenant#t1", "event#party#stats") is None
    assert index.parse_request_key("ledger#t1", "2026-01-01T00:00:00Z#x") is None
    assert index.months_between(
        datetime(2025, 11, 30, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    ) == ["2025-11", "2025-12", "2026-01", "2026-02"]


def test_event_policy_and_blocked_terms_from_the_cli(
    demo: DemoCatalog, capsys: pytest.CaptureFixture[str]
) -> None:
    slug = demo.event_slug
    assert cli.main(["event-policy", demo.tenant_id, slug, "--no-custom-prompt"]) == 0
    assert cli.main(["event-policy", demo.tenant_id, slug, "--styles", "watercolor"]) == 0
    policy = catalog().get_event(demo.tenant_id, slug).ai_editing
    assert policy.allow_custom_prompt is False
    assert policy.allowed_style_keys == ("watercolor",)
    event = catalog().get_event(demo.tenant_id, slug)
    with pytest.raises(ForbiddenError) as refused:
        admission.create_edit(
            ACTOR, event, demo.photo_id, EditCreate(style_key="watercolor", prompt="x")
        )
    assert refused.value.code == "event_policy"

    assert cli.main(["blocked-terms", "spam", "spam", "  "]) == 0
    assert "added 1" in capsys.readouterr().out
    assert "spam" in (catalog().get_settings().blocked_terms or ())
    assert cli.main(["blocked-terms", "spam"]) == 0  # already there: no write
    assert cli.main(["event-policy", demo.tenant_id, "no-such-event", "--disable"]) == 1


def test_a_failed_send_is_counted_and_the_run_goes_on(
    demo: DemoCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_settings(queue_auto_dispatch=False)
    created = [create(demo) for _ in range(3)]
    real_dispatch = request_store.dispatch
    sent: list[str] = []

    def flaky(request: EditRequest) -> None:
        if request.request_id == created[1].request_id:
            raise ClientError({"Error": {"Code": "ServiceUnavailable"}}, "SendMessage")
        sent.append(request.request_id)
        real_dispatch(request)

    monkeypatch.setattr(request_store, "dispatch", flaky)
    report = dispatch.dispatch_queued()
    assert (report.found, report.changed, report.failed) == (3, 2, 1)
    assert not report.ok
    assert sorted(sent) == sorted(r.request_id for r in (created[0], created[2]))
    # The claimed, unsent request waits as `dispatched` for recover-stuck.
    stuck = recover.recover_stuck(minutes=30, mode="requeue", now=later(31))
    assert stuck.found == 3  # all three dispatched 31 "minutes" ago; none taken by a worker


def test_rebuild_stats_recomputes_the_counters_of_legacy_data(demo: DemoCatalog) -> None:
    created = [create(demo) for _ in range(4)]
    running = [
        request_store.transition(r, from_status=("queued",), to_status="processing")
        for r in created[:3]
    ]
    assert all(running)
    runner.fail(running[0], "provider_failed", "down")  # type: ignore[arg-type]
    runner.block(running[1])  # type: ignore[arg-type]
    expected = stats.summarize(catalog().get_event(demo.tenant_id, demo.event_slug))
    # Legacy data: no counters item, and a request in flight without index attributes.
    table = TEST_ENV["EDITS_TABLE"]
    aws.dynamodb().delete_item(
        TableName=table, Key=stats.stats_key(demo.tenant_id, demo.event_slug)
    )
    aws.dynamodb().update_item(
        TableName=table,
        Key={
            "pk": {"S": f"tenant#{demo.tenant_id}"},
            "sk": {"S": f"event#{demo.event_slug}#edit#{created[3].request_id}"},
        },
        UpdateExpression="REMOVE active_status, active_at",
    )
    # ... and written before ByListing: the event and every request without `list_pk`.
    for sk in [f"event#{demo.event_slug}"] + [
        f"event#{demo.event_slug}#edit#{r.request_id}" for r in created
    ]:
        aws.dynamodb().update_item(
            TableName=table,
            Key={"pk": {"S": f"tenant#{demo.tenant_id}"}, "sk": {"S": sk}},
            UpdateExpression="REMOVE list_pk",
        )
    listed_slugs = {o.event.slug for o in tenant_events(demo.tenant_id)}
    assert demo.event_slug not in listed_slugs  # the demo's other events stay listed
    before = table_snapshot()
    assert cli.main(["rebuild-stats", demo.tenant_id, demo.event_slug, "--pretend"]) == 0
    assert table_snapshot() == before

    assert cli.main(["rebuild-stats", demo.tenant_id, demo.event_slug]) == 0
    assert {o.event.slug for o in tenant_events(demo.tenant_id)} == {
        demo.event_slug,
        *listed_slugs,
    }
    event = catalog().get_event(demo.tenant_id, demo.event_slug)
    listed = {
        status: len(request_store.list_edits(event, status=status, limit=10).requests)
        for status in ("queued", "processing", "failed", "blocked")
    }
    assert listed == {"queued": 1, "processing": 1, "failed": 1, "blocked": 1}
    # A second run finds every item listed: nothing written twice.
    repeat = rebuild.rebuild_stats(demo.tenant_id, demo.event_slug)
    assert (repeat.note or "").endswith("; 0 items added to ByListing")
    rebuilt = stats.summarize(catalog().get_event(demo.tenant_id, demo.event_slug))
    assert rebuilt.counts == expected.counts
    assert rebuilt.moderation_hit_rate == expected.moderation_hit_rate
    assert rebuilt.failure_rate == expected.failure_rate
    found = recover.recover_stuck(minutes=30, now=later(31))
    assert created[3].request_id in "".join(found.details)
