"""`sweep-quarantine`: delete direct uploads left in quarantine (`storage.keys`).

A presigned PUT lands under `quarantine/`; its consumer (a photo's `complete`, the generate
that names an Enhancer upload) publishes a sanitised copy and deletes it. What stays there
was never consumed: a slot abandoned after its upload, a refused generate's key never used
again, or a second PUT to a URL whose upload was already used. Nothing reads it, but it is
raw (EXIF, GPS, comments) and up to 10 MB. An object is stale once it is older than the
presign lifetime (`PRESIGNED_URL_TTL_SECONDS`: the longest a URL can still write to it)
plus `GRACE` (time for the consumer's call after the PUT); stale ones are deleted.

Cost: one ListObjectsV2 per 1,000 quarantined objects, one DeleteObject per stale one. Run
by the `recover-stuck` schedule (every 15 minutes) and from the CLI; the bucket's lifecycle
rule (`expire-quarantine`, a day) is the second line should runs be missed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiimage.observability import MetricName, metrics
from aiimage.ops.report import Report, progress
from aiimage.settings import get_settings
from aiimage.storage.keys import QUARANTINE_PREFIX
from aiimage.storage.objects import object_store

# After the PUT, the browser calls `complete` (or generate) at once; a quarter of an hour
# covers a slow phone and a retried request.
GRACE = timedelta(minutes=15)


def stale_after() -> timedelta:
    """The age past which no presigned URL can write a quarantine object and no consumer
    is expected to read it any more."""
    return timedelta(seconds=get_settings().presigned_url_ttl_seconds) + GRACE


def sweep_quarantine(
    *,
    older_than: timedelta | None = None,
    pretend: bool = False,
    now: datetime | None = None,
    show_progress: bool = False,
) -> Report:
    older_than = older_than or stale_after()
    if older_than < timedelta(seconds=get_settings().presigned_url_ttl_seconds):
        raise ValueError("older_than must be at least the presign lifetime")
    cutoff = (now or datetime.now(UTC)) - older_than
    report = Report("sweep-quarantine", dry_run=pretend, verb="deleted")
    store = object_store()
    stale = [item for item in store.listed(QUARANTINE_PREFIX) if item.last_modified < cutoff]
    report.found = len(stale)
    report.note = (
        f"{len(stale)} quarantined uploads older than {int(older_than.total_seconds()) // 60} "
        f"minutes ({sum(item.size for item in stale)} bytes)"
    )
    if pretend:
        report.details += [
            f"quarantine {item.key} {item.last_modified.isoformat()}" for item in stale
        ]
        return report
    for item in progress(stale, total=len(stale), desc="sweep quarantine", enabled=show_progress):
        with report.item(key=item.key):
            store.delete(item.key)
            report.changed += 1
    if report.changed:
        metrics.add_metric(
            name=MetricName.QUARANTINE_OBJECTS_SWEPT, unit="Count", value=report.changed
        )
    return report
