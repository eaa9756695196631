"""The edit workers through SQS, DynamoDB and S3 on a moto server over HTTP: submit,
step-wise polls, persistence with the watermark, settlement exactly once, and the failure
paths (NSFW, poll timeout, a crash between submit and the status write, duplicate poll
messages)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageChops, ImageStat

from ai_edits_api.app import app
from aiimage import aws
from aiimage.edits import admission, request_store, runner
from aiimage.edits.admission import Actor, EditCreate
from aiimage.edits.budget import budget_store
from aiimage.edits.catalog_store import catalog
from aiimage.edits.circuit import FAILURE_THRESHOLD, circuit_breaker
from aiimage.edits.models import EditRequest, Style
from aiimage.imaging.watermark import margin_for, mark_box, prepare_mark
from aiimage.providers.base import GenerationRequest, Outcome, ProviderRejectedError
from edit_poll_worker.app import handler as poll_worker
from edit_submit_worker.app import handler as submit_worker
from infra.seed_edits import DEMO_WATERMARK, DemoCatalog, seed_demo
from infra.sqs_poller import LambdaContext, sqs_event
from tests.conftest import TEST_ENV, make_token
from tests.functional.enhancer_support import jpeg

pytestmark = pytest.mark.usefixtures("aws_server")
ACTOR = Actor(kind="guest", scope_hash="0" * 32)


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> DemoCatalog:
    monkeypatch.setattr(runner, "poll_delay", lambda attempt: 0)
    return seed_demo(bucket=TEST_ENV["IMAGES_BUCKET"])


def run(queue: str, worker: Callable[[dict[str, Any], Any], Any]) -> int:
    """Deliver what `queue` holds to `worker` as Lambda would; the messages handled."""
    url = TEST_ENV[queue]
    messages = (
        aws.sqs()
        .receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
        .get("Messages", [])
    )
    if not messages:
        return 0
    arn = f"arn:aws:sqs:us-east-1:123456789012:{url.rsplit('/', 1)[1]}"
    result = worker(sqs_event(messages, arn, "us-east-1"), LambdaContext("worker"))
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    for message in messages:
        if message["MessageId"] in failed:  # visible again at once, not after the timeout
            aws.sqs().change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        else:
            aws.sqs().delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return len(messages)


def drain() -> None:
    while run("EDITS_QUEUE_URL", submit_worker) + run("EDITS_POLL_QUEUE_URL", poll_worker):
        pass


def create(demo: DemoCatalog, style: str = "watercolor", prompt: str | None = None) -> str:
    event = catalog().get_event(demo.tenant_id, demo.event_slug)
    request = admission.create_edit(
        ACTOR, event, demo.photo_id, EditCreate(style_key=style, prompt=prompt)
    )
    return request.request_id


def load(demo: DemoCatalog, request_id: str) -> EditRequest:
    return request_store.load_edit(demo.tenant_id, demo.event_slug, request_id)


def whitest(region: Image.Image) -> int:
    """The brightest pixel's weakest channel: high only where something is near white."""
    red, green, blue = region.split()
    weakest = ImageChops.darker(ImageChops.darker(red, green), blue)
    return int(ImageStat.Stat(weakest).extrema[0][1])


def usage(demo: DemoCatalog) -> tuple[int, int]:
    month = budget_store().month_usage(demo.tenant_id)
    return month.spent_micros, month.reserved_micros


class Scripted:
    """A provider that stays pending for `pending_polls` polls, then answers `final`."""

    name = "runware"

    def __init__(self, pending_polls: int, final: Outcome) -> None:
        self.pending_polls = pending_polls
        self.final = final
        self.submits: list[str | None] = []
        self.polls = 0

    def submit(self, request: GenerationRequest) -> Outcome:
        self.submits.append(request.idempotency_key)
        return Outcome.pending("task-1")

    def poll(self, job_id: str) -> Outcome:
        self.polls += 1
        return Outcome.pending(job_id) if self.polls <= self.pending_polls else self.final

    def cancel(self, job_id: str) -> None:
        return None


def scripted(monkeypatch: pytest.MonkeyPatch, provider: Scripted) -> Scripted:
    monkeypatch.setattr(runner, "get_provider", lambda name: provider)
    return provider


def test_a_request_runs_to_a_watermarked_result_and_settles(demo: DemoCatalog) -> None:
    request_id = create(demo)
    assert usage(demo) == (0, 20_000)
    drain()
    done = load(demo, request_id)
    assert done.status == "succeeded"
    assert done.result_key == f"events/{demo.event_slug}/ai-edits/{request_id}.webp"
    stored = aws.s3().get_object(Bucket=TEST_ENV["IMAGES_BUCKET"], Key=done.result_key)
    assert stored["ContentType"] == "image/webp"
    # The demo event's text mark is on the result, where configured: near-white pixels
    # inside its box, none in the same-sized box at the opposite corner.
    with Image.open(io.BytesIO(stored["Body"].read())) as opened:
        result = opened.convert("RGB")
    layer = prepare_mark(result.size, DEMO_WATERMARK)
    assert layer is not None
    box = mark_box(result.size, layer.size, "bottom-right", margin_for(result.size))
    mirrored = (result.width - box[2], box[1], result.width - box[0], box[3])
    assert whitest(result.crop(box)) > 200
    assert whitest(result.crop(mirrored)) < 150
    assert usage(demo) == (0, 0)  # the local provider reports no cost: settled at 0
    assert [e.request_id for e in budget_store().ledger(demo.tenant_id)] == [request_id]


def test_success_after_n_polls_settles_the_reported_cost_once(
    demo: DemoCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = scripted(
        monkeypatch,
        Scripted(3, Outcome.succeeded(jpeg(320, 240), "image/jpeg", cost_micros=12_500)),
    )
    request_id = create(demo)
    drain()
    done = load(demo, request_id)
    assert done.status == "succeeded"
    assert provider.polls == 4
    assert done.polls == 3
    assert done.actual_cost_micros == 12_500
    assert usage(demo) == (12_500, 0)


def test_poll_timeout_fails_and_releases(
    demo: DemoCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog().update_settings(
        {"queue_max_polls": 3}, expected_version=catalog().get_settings().version
    )
    scripted(monkeypatch, Scripted(100, Outcome.failed("never")))
    request_id = create(demo)
    drain()
    failed = load(demo, request_id)
    assert failed.status == "failed"
    assert failed.error_code == "poll_timeout"
    assert usage(demo) == (0, 0)


def test_nsfw_is_blocked_and_releases_the_budget(
    demo: DemoCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted(monkeypatch, Scripted(1, Outcome.failed("nsfw", job_id="task-1")))
    request_id = create(demo)
    drain()
    assert load(demo, request_id).status == "blocked"
    assert usage(demo) == (0, 0)


def test_a_crash_between_submit_and_status_write_submits_once(
    demo: DemoCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = scripted(
        monkeypatch, Scripted(0, Outcome.succeeded(jpeg(), "image/jpeg", cost_micros=10_000))
    )
    request_id = create(demo)
    real_transition = request_store.transition
    crashed: list[bool] = []

    def crash_once(request: Any, **kwargs: Any) -> Any:
        if kwargs.get("provider_job_id") and not crashed:
            crashed.append(True)
            raise RuntimeError("worker died")
        return real_transition(request, **kwargs)

    monkeypatch.setattr(request_store, "transition", crash_once)
    run("EDITS_QUEUE_URL", submit_worker)  # crashes after the provider accepted the task
    assert load(demo, request_id).status == "processing"
    drain()  # the submit message was reported failed and is delivered again
    assert load(demo, request_id).status == "succeeded"
    # Both submits used the same idempotency key: the provider recognises the second.
    assert len(set(provider.submits)) == 1
    assert usage(demo) == (10_000, 0)


def test_duplicate_poll_messages_settle_once(
    demo: DemoCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted(monkeypatch, Scripted(1, Outcome.succeeded(jpeg(), "image/jpeg", cost_micros=20_000)))
    request_id = create(demo)
    run("EDITS_QUEUE_URL", submit_worker)
    body = aws.sqs().receive_message(QueueUrl=TEST_ENV["EDITS_POLL_QUEUE_URL"])["Messages"][0]
    for _ in range(3):  # the same poll delivered four times in all
        aws.sqs().send_message(QueueUrl=TEST_ENV["EDITS_POLL_QUEUE_URL"], MessageBody=body["Body"])
    aws.sqs().change_message_visibility(
        QueueUrl=TEST_ENV["EDITS_POLL_QUEUE_URL"],
        ReceiptHandle=body["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    drain()
    assert load(demo, request_id).status == "succeeded"
    assert usage(demo) == (20_000, 0)
    assert len(budget_store().ledger(demo.tenant_id)) == 1


def test_a_rejected_submit_fails_with_a_code(
    demo: DemoCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Rejecting(Scripted):
        def submit(self, request: GenerationRequest) -> Outcome:
            raise ProviderRejectedError()

    scripted(monkeypatch, Rejecting(0, Outcome.failed("x")))
    request_id = create(demo)
    drain()
    failed = load(demo, request_id)
    assert failed.status == "failed"
    assert failed.error_code == "provider_rejected"
    assert usage(demo) == (0, 0)


def test_the_result_is_served_to_the_tenant_and_the_requesting_guest_only(
    demo: DemoCatalog,
) -> None:
    request_id = create(demo)
    drain()
    with TestClient(app, base_url="https://app.test") as client:
        client.headers["Authorization"] = f"Bearer {make_token('admin', tenant_id=demo.tenant_id)}"
        path = f"/api/v1/tenant/events/{demo.event_slug}/ai-edits/{request_id}/result"
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/webp"
        assert response.headers["cache-control"].startswith("private")
        client.headers["Authorization"] = f"Bearer {make_token('other', tenant_id='someone-else')}"
        assert client.get(path).status_code == 404
    with TestClient(app, base_url="https://app.test") as guest:  # not the guest who asked
        path = f"/api/v1/events/{demo.join_token}/ai-edits/{request_id}/result"
        assert guest.get(path).status_code == 404


def test_an_open_circuit_sends_submits_to_the_fallback_provider(
    demo: DemoCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = catalog().get_settings()
    catalog().update_settings({"fallback_provider": "local"}, expected_version=settings.version)
    catalog().put_style(
        Style(
            key="runware-art",
            name="Runware art",
            provider="runware",
            provider_model="runware:101@1",
            prompt_template="an oil painting {prompt}",
            cost_estimate_micros=10_000,
        )
    )
    for _ in range(FAILURE_THRESHOLD):
        circuit_breaker().failure("runware")
    assert circuit_breaker().is_open("runware")
    request_id = create(demo, style="runware-art")
    drain()
    done = load(demo, request_id)
    assert done.status == "succeeded"
    assert done.provider == "local"  # the provider that really ran is recorded
    circuit_breaker().success("runware")
    assert not circuit_breaker().is_open("runware")
