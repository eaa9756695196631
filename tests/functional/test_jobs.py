"""Enhancer jobs: the jobs API, the SQS worker (real SQS event JSON from moto's queue),
owner scoping, cancel with refund, idempotent redelivery; direct uploads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient

from aiimage import aws
from aiimage.enhancer import dispatch
from aiimage.enhancer.model_catalog import CATALOG
from aiimage.providers.base import GenerationRequest, Outcome, ProviderUnavailableError
from generate_api.app import app as generate_app
from infra.sqs_poller import LambdaContext, sqs_event
from jobs_api.app import app as jobs_app
from jobs_worker.app import handler as worker
from tests.conftest import TEST_ENV, assert_security_headers, make_token
from tests.functional.enhancer_support import browser, bucket_keys, jpeg
from uploads_api.app import app as uploads_app
from usage_api.app import app as usage_app

pytestmark = pytest.mark.usefixtures("aws_stack")
JOBS = "/api/ai-image/jobs"
ESRGAN = "nightmareai/real-esrgan"


@pytest.fixture
def guest() -> Iterator[TestClient]:
    with browser(jobs_app) as client:
        yield client


def run_worker() -> dict[str, Any]:
    """Receive what the queue holds and invoke the worker as Lambda would."""
    queue = TEST_ENV["JOBS_QUEUE_URL"]
    messages = (
        aws.sqs()
        .receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"])
        .get("Messages", [])
    )
    if not messages:  # Lambda never invokes a worker with an empty batch
        return {"received": 0, "batchItemFailures": []}
    event = sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:test-jobs", "us-east-1")
    result = worker(event, LambdaContext("JobsWorkerFunction"))
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    for message in messages:
        if message["MessageId"] in failed:  # visible again at once, not after 30 min
            aws.sqs().change_message_visibility(
                QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        else:
            aws.sqs().delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return {"received": len(messages), "batchItemFailures": result["batchItemFailures"]}


def create(client: TestClient, **fields: str) -> dict[str, Any]:
    response = client.post(
        JOBS,
        data={"model": ESRGAN, **fields},
        files={"image": ("a.jpg", jpeg(64, 48), "image/jpeg")},
    )
    assert response.status_code == 202, response.text
    assert response.headers["location"].startswith(f"{JOBS}/")
    assert_security_headers(response.headers)
    job: dict[str, Any] = response.json()["data"]["job"]
    return job


def test_a_job_runs_on_the_worker_and_succeeds(guest: TestClient) -> None:
    job = create(guest, scale="2")
    assert job["status"] == "queued"
    assert job["imageUrl"] is None
    assert run_worker()["batchItemFailures"] == []
    done = guest.get(f"{JOBS}/{job['id']}").json()["data"]
    assert done["status"] == "succeeded"
    assert done["imageUrl"].startswith("https://app.test/r2-ai/ai-enhancer/results/guest/")
    assert len(bucket_keys()) == 2  # original and result


@pytest.mark.parametrize("model", sorted(CATALOG))
def test_every_model_of_the_catalog_runs_as_a_job(model: str) -> None:
    """Each model with its defaults (img2img's float strength and guidance included), as a
    plan that may use every model asks for it, through the HTTP handler and the worker."""
    with TestClient(jobs_app, base_url="https://app.test") as client:
        client.headers["Authorization"] = f"Bearer {make_token('every-model', plan='pro')}"
        response = client.post(
            JOBS, data={"model": model}, files={"image": ("a.jpg", jpeg(64, 48), "image/jpeg")}
        )
        assert response.status_code == 202, response.text
        job = response.json()["data"]["job"]
        assert run_worker()["batchItemFailures"] == []
        done = client.get(f"{JOBS}/{job['id']}").json()["data"]
        assert done["status"] == "succeeded", done
        assert done["model"] == model


def test_a_redelivered_message_does_nothing_twice(guest: TestClient) -> None:
    job = create(guest)
    queue = TEST_ENV["JOBS_QUEUE_URL"]
    body = aws.sqs().receive_message(QueueUrl=queue)["Messages"][0]
    aws.sqs().change_message_visibility(
        QueueUrl=queue, ReceiptHandle=body["ReceiptHandle"], VisibilityTimeout=0
    )
    aws.sqs().send_message(QueueUrl=queue, MessageBody=body["Body"])  # a duplicate delivery
    run_worker()
    run_worker()
    assert guest.get(f"{JOBS}/{job['id']}").json()["data"]["status"] == "succeeded"
    assert len(bucket_keys()) == 2


def test_nobody_sees_another_owners_job(guest: TestClient) -> None:
    job = create(guest)
    with browser(jobs_app) as stranger:
        assert stranger.get(f"{JOBS}/{job['id']}").status_code == 404
        assert stranger.post(f"{JOBS}/{job['id']}/cancel").status_code == 404
        assert stranger.get(JOBS).json()["data"]["jobs"] == []


def test_listing_filters_by_status_and_pages(guest: TestClient) -> None:
    ids = [create(guest)["id"] for _ in range(3)]
    page = guest.get(JOBS, params={"limit": 2}).json()["data"]
    assert [j["id"] for j in page["jobs"]] == ids[::-1][:2]
    rest = guest.get(JOBS, params={"limit": 2, "cursor": page["nextCursor"]}).json()["data"]
    assert [j["id"] for j in rest["jobs"]] == [ids[0]]
    assert rest["nextCursor"] is None
    assert guest.get(JOBS, params={"status": "succeeded"}).json()["data"]["jobs"] == []
    assert len(guest.get(JOBS, params={"status": "queued"}).json()["data"]["jobs"]) == 3
    assert guest.get(JOBS, params={"status": "bogus"}).status_code == 422
    assert guest.get(JOBS, params={"cursor": "!!"}).status_code == 400


def test_cancel_refunds_and_the_worker_then_skips_it(guest: TestClient) -> None:
    job = create(guest)
    canceled = guest.post(f"{JOBS}/{job['id']}/cancel")
    assert canceled.status_code == 200
    assert canceled.json()["data"]["status"] == "canceled"
    assert run_worker()["batchItemFailures"] == []
    assert guest.get(f"{JOBS}/{job['id']}").json()["data"]["status"] == "canceled"
    with browser(generate_app, cookies={"guest_id": guest.cookies["guest_id"]}) as usage_client:
        for _ in range(3):  # the canceled job's image was given back: three still fit
            response = usage_client.post(
                "/api/ai-image/generate",
                data={"model": ESRGAN},
                files={"image": ("a.jpg", jpeg(), "image/jpeg")},
            )
            assert response.status_code == 200, response.text


def test_canceling_a_finished_job_answers_it_unchanged(guest: TestClient) -> None:
    # The seed's behaviour (issue 22): 200 with the job as it is, nothing given back.
    job = create(guest)
    run_worker()
    finished = guest.get(f"{JOBS}/{job['id']}").json()["data"]
    assert finished["status"] == "succeeded"
    assert used_today(guest) == 1
    for _ in range(2):
        answer = guest.post(f"{JOBS}/{job['id']}/cancel")
        assert answer.status_code == 200
        assert answer.json()["data"] == finished
    assert used_today(guest) == 1


def used_today(guest: TestClient) -> int:
    with browser(usage_app, cookies={"guest_id": guest.cookies["guest_id"]}) as client:
        used: int = client.get("/api/ai-image/usage").json()["data"]["usage"]["used"]
    return used


def test_a_failed_run_fails_the_job_and_refunds(
    guest: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Refusing:
        name = "local"

        def submit(self, request: GenerationRequest) -> Outcome:
            return Outcome.failed("the model could not process it")

        def poll(self, job_id: str) -> Outcome:
            return Outcome.failed("no")

        def cancel(self, job_id: str) -> None:
            return None

    job = create(guest)
    monkeypatch.setattr(dispatch, "get_provider", lambda name: Refusing())
    run_worker()
    failed = guest.get(f"{JOBS}/{job['id']}").json()["data"]
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "generation_failed"


def test_a_pending_provider_job_is_polled_until_done(
    guest: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    polls: list[str] = []

    class Slow:
        name = "local"

        def submit(self, request: GenerationRequest) -> Outcome:
            return Outcome.pending("prediction-1")

        def poll(self, job_id: str) -> Outcome:
            polls.append(job_id)
            if len(polls) < 2:
                return Outcome.pending(job_id)
            return Outcome.succeeded(jpeg(), "image/jpeg", job_id=job_id)

        def cancel(self, job_id: str) -> None:
            return None

    monkeypatch.setattr(dispatch, "get_provider", lambda name: Slow())
    monkeypatch.setattr("aiimage.enhancer.runner.get_provider", lambda name: Slow())
    monkeypatch.setattr("aiimage.enhancer.runner.POLL_DELAY_SECONDS", 0)
    job = create(guest)
    for _ in range(3):
        run_worker()
    assert polls == ["prediction-1", "prediction-1"]
    assert guest.get(f"{JOBS}/{job['id']}").json()["data"]["status"] == "succeeded"


def test_generate_turns_a_slow_provider_into_a_job(monkeypatch: pytest.MonkeyPatch) -> None:
    class Pending:
        name = "local"

        def submit(self, request: GenerationRequest) -> Outcome:
            return Outcome.pending("prediction-2")

        def poll(self, job_id: str) -> Outcome:
            return Outcome.succeeded(jpeg(), "image/jpeg", job_id=job_id)

        def cancel(self, job_id: str) -> None:
            return None

    monkeypatch.setattr(dispatch, "get_provider", lambda name: Pending())
    monkeypatch.setattr("aiimage.enhancer.runner.get_provider", lambda name: Pending())
    with browser(generate_app) as client:
        response = client.post(
            "/api/ai-image/generate",
            data={"model": ESRGAN},
            files={"image": ("a.jpg", jpeg(), "image/jpeg")},
        )
        assert response.status_code == 202, response.text
        job = response.json()["data"]["job"]
        assert job["status"] == "processing"
        run_worker()
        with browser(jobs_app, cookies={"guest_id": client.cookies["guest_id"]}) as jobs:
            assert jobs.get(f"{JOBS}/{job['id']}").json()["data"]["status"] == "succeeded"


def test_a_direct_upload_is_bounded_by_its_signature_and_usable_once() -> None:
    with browser(uploads_app) as client:
        response = client.post(
            "/api/ai-image/uploads", json={"contentType": "image/jpeg", "size": 1234}
        )
        assert response.status_code == 201, response.text
        upload = response.json()["data"]
        query = parse_qs(urlparse(upload["url"]).query)
        assert query["X-Amz-SignedHeaders"][0].split(";") == [
            "content-length",
            "content-type",
            "host",
        ]
        assert upload["headers"] == {"Content-Type": "image/jpeg", "Content-Length": "1234"}
        assert (
            client.post(
                "/api/ai-image/uploads", json={"contentType": "image/gif", "size": 10}
            ).status_code
            == 415
        )
        assert (
            client.post(
                "/api/ai-image/uploads", json={"contentType": "image/png", "size": 11 * 2**20}
            ).status_code
            == 413
        )
        # The browser's PUT, as moto stores it, then a generate that names the key.
        aws.s3().put_object(Bucket=TEST_ENV["IMAGES_BUCKET"], Key=upload["uploadKey"], Body=jpeg())
        with browser(generate_app, cookies={"guest_id": client.cookies["guest_id"]}) as gen:
            generated = gen.post(
                "/api/ai-image/generate",
                data={"model": ESRGAN, "uploadKey": upload["uploadKey"]},
            )
            assert generated.status_code == 200, generated.text
        assert upload["uploadKey"] not in bucket_keys()  # the raw upload is gone


def test_a_provider_outage_is_retried_by_sqs_then_fails_the_job_on_the_last_receive(
    guest: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Down:
        name = "local"

        def submit(self, request: GenerationRequest) -> Outcome:
            raise ProviderUnavailableError()

        def poll(self, job_id: str) -> Outcome:
            raise ProviderUnavailableError()

        def cancel(self, job_id: str) -> None:
            return None

    ok_job = create(guest)
    run_worker()  # the first job succeeds before the outage
    job = create(guest)
    monkeypatch.setattr(dispatch, "get_provider", lambda name: Down())
    first = run_worker()
    assert first["received"] == 1
    assert len(first["batchItemFailures"]) == 1  # the message stays for SQS to redeliver
    assert guest.get(f"{JOBS}/{job['id']}").json()["data"]["status"] == "processing"
    monkeypatch.setattr("jobs_worker.app.MAX_RECEIVES", 2)
    last = run_worker()  # the second receive of the same message
    assert last["received"] == 1
    assert last["batchItemFailures"] == []
    failed = guest.get(f"{JOBS}/{job['id']}").json()["data"]
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "provider_unavailable"
    assert guest.get(f"{JOBS}/{ok_job['id']}").json()["data"]["status"] == "succeeded"
