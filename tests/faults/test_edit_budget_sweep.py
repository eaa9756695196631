"""`sweep-reservations` for Magic Edits budgets: what a killed create, or a worker killed
between a request's `failed` transition and its release (on the message's last receive, so
no redelivery comes), leaves reserved is released once it is older than any invocation;
requests in flight, fresh reservations and the money already settled are left alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aiimage.edits import request_store
from aiimage.edits.budget import budget_store
from aiimage.edits.catalog_store import catalog
from aiimage.ops.reservations import sweep_reservations
from infra.seed_edits import DemoCatalog, seed_demo
from tests.conftest import TEST_ENV
from tests.faults.test_edit_faults import (
    ESTIMATE,
    budget,
    create,
    load,
    open_reservations,
)

pytestmark = pytest.mark.usefixtures("aws_stack")
LATER = timedelta(minutes=31)  # past the default 30 minutes


@pytest.fixture
def demo() -> DemoCatalog:
    return seed_demo(bucket=TEST_ENV["IMAGES_BUCKET"])


def later() -> datetime:
    return datetime.now(UTC) + LATER


def killed_create(demo: DemoCatalog) -> str:
    """What a create killed between its reservation and the request's write leaves."""
    request_id = request_store.new_request_id()
    tenant = catalog().get_tenant(demo.tenant_id)
    budget_store().reserve(
        demo.tenant_id, tenant.budget, request_id, ESTIMATE, event_slug=demo.event_slug
    )
    return request_id


def test_a_killed_creates_reservation_is_released_once_it_is_stale(demo: DemoCatalog) -> None:
    request_id = killed_create(demo)
    assert budget(demo) == (0, ESTIMATE)

    fresh = sweep_reservations()
    assert (fresh.found, fresh.changed) == (0, 0)  # it may still be running
    pretend = sweep_reservations(now=later(), pretend=True)
    assert (pretend.found, pretend.changed) == (1, 0)
    assert pretend.details[0].endswith("would release (request missing)")
    assert budget(demo) == (0, ESTIMATE)

    report = sweep_reservations(now=later())
    assert (report.found, report.changed, report.skipped, report.failed) == (1, 1, 0, 0)
    assert report.details[0].startswith(f"budget {demo.tenant_id} r_{request_id} ")
    assert budget(demo) == (0, 0)
    assert open_reservations(demo) == []
    again = sweep_reservations(now=later())
    assert (again.found, again.changed) == (0, 0)


def test_a_failure_whose_release_was_killed_is_released_by_the_sweep(
    demo: DemoCatalog,
) -> None:
    request_id = create(demo)
    # The worker's transition ran; the process died before `budget_store().release`.
    failed = request_store.transition(
        load(demo, request_id),
        from_status=("queued",),
        to_status="failed",
        error_code="stuck",
        error_message="killed",
    )
    assert failed is not None
    assert budget(demo) == (0, ESTIMATE)

    report = sweep_reservations(now=later())
    assert (report.found, report.changed) == (1, 1)
    assert report.details[0].endswith("released (request failed)")
    assert budget(demo) == (0, 0)
    assert load(demo, request_id).status == "failed"  # the request itself is untouched


def test_requests_in_flight_are_left_to_recover_stuck(demo: DemoCatalog) -> None:
    request_id = create(demo)
    report = sweep_reservations(now=later())
    assert (report.found, report.changed, report.skipped) == (1, 0, 1)
    assert report.details[0].endswith("request queued, recover-stuck's")
    assert budget(demo) == (0, ESTIMATE)
    assert open_reservations(demo) == [f"r_{request_id}"]


def test_a_reservation_that_names_no_event_is_reported_not_released(demo: DemoCatalog) -> None:
    tenant = catalog().get_tenant(demo.tenant_id)
    budget_store().reserve(demo.tenant_id, tenant.budget, request_store.new_request_id(), ESTIMATE)
    report = sweep_reservations(now=later())
    assert (report.found, report.changed, report.skipped) == (1, 0, 1)
    assert "names no event" in report.details[0]
    assert budget(demo) == (0, ESTIMATE)


def test_a_release_racing_the_sweep_counts_once(demo: DemoCatalog) -> None:
    request_id = killed_create(demo)
    [found] = budget_store().stale_reservations(
        older_than=later(), months=[datetime.now(UTC).strftime("%Y-%m")]
    )
    assert found.reservation.request_id == request_id
    assert found.event_slug == demo.event_slug
    assert budget_store().release(found.reservation)  # a redelivery got there first
    report = sweep_reservations(now=later())
    assert (report.found, report.changed) == (0, 0)
    assert budget(demo) == (0, 0)  # never below what was reserved
