"""Guest photo uploads end to end on moto: presign, the upload itself (into quarantine),
completion (sanitised into the published key, watermarked display copy through the shared
resolver), the gallery and the display route, and every way a completion can be refused
without leaving anything."""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageChops, ImageStat

from ai_edits_api.app import app
from aiimage import aws
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import EventAiEditing, Watermark
from aiimage.errors import NotFoundError
from aiimage.imaging.watermark import margin_for, mark_box, prepare_mark
from aiimage.storage.keys import quarantined
from tests.conftest import ORIGIN, TEST_ENV
from tests.functional.edits_world import TOKEN_A, TOKEN_B
from tests.functional.enhancer_support import CSRF
from tests.functional.test_ai_edits_api import code, create

pytestmark = pytest.mark.usefixtures("aws_stack")
BUCKET = TEST_ENV["IMAGES_BUCKET"]
MARK = Watermark(enabled=True, text="PARTY", position="bottom-right", opacity=1.0, scale=0.3)


def photo_bytes(
    fmt: str = "JPEG", size: tuple[int, int] = (400, 300), *, gps: bool = False
) -> bytes:
    image = Image.new("RGB", size, (40, 120, 200))
    exif = Image.Exif()
    if gps:
        exif[0x8825] = {1: "N", 2: (52.0, 31.0, 0.0)}  # GPSInfo
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"exif": exif.tobytes()} if gps else {}))
    return buffer.getvalue()


def peak(difference: Image.Image) -> int:
    """The largest change of any channel of any pixel."""
    return max(int(high) for _, high in ImageStat.Stat(difference).extrema)


def presign(client: TestClient, content_type: str = "image/jpeg", size: int = 1000) -> str:
    response = client.post(
        f"/api/v1/events/{TOKEN_A}/photos", json={"content_type": content_type, "size": size}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["photo_id"])


def upload(client: TestClient, data: bytes, content_type: str = "image/jpeg") -> str:
    """Presign, then do the browser's PUT (moto in-process: straight to the bucket)."""
    photo_id = presign(client, content_type, len(data))
    # The presigned PUT targets the photo's quarantine key, not the published one.
    key = quarantined(catalog().get_photo("tenant-a", "party", photo_id).object_key)
    aws.s3().put_object(Bucket=BUCKET, Key=key, Body=data, ContentType=content_type)
    return photo_id


def complete(client: TestClient, photo_id: str, token: str = TOKEN_A) -> Any:
    return client.post(f"/api/v1/events/{token}/photos/{photo_id}/complete")


def keys() -> set[str]:
    """The event's photo objects, published and quarantined."""
    found: set[str] = set()
    for prefix in ("events/party/photos/", quarantined("events/party/photos/")):
        listed = aws.s3().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        found |= {item["Key"] for item in listed.get("Contents", [])}
    return found


def other_guest() -> TestClient:
    """A second browser: its own guest cookie."""
    client = TestClient(app, base_url=ORIGIN, headers={"Origin": ORIGIN, "X-CSRF-Token": CSRF})
    client.cookies.set("csrf_token", CSRF)
    return client


def test_a_completed_upload_is_clean_watermarked_listed_and_editable(guest: TestClient) -> None:
    catalog().put_event_policy("tenant-a", "party", EventAiEditing(watermark=MARK))
    photo_id = upload(guest, photo_bytes(gps=True))
    assert complete(guest, photo_id).json()["data"] == {
        "photo_id": photo_id,
        "url": f"/api/v1/events/{TOKEN_A}/photos/{photo_id}/image",
        "review": None,
    }
    photo = catalog().get_photo("tenant-a", "party", photo_id)
    assert photo.status == "ready"
    # The original was rewritten without metadata: no EXIF, no GPS.
    stored = aws.s3().get_object(Bucket=BUCKET, Key=photo.object_key)["Body"].read()
    with Image.open(io.BytesIO(stored)) as reopened:
        assert not reopened.getexif()
    # Published, display copy beside it; the quarantined upload is gone.
    assert keys() == {photo.object_key, photo.display_key}
    listed = guest.get(f"/api/v1/events/{TOKEN_A}/photos").json()["data"]
    assert photo_id in [item["photo_id"] for item in listed]
    assert create(guest, {"style_key": "watercolor"}, photo=photo_id).status_code == 201
    # Completing again changes nothing.
    assert complete(guest, photo_id).status_code == 200


def test_the_display_copy_carries_the_mark_only_where_configured(guest: TestClient) -> None:
    catalog().put_event_policy("tenant-a", "party", EventAiEditing(watermark=MARK))
    marked_id = upload(guest, photo_bytes())
    complete(guest, marked_id)
    catalog().put_event_policy("tenant-a", "party", EventAiEditing())
    plain_id = upload(guest, photo_bytes())
    complete(guest, plain_id)

    def display(photo_id: str) -> Image.Image:
        response = guest.get(f"/api/v1/events/{TOKEN_A}/photos/{photo_id}/image")
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/webp"
        return Image.open(io.BytesIO(response.content)).convert("RGB")

    marked, plain = display(marked_id), display(plain_id)
    assert marked.size == plain.size == (400, 300)
    layer = prepare_mark(marked.size, MARK)
    assert layer is not None
    box = mark_box(marked.size, layer.size, "bottom-right", margin_for(marked.size))
    difference = ImageChops.difference(marked, plain)
    # The mark is there: pixels inside its box moved a lot...
    assert peak(difference.crop(box)) > 100
    # ...and outside it nothing moved beyond WebP's noise.
    # (WebP codes 16 px blocks: the ring around the box may carry the mark's edge.)
    outside = difference.copy()
    outside.paste((0, 0, 0), (box[0] - 16, box[1] - 16, box[2] + 16, box[3] + 16))
    assert peak(outside) <= 8


def test_a_large_photo_gets_a_bounded_display_copy(guest: TestClient) -> None:
    photo_id = upload(guest, photo_bytes(size=(3200, 1000)))
    complete(guest, photo_id)
    response = guest.get(f"/api/v1/events/{TOKEN_A}/photos/{photo_id}/image")
    assert Image.open(io.BytesIO(response.content)).size == (1600, 500)
    etag = response.headers["etag"]
    again = guest.get(
        f"/api/v1/events/{TOKEN_A}/photos/{photo_id}/image", headers={"If-None-Match": etag}
    )
    assert again.status_code == 304
    assert again.headers["etag"] == etag


def test_refused_completions_leave_nothing_behind(guest: TestClient) -> None:
    # Not uploaded yet: 409, the record stays so the upload can still happen.
    waiting = presign(guest)
    response = complete(guest, waiting)
    assert (response.status_code, code(response)) == (409, "photo_not_uploaded")
    assert catalog().get_photo("tenant-a", "party", waiting).status == "uploading"
    assert guest.get(f"/api/v1/events/{TOKEN_A}/photos/{waiting}/image").status_code == 404

    for data, content_type, status, error in (
        (b"<html>not an image</html>", "image/jpeg", 415, "unsupported_image_type"),
        (photo_bytes("PNG"), "image/jpeg", 415, "image_type_mismatch"),
        (photo_bytes()[:300], "image/jpeg", 422, "image_corrupt"),
    ):
        photo_id = upload(guest, data, content_type)
        response = complete(guest, photo_id)
        assert (response.status_code, code(response)) == (status, error), data[:20]
        with pytest.raises(NotFoundError):
            catalog().get_photo("tenant-a", "party", photo_id)
        assert not any(photo_id in key for key in keys())


def test_only_the_uploader_completes_and_only_ready_photos_are_listed(guest: TestClient) -> None:
    photo_id = upload(guest, photo_bytes())
    with other_guest() as stranger:
        assert code(complete(stranger, photo_id)) == "unknown_photo"
    assert complete(guest, photo_id, token=TOKEN_B).status_code == 404
    listed = [p["photo_id"] for p in guest.get(f"/api/v1/events/{TOKEN_A}/photos").json()["data"]]
    assert photo_id not in listed
    complete(guest, photo_id)
    listed = [p["photo_id"] for p in guest.get(f"/api/v1/events/{TOKEN_A}/photos").json()["data"]]
    assert photo_id in listed
    # Another event's guests see their own gallery only.
    other = [p["photo_id"] for p in guest.get(f"/api/v1/events/{TOKEN_B}/photos").json()["data"]]
    assert photo_id not in other
