"""Bounded photo slots in the catalog (moto in-process): an uploading photo expires with its
upload (a TTL, and read as gone once past it even before DynamoDB deletes it), a guest holds
at most `cap` open slots (one conditional write, exact under contention; completing,
rejecting or expiry frees one), and the gallery reads ready photos only."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from aiimage import aws
from aiimage.edits.catalog_store import (
    SLOT_COMPLETION_MARGIN_SECONDS,
    Catalog,
    TooManyOpenSlotsError,
)
from aiimage.edits.models import Photo
from aiimage.errors import NotFoundError
from aiimage.settings import get_settings
from infra.template import load_template
from tests.unit.test_edits_catalog_store import TABLE, event, raw_item

pytestmark = pytest.mark.usefixtures("aws_stack")
T0 = 1_750_000_000.0
GUEST = "guest:aaaa"


class WallClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def lifetime() -> int:
    return get_settings().presigned_url_ttl_seconds + SLOT_COMPLETION_MARGIN_SECONDS


def uploading(photo_id: str, uploaded_by: str = GUEST) -> Photo:
    return Photo(
        photo_id=photo_id,
        event_id="evt-party",
        object_key=f"events/party/photos/{photo_id}.jpg",
        uploaded_by=uploaded_by,
        status="uploading",
    )


def ready(photo_id: str, uploaded_by: str = GUEST) -> Photo:
    return uploading(photo_id, uploaded_by).model_copy(
        update={"status": "ready", "display_key": f"events/party/photos/{photo_id}.display.webp"}
    )


@pytest.fixture
def wall() -> WallClock:
    return WallClock()


@pytest.fixture
def store(wall: WallClock) -> Catalog:
    return Catalog(TABLE, cache_seconds=0, wall_clock=wall)


def test_an_uploading_photo_expires_with_its_upload_and_a_ready_one_never(store: Catalog) -> None:
    store.put_photo("t1", "party", uploading("p1"))
    item = raw_item("tenant#t1", "event#party#photo#p1")
    assert item is not None
    assert item["expires_at"] == {"N": str(int(T0) + lifetime())}
    store.put_photo("t1", "party", ready("p1"))
    item = raw_item("tenant#t1", "event#party#photo#p1")
    assert item is not None
    assert "expires_at" not in item
    # The attribute is the table's TTL attribute, enabled in the template.
    ttl = load_template().resources["EditsTable"].properties["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}


def test_an_expired_slot_reads_as_gone_before_dynamodb_deletes_it(
    store: Catalog, wall: WallClock
) -> None:
    store.put_photo("t1", "party", uploading("p1"))
    store.put_photo("t1", "party", ready("p2"))
    wall.now = T0 + lifetime() - 1
    assert store.get_photo("t1", "party", "p1").status == "uploading"
    wall.now = T0 + lifetime()
    with pytest.raises(NotFoundError) as caught:
        store.get_photo("t1", "party", "p1")
    assert caught.value.code == "unknown_photo"
    assert raw_item("tenant#t1", "event#party#photo#p1") is not None  # TTL deletion is lazy
    assert store.edit_inputs(event(), "p1", "none").photo is None
    # A ready photo has no expiry at all.
    wall.now = T0 + 10 * lifetime()
    assert store.get_photo("t1", "party", "p2").status == "ready"


def test_a_guest_holds_at_most_cap_open_slots(store: Catalog, wall: WallClock) -> None:
    for n in range(5):
        wall.now = T0 + n
        store.open_photo_slot("t1", "party", uploading(f"p{n}"), cap=5)
    wall.now = T0 + 10
    with pytest.raises(TooManyOpenSlotsError) as caught:
        store.open_photo_slot("t1", "party", uploading("p5"), cap=5)
    assert (caught.value.status, caught.value.code) == (429, "too_many_open_photo_slots")
    # The oldest slot (opened at T0) frees its place at T0 + lifetime.
    assert caught.value.retry_after == lifetime() - 10
    with pytest.raises(NotFoundError):
        store.get_photo("t1", "party", "p5")  # a refused slot stores nothing
    # Another guest of the event has its own slots.
    store.open_photo_slot("t1", "party", uploading("q0", "guest:bbbb"), cap=5)


def test_completing_or_rejecting_frees_a_slot_once(store: Catalog) -> None:
    for n in range(5):
        store.open_photo_slot("t1", "party", uploading(f"p{n}"), cap=5)
    store.put_photo("t1", "party", ready("p0"))  # completed
    store.open_photo_slot("t1", "party", uploading("p5"), cap=5)
    # Completing again (the same ready photo) frees nothing more.
    store.put_photo("t1", "party", ready("p0"))
    with pytest.raises(TooManyOpenSlotsError):
        store.open_photo_slot("t1", "party", uploading("p6"), cap=5)
    store.delete_photo("t1", "party", "p1")  # a rejected upload
    store.open_photo_slot("t1", "party", uploading("p6"), cap=5)
    store.delete_photo("t1", "party", "p1")
    with pytest.raises(TooManyOpenSlotsError):
        store.open_photo_slot("t1", "party", uploading("p7"), cap=5)


def test_expired_slots_free_their_places(store: Catalog, wall: WallClock) -> None:
    for n in range(5):
        wall.now = T0 + n
        store.open_photo_slot("t1", "party", uploading(f"p{n}"), cap=5)
    # Past the first two slots' expiry: two places, not three.
    wall.now = T0 + lifetime() + 1
    store.open_photo_slot("t1", "party", uploading("p5"), cap=5)
    store.open_photo_slot("t1", "party", uploading("p6"), cap=5)
    with pytest.raises(TooManyOpenSlotsError) as caught:
        store.open_photo_slot("t1", "party", uploading("p7"), cap=5)
    assert caught.value.retry_after == 1  # p2 was opened at T0 + 2
    # Completing an expired slot is refused: it is gone.
    with pytest.raises(NotFoundError):
        store.get_photo("t1", "party", "p0")


def test_the_cap_holds_under_contention(store: Catalog) -> None:
    start = threading.Barrier(40)

    def one(n: int) -> bool:
        start.wait()
        try:
            store.open_photo_slot("t1", "party", uploading(f"p{n:02d}"), cap=5)
        except TooManyOpenSlotsError:
            return False
        return True

    with ThreadPoolExecutor(max_workers=40) as pool:
        outcomes = list(pool.map(one, range(40)))
    assert outcomes.count(True) == 5
    assert outcomes.count(False) == 35
    stored = [f"p{n:02d}" for n in range(40) if outcomes[n]]
    assert all(store.get_photo("t1", "party", p).status == "uploading" for p in stored)


def count_reads(client: Any) -> tuple[list[int], Any]:
    scanned: list[int] = []

    def record(http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        scanned.append(int(parsed.get("ScannedCount", 0)))

    client.meta.events.register("after-call.dynamodb.Query", record)
    return scanned, record


def test_open_slots_do_not_change_what_the_gallery_reads(store: Catalog, wall: WallClock) -> None:
    for n in range(3):
        wall.now = T0 + n
        store.put_photo("t1", "party", ready(f"r{n}"))
    client = aws.dynamodb()
    scanned, record = count_reads(client)
    try:
        before = store.photos("t1", "party", limit=100)
        reads_before = sum(scanned)
    finally:
        client.meta.events.unregister("after-call.dynamodb.Query", record)
    for n in range(1000):
        store.put_photo("t1", "party", uploading(f"u{n:04d}", f"guest:{n}"))
    scanned, record = count_reads(client)
    try:
        after = store.photos("t1", "party", limit=100)
    finally:
        client.meta.events.unregister("after-call.dynamodb.Query", record)
    assert reads_before == 3
    assert sum(scanned) == 3
    # Newest first: a gallery of 100 shows the latest photos, not the first ones ever.
    assert [p.photo_id for p in after] == [p.photo_id for p in before] == ["r2", "r1", "r0"]
    assert store.photos("t1", "party", limit=2) == after[:2]


def test_the_gallery_index_is_in_the_template() -> None:
    props = load_template().resources["EditsTable"].properties
    [index] = [i for i in props["GlobalSecondaryIndexes"] if i["IndexName"] == "ReadyPhotos"]
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["gallery_pk", "gallery_sk"]
    assert index["Projection"] == {"ProjectionType": "ALL"}
