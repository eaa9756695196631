"""Fault injection on the Enhancer: DynamoDB throttling and conflicts, S3 and SQS failures,
a worker dying between two writes, provider faults through the Replicate emulator.

Each case checks the same four things: the caller gets a clear envelope, the quota counts
exactly what was delivered, no object is left behind, and no request is lost (it is in a
terminal state, or still queued/processing with its timestamp for `recover-stuck`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from aiimage import aws
from aiimage.enhancer import generate as generate_module
from aiimage.enhancer import jobs, runner
from aiimage.limits import quota_store
from aiimage.limits.quota import Reservation
from aiimage.providers.base import ProviderRejectedError
from generate_api.app import app as generate_app
from infra.emulators import replicate as replicate_emulator
from infra.emulators.faults import Fault
from infra.emulators.server import serve_in_thread
from jobs_api.app import app as jobs_app
from jobs_worker.app import handler as jobs_worker
from tests.conftest import TEST_ENV, assert_security_headers
from tests.faults.conftest import (
    SDK_ATTEMPTS,
    aws_fault,
    bucket_keys,
    condition_failed,
    deliver,
    is_commit,
    is_refund,
    is_reserve,
    open_reservations,
    queued_messages,
    s3_error,
    sqs_error,
    throttle,
    used_today,
)
from tests.functional.enhancer_support import browser, jpeg

pytestmark = pytest.mark.usefixtures("aws_stack")
GENERATE = "/api/ai-image/generate"
JOBS = "/api/ai-image/jobs"
ESRGAN = "nightmareai/real-esrgan"
R8_TOKEN = "r8_faultSuiteToken0123456789abcdef"


@pytest.fixture
def guest() -> Iterator[TestClient]:
    with browser(generate_app) as client:
        client.get("/api/ai-image/usage")  # issues the guest cookie
        yield client


def owner(client: TestClient) -> str:
    return f"guest#{client.cookies['guest_id'].partition('.')[0]}"


def generate(client: TestClient) -> httpx.Response:
    response: httpx.Response = client.post(
        GENERATE,
        data={"model": ESRGAN, "scale": "2"},
        files={"image": ("a.jpg", jpeg(64, 48), "image/jpeg")},
    )
    return response


def assert_busy(response: httpx.Response) -> None:
    """What a caller sees when AWS stays throttled or down past the SDK's retries."""
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("server_error", "service_busy")
    assert response.headers["retry-after"] == "1"
    assert "Exception" not in response.text
    assert "dynamodb" not in response.text.lower()
    assert_security_headers(response.headers)


def assert_nothing_left(client: TestClient) -> None:
    assert used_today(owner(client)) == 0
    assert open_reservations(owner(client)) == {}
    assert bucket_keys() == []


# --- DynamoDB -----------------------------------------------------------------------------


# A guest's reserve and refund are one TransactWriteItems with its network's day; the
# commit is an UpdateItem of the quota item alone.
GUEST_RESERVE = GUEST_REFUND = "TransactWriteItems"


def test_a_throttle_within_the_sdk_retries_is_invisible(guest: TestClient) -> None:
    with aws_fault("dynamodb", GUEST_RESERVE, throttle(), times=2, when=is_reserve) as fault:
        response = generate(guest)
    assert response.status_code == 200, response.text
    assert fault.injected == 2  # two throttled attempts, then one went through
    assert used_today(owner(guest)) == 1  # counted once, not once per attempt
    assert open_reservations(owner(guest)) == {}
    assert len(bucket_keys()) == 2


def test_a_lasting_throttle_on_the_reservation_is_a_503_and_costs_nothing(
    guest: TestClient,
) -> None:
    with aws_fault("dynamodb", GUEST_RESERVE, throttle(), times=SDK_ATTEMPTS, when=is_reserve):
        response = generate(guest)
    assert_busy(response)
    assert_nothing_left(guest)


def test_a_throttled_commit_refunds_and_deletes_both_objects(guest: TestClient) -> None:
    with aws_fault("dynamodb", "UpdateItem", throttle(), times=SDK_ATTEMPTS, when=is_commit):
        response = generate(guest)
    assert_busy(response)
    assert_nothing_left(guest)


def test_a_throttled_commit_and_refund_leave_a_dated_reservation_for_recovery(
    guest: TestClient,
) -> None:
    with (
        aws_fault("dynamodb", "UpdateItem", throttle(), times=SDK_ATTEMPTS, when=is_commit),
        aws_fault("dynamodb", GUEST_REFUND, throttle(), times=SDK_ATTEMPTS, when=is_refund),
    ):
        response = generate(guest)
    assert_busy(response)
    assert bucket_keys() == []  # the objects are deleted before the refund is tried
    held = open_reservations(owner(guest))
    assert len(held) == 1  # still counted, and findable by recover-stuck with its time
    (reservation,) = held.values()
    assert int(reservation["M"]["at"]["N"]) > 0
    assert used_today(owner(guest)) == 1


def test_a_rate_limit_write_conflict_is_a_clear_429_and_nothing_else_runs(
    guest: TestClient,
) -> None:
    # A conditional check failing on the rate window is what another request winning the
    # last slot looks like: the caller is told when to retry, nothing is reserved.
    def on_rate(params: dict[str, Any]) -> bool:
        return str(params.get("Key", {}).get("pk", {}).get("S", "")).startswith("rate#")

    with aws_fault("dynamodb", "UpdateItem", condition_failed(), when=on_rate):
        response = generate(guest)
    assert response.status_code == 429
    assert response.json()["error"]["type"] == "rate_limited"
    assert int(response.headers["retry-after"]) >= 1
    assert_nothing_left(guest)


# --- S3 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["originals", "results"])
def test_a_failed_put_refunds_and_leaves_no_object(guest: TestClient, which: str) -> None:
    def put_of(params: dict[str, Any]) -> bool:
        return f"/{which}/" in params.get("url", "")

    with aws_fault("s3", "PutObject", s3_error(), times=SDK_ATTEMPTS, when=put_of) as fault:
        response = generate(guest)
    assert fault.injected == SDK_ATTEMPTS
    assert_busy(response)
    assert_nothing_left(guest)


def test_an_access_denied_put_is_a_plain_500_and_costs_nothing(guest: TestClient) -> None:
    with aws_fault("s3", "PutObject", s3_error("AccessDenied", 403)):
        response = generate(guest)
    assert response.status_code == 500  # a misconfiguration, not a reason to retry
    assert response.json()["error"] == {
        "type": "server_error",
        "code": "unhandled",
        "message": "Internal server error",
    }
    assert_nothing_left(guest)


# --- SQS and jobs -------------------------------------------------------------------------


@pytest.fixture
def job_owner() -> Iterator[TestClient]:
    with browser(jobs_app) as client:
        client.get(JOBS)
        yield client


def create_job(client: TestClient) -> httpx.Response:
    response: httpx.Response = client.post(
        JOBS, data={"model": ESRGAN}, files={"image": ("a.jpg", jpeg(64, 48), "image/jpeg")}
    )
    return response


def job_items() -> list[dict[str, Any]]:
    return aws.dynamodb().scan(TableName=TEST_ENV["JOBS_TABLE"])["Items"]


def test_a_failed_enqueue_takes_the_job_back_and_refunds(job_owner: TestClient) -> None:
    with aws_fault("sqs", "SendMessage", sqs_error("InternalError", 500), times=SDK_ATTEMPTS):
        response = create_job(job_owner)
    assert_busy(response)
    assert job_items() == []
    assert_nothing_left(job_owner)


def test_a_duplicate_message_for_a_finished_job_changes_nothing(job_owner: TestClient) -> None:
    job_id = create_job(job_owner).json()["data"]["job"]["id"]
    body = aws.sqs().receive_message(QueueUrl=TEST_ENV["JOBS_QUEUE_URL"])["Messages"][0]["Body"]
    aws.sqs().send_message(QueueUrl=TEST_ENV["JOBS_QUEUE_URL"], MessageBody=body)
    while deliver("JOBS_QUEUE_URL", jobs_worker)["received"]:
        pass
    aws.sqs().send_message(QueueUrl=TEST_ENV["JOBS_QUEUE_URL"], MessageBody=body)  # late copy
    assert deliver("JOBS_QUEUE_URL", jobs_worker)["batchItemFailures"] == []
    done = job_owner.get(f"{JOBS}/{job_id}").json()["data"]
    assert done["status"] == "succeeded"
    assert used_today(owner(job_owner)) == 1
    assert open_reservations(owner(job_owner)) == {}
    assert len(bucket_keys()) == 2


class KilledError(Exception):
    """The worker's process dies here (Lambda timeout, out of memory, a host failure)."""


def kill_before(monkeypatch: pytest.MonkeyPatch, settlement: str) -> None:
    """Die at the first quota `settlement` ("commit" or "refund"): after the job's own
    transition was written, before the reservation is settled."""
    store = quota_store()
    real = getattr(store, settlement)
    calls: list[object] = []

    def die_once(reservation: Reservation) -> bool:
        calls.append(reservation)
        if len(calls) == 1:
            raise KilledError(settlement)
        return bool(real(reservation))

    monkeypatch.setattr(store, settlement, die_once)


def test_a_worker_killed_between_success_and_commit_is_healed_by_the_redelivery(
    job_owner: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = create_job(job_owner).json()["data"]["job"]["id"]
    kill_before(monkeypatch, "commit")
    first = deliver("JOBS_QUEUE_URL", jobs_worker)
    assert len(first["batchItemFailures"]) == 1  # the message stays on the queue
    assert job_owner.get(f"{JOBS}/{job_id}").json()["data"]["status"] == "succeeded"
    assert len(open_reservations(owner(job_owner))) == 1  # the commit never happened
    assert deliver("JOBS_QUEUE_URL", jobs_worker)["batchItemFailures"] == []
    assert open_reservations(owner(job_owner)) == {}  # committed: nothing for recovery
    assert used_today(owner(job_owner)) == 1  # charged once
    assert len(bucket_keys()) == 2
    assert queued_messages("JOBS_QUEUE_URL") == 0


def test_a_worker_killed_between_failure_and_refund_is_healed_by_the_redelivery(
    job_owner: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = create_job(job_owner).json()["data"]["job"]["id"]

    def rejected(job: jobs.Job) -> Any:
        raise ProviderRejectedError("The provider refused this image")

    monkeypatch.setattr(runner, "_advance", rejected)
    kill_before(monkeypatch, "refund")
    assert len(deliver("JOBS_QUEUE_URL", jobs_worker)["batchItemFailures"]) == 1
    failed = job_owner.get(f"{JOBS}/{job_id}").json()["data"]
    assert failed["status"] == "failed"
    assert used_today(owner(job_owner)) == 1  # the slot is still held
    assert deliver("JOBS_QUEUE_URL", jobs_worker)["batchItemFailures"] == []
    assert used_today(owner(job_owner)) == 0  # refunded exactly once
    assert open_reservations(owner(job_owner)) == {}
    assert len(bucket_keys()) == 1  # the original, kept with the failed job


def test_a_cancel_killed_before_its_refund_is_finished_by_canceling_again(
    job_owner: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = create_job(job_owner).json()["data"]["job"]["id"]
    kill_before(monkeypatch, "refund")
    assert job_owner.post(f"{JOBS}/{job_id}/cancel").status_code == 500
    assert job_owner.get(f"{JOBS}/{job_id}").json()["data"]["status"] == "canceled"
    assert used_today(owner(job_owner)) == 1
    again = job_owner.post(f"{JOBS}/{job_id}/cancel")
    assert again.status_code == 200
    assert again.json()["data"]["status"] == "canceled"
    assert used_today(owner(job_owner)) == 0
    assert job_owner.post(f"{JOBS}/{job_id}/cancel").status_code == 200
    assert used_today(owner(job_owner)) == 0  # and never more than once


def test_a_lost_answer_to_the_success_write_keeps_the_result(job_owner: TestClient) -> None:
    # DynamoDB applied the transition but its answer was lost; the SDK's retry then fails
    # the condition (the job is no longer `processing`). The worker must not take that for
    # a cancel and delete the result the job now points to.
    job_id = create_job(job_owner).json()["data"]["job"]["id"]

    def to_succeeded(params: dict[str, Any]) -> bool:
        values: dict[str, dict[str, str]] = params.get("ExpressionAttributeValues", {})
        return values.get(":status", {}).get("S") == "succeeded"

    with aws_fault("dynamodb", "UpdateItem", throttle(), when=to_succeeded, applied=True):
        assert deliver("JOBS_QUEUE_URL", jobs_worker)["batchItemFailures"] == []
    done = job_owner.get(f"{JOBS}/{job_id}").json()["data"]
    assert done["status"] == "succeeded"
    result_key = done["imageUrl"].removeprefix("https://app.test/r2-ai/")
    assert result_key in bucket_keys()  # the object the job points to exists
    assert len(bucket_keys()) == 2
    assert open_reservations(owner(job_owner)) == {}
    assert used_today(owner(job_owner)) == 1


def test_a_lost_answer_to_the_job_write_still_queues_the_job(job_owner: TestClient) -> None:
    def job_put(params: dict[str, Any]) -> bool:
        return params.get("TableName") == TEST_ENV["JOBS_TABLE"]

    with aws_fault("dynamodb", "PutItem", throttle(), when=job_put, applied=True):
        response = create_job(job_owner)
    assert response.status_code == 202, response.text
    assert len(job_items()) == 1
    assert queued_messages("JOBS_QUEUE_URL") == 1
    assert deliver("JOBS_QUEUE_URL", jobs_worker)["batchItemFailures"] == []
    assert used_today(owner(job_owner)) == 1
    assert open_reservations(owner(job_owner)) == {}


def test_a_cancel_racing_the_worker_wins_once_and_the_result_is_removed(
    job_owner: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = create_job(job_owner).json()["data"]["job"]["id"]
    real = generate_module.store_result

    def store_then_cancel(undo: Any, owner_: Any, outcome: Any, made: Any) -> Any:
        key = real(undo, owner_, outcome, made)
        # The owner cancels while the worker is between storing and its final transition.
        assert job_owner.post(f"{JOBS}/{job_id}/cancel").status_code == 200
        return key

    monkeypatch.setattr(runner, "store_result", store_then_cancel)
    assert deliver("JOBS_QUEUE_URL", jobs_worker)["batchItemFailures"] == []
    done = job_owner.get(f"{JOBS}/{job_id}").json()["data"]
    assert done["status"] == "canceled"
    assert used_today(owner(job_owner)) == 0
    assert open_reservations(owner(job_owner)) == {}
    keys = bucket_keys()
    assert len(keys) == 1
    assert "/originals/" in keys[0]  # the result written meanwhile is gone


# --- providers, through the Replicate emulator --------------------------------------------


@pytest.fixture(scope="module")
def replicate_server() -> Iterator[tuple[FastAPI, str]]:
    app = replicate_emulator.create_app(api_token=R8_TOKEN)
    with serve_in_thread(app) as url:
        yield app, url


@pytest.fixture
def replicate(
    replicate_server: tuple[FastAPI, str],
    settings_env: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., None]:
    """Replicate configured on its emulator, with no local fallback: what a caller sees
    when the only provider of a model fails. Returns a function that queues one fault."""
    app, url = replicate_server
    app.state.faults.clear()
    # In-process moto's presigned URLs do not resolve for the emulator: send data URIs.
    monkeypatch.setattr(generate_module, "_input_url", lambda key, params: None)
    settings_env(
        REPLICATE_API_TOKEN=R8_TOKEN,
        REPLICATE_BASE_URL=f"{url}/v1",
        LOCAL_PROVIDER_ENABLED="false",
        PROVIDER_MAX_RETRIES="1",
        PROVIDER_TIMEOUT_SECONDS="1",
    )

    def add(**spec: Any) -> None:
        app.state.faults.add(Fault.model_validate({"path_contains": "/predictions", **spec}))

    return add


@pytest.mark.parametrize(
    ("spec", "status", "code"),
    [
        ({"kind": "rate_limit", "retry_after": 30, "count": 3}, 429, "provider_rate_limited"),
        ({"kind": "server_error", "status": 503, "count": 3}, 502, "provider_unavailable"),
        ({"kind": "server_error", "status": 500}, 502, "provider_unavailable"),
        ({"kind": "malformed"}, 502, "provider_unavailable"),
        ({"kind": "auth"}, 502, "provider_auth"),
        ({"kind": "failed"}, 502, "generation_failed"),
    ],
    ids=["429", "503", "500", "malformed", "auth", "failed-run"],
)
def test_a_failing_provider_is_a_clear_error_and_costs_nothing(
    replicate: Callable[..., None],
    spec: dict[str, Any],
    status: int,
    code: str,
) -> None:
    replicate(**spec)
    with browser(generate_app) as client:
        response = generate(client)
        body = response.json()
        assert body["success"] is False, body
        assert (response.status_code, body["error"]["code"]) == (status, code), body
        assert R8_TOKEN not in response.text
        assert_nothing_left(client)


def test_a_slow_provider_within_its_time_succeeds(replicate: Callable[..., None]) -> None:
    replicate(kind="slow", delay=0.5)
    with browser(generate_app) as client:
        response = generate(client)
        assert response.status_code == 200, response.text
        assert used_today(owner(client)) == 1
        assert len(bucket_keys()) == 2


def test_a_provider_slower_than_the_deadline_becomes_a_job_that_keeps_the_charge(
    replicate: Callable[..., None],
) -> None:
    replicate(kind="slow", delay=3)
    with browser(generate_app) as client:
        response = generate(client)
        assert response.status_code == 202, response.text
        job = response.json()["data"]["job"]
        assert job["status"] == "queued"
        # Not lost: the job holds the reservation and the original, its message is queued.
        assert len(open_reservations(owner(client))) == 1
        assert len(bucket_keys()) == 1
        assert queued_messages("JOBS_QUEUE_URL") == 1
