"""The guest allowance per network (`aiimage.limits.quota`): every guest behind one network
shares GUEST_NETWORK_DAILY_LIMIT on top of its own daily quota, both taken in one
transaction and both given back by a refund, a repeated refund giving back once, and the
sweep giving back both parts of a killed generate's reservation."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from aiimage import aws
from aiimage.errors import QuotaExceededError, ServiceUnavailableError
from aiimage.identity import Identity
from aiimage.limits import quota_store
from aiimage.limits.plans import Entitlements
from aiimage.limits.quota import NetworkAllowance, QuotaStore, Reservation, network_allowance
from aiimage.network import UNKNOWN_NETWORK, network_hash
from aiimage.ops.reservations import sweep_reservations
from tests.unit.edits_fixtures import Clock

pytestmark = pytest.mark.usefixtures("aws_stack")

TABLE = os.environ["LIMITS_TABLE"]
GUEST = Entitlements(monthly_images=None, daily_burst_cap=3, max_upscale=2, face_enhance=False)
NOW = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)
MIDNIGHT_MS = int(datetime(2026, 11, 24, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def store(clock: Clock) -> QuotaStore:
    return QuotaStore(TABLE, clock, sleep=lambda _: None)


def net(name: str = "198.51.100.7", limit: int = 10) -> NetworkAllowance:
    return NetworkAllowance(key=network_hash(name), limit=limit)


def network_used(network: NetworkAllowance, day: str = "2026-11-23") -> int:
    item = aws.dynamodb().get_item(
        TableName=TABLE,
        Key={"pk": {"S": f"quota-network#{network.key}"}, "sk": {"S": f"d#{day}"}},
        ConsistentRead=True,
    )
    return int(item.get("Item", {}).get("used", {}).get("N", "0"))


def guest_used(store: QuotaStore, owner: str) -> int:
    return store.usage(owner, GUEST).daily.used


def test_ten_guests_of_one_network_get_ten_images_then_the_network_binds(
    store: QuotaStore,
) -> None:
    network = net()
    for index in range(5):
        store.reserve(f"guest#g{index}", GUEST, network)
        store.reserve(f"guest#g{index}", GUEST, network)
    assert network_used(network) == 10
    with pytest.raises(QuotaExceededError) as info:
        store.reserve("guest#fresh", GUEST, network)
    assert info.value.code == "quota_exceeded"
    assert info.value.details == {
        "scope": "network",
        "used": 10,
        "limit": 10,
        "resetAt": MIDNIGHT_MS,
    }
    # Refused as a whole: the fresh guest's own quota was not touched either.
    assert guest_used(store, "guest#fresh") == 0
    assert network_used(network) == 10
    # Another network is unaffected.
    store.reserve("guest#fresh", GUEST, net("198.51.100.8"))


def test_the_guests_own_quota_binds_first_and_leaves_the_network_untouched(
    store: QuotaStore,
) -> None:
    network = net()
    for _ in range(3):
        store.reserve("guest#g", GUEST, network)
    with pytest.raises(QuotaExceededError) as info:
        store.reserve("guest#g", GUEST, network)
    assert info.value.details == {"scope": "daily", "used": 3, "limit": 3, "resetAt": MIDNIGHT_MS}
    assert network_used(network) == 3


def test_a_new_day_opens_the_network_again(store: QuotaStore, clock: Clock) -> None:
    network = net(limit=1)
    store.reserve("guest#a", GUEST, network)
    with pytest.raises(QuotaExceededError):
        store.reserve("guest#b", GUEST, network)
    clock.now += timedelta(days=1)
    store.reserve("guest#b", GUEST, network)
    assert (network_used(network), network_used(network, "2026-11-24")) == (1, 1)


def test_twenty_guests_times_five_threads_of_one_network_reserve_exactly_ten(
    store: QuotaStore,
) -> None:
    network = net()
    start = threading.Barrier(100)

    def attempt(index: int) -> Reservation | None:
        start.wait()
        try:
            return store.reserve(f"guest#crowd{index % 20}", GUEST, network)
        except QuotaExceededError:
            return None

    with ThreadPoolExecutor(max_workers=100) as pool:
        outcomes = list(pool.map(attempt, range(100)))

    granted = [r for r in outcomes if r is not None]
    assert len(granted) == 10
    assert network_used(network) == 10
    per_guest = [guest_used(store, f"guest#crowd{i}") for i in range(20)]
    assert sum(per_guest) == 10
    assert max(per_guest) <= 3


def test_a_refund_gives_both_back_and_a_repeated_refund_gives_back_once(
    store: QuotaStore,
) -> None:
    network = net()
    kept = store.reserve("guest#g", GUEST, network)
    refunded = store.reserve("guest#g", GUEST, network)
    assert (guest_used(store, "guest#g"), network_used(network)) == (2, 2)

    assert store.refund(refunded) is True
    assert store.refund(refunded) is False
    assert store.refund_stale(refunded) is False
    assert (guest_used(store, "guest#g"), network_used(network)) == (1, 1)

    assert store.commit(kept) is True
    assert store.refund(kept) is False  # committed: stays counted on both
    assert (guest_used(store, "guest#g"), network_used(network)) == (1, 1)


def test_concurrent_refunds_of_one_reservation_give_back_exactly_once(store: QuotaStore) -> None:
    network = net()
    reservations = [store.reserve(f"guest#r{i}", GUEST, network) for i in range(10)]
    start = threading.Barrier(50)

    def refund(index: int) -> bool:
        start.wait()
        return store.refund(reservations[index % 10])

    with ThreadPoolExecutor(max_workers=50) as pool:
        won = list(pool.map(refund, range(50)))
    assert won.count(True) == 10
    assert network_used(network) == 0
    assert sum(guest_used(store, f"guest#r{i}") for i in range(10)) == 0


def test_a_refund_after_midnight_gives_back_the_reservations_day(
    store: QuotaStore, clock: Clock
) -> None:
    network = net()
    reservation = store.reserve("guest#late", GUEST, network)
    clock.now += timedelta(hours=10)
    store.reserve("guest#other", GUEST, network)
    assert store.refund(reservation) is True
    assert (network_used(network), network_used(network, "2026-11-24")) == (0, 1)


def test_a_conflicting_transaction_is_tried_again_then_is_busy(
    store: QuotaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
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
    network = net()
    store.reserve("guest#g", GUEST, network)
    assert (guest_used(store, "guest#g"), network_used(network)) == (1, 1)

    conflicts["left"] = 100
    with pytest.raises(ServiceUnavailableError) as info:
        store.reserve("guest#g", GUEST, network)
    assert (info.value.status, info.value.code) == (503, "service_busy")
    assert (guest_used(store, "guest#g"), network_used(network)) == (1, 1)


def test_users_count_against_no_network_and_unknown_guests_share_one(
    settings_env: Callable[..., None],
) -> None:
    settings_env(GUEST_NETWORK_DAILY_LIMIT="4")
    user = Identity(owner_type="user", owner_id="u", plan="free", via="bearer", network="1.2.3.4")
    assert network_allowance(user) is None
    guest = Identity(owner_type="guest", owner_id="g", plan="guest", via="cookie")
    assert network_allowance(guest) == NetworkAllowance(network_hash(UNKNOWN_NETWORK), 4)
    behind = guest.model_copy(update={"network": "2001:db8:1:2::/64"})
    assert network_allowance(behind) == NetworkAllowance(network_hash("2001:db8:1:2::/64"), 4)


def test_the_usage_of_a_guest_reads_its_network_in_the_same_call(store: QuotaStore) -> None:
    network = net(limit=4)
    for index in range(3):
        store.reserve(f"guest#u{index}", GUEST, network)
    snapshot = store.usage("guest#u0", GUEST, network)
    assert (snapshot.daily.used, snapshot.daily.remaining) == (1, 2)
    assert snapshot.network is not None
    assert (snapshot.network.used, snapshot.network.limit, snapshot.network.remaining) == (3, 4, 1)
    assert store.usage("guest#u0", GUEST).network is None


def test_the_sweep_refunds_both_parts_of_a_killed_generates_reservation() -> None:
    network = net()
    store = quota_store()
    stale = store.reserve("guest#killed", GUEST, network)
    store.reserve("guest#alive", GUEST, network)
    assert network_used_today(network) == 2

    report = sweep_reservations(now=datetime.now(UTC) + timedelta(minutes=31))
    assert report.changed == 2  # both are stale by then; neither is held by a job
    assert network_used_today(network) == 0
    assert store.usage("guest#killed", GUEST).daily.used == 0
    assert store.refund(stale) is False  # swept: a late refund gives back nothing more
    assert store.swept(stale) is True
    assert network_used_today(network) == 0


def network_used_today(network: NetworkAllowance) -> int:
    return network_used(network, f"{datetime.now(UTC):%Y-%m-%d}")
