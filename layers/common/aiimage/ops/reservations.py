"""`sweep-reservations`: give back what a killed invocation left reserved: the Enhancer
quota of a killed `POST /generate` (or `POST /jobs`) with the original it had stored, and
the Magic Edits budget of a killed create or of a failure whose release never ran.

A generate reserves one image (`r_{id}` on the owner's quota month item, with its day and
time), stores the original under a name that starts with the reservation id, and commits
or refunds at the end. A Lambda killed in between runs no clean-up: the guest has lost one
of its daily images and the original has no job pointing to it. A reservation is stale
when it is older than `minutes` (longer than any invocation can live: the functions'
timeouts are at most 15 minutes) and no job holds it (a job's worker settles its own; they
are never touched). For each stale one:

1. refund: the quota's single conditional write (`REMOVE r_{id} ADD -1`, only if `r_{id}`
   is still there), which also records `s_{id}`, so a late commit and this refund cannot
   both win and the loser can tell;
2. only if the refund won: delete the originals under `originals/{owner}/{reservation id}`
   (a late generate whose commit then fails deletes its objects itself).

Cost: one Scan of the limits table per run (`QuotaStore.stale_reservations`), then per
stale reservation one Query of the owner's jobs, one UpdateItem, one ListObjectsV2 and the
deletes. Run by the `recover-stuck` schedule (every 15 minutes) and from the CLI.

Magic Edits budgets (`BudgetStore.stale_reservations`: one index Query per month, one
consistent read per tenant): a reservation older than `minutes` is released when its
request does not exist (a create killed between the reservation and the request's write)
or has `failed` or been `blocked` (a worker killed between that transition and the
release, on the message's last receive). A request still queued or processing is
`recover-stuck`'s; a succeeded one settled before its transition, so its reservation is
never open. The release is the budget's single conditional write: a late release by a
redelivery and this one cannot both count.

Provider spend (`SpendLedger.open_reservations`: one consistent GetItem per paid provider
and day, for today, yesterday and the cutoff's day: a handful of small items): an Enhancer
reservation (it names its owner and quota reservation) older than `minutes` that no job
holds is released, one conditional write, so a late settle and this release cannot both
count. A reservation of Magic Edits names no owner and is left to its request's lifecycle.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiimage import aws
from aiimage.edits.budget import BudgetReservation, budget_store
from aiimage.edits.request_store import load_edit
from aiimage.enhancer import jobs
from aiimage.enhancer.intake import originals_prefix
from aiimage.errors import NotFoundError
from aiimage.limits import quota_store, spend_ledger
from aiimage.limits.quota import OpenReservation
from aiimage.limits.spend import day_of
from aiimage.observability import LogEvent, MetricName, logger, metrics
from aiimage.ops.report import Report, progress
from aiimage.settings import get_settings
from aiimage.storage.objects import object_store

# The longest any function can run (Lambda's limit) is 15 minutes: a reservation older than
# this has no live invocation left to commit it or to hand it to a job.
MIN_MINUTES = 15
DEFAULT_MINUTES = 30


def _months(now: datetime, cutoff: datetime) -> list[str]:
    """The months whose quota items can hold a reservation taken before `cutoff` that is
    still worth refunding: this month and the previous one (older items expire)."""
    first = now.replace(day=1)
    previous = (first - timedelta(days=1)).strftime("%Y-%m")
    return sorted({now.strftime("%Y-%m"), previous, cutoff.strftime("%Y-%m")})


def sweep_reservations(
    *,
    minutes: int = DEFAULT_MINUTES,
    pretend: bool = False,
    now: datetime | None = None,
    show_progress: bool = False,
) -> Report:
    if minutes < MIN_MINUTES:
        raise ValueError(f"minutes must be at least {MIN_MINUTES} (the longest invocation)")
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(minutes=minutes)
    report = Report("sweep-reservations", dry_run=pretend, verb="refunded")
    months = _months(now, cutoff)
    released = _sweep_budgets(report, cutoff=cutoff, months=months, pretend=pretend)
    spend = _sweep_spend(report, now=now, cutoff=cutoff, pretend=pretend)
    stale = list(quota_store().stale_reservations(older_than=cutoff, months=months))
    report.found += len(stale)
    deleted = 0
    for found in progress(
        stale, total=len(stale), desc="sweep-reservations", enabled=show_progress
    ):
        reservation = found.reservation
        where = (
            f"{reservation.owner_key} r_{reservation.reservation_id} {reservation.day} "
            f"since {found.reserved_at.isoformat()}"
        )
        with report.item(reservation_id=reservation.reservation_id):
            holder = jobs.reservation_holder(reservation.owner_key, reservation.reservation_id)
            if holder is not None:
                report.skipped += 1
                report.details.append(f"{where}: held by job {holder}")
                continue
            originals = _originals(found)
            if pretend:
                report.details.append(f"{where}: would refund, {len(originals)} original(s)")
                continue
            if not quota_store().refund_stale(reservation):
                report.skipped += 1  # committed or refunded meanwhile: nothing to undo
                report.details.append(f"{where}: settled meanwhile")
                continue
            for key in originals:
                object_store().delete(key)
            deleted += len(originals)
            report.changed += 1
            report.details.append(f"{where}: refunded, {len(originals)} original(s) deleted")
            logger.info(
                LogEvent.OPS_RESERVATION_REFUNDED,
                owner_key=reservation.owner_key,
                reservation_id=reservation.reservation_id,
                reserved_at=found.reserved_at.isoformat(),
                originals=len(originals),
            )
    report.note = (
        f"{released} of them Magic Edits budget reservations, {spend} provider spend "
        f"reservations, {deleted} orphan original(s) deleted, older than {minutes} min"
    )
    if report.changed:
        metrics.add_metric(
            name=MetricName.QUOTA_RESERVATIONS_REFUNDED, unit="Count", value=report.changed
        )
    return report


def _sweep_budgets(report: Report, *, cutoff: datetime, months: list[str], pretend: bool) -> int:
    """Release the stale Magic Edits budget reservations; how many were released."""
    budgets = budget_store()
    released = 0
    for found in budgets.stale_reservations(older_than=cutoff, months=months):
        report.found += 1
        reservation = found.reservation
        where = (
            f"budget {reservation.tenant_id} r_{reservation.request_id} "
            f"since {reservation.reserved_at.isoformat()}"
        )
        with report.item(request_id=reservation.request_id):
            if found.event_slug is None:
                report.skipped += 1
                report.details.append(f"{where}: names no event (taken before they did)")
                continue
            status = _request_status(reservation.tenant_id, found.event_slug, reservation)
            if status not in (None, "failed", "blocked"):
                report.skipped += 1
                report.details.append(f"{where}: request {status}, recover-stuck's")
                continue
            if pretend:
                report.details.append(f"{where}: would release (request {status or 'missing'})")
                continue
            if not budgets.release(reservation):
                report.skipped += 1
                report.details.append(f"{where}: settled meanwhile")
                continue
            released += 1
            report.changed += 1
            report.details.append(f"{where}: released (request {status or 'missing'})")
            logger.info(
                LogEvent.OPS_RESERVATION_REFUNDED,
                tenant_id=reservation.tenant_id,
                request_id=reservation.request_id,
                cost_micros=reservation.cost_micros,
                request_status=status,
            )
    return released


def _sweep_spend(report: Report, *, now: datetime, cutoff: datetime, pretend: bool) -> int:
    """Release the stale Enhancer spend reservations no job holds; how many were released."""
    days = sorted({day_of(now), day_of(now - timedelta(days=1)), day_of(cutoff)})
    ledger = spend_ledger()
    released = 0
    for found in ledger.open_reservations(older_than=cutoff, days=days):
        reservation = found.reservation
        where = (
            f"spend {reservation.provider} {reservation.day} r_{reservation.reservation_id} "
            f"since {found.reserved_at.isoformat()}"
        )
        if found.owner_key is None or found.quota_reservation_id is None:
            continue  # Magic Edits': settled or released by its request's workers
        report.found += 1
        with report.item(reservation_id=reservation.reservation_id):
            holder = jobs.reservation_holder(found.owner_key, found.quota_reservation_id)
            if holder is not None:
                report.skipped += 1
                report.details.append(f"{where}: held by job {holder}")
                continue
            if pretend:
                report.details.append(f"{where}: would release")
                continue
            if not ledger.release(reservation):
                report.skipped += 1
                report.details.append(f"{where}: settled meanwhile")
                continue
            released += 1
            report.changed += 1
            report.details.append(f"{where}: released")
            logger.info(
                LogEvent.OPS_SPEND_RELEASED,
                provider=reservation.provider,
                day=reservation.day,
                reservation_id=reservation.reservation_id,
                estimate_micros=reservation.estimate_micros,
            )
    return released


def _request_status(tenant_id: str, slug: str, reservation: BudgetReservation) -> str | None:
    """The status of the request a reservation pays for; None when there is none."""
    try:
        return load_edit(tenant_id, slug, reservation.request_id).status
    except NotFoundError:
        return None


def _originals(found: OpenReservation) -> list[str]:
    reservation = found.reservation
    prefix = originals_prefix(reservation.owner_key, reservation.reservation_id)
    listed = aws.s3().list_objects_v2(Bucket=get_settings().images_bucket, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]
