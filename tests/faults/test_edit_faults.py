"""Fault injection on Magic Edits: DynamoDB throttling and lost answers on the settlement
and the final transition, S3 failing under persist, SQS failing under create, workers dying
between two writes, duplicate deliveries.

Each case checks the request's state, the tenant's budget (spent and reserved, exactly),
the ledger lines, the event's counters, the objects in the bucket and what the queues hold,
after the fault and again after the redelivery (or `recover-stuck`) that heals it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ai_edits_api.app import app as edits_app
from aiimage import aws
from aiimage.edits import admission, request_store, runner, stats
from aiimage.edits.admission import Actor, EditCreate
from aiimage.edits.budget import budget_store
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import EditRequest, Style
from aiimage.limits import spend_ledger
from aiimage.ops.dispatch import dispatch_queued
from aiimage.ops.recover import recover_stuck
from aiimage.providers.base import (
    GenerationRequest,
    Outcome,
    ProviderRateLimitedError,
    ProviderRejectedError,
)
from edit_poll_worker.app import handler as poll_worker
from edit_submit_worker.app import handler as submit_worker
from infra.seed_edits import DemoCatalog, seed_demo
from tests.conftest import ORIGIN, TEST_ENV
from tests.faults.conftest import (
    SDK_ATTEMPTS,
    aws_fault,
    deliver,
    queued_messages,
    s3_error,
    sqs_error,
    throttle,
)
from tests.functional.enhancer_support import CSRF, jpeg
from tests.functional.test_edit_workers import Scripted

pytestmark = pytest.mark.usefixtures("aws_stack")
ACTOR = Actor(kind="guest", scope_hash="f" * 32)
SUBMIT, POLL = "EDITS_QUEUE_URL", "EDITS_POLL_QUEUE_URL"
ESTIMATE = 20_000  # the demo watercolor style's cost estimate (micro-USD)
COST = 15_000  # what the scripted provider reports (0.015 USD)


class KilledError(Exception):
    """The worker's process dies here (Lambda timeout, out of memory, a host failure)."""


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> DemoCatalog:
    monkeypatch.setattr(runner, "poll_delay", lambda attempt: 0)
    return seed_demo(bucket=TEST_ENV["IMAGES_BUCKET"])


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Scripted:
    # Pending on submit, the result on the first poll.
    scripted = Scripted(0, Outcome.succeeded(jpeg(96, 64), "image/jpeg", cost_micros=COST))
    monkeypatch.setattr(runner, "get_provider", lambda name: scripted)
    return scripted


def create(demo: DemoCatalog) -> str:
    event = catalog().get_event(demo.tenant_id, demo.event_slug)
    request = admission.create_edit(ACTOR, event, demo.photo_id, EditCreate(style_key="watercolor"))
    return request.request_id


def load(demo: DemoCatalog, request_id: str) -> EditRequest:
    return request_store.load_edit(demo.tenant_id, demo.event_slug, request_id)


def budget(demo: DemoCatalog) -> tuple[int, int]:
    """(spent, reserved) of the tenant's month, in micro-USD."""
    month = budget_store().month_usage(demo.tenant_id)
    return month.spent_micros, month.reserved_micros


def open_reservations(demo: DemoCatalog) -> list[str]:
    month = budget_store().month_usage(demo.tenant_id).month
    item = aws.dynamodb().get_item(
        TableName=TEST_ENV["EDITS_TABLE"],
        Key={"pk": {"S": f"budget#{demo.tenant_id}"}, "sk": {"S": f"m#{month}"}},
        ConsistentRead=True,
    )
    return sorted(name for name in item.get("Item", {}) if name.startswith("r_"))


def ledger(demo: DemoCatalog) -> list[tuple[str, int]]:
    return [(e.request_id, e.cost_micros) for e in budget_store().ledger(demo.tenant_id)]


def counters(demo: DemoCatalog) -> dict[str, int]:
    """The event's counters that are not zero (latency samples left out: every provider
    call adds one, whatever happens after it)."""
    raw = stats._read(demo.tenant_id, demo.event_slug)
    return {
        name: value
        for name, value in raw.items()
        if value and not name.startswith("latency") and name != "failure_alerted_until"
    }


def month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def result_objects(demo: DemoCatalog) -> list[str]:
    listed = aws.s3().list_objects_v2(
        Bucket=TEST_ENV["IMAGES_BUCKET"], Prefix=f"events/{demo.event_slug}/ai-edits/"
    )
    return sorted(item["Key"] for item in listed.get("Contents", []))


def messages() -> tuple[int, int]:
    """(submit queue, poll queue): visible and in-flight messages."""
    return queued_messages(SUBMIT), queued_messages(POLL)


def drain() -> None:
    while deliver(SUBMIT, submit_worker)["received"] + deliver(POLL, poll_worker)["received"]:
        pass


def submitted(demo: DemoCatalog) -> str:
    """A request created and submitted: `processing` with its provider task, one poll
    message waiting."""
    request_id = create(demo)
    assert deliver(SUBMIT, submit_worker)["batchItemFailures"] == []
    assert load(demo, request_id).provider_job_id == "task-1"
    assert messages() == (0, 1)
    return request_id


def assert_succeeded_once(demo: DemoCatalog, request_id: str) -> None:
    """The one good end state: succeeded, settled once at the reported cost, one ledger
    line, counted once, its result stored, nothing left on the queues."""
    done = load(demo, request_id)
    assert done.status == "succeeded"
    assert done.actual_cost_micros == COST
    assert done.result_key == f"events/{demo.event_slug}/ai-edits/{request_id}.webp"
    assert budget(demo) == (COST, 0)
    assert open_reservations(demo) == []
    assert ledger(demo) == [(request_id, COST)]
    assert counters(demo) == {
        "n_succeeded": 1,
        "provider_runs": 1,
        f"spent_{month()}": COST,
    }
    assert result_objects(demo) == [done.result_key]
    assert messages() == (0, 0)


def assert_still_processing(demo: DemoCatalog, request_id: str) -> None:
    """Where a failed persist leaves a request: in flight, its reservation open."""
    assert load(demo, request_id).status == "processing"
    assert budget(demo) == (0, ESTIMATE)
    assert open_reservations(demo) == [f"r_{request_id}"]
    assert ledger(demo) == []
    assert counters(demo) == {"n_processing": 1}


def is_settle(params: dict[str, Any]) -> bool:
    """The settlement's transaction (the month update and its ledger line)."""
    return any(
        str(item.get("Put", {}).get("Item", {}).get("pk", {}).get("S", "")).startswith("ledger#")
        for item in params.get("TransactItems", [])
    )


def is_transition_to(status: str) -> Any:
    def check(params: dict[str, Any]) -> bool:
        for item in params.get("TransactItems", []):
            values = item.get("Update", {}).get("ExpressionAttributeValues", {})
            if values.get(":status", {}).get("S") == status:
                return True
        return False

    return check


# --- the settlement -----------------------------------------------------------------------


def test_a_throttled_settle_fails_the_message_and_the_redelivery_settles_once(
    demo: DemoCatalog, provider: Scripted
) -> None:
    request_id = submitted(demo)
    with aws_fault(
        "dynamodb", "TransactWriteItems", throttle(), times=SDK_ATTEMPTS, when=is_settle
    ) as fault:
        first = deliver(POLL, poll_worker)
    assert fault.injected == SDK_ATTEMPTS
    assert len(first["batchItemFailures"]) == 1  # the poll message stays on the queue
    assert_still_processing(demo, request_id)
    # The result was stored under the request's own key before the settlement failed; the
    # redelivery writes the same key again, so nothing is orphaned.
    assert result_objects(demo) == [f"events/{demo.event_slug}/ai-edits/{request_id}.webp"]
    assert messages() == (0, 1)
    assert deliver(POLL, poll_worker)["batchItemFailures"] == []
    assert provider.polls == 2
    assert_succeeded_once(demo, request_id)


def test_a_lost_answer_to_the_settle_settles_once(demo: DemoCatalog, provider: Scripted) -> None:
    # Applied, answer lost: the SDK's retry finds the reservation gone (False, not an error).
    request_id = submitted(demo)
    with aws_fault("dynamodb", "TransactWriteItems", throttle(), when=is_settle, applied=True):
        assert deliver(POLL, poll_worker)["batchItemFailures"] == []
    assert_succeeded_once(demo, request_id)


# --- the final transition -----------------------------------------------------------------


def test_a_lost_answer_to_the_final_transition_counts_and_settles_once_and_keeps_the_result(
    demo: DemoCatalog, provider: Scripted
) -> None:
    request_id = submitted(demo)
    with aws_fault(
        "dynamodb",
        "TransactWriteItems",
        throttle(),
        when=is_transition_to("succeeded"),
        applied=True,
    ) as fault:
        assert deliver(POLL, poll_worker)["batchItemFailures"] == []
    assert fault.injected == 1
    # The SDK's retry met its own applied write (its condition failed and the transaction
    # was cancelled): the counters moved once, the result the request points to stays.
    assert_succeeded_once(demo, request_id)
    # A late copy of the poll changes nothing.
    aws.sqs().send_message(
        QueueUrl=TEST_ENV[POLL],
        MessageBody=runner.PollMessage(demo.tenant_id, demo.event_slug, request_id, 0).to_json(),
    )
    assert deliver(POLL, poll_worker)["batchItemFailures"] == []
    assert provider.polls == 1
    assert_succeeded_once(demo, request_id)


def test_a_throttled_final_transition_is_retried_by_the_redelivery(
    demo: DemoCatalog, provider: Scripted
) -> None:
    request_id = submitted(demo)
    with aws_fault(
        "dynamodb",
        "TransactWriteItems",
        throttle(),
        times=SDK_ATTEMPTS,
        when=is_transition_to("succeeded"),
    ):
        assert len(deliver(POLL, poll_worker)["batchItemFailures"]) == 1
    # Settled (the settlement comes first), not yet succeeded: the counters have not moved.
    assert load(demo, request_id).status == "processing"
    assert budget(demo) == (COST, 0)
    assert ledger(demo) == [(request_id, COST)]
    assert counters(demo) == {"n_processing": 1}
    assert deliver(POLL, poll_worker)["batchItemFailures"] == []
    assert_succeeded_once(demo, request_id)


# --- S3 under persist ---------------------------------------------------------------------


def is_result_put(params: dict[str, Any]) -> bool:
    return "/ai-edits/" in str(params.get("url", ""))


def test_a_failed_result_put_leaves_no_half_state_and_the_redelivery_finishes(
    demo: DemoCatalog, provider: Scripted
) -> None:
    request_id = submitted(demo)
    with aws_fault("s3", "PutObject", s3_error(), times=SDK_ATTEMPTS, when=is_result_put) as fault:
        first = deliver(POLL, poll_worker)
    assert fault.injected == SDK_ATTEMPTS
    assert len(first["batchItemFailures"]) == 1
    assert_still_processing(demo, request_id)
    assert result_objects(demo) == []
    assert messages() == (0, 1)
    assert deliver(POLL, poll_worker)["batchItemFailures"] == []
    assert_succeeded_once(demo, request_id)


def test_a_put_failing_on_every_receive_is_found_by_recover_stuck(
    demo: DemoCatalog, provider: Scripted
) -> None:
    # The message went to the dead-letter queue; the request is still `processing` with
    # its task, so recover-stuck queues its next poll.
    request_id = submitted(demo)
    with aws_fault("s3", "PutObject", s3_error(), times=SDK_ATTEMPTS, when=is_result_put):
        assert len(deliver(POLL, poll_worker)["batchItemFailures"]) == 1
    _lose_the_poll_message()
    assert_still_processing(demo, request_id)
    report = recover_stuck(minutes=30, mode="requeue", now=datetime.now(UTC) + timedelta(hours=1))
    assert (report.found, report.changed, report.failed) == (1, 1, 0)
    assert messages() == (0, 1)
    drain()
    assert_succeeded_once(demo, request_id)


def _lose_the_poll_message() -> None:
    """What the dead-letter queue does to a message (or a lost one): it is gone."""
    url = TEST_ENV[POLL]
    for message in (
        aws.sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    ):
        aws.sqs().delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert queued_messages(POLL) == 0


# --- a worker killed between two writes ---------------------------------------------------


def kill_once(monkeypatch: pytest.MonkeyPatch, target: Any, name: str, when: Any = None) -> None:
    """Die at the first call of `target.name` (matching `when`), before it runs."""
    real = getattr(target, name)
    died: list[bool] = []

    def dying(*args: Any, **kwargs: Any) -> Any:
        if not died and (when is None or when(*args, **kwargs)):
            died.append(True)
            raise KilledError(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, dying)


@pytest.mark.parametrize("healed_by", ["redelivery", "recover-stuck"])
def test_a_worker_killed_between_the_result_put_and_the_settle(
    demo: DemoCatalog, provider: Scripted, monkeypatch: pytest.MonkeyPatch, healed_by: str
) -> None:
    request_id = submitted(demo)
    kill_once(monkeypatch, budget_store(), "settle")
    assert len(deliver(POLL, poll_worker)["batchItemFailures"]) == 1
    assert_still_processing(demo, request_id)
    assert len(result_objects(demo)) == 1
    if healed_by == "recover-stuck":
        _lose_the_poll_message()
        now = datetime.now(UTC) + timedelta(hours=1)
        assert recover_stuck(minutes=30, mode="requeue", now=now).changed == 1
    drain()
    assert_succeeded_once(demo, request_id)


@pytest.mark.parametrize("healed_by", ["redelivery", "recover-stuck"])
def test_a_worker_killed_between_the_settle_and_the_final_transition(
    demo: DemoCatalog, provider: Scripted, monkeypatch: pytest.MonkeyPatch, healed_by: str
) -> None:
    request_id = submitted(demo)
    kill_once(
        monkeypatch, request_store, "transition", lambda *a, **k: k["to_status"] == "succeeded"
    )
    assert len(deliver(POLL, poll_worker)["batchItemFailures"]) == 1
    assert load(demo, request_id).status == "processing"
    assert budget(demo) == (COST, 0)  # settled once, before the transition
    assert ledger(demo) == [(request_id, COST)]
    assert counters(demo) == {"n_processing": 1}
    if healed_by == "recover-stuck":
        _lose_the_poll_message()
        now = datetime.now(UTC) + timedelta(hours=1)
        assert recover_stuck(minutes=30, mode="requeue", now=now).changed == 1
    drain()
    assert_succeeded_once(demo, request_id)  # the second settle was a no-op


# A blocked run was billed: it settles before its transition, like a success, and has no
# release to lose (test_a_worker_killed_after_the_blocked_settle_is_healed_and_settles_once).
@pytest.mark.parametrize(
    ("final", "status", "counted"),
    [
        (Outcome.failed("the model crashed"), "failed", {"n_failed": 1, "provider_failures": 1}),
    ],
    ids=["failed"],
)
def test_a_worker_killed_between_the_final_transition_and_the_release(
    demo: DemoCatalog,
    provider: Scripted,
    monkeypatch: pytest.MonkeyPatch,
    final: Outcome,
    status: str,
    counted: dict[str, int],
) -> None:
    # Defect found: the redelivery saw a finished request and returned, so the reservation
    # stayed open for good (recover-stuck only sees requests in flight). A message for a
    # finished request now releases again (a no-op once released).
    provider.final = final
    request_id = submitted(demo)
    kill_once(monkeypatch, budget_store(), "release")
    assert len(deliver(POLL, poll_worker)["batchItemFailures"]) == 1
    assert load(demo, request_id).status == status
    assert budget(demo) == (0, ESTIMATE)  # the release never happened
    assert deliver(POLL, poll_worker)["batchItemFailures"] == []
    assert load(demo, request_id).status == status
    assert budget(demo) == (0, 0)
    assert open_reservations(demo) == []
    assert ledger(demo) == []
    assert counters(demo) == {**counted, "provider_runs": 1}
    assert result_objects(demo) == []
    assert messages() == (0, 0)
    assert provider.polls == 1  # the redelivery did not ask the provider again


def test_a_late_submit_copy_for_a_failed_request_releases_what_a_crash_left_open(
    demo: DemoCatalog, provider: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider.final = Outcome.failed("the model crashed")
    request_id = create(demo)
    body = copy_of_submit_message()
    aws.sqs().send_message(QueueUrl=TEST_ENV[SUBMIT], MessageBody=body)  # a duplicate
    kill_once(monkeypatch, budget_store(), "release")
    deliver(SUBMIT, submit_worker)
    while deliver(POLL, poll_worker)["received"]:
        pass
    # Whichever message came last, the release happened exactly once.
    drain()
    assert load(demo, request_id).status == "failed"
    assert budget(demo) == (0, 0)
    assert len(provider.submits) == 1


def copy_of_submit_message() -> str:
    """The body of the submit message the create sent (left on the queue, visible)."""
    message = aws.sqs().receive_message(QueueUrl=TEST_ENV[SUBMIT])["Messages"][0]
    aws.sqs().change_message_visibility(
        QueueUrl=TEST_ENV[SUBMIT], ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    return str(message["Body"])


# --- duplicate deliveries -----------------------------------------------------------------


def test_duplicate_submit_messages_submit_once_and_settle_once(
    demo: DemoCatalog, provider: Scripted
) -> None:
    request_id = create(demo)
    body = copy_of_submit_message()
    for _ in range(2):
        aws.sqs().send_message(QueueUrl=TEST_ENV[SUBMIT], MessageBody=body)
    assert queued_messages(SUBMIT) == 3
    drain()
    assert len(provider.submits) == 1  # the copies found it submitted (or finished)
    assert provider.polls == 1
    assert_succeeded_once(demo, request_id)


def test_duplicate_persists_racing_each_other_settle_and_count_once(
    demo: DemoCatalog, provider: Scripted
) -> None:
    # Two deliveries of the same poll both read `processing` and both reach persist.
    request_id = submitted(demo)
    stale = load(demo, request_id)
    runner.persist(stale, "runware", provider.final)
    runner.persist(stale, "runware", provider.final)
    _lose_the_poll_message()
    assert_succeeded_once(demo, request_id)


def test_a_persist_losing_to_a_failure_leaves_no_orphan_result(
    demo: DemoCatalog, provider: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    # recover-stuck --fail (or a poll timeout) wins between the settlement and the
    # transition. The provider ran and was paid (spent, one ledger line); the request is
    # failed, so the image stored for it must not stay behind unreferenced.
    request_id = submitted(demo)
    real = budget_store().settle

    def settle_then_fail(*args: Any, **kwargs: Any) -> bool:
        settled = bool(real(*args, **kwargs))
        runner.fail(load(demo, request_id), "stuck", "No progress within the recovery window")
        return settled

    monkeypatch.setattr(budget_store(), "settle", settle_then_fail)
    assert deliver(POLL, poll_worker)["batchItemFailures"] == []
    assert load(demo, request_id).status == "failed"
    assert budget(demo) == (COST, 0)
    assert ledger(demo) == [(request_id, COST)]
    assert counters(demo) == {"n_failed": 1, "provider_runs": 1, "provider_failures": 1}
    assert result_objects(demo) == []


# --- create -------------------------------------------------------------------------------


@pytest.fixture
def guest(demo: DemoCatalog) -> Iterator[TestClient]:
    with TestClient(
        edits_app, base_url=ORIGIN, headers={"Origin": ORIGIN, "X-CSRF-Token": CSRF}
    ) as client:
        client.cookies.set("csrf_token", CSRF)
        yield client


def post_create(client: TestClient, demo: DemoCatalog, **headers: str) -> Any:
    return client.post(
        f"/api/v1/events/{demo.join_token}/photos/{demo.photo_id}/ai-edits",
        json={"style_key": "watercolor"},
        headers=headers,
    )


def stored_requests() -> list[dict[str, Any]]:
    items = aws.dynamodb().scan(TableName=TEST_ENV["EDITS_TABLE"])["Items"]
    return [item for item in items if "#edit#" in item["sk"]["S"]]


def assert_busy(response: Any) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("server_error", "service_busy")
    assert response.headers["retry-after"] == "1"
    assert "Exception" not in response.text


def is_reserve(params: dict[str, Any]) -> bool:
    return str(params.get("UpdateExpression", "")).startswith("ADD #reserved")


def is_request_put(params: dict[str, Any]) -> bool:
    return any(
        "#edit#" in str(item.get("Put", {}).get("Item", {}).get("sk", {}).get("S", ""))
        for item in params.get("TransactItems", [])
    )


def test_a_throttled_reservation_on_create_is_a_503_and_leaves_nothing(
    guest: TestClient, demo: DemoCatalog
) -> None:
    with aws_fault("dynamodb", "UpdateItem", throttle(), times=SDK_ATTEMPTS, when=is_reserve):
        response = post_create(guest, demo)
    assert_busy(response)
    assert budget(demo) == (0, 0)
    assert open_reservations(demo) == []
    assert stored_requests() == []
    assert counters(demo) == {}
    assert messages() == (0, 0)


def test_a_throttled_request_write_on_create_releases_and_leaves_nothing(
    guest: TestClient, demo: DemoCatalog
) -> None:
    with aws_fault(
        "dynamodb", "TransactWriteItems", throttle(), times=SDK_ATTEMPTS, when=is_request_put
    ):
        response = post_create(guest, demo)
    assert_busy(response)
    assert budget(demo) == (0, 0)  # reserved, then released by the create's clean-up
    assert open_reservations(demo) == []
    assert stored_requests() == []
    assert counters(demo) == {}
    assert messages() == (0, 0)
    # The caller's retry goes through and is charged once.
    assert post_create(guest, demo).status_code == 201
    assert budget(demo) == (0, ESTIMATE)
    assert messages() == (1, 0)


def test_a_failed_send_on_create_answers_201_and_the_dispatch_schedule_sends_it(
    guest: TestClient, demo: DemoCatalog, provider: Scripted
) -> None:
    with aws_fault("sqs", "SendMessage", sqs_error("InternalError", 500), times=SDK_ATTEMPTS):
        response = post_create(guest, demo)
    # The caller is not told "failed" about a request that is stored, charged and will run
    # (a retry would create and charge a second one).
    assert response.status_code == 201, response.text
    request_id = response.json()["data"]["request_id"]
    assert budget(demo) == (0, ESTIMATE)
    # Marked `queued` again, so the every-minute dispatch sends it (not 30+ minutes later).
    report = dispatch_queued()
    assert (report.found, report.changed) == (1, 1)
    drain()
    assert_succeeded_once(demo, request_id)


def is_undispatch(params: dict[str, Any]) -> bool:
    return params.get("ConditionExpression") == "active_status = :dispatched"


def test_a_failed_send_and_a_failed_requeue_leave_the_request_to_recover_stuck(
    guest: TestClient, demo: DemoCatalog, provider: Scripted
) -> None:
    """SQS and then DynamoDB fail: the request stays marked `dispatched`, which the
    every-minute `dispatch` does not send; `recover-stuck` (30 minutes without progress)
    does. The caller still gets its request, and pays for it once."""
    with (
        aws_fault("sqs", "SendMessage", sqs_error("InternalError", 500), times=SDK_ATTEMPTS),
        aws_fault("dynamodb", "UpdateItem", throttle(), times=SDK_ATTEMPTS, when=is_undispatch),
    ):
        response = post_create(guest, demo)
    assert response.status_code == 201, response.text
    (item,) = stored_requests()
    request_id = item["request_id"]["S"]
    assert item["active_status"]["S"] == "dispatched"
    assert budget(demo) == (0, ESTIMATE)  # reserved for it, once
    assert messages() == (0, 0)
    assert dispatch_queued().found == 0  # not the dispatch schedule's to send
    assert recover_stuck(minutes=30, mode="requeue").found == 0  # not within 30 minutes
    later = datetime.now(UTC) + timedelta(minutes=31)
    assert recover_stuck(minutes=30, mode="requeue", now=later).changed == 1
    drain()
    assert_succeeded_once(demo, request_id)


# --- provider spend (the daily ceilings) and true costs -----------------------------------

SPEND_ESTIMATE = 10_000  # the price table's Runware default: what the ceiling reserves


class Refusing(Scripted):
    """A provider whose next submits raise `errors` (one each), then behave."""

    def __init__(self, errors: list[Exception], final: Outcome) -> None:
        super().__init__(0, final)
        self.errors = errors

    def submit(self, request: GenerationRequest) -> Outcome:
        self.submits.append(request.idempotency_key)
        if self.errors:
            raise self.errors.pop(0)
        return Outcome.pending("task-1")


def paid_world(demo: DemoCatalog, monkeypatch: pytest.MonkeyPatch, provider: Scripted) -> str:
    """A Runware style (a paid provider, so the call reserves under its ceiling) answered by
    `provider`; an edit of it created."""
    catalog().put_style(
        Style(
            key="runware-art",
            name="Runware art",
            provider="runware",
            provider_model="runware:101@1",
            prompt_template="{prompt}",
            cost_estimate_micros=ESTIMATE,
        )
    )
    monkeypatch.setattr(runner, "get_provider", lambda name: provider)
    event = catalog().get_event(demo.tenant_id, demo.event_slug)
    body = EditCreate(style_key="runware-art")
    return admission.create_edit(ACTOR, event, demo.photo_id, body).request_id


def spend() -> tuple[int, int, int, int, dict[str, int]]:
    """Today's Runware spend: (spent, reserved, open reservations, released, by reason)."""
    day = spend_ledger().day("runware")
    return (
        day.spent_micros,
        day.reserved_micros,
        day.open_reservations,
        day.released,
        day.by_reason,
    )


def reasons(demo: DemoCatalog) -> list[tuple[int, str]]:
    return [(e.cost_micros, e.reason) for e in budget_store().ledger(demo.tenant_id)]


def a_result(cost: int = COST) -> Outcome:
    return Outcome.succeeded(jpeg(96, 64), "image/jpeg", cost_micros=cost)


def test_a_provider_refusal_at_submit_releases_the_spend_reservation(
    demo: DemoCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = Refusing([ProviderRejectedError()], a_result())
    request_id = paid_world(demo, monkeypatch, provider)

    assert deliver(SUBMIT, submit_worker)["batchItemFailures"] == []

    done = load(demo, request_id)
    assert (done.status, done.error_code) == ("failed", "provider_rejected")
    assert len(provider.submits) == 1
    assert budget(demo) == (0, 0)
    assert spend() == (0, 0, 0, 1, {})  # reserved before the call, given back after it
    assert messages() == (0, 0)
    deliver(SUBMIT, submit_worker)  # nothing left: a late copy cannot release twice
    assert spend() == (0, 0, 0, 1, {})


def test_a_busy_provider_releases_and_the_redelivery_reserves_and_settles_once(
    demo: DemoCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = Refusing([ProviderRateLimitedError(5)], a_result())
    request_id = paid_world(demo, monkeypatch, provider)

    first = deliver(SUBMIT, submit_worker)

    assert len(first["batchItemFailures"]) == 1  # SQS redelivers, as for any rate limit
    assert load(demo, request_id).status == "processing"
    assert spend() == (0, 0, 0, 1, {})
    assert budget(demo) == (0, ESTIMATE)
    drain()
    assert load(demo, request_id).status == "succeeded"
    assert len(provider.submits) == 2
    assert budget(demo) == (COST, 0)
    assert spend() == (COST, 0, 0, 1, {"succeeded": COST})


def test_a_full_ceiling_defers_the_edit_uncharged_until_there_is_room(
    demo: DemoCatalog, monkeypatch: pytest.MonkeyPatch, settings_env: Any
) -> None:
    settings_env(RUNWARE_DAILY_CEILING_USD="0.005")  # 5,000 micro-USD: no room for 10,000
    monkeypatch.setattr(runner, "CAPACITY_RETRY_MAX_SECONDS", 0)  # look again at once
    provider = Scripted(0, a_result())
    request_id = paid_world(demo, monkeypatch, provider)

    for _ in range(3):  # refused each time: never failed, never lost, never charged
        assert deliver(SUBMIT, submit_worker)["batchItemFailures"] == []
        waiting = load(demo, request_id)
        assert (waiting.status, waiting.provider_job_id, waiting.spend_day) == (
            "processing",
            None,
            None,
        )
        assert provider.submits == []
        assert messages() == (1, 0)  # its next submit message, a new one
        assert spend() == (0, 0, 0, 0, {})
        assert budget(demo) == (0, ESTIMATE)

    settings_env(RUNWARE_DAILY_CEILING_USD="1")  # the operator raises it (or midnight came)
    drain()

    assert load(demo, request_id).status == "succeeded"
    assert len(provider.submits) == 1
    assert budget(demo) == (COST, 0)
    assert spend() == (COST, 0, 0, 0, {"succeeded": COST})


def test_a_capacity_refusal_on_the_last_receive_still_only_waits(
    demo: DemoCatalog, monkeypatch: pytest.MonkeyPatch, settings_env: Any
) -> None:
    settings_env(RUNWARE_DAILY_CEILING_USD="0.005")
    provider = Scripted(0, a_result())
    request_id = paid_world(demo, monkeypatch, provider)
    taken = request_store.transition(
        load(demo, request_id), from_status=("queued",), to_status="processing"
    )
    assert taken is not None

    runner.submit(
        request_store.EditMessage(demo.tenant_id, demo.event_slug, request_id), last_attempt=True
    )

    assert load(demo, request_id).status == "processing"
    assert budget(demo) == (0, ESTIMATE)


def test_a_result_that_is_no_image_was_billed_and_is_settled_as_store_failed(
    demo: DemoCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    garbage = Outcome.succeeded(b"\x89PNG\r\n\x1a\n but not really", "image/png", cost_micros=COST)
    request_id = paid_world(demo, monkeypatch, Scripted(0, garbage))

    drain()

    done = load(demo, request_id)
    assert (done.status, done.error_code, done.actual_cost_micros) == (
        "failed",
        "store_failed",
        COST,
    )
    assert budget(demo) == (COST, 0)
    assert reasons(demo) == [(COST, "store_failed")]
    assert spend() == (COST, 0, 0, 0, {"store_failed": COST})
    assert result_objects(demo) == []
    assert messages() == (0, 0)


def test_a_provider_reporting_no_cost_settles_the_estimate_never_zero(
    demo: DemoCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    unreported = Outcome.succeeded(jpeg(96, 64), "image/jpeg")
    request_id = paid_world(demo, monkeypatch, Scripted(0, unreported))

    drain()

    assert load(demo, request_id).actual_cost_micros == ESTIMATE
    assert budget(demo) == (ESTIMATE, 0)
    assert spend() == (ESTIMATE, 0, 0, 0, {"succeeded": ESTIMATE})


def is_transition_kwargs(status: str) -> Any:
    return lambda *args, **kwargs: kwargs.get("to_status") == status


def test_a_worker_killed_after_the_blocked_settle_is_healed_and_settles_once(
    demo: DemoCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    flagged = Outcome("failed", job_id="task-1", error=runner.NSFW, cost_micros=COST)
    provider = Scripted(0, flagged)
    request_id = paid_world(demo, monkeypatch, provider)
    assert deliver(SUBMIT, submit_worker)["batchItemFailures"] == []
    kill_once(monkeypatch, request_store, "transition", when=is_transition_kwargs("blocked"))

    assert len(deliver(POLL, poll_worker)["batchItemFailures"]) == 1
    assert load(demo, request_id).status == "processing"  # died after the settle
    assert budget(demo) == (COST, 0)
    assert deliver(POLL, poll_worker)["batchItemFailures"] == []

    assert load(demo, request_id).status == "blocked"
    assert provider.polls == 2
    assert budget(demo) == (COST, 0)
    assert reasons(demo) == [(COST, "blocked")]
    assert spend() == (COST, 0, 0, 0, {"blocked": COST})
    assert messages() == (0, 0)
