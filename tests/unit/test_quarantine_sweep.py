"""`sweep-quarantine` on moto: quarantined uploads older than the presign lifetime plus the
grace are deleted (exact counts), younger ones and published objects are kept, a dry run
changes nothing, the CLI and the recover-stuck schedule run it; the bucket's lifecycle
rule expires the same prefix after a day."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from ops_scheduled.app import handler as scheduled_handler

from aiimage import aws
from aiimage.identity import guest
from aiimage.ops import cli, quarantine
from aiimage.ops.quarantine import GRACE, sweep_quarantine
from aiimage.storage.keys import QUARANTINE_PREFIX, new_key, photo_key, quarantined
from infra.sqs_poller import LambdaContext
from infra.template import Resolver, load_template
from tests.conftest import TEST_ENV

pytestmark = pytest.mark.usefixtures("aws_stack")
BUCKET = TEST_ENV["IMAGES_BUCKET"]
OWNER = guest("a" * 32)


def put(key: str, size: int = 100) -> datetime:
    aws.s3().put_object(Bucket=BUCKET, Key=key, Body=b"\xff" * size)
    modified: datetime = aws.s3().head_object(Bucket=BUCKET, Key=key)["LastModified"]
    return modified


def keys() -> set[str]:
    listed = aws.s3().list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {item["Key"] for item in listed}


def world() -> tuple[set[str], set[str], set[str], datetime]:
    """Three old quarantined uploads (two photos, one Enhancer upload, 300 bytes), one
    published photo and an original as old, then, a second later, one fresh upload.
    Returns (old quarantined, published, fresh quarantined, the fresh one's time)."""
    old = {
        quarantined(photo_key("party", "photo-1", "image/jpeg")),
        quarantined(photo_key("gala", "photo-2", "image/png")),
        str(new_key("uploads", OWNER, "image/webp")),
    }
    published = {
        photo_key("party", "photo-0", "image/jpeg"),
        str(new_key("originals", OWNER, "image/jpeg")),
    }
    for key in old | published:
        put(key)
    time.sleep(1.1)  # S3 times are whole seconds: the fresh upload is at least one later
    fresh = {quarantined(photo_key("party", "photo-3", "image/jpeg"))}
    (fresh_time,) = {put(key) for key in fresh}
    return old, published, fresh, fresh_time


def test_stale_quarantined_uploads_are_deleted_and_nothing_else() -> None:
    old, published, fresh, fresh_time = world()
    assert all(key.startswith(QUARANTINE_PREFIX) for key in old | fresh)
    # The fresh upload is exactly at the age limit (not older): kept; the others are older.
    now = fresh_time + quarantine.stale_after()

    report = sweep_quarantine(now=now)

    assert (report.found, report.changed, report.failed) == (3, 3, 0)
    assert report.note == "3 quarantined uploads older than 20 minutes (300 bytes)"
    assert keys() == published | fresh
    again = sweep_quarantine(now=now)
    assert (again.found, again.changed) == (0, 0)


def test_a_dry_run_lists_and_deletes_nothing() -> None:
    old, published, fresh, fresh_time = world()
    report = sweep_quarantine(now=fresh_time + quarantine.stale_after(), pretend=True)
    assert (report.found, report.changed, report.dry_run) == (3, 0, True)
    assert sorted(line.split()[1] for line in report.details) == sorted(old)
    assert keys() == old | published | fresh


def test_nothing_younger_than_the_presign_lifetime_plus_grace_is_touched() -> None:
    old, published, fresh, _ = world()
    oldest = min(
        aws.s3().head_object(Bucket=BUCKET, Key=key)["LastModified"] for key in old | fresh
    )
    # The oldest upload is exactly at the age limit, not past it: a URL could still write.
    report = sweep_quarantine(now=oldest + quarantine.stale_after())
    assert (report.found, report.changed) == (0, 0)
    assert keys() == old | published | fresh
    assert quarantine.stale_after() == timedelta(seconds=300) + GRACE
    with pytest.raises(ValueError, match="at least the presign lifetime"):
        sweep_quarantine(older_than=timedelta(seconds=299))


def test_the_cli_sweeps_with_a_dry_run_and_an_age(capsys: pytest.CaptureFixture[str]) -> None:
    old, published, fresh, _ = world()
    # Everything here is younger than 20 minutes: the default finds nothing.
    assert cli.main(["sweep-quarantine", "--pretend"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "sweep-quarantine: found 0, deleted 0, failed 0 (dry run: nothing changed)"
        " - 0 quarantined uploads older than 20 minutes (0 bytes)"
    )
    assert cli.main(["sweep-quarantine", "--minutes", "4"]) == 1  # under the presign lifetime
    assert keys() == old | published | fresh


def test_the_recover_stuck_schedule_sweeps_the_quarantine(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    original = quarantine.sweep_quarantine

    def spy(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(quarantine, "sweep_quarantine", spy)
    result = scheduled_handler(
        {"command": "recover-stuck", "minutes": 30, "mode": "requeue"},
        LambdaContext("OpsScheduledFunction"),
    )
    assert calls == [{"pretend": False}]
    assert result["failed"] == 0
    assert "sweep-quarantine: found 0, deleted 0" in str(result["note"])


def test_the_bucket_expires_the_quarantine_after_a_day() -> None:
    resolver = Resolver(load_template(), parameters={"AppOrigin": "https://app.test"})
    bucket = resolver.template.resources["ImagesBucket"].properties
    rules = {rule.get("Prefix"): rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules[QUARANTINE_PREFIX] == {
        "Id": "expire-quarantine",
        "Status": "Enabled",
        "Prefix": QUARANTINE_PREFIX,
        "ExpirationInDays": 1,
    }
