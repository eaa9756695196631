"""A `POST /generate` (or `POST /jobs`) whose Lambda is killed outright between the quota
reservation and its commit or refund: no clean-up runs, so the reservation stays open and
the original stays in the bucket. `sweep-reservations` gives the image back and deletes the
original once the reservation is older than any invocation can live, and never touches a
reservation a job holds or one still within that grace period. A late commit and the
sweep's refund are one conditional write each on the same attribute: exactly one wins.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import pytest
from fastapi.testclient import TestClient
from ops_scheduled.app import handler as scheduled_handler

from aiimage.enhancer import generate as generate_module
from aiimage.enhancer import jobs
from aiimage.enhancer.intake import ImageSource
from aiimage.enhancer.model_catalog import GenerateParams
from aiimage.errors import ServiceUnavailableError
from aiimage.identity import Identity
from aiimage.limits import quota_store
from aiimage.limits.plans import guest_entitlements
from aiimage.ops import cli
from aiimage.ops.reservations import sweep_reservations
from aiimage.settings import get_settings
from generate_api.app import app as generate_app
from infra.sqs_poller import LambdaContext
from jobs_api.app import app as jobs_app
from tests.faults.conftest import (
    aws_fault,
    bucket_keys,
    is_commit,
    open_reservations,
    throttle,
    used_today,
)
from tests.functional.enhancer_support import browser, jpeg

pytestmark = pytest.mark.usefixtures("aws_stack")
ESRGAN = "nightmareai/real-esrgan"
LATER = timedelta(minutes=31)  # past the sweep's default 30 minutes


class Killed(BaseException):
    """The Lambda is killed (timeout, out of memory): no handler, no `finally` runs."""


class DiesWithTheProcess(ExitStack):
    """An ExitStack whose callbacks do not run when the process is killed (they run in the
    process that no longer exists); on anything else it is the real one."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc_type is Killed:
            self.pop_all()
            return False
        return bool(super().__exit__(exc_type, exc, tb))


def guest_identity(owner_id: str = "a" * 32) -> Identity:
    return Identity(owner_type="guest", owner_id=owner_id, plan="guest", via="cookie")


def owner_key(identity: Identity) -> str:
    return f"{identity.owner_type}#{identity.owner_id}"


def originals() -> list[str]:
    return [key for key in bucket_keys() if "/originals/" in key]


def kill_generate_after_the_original(monkeypatch: pytest.MonkeyPatch, identity: Identity) -> None:
    """Run a generate that is killed once its original is stored (before the provider)."""

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise Killed("the invocation's time is up")

    with monkeypatch.context() as patch:
        patch.setattr(generate_module, "ExitStack", DiesWithTheProcess)
        patch.setattr(generate_module, "dispatch", killed)
        with pytest.raises(Killed):
            generate_module.generate(
                identity,
                GenerateParams(model=ESRGAN, scale=2),
                ImageSource(data=jpeg(64, 48)),
            )


def test_a_killed_generate_leaks_until_the_sweep_gives_the_image_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    identity = guest_identity()
    kill_generate_after_the_original(monkeypatch, identity)
    # What the kill leaves: one image counted, its reservation open, an orphan original
    # whose name starts with the reservation id.
    assert used_today(owner_key(identity)) == 1
    (held,) = open_reservations(owner_key(identity))
    reservation_id = held.removeprefix("r_")
    (original,) = originals()
    assert original.startswith(f"ai-enhancer/originals/guest/{identity.owner_id}/{reservation_id}")

    within_grace = sweep_reservations()  # at once: within the grace period, untouched
    assert (within_grace.found, within_grace.changed) == (0, 0)
    assert used_today(owner_key(identity)) == 1
    assert originals() == [original]

    pretend = sweep_reservations(pretend=True, now=datetime.now(UTC) + LATER)
    assert (pretend.found, pretend.changed, pretend.dry_run) == (1, 0, True)
    assert pretend.details == [pretend.details[0]]
    assert "would refund, 1 original(s)" in pretend.details[0]
    assert used_today(owner_key(identity)) == 1
    assert originals() == [original]

    report = sweep_reservations(now=datetime.now(UTC) + LATER)
    assert (report.found, report.changed, report.skipped, report.failed) == (1, 1, 0, 0)
    assert used_today(owner_key(identity)) == 0  # the guest's image is back
    assert open_reservations(owner_key(identity)) == {}
    assert bucket_keys() == []  # the orphan original is gone
    assert report.summary() == (
        "sweep-reservations: found 1, refunded 1, failed 0 - 0 of them Magic Edits budget "
        "reservations, 0 provider spend reservations, 1 orphan original(s) deleted, older "
        "than 30 min"
    )

    again = sweep_reservations(now=datetime.now(UTC) + LATER)
    assert (again.found, again.changed) == (0, 0)
    assert used_today(owner_key(identity)) == 0  # never refunded twice


def test_the_guest_can_generate_again_after_the_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    with browser(generate_app) as client:
        client.get("/api/ai-image/usage")
        identity = guest_identity(client.cookies["guest_id"].partition(".")[0])
        for _ in range(3):  # the guest's whole day, each one killed
            kill_generate_after_the_original(monkeypatch, identity)
        limit = guest_entitlements(get_settings()).daily_burst_cap
        assert used_today(owner_key(identity)) == limit == 3
        refused = client.post(
            "/api/ai-image/generate",
            data={"model": ESRGAN, "scale": "2"},
            files={"image": ("a.jpg", jpeg(64, 48), "image/jpeg")},
        )
        assert refused.json()["error"]["code"] == "quota_exceeded"
        assert sweep_reservations(now=datetime.now(UTC) + LATER).changed == 3
        assert bucket_keys() == []
        done = client.post(
            "/api/ai-image/generate",
            data={"model": ESRGAN, "scale": "2"},
            files={"image": ("a.jpg", jpeg(64, 48), "image/jpeg")},
        )
        assert done.status_code == 200, done.text
        assert done.json()["data"]["usage"]["used"] == 1


@pytest.fixture
def job_owner() -> Iterator[TestClient]:
    with browser(jobs_app) as client:
        client.get("/api/ai-image/jobs")
        yield client


def test_a_jobs_reservation_is_never_refunded_by_the_sweep(
    job_owner: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = job_owner.post(
        "/api/ai-image/jobs",
        data={"model": ESRGAN},
        files={"image": ("a.jpg", jpeg(64, 48), "image/jpeg")},
    )
    assert created.status_code == 202, created.text
    job_id = created.json()["data"]["job"]["id"]
    identity = guest_identity(job_owner.cookies["guest_id"].partition(".")[0])
    # A killed generate of the same owner next to it: only that one is refunded.
    kill_generate_after_the_original(monkeypatch, identity)
    assert used_today(owner_key(identity)) == 2
    report = sweep_reservations(now=datetime.now(UTC) + timedelta(days=1))
    assert (report.found, report.changed, report.skipped) == (2, 1, 1)
    assert any(line.endswith(f"held by job {job_id}") for line in report.details)
    job = jobs.load("guest", identity.owner_id, job_id)
    assert open_reservations(owner_key(identity)).keys() == {f"r_{job.reservation_id}"}
    assert used_today(owner_key(identity)) == 1
    assert originals() == [job.original_key]  # the job's original stays
    assert job.original_key.split("/")[-1].startswith(job.reservation_id)


def test_the_sweep_refuses_a_grace_shorter_than_the_longest_invocation() -> None:
    with pytest.raises(ValueError, match="at least 15"):
        sweep_reservations(minutes=14)


# --- a late commit against the sweep's refund ---------------------------------------------


def test_a_late_commit_losing_to_the_sweep_fails_cleanly_and_charges_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The generate outlives the grace period: the sweep refunds (and deletes the original)
    # just before its commit. The commit loses; the generate must not deliver an image it
    # did not charge for, nor leave its result behind.
    identity = guest_identity()
    store = quota_store()
    real_commit = store.commit

    def sweep_first(reservation: Any) -> bool:
        assert sweep_reservations(now=datetime.now(UTC) + LATER).changed == 1
        return bool(real_commit(reservation))

    monkeypatch.setattr(store, "commit", sweep_first)
    with pytest.raises(ServiceUnavailableError) as refused:
        generate_module.generate(
            identity,
            GenerateParams(model=ESRGAN, scale=2),
            ImageSource(data=jpeg(64, 48)),
        )
    assert refused.value.code == "generation_expired"
    assert used_today(owner_key(identity)) == 0  # refunded once, by the sweep
    assert open_reservations(owner_key(identity)) == {}
    assert bucket_keys() == []  # the result deleted by the generate, the original by both


def test_a_late_commit_winning_over_the_sweep_keeps_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The sweep found the reservation stale, then the commit landed before its refund.
    identity = guest_identity()
    kill_generate_after_the_original(monkeypatch, identity)
    assert len(open_reservations(owner_key(identity))) == 1
    reservation = next(
        found.reservation
        for found in quota_store().stale_reservations(
            older_than=datetime.now(UTC) + LATER, months=[datetime.now(UTC).strftime("%Y-%m")]
        )
    )
    real_holder = jobs.reservation_holder

    def commit_lands_now(owner: str, reservation_id: str) -> str | None:
        assert quota_store().commit(reservation) is True
        return real_holder(owner, reservation_id)

    monkeypatch.setattr(jobs, "reservation_holder", commit_lands_now)
    report = sweep_reservations(now=datetime.now(UTC) + LATER)
    assert (report.found, report.changed, report.skipped) == (1, 0, 1)
    assert report.details[0].endswith("settled meanwhile")
    assert used_today(owner_key(identity)) == 1  # committed: counted, not refunded
    assert open_reservations(owner_key(identity)) == {}
    assert len(originals()) == 1  # not deleted: the refund lost


def test_concurrent_commits_and_refunds_settle_each_reservation_exactly_once() -> None:
    store = quota_store()
    entitlements = guest_entitlements(get_settings()).model_copy(
        update={"daily_burst_cap": 100, "monthly_images": 100}
    )
    owner = "guest#" + "c" * 32
    reservations = [store.reserve(owner, entitlements) for _ in range(20)]
    wins: dict[str, list[str]] = {r.reservation_id: [] for r in reservations}
    lock = threading.Lock()
    start = threading.Barrier(2)

    def settle(kind: str) -> None:
        start.wait()
        for reservation in reservations:
            # The sweep's refund against a late commit.
            settle_one = store.commit if kind == "commit" else store.refund_stale
            won = settle_one(reservation)
            if won:
                with lock:
                    wins[reservation.reservation_id].append(kind)

    threads = [threading.Thread(target=settle, args=(k,)) for k in ("commit", "refund")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(len(won) == 1 for won in wins.values()), wins
    refunded = sum(won == ["refund"] for won in wins.values())
    assert used_today(owner) == 20 - refunded  # each refund gave exactly one image back
    assert open_reservations(owner) == {}
    # The loser of each race can tell what happened: swept exactly where the refund won.
    assert [store.swept(r) for r in reservations] == [
        wins[r.reservation_id] == ["refund"] for r in reservations
    ]


def test_a_lost_answer_to_the_commit_still_delivers_and_counts_once() -> None:
    # The commit was applied and only its answer lost: the SDK's retry finds `r_{id}`
    # gone. That is not the sweep (no `s_{id}`): the generate delivers, counted once.
    with browser(generate_app) as client:
        client.get("/api/ai-image/usage")
        with aws_fault("dynamodb", "UpdateItem", throttle(), when=is_commit, applied=True) as f:
            response = client.post(
                "/api/ai-image/generate",
                data={"model": ESRGAN, "scale": "2"},
                files={"image": ("a.jpg", jpeg(64, 48), "image/jpeg")},
            )
        assert f.injected == 1
        assert response.status_code == 200, response.text
        owner = f"guest#{client.cookies['guest_id'].partition('.')[0]}"
        assert used_today(owner) == 1
        assert open_reservations(owner) == {}
        assert len(bucket_keys()) == 2


# --- the CLI and the schedule -------------------------------------------------------------


def test_the_cli_pretends_then_sweeps(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    identity = guest_identity()
    kill_generate_after_the_original(monkeypatch, identity)
    _age_reservations(owner_key(identity), timedelta(minutes=16))
    assert cli.main(["sweep-reservations", "--pretend", "--minutes", "15"]) == 0
    detail, summary = capsys.readouterr().out.strip().splitlines()
    assert detail.startswith(f"guest#{identity.owner_id} r_")
    assert detail.endswith("would refund, 1 original(s)")
    assert summary == (
        "sweep-reservations: found 1, refunded 0, failed 0 (dry run: nothing changed) - "
        "0 of them Magic Edits budget reservations, 0 provider spend reservations, "
        "0 orphan original(s) deleted, older than 15 min"
    )
    assert used_today(owner_key(identity)) == 1
    assert len(originals()) == 1
    with pytest.raises(SystemExit) as bad:
        cli.main(["sweep-reservations", "--minutes", "5"])
    assert bad.value.code == 2
    assert cli.main(["sweep-reservations", "--minutes", "15"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        "sweep-reservations: found 1, refunded 1, failed 0 - 0 of them Magic Edits budget "
        "reservations, 0 provider spend reservations, 1 orphan original(s) deleted, older "
        "than 15 min"
    )
    assert used_today(owner_key(identity)) == 0
    assert bucket_keys() == []


def test_the_recover_stuck_schedule_runs_the_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    identity = guest_identity()
    kill_generate_after_the_original(monkeypatch, identity)
    # The schedule's clock is now: the reservation is within its grace, reported as 0.
    result = scheduled_handler({"command": "recover-stuck"}, LambdaContext("ops"))
    assert "sweep-reservations: found 0" in str(result["note"])
    assert used_today(owner_key(identity)) == 1
    # Half an hour on (the reservation's time moved back instead of the clock forward).
    _age_reservations(owner_key(identity), LATER)
    result = scheduled_handler({"command": "recover-stuck"}, LambdaContext("ops"))
    assert "sweep-reservations: found 1, refunded 1, failed 0" in str(result["note"])
    assert used_today(owner_key(identity)) == 0
    assert bucket_keys() == []


def _age_reservations(owner: str, by: timedelta) -> None:
    from aiimage import aws

    month = datetime.now(UTC).strftime("%Y-%m")
    key = {"pk": {"S": f"quota#{owner}"}, "sk": {"S": f"m#{month}"}}
    for name, value in open_reservations(owner).items():
        at = int(value["M"]["at"]["N"]) - int(by.total_seconds())
        aws.dynamodb().update_item(
            TableName=get_settings().limits_table,
            Key=key,
            UpdateExpression="SET #res.#at = :at",
            ExpressionAttributeNames={"#res": name, "#at": "at"},
            ExpressionAttributeValues={":at": {"N": str(at)}},
        )


class KilledInTheCall:
    """A paid provider during whose call the Lambda is killed."""

    name = "replicate"

    def submit(self, request: Any) -> Any:
        raise Killed("killed while the provider worked")


def test_the_sweep_releases_the_spend_of_a_generate_killed_in_the_provider_call(
    monkeypatch: pytest.MonkeyPatch, settings_env: Any
) -> None:
    from aiimage.enhancer import dispatch as dispatch_module
    from aiimage.limits import spend_ledger

    settings_env(REPLICATE_API_TOKEN="r8_killed", REPLICATE_DAILY_CEILING_USD="1")
    identity = guest_identity()
    with monkeypatch.context() as patch:
        patch.setattr(generate_module, "ExitStack", DiesWithTheProcess)
        patch.setattr(generate_module, "_input_url", lambda key, params: None)
        patch.setattr(dispatch_module, "get_provider", lambda name: KilledInTheCall())
        with pytest.raises(Killed):
            generate_module.generate(
                identity,
                GenerateParams(model=ESRGAN, scale=2),
                ImageSource(data=jpeg(64, 48)),
            )
    # What the kill leaves: the quota image and the call's estimate, both still reserved.
    (held,) = open_reservations(owner_key(identity))
    day = spend_ledger().day("replicate")
    assert (day.reserved_micros, day.open_reservations) == (4_500, 1)

    within_grace = sweep_reservations()
    assert (within_grace.found, within_grace.changed) == (0, 0)
    report = sweep_reservations(now=datetime.now(UTC) + LATER)
    assert (report.found, report.changed, report.skipped, report.failed) == (2, 2, 0, 0)
    assert any(
        line.startswith(f"spend replicate {day.day} {held}-0 ") and line.endswith(": released")
        for line in report.details
    ), report.details
    assert "1 provider spend reservations" in str(report.note)
    day = spend_ledger().day("replicate")
    assert (day.reserved_micros, day.spent_micros, day.released) == (0, 0, 1)
    assert used_today(owner_key(identity)) == 0
    again = sweep_reservations(now=datetime.now(UTC) + LATER)
    assert (again.found, again.changed) == (0, 0)


def test_the_sweep_leaves_the_spend_a_job_holds(
    monkeypatch: pytest.MonkeyPatch, settings_env: Any
) -> None:
    from aiimage.limits import spend_ledger

    settings_env(REPLICATE_DAILY_CEILING_USD="1")
    identity = guest_identity()
    spend = spend_ledger().reserve(
        "replicate",
        4_500,
        reservation_id="q-held-0",
        guest=True,
        owner_key=owner_key(identity),
        quota_reservation_id="q-held",
    )
    assert spend is not None
    monkeypatch.setattr(jobs, "reservation_holder", lambda owner, rid: "job-1")
    report = sweep_reservations(now=datetime.now(UTC) + LATER)
    assert (report.found, report.changed, report.skipped) == (1, 0, 1)
    assert report.details[-1].endswith("held by job job-1")
    assert spend_ledger().day("replicate").reserved_micros == 4_500
