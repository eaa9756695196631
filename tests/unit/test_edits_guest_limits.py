"""The guest links of the check chain, through `admission.create_edit` against moto: the
create rate limit, the abuse block, the daily allowances of a guest and of its network
(taken together, given back by any later refusal), and the tenant's budget reserved only
for what was admitted. Exact counts under bursts of threads."""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from aiimage import aws
from aiimage.edits import admission
from aiimage.edits.abuse import scope_hash
from aiimage.edits.admission import Actor, EditCreate
from aiimage.edits.allowance import Allowance, EditAllowances, edit_allowances
from aiimage.edits.budget import budget_store
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import Budget, Event, GuestLimits
from aiimage.errors import AppError, QuotaExceededError, ServiceUnavailableError
from aiimage.singletons import reset_singletons
from infra.seed_edits import DemoCatalog, seed_demo
from tests.conftest import TEST_ENV
from tests.unit.edits_fixtures import START, Clock, run_concurrently
from tests.unit.edits_fixtures import clock_fixture as clock_fixture  # the `clock` fixture

pytestmark = pytest.mark.usefixtures("aws_stack")
COST = 20_000  # the demo style's estimate, in micro-USD
TABLE = os.environ["LIMITS_TABLE"]


@pytest.fixture
def demo() -> DemoCatalog:
    return seed_demo(bucket=TEST_ENV["IMAGES_BUCKET"])


def set_limits(demo: DemoCatalog, **limits: int) -> Event:
    event = catalog().get_event(demo.tenant_id, demo.event_slug)
    policy = event.ai_editing.model_copy(update={"guest_limits": GuestLimits(**limits)})
    return catalog().put_event_policy(demo.tenant_id, demo.event_slug, policy)


def guest(number: int, network: str | None = None, event_id: str = "evt-summer-party") -> Actor:
    return Actor(
        kind="guest",
        scope_hash=scope_hash(f"guest#{number}", event_id),
        network_hash=scope_hash("network", network, event_id) if network else None,
    )


def outcome(actor: Actor, event: Event, demo: DemoCatalog, prompt: str | None = None) -> str:
    """The request's status, or the refusal's code (and binding scope, for the allowance)."""
    try:
        created = admission.create_edit(
            actor, event, demo.photo_id, EditCreate(style_key="watercolor", prompt=prompt)
        )
    except QuotaExceededError as exc:
        return f"{exc.code}:{(exc.details or {})['scope']}"
    except AppError as exc:
        return exc.code
    return created.status


def reserved(demo: DemoCatalog) -> int:
    return budget_store().month_usage(demo.tenant_id).reserved_micros


def test_sixty_creates_in_a_burst_admit_the_rate_limit_and_block_the_rest(
    demo: DemoCatalog,
) -> None:
    # The defaults: 5 creates a minute, 10 a day, blocked above 25 requests an hour.
    event = catalog().get_event(demo.tenant_id, demo.event_slug)
    actor = guest(1)

    results = Counter(run_concurrently(60, lambda _: outcome(actor, event, demo)))

    # 25 requests are counted below the abuse threshold, of which the rate limit admits 5;
    # the 26th blocks the scope and it and the 34 after it are refused.
    assert results == {"queued": 5, "rate_limited": 20, "abuse_blocked": 35}
    assert reserved(demo) == 5 * COST
    assert edit_allowances().used(Allowance("guest", actor.scope_hash, 10)) == 5


def test_sixty_creates_in_a_burst_admit_exactly_the_daily_allowance(
    demo: DemoCatalog, settings_env: Any
) -> None:
    settings_env(ABUSE_ESCALATION_THRESHOLD_PER_HOUR="1000")
    reset_singletons()
    event = set_limits(demo, edits_per_minute=100)
    actor = guest(1)

    results = Counter(run_concurrently(60, lambda _: outcome(actor, event, demo)))

    assert results == {"queued": 10, "quota_exceeded:guest": 50}
    assert reserved(demo) == 10 * COST
    assert edit_allowances().used(Allowance("guest", actor.scope_hash, 10)) == 10


def test_twenty_fresh_guests_on_one_network_share_its_allowance(demo: DemoCatalog) -> None:
    event = set_limits(demo, network_edits_per_day=7)
    network = "198.51.100.7"

    results = Counter(run_concurrently(20, lambda n: outcome(guest(n, network), event, demo)))

    assert results == {"queued": 7, "quota_exceeded:network": 13}
    assert reserved(demo) == 7 * COST
    net = Allowance("network", scope_hash("network", network, event.event_id), 7)
    assert edit_allowances().used(net) == 7
    # A refused guest's own allowance was not taken either: both or neither.
    own = [edit_allowances().used(Allowance("guest", guest(n).scope_hash, 10)) for n in range(20)]
    assert sorted(own) == [0] * 13 + [1] * 7

    # Another network, a guest whose network is unknown, and a tenant user go on.
    assert outcome(guest(100, "2001:db8:1:2::/64"), event, demo) == "queued"
    assert outcome(guest(101), event, demo) == "queued"
    admin = Actor(kind="tenant", scope_hash=scope_hash("user#admin", event.event_id), user_id="a")
    assert outcome(admin, event, demo) == "queued"


def test_the_refusal_names_the_allowance_its_limit_and_reset(demo: DemoCatalog) -> None:
    event = set_limits(demo, edits_per_day=1)
    actor = guest(1, "203.0.113.9")
    assert outcome(actor, event, demo) == "queued"
    with pytest.raises(QuotaExceededError) as refused:
        admission.create_edit(actor, event, demo.photo_id, EditCreate(style_key="watercolor"))
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    midnight = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=UTC)
    assert refused.value.status == 403
    assert refused.value.details == {
        "scope": "guest",
        "limit": 1,
        "resetAt": int(midnight.timestamp() * 1000),
    }


def test_a_later_refusal_gives_the_allowances_back(demo: DemoCatalog) -> None:
    event = catalog().get_event(demo.tenant_id, demo.event_slug)
    actor = guest(1, "203.0.113.10")
    own = Allowance("guest", actor.scope_hash, 10)
    net = Allowance("network", actor.network_hash or "", 30)

    version = catalog().get_settings().version
    catalog().update_settings({"blocked_terms": ["forbidden"]}, expected_version=version)
    assert outcome(actor, event, demo, prompt="something forbidden") == "prompt_blocked"
    assert (edit_allowances().used(own), edit_allowances().used(net)) == (0, 0)

    catalog().update_budget(demo.tenant_id, Budget(hard_cap_micros=COST - 1))
    assert outcome(actor, event, demo) == "budget_exceeded"
    assert (edit_allowances().used(own), edit_allowances().used(net)) == (0, 0)
    assert reserved(demo) == 0


def test_tenant_users_are_not_held_to_the_guest_limits(demo: DemoCatalog) -> None:
    event = set_limits(demo, edits_per_minute=1, edits_per_day=1, network_edits_per_day=1)
    admin = Actor(kind="tenant", scope_hash=scope_hash("user#admin", event.event_id), user_id="a")
    assert [outcome(admin, event, demo) for _ in range(4)] == ["queued"] * 4


def test_allowances_are_per_utc_day(clock: Clock) -> None:
    allowances = EditAllowances(TABLE, clock=clock)
    own = (Allowance("guest", "g" * 32, 2),)
    allowances.reserve(own, "r1")
    allowances.reserve(own, "r2")
    with pytest.raises(QuotaExceededError):
        allowances.reserve(own, "r3")
    clock.now = START.replace(hour=0, minute=0) + timedelta(days=1)
    reservation = allowances.reserve(own, "r4")
    assert allowances.used(own[0]) == 1
    allowances.release(reservation)
    assert allowances.used(own[0]) == 0


def test_an_allowance_transaction_in_conflict_is_tried_again_then_is_busy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Guests of one network write its item in overlapping transactions: DynamoDB cancels
    # one of two for TransactionConflict (moto never does), applying nothing.
    client = aws.dynamodb()
    real = client.transact_write_items
    conflicts = {"left": 2}

    def flaky(**request: Any) -> Any:
        if conflicts["left"] > 0:
            conflicts["left"] -= 1
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                    "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}],
                },
                "TransactWriteItems",
            )
        return real(**request)

    monkeypatch.setattr(client, "transact_write_items", flaky)
    store = EditAllowances(TEST_ENV["LIMITS_TABLE"], sleep=lambda _: None)
    own, net = Allowance("guest", "g", 10), Allowance("network", "n", 30)
    taken = store.reserve((own, net), "r1")
    assert (store.used(own), store.used(net)) == (1, 1)

    conflicts["left"] = 2
    store.release(taken)
    assert (store.used(own), store.used(net)) == (0, 0)

    conflicts["left"] = 100
    with pytest.raises(ServiceUnavailableError) as busy:
        store.reserve((own, net), "r2")
    assert (busy.value.status, busy.value.code) == (503, "service_busy")
    assert (store.used(own), store.used(net)) == (0, 0)
