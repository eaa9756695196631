"""Quarantine, then publish (issue 15, finding 1): a direct upload's presigned PUT targets a
quarantine key that only its consumer reads (a photo's `complete`, the Enhancer's generate),
which sanitises it into the published key and deletes it. A second PUT to the same URL
after that (still within the URL's lifetime) changes nothing anyone reads: not the stored
photo, not its display copy, not what a provider fetches, not what delivery serves.

Over HTTP on a moto server, so the PUTs really go through the presigned URLs."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from ai_edits_api.app import app as edits_app
from aiimage import aws
from aiimage.edits import runner
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import Style
from aiimage.storage.keys import QUARANTINE_PREFIX
from delivery_api.app import app as delivery_app
from generate_api.app import app as generate_app
from infra.emulators import runware
from infra.emulators.server import serve_in_thread
from infra.seed_edits import DemoCatalog, seed_demo
from tests.conftest import ORIGIN, TEST_ENV
from tests.functional.enhancer_support import CSRF, browser
from tests.functional.test_edit_workers import drain, load
from uploads_api.app import app as uploads_app
from usage_api.app import app as usage_app

pytestmark = pytest.mark.usefixtures("aws_server")
BUCKET = TEST_ENV["IMAGES_BUCKET"]
RUNWARE_KEY = "runware-emulator-key-0123"
GREEN, RED = (20, 200, 40), (220, 20, 20)
GPS_IFD = 0x8825
SECRET = b"home: Hauptstrasse 1, Berlin"


def picture(color: tuple[int, int, int], *, comment: bytes, gps: bool = False) -> bytes:
    """A JPEG of one colour with a COM segment and, when `gps`, an EXIF GPS IFD."""
    exif = Image.Exif()
    if gps:
        exif[GPS_IFD] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), color).save(
        buffer, "JPEG", quality=90, comment=comment, exif=exif.tobytes()
    )
    return buffer.getvalue()


def first_and_swap() -> tuple[bytes, bytes]:
    """A clean green upload, and a red one with GPS and a comment of the very same length
    (the signature of the PUT covers Content-Length)."""
    swap = picture(RED, comment=SECRET, gps=True)
    base = picture(GREEN, comment=b"x")
    first = picture(GREEN, comment=b"x" * (1 + len(swap) - len(base)))
    assert len(first) == len(swap)
    return first, swap


def assert_clean_green(data: bytes) -> None:
    """Sanitised bytes of the first upload: green, no EXIF, no GPS IFD, no comment."""
    with Image.open(io.BytesIO(data)) as image:
        assert "comment" not in image.info
        assert "exif" not in image.info
        exif = image.getexif()
        assert not exif
        assert not exif.get_ifd(GPS_IFD)
        red, green, blue = image.convert("RGB").getpixel((48, 32))  # type: ignore[misc]
    assert (green > 150, red < 80, blue < 80) == (True, True, True), (red, green, blue)
    assert SECRET not in data
    assert b"GPS" not in data


def put(upload: dict[str, Any], data: bytes) -> None:
    response = httpx.put(upload["url"], content=data, headers=upload["headers"], trust_env=False)
    assert response.status_code == 200, response.text


def objects(prefix: str = "") -> dict[str, bytes]:
    listed = aws.s3().list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {
        item["Key"]: aws.s3().get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        for item in listed
    }


# --- Magic Edits: a guest photo -------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[FastAPI]:
    app = runware.create_app(api_key=RUNWARE_KEY)
    with serve_in_thread(app) as url:
        app.state.url = url
        yield app


@pytest.fixture
def demo(
    emulator: FastAPI, settings_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> DemoCatalog:
    emulator.state.faults.clear()
    settings_env(RUNWARE_API_KEY=RUNWARE_KEY, RUNWARE_BASE_URL=f"{emulator.state.url}/v1")
    monkeypatch.setattr(runner, "poll_delay", lambda attempt: 0)
    demo = seed_demo(bucket=BUCKET)
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
    return demo


@pytest.fixture
def received(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bytes]]:
    """Every seed image the Runware emulator read: the reference it was given (a URL it
    fetched, or inline data) and the bytes it got."""
    seen: list[tuple[str, bytes]] = []
    read_image = runware.RunwareEmulator.read_image

    async def recording(self: runware.RunwareEmulator, ref: str) -> bytes:
        data = await read_image(self, ref)
        seen.append((ref, data))
        return data

    monkeypatch.setattr(runware.RunwareEmulator, "read_image", recording)
    return seen


@pytest.fixture
def guest() -> Iterator[TestClient]:
    with TestClient(
        edits_app, base_url=ORIGIN, headers={"Origin": ORIGIN, "X-CSRF-Token": CSRF}
    ) as client:
        client.cookies.set("csrf_token", CSRF)
        yield client


def test_a_second_put_after_complete_changes_nothing_anyone_reads(
    demo: DemoCatalog, guest: TestClient, received: list[tuple[str, bytes]]
) -> None:
    first, swap = first_and_swap()
    token = demo.join_token
    slot = guest.post(
        f"/api/v1/events/{token}/photos", json={"content_type": "image/jpeg", "size": len(first)}
    )
    assert slot.status_code == 201, slot.text
    upload = slot.json()["data"]
    photo_id = upload["photo_id"]
    put(upload, first)
    assert guest.post(f"/api/v1/events/{token}/photos/{photo_id}/complete").status_code == 200

    # The attack: the same URL, still valid, now with other bytes carrying GPS and a comment.
    put(upload, swap)

    photo = catalog().get_photo(demo.tenant_id, demo.event_slug, photo_id)
    assert not photo.object_key.startswith(QUARANTINE_PREFIX)
    assert_clean_green(objects(photo.object_key)[photo.object_key])
    display = guest.get(f"/api/v1/events/{token}/photos/{photo_id}/image")
    assert display.status_code == 200
    with Image.open(io.BytesIO(display.content)) as shown:
        red, green, _ = shown.convert("RGB").getpixel((10, 10))  # type: ignore[misc]
    assert (green > 150, red < 80) == (True, True)
    # The swapped bytes sit in quarantine only, where nothing but the sweep looks.
    assert [key for key, data in objects().items() if data == swap] == [
        f"{QUARANTINE_PREFIX}{photo.object_key}"
    ]

    # What the provider gets: a presigned GET of the sanitised key, fetched by the emulator.
    created = guest.post(
        f"/api/v1/events/{token}/photos/{photo_id}/ai-edits", json={"style_key": "runware-art"}
    )
    assert created.status_code == 201, created.text
    drain()
    request = load(demo, created.json()["data"]["request_id"])
    assert request.status == "succeeded", request
    ((ref, data),) = received
    assert ref.startswith("http")
    assert QUARANTINE_PREFIX not in ref
    assert photo.object_key in ref
    assert_clean_green(data)


def test_a_refused_upload_leaves_nothing_in_quarantine_or_published(
    demo: DemoCatalog, guest: TestClient
) -> None:
    raw = picture(RED, comment=SECRET, gps=True)[:400]  # cut off: not a decodable JPEG
    token = demo.join_token
    upload = guest.post(
        f"/api/v1/events/{token}/photos", json={"content_type": "image/jpeg", "size": len(raw)}
    ).json()["data"]
    put(upload, raw)
    before = set(objects())

    response = guest.post(f"/api/v1/events/{token}/photos/{upload['photo_id']}/complete")

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "image_corrupt"
    after = set(objects())
    assert {key for key in before - after if upload["photo_id"] in key} == {
        f"{QUARANTINE_PREFIX}events/{demo.event_slug}/photos/{upload['photo_id']}.jpg"
    }
    assert not any(upload["photo_id"] in key for key in after)


# --- the Enhancer: a direct upload --------------------------------------------------------


def test_a_put_after_generate_changes_nothing_and_delivery_never_serves_an_upload() -> None:
    first, swap = first_and_swap()
    with browser(uploads_app) as client:
        with browser(usage_app) as usage:
            cookie = usage.get("/api/ai-image/usage").cookies["guest_id"]
        client.cookies.set("guest_id", cookie)
        created = client.post(
            "/api/ai-image/uploads", json={"contentType": "image/jpeg", "size": len(first)}
        )
        assert created.status_code == 201, created.text
        upload = created.json()["data"]
    put(upload, first)
    with browser(generate_app, cookies={"guest_id": cookie}) as gen:
        generated = gen.post(
            "/api/ai-image/generate",
            data={"model": "nightmareai/real-esrgan", "uploadKey": upload["uploadKey"]},
        )
    assert generated.status_code == 200, generated.text
    data = generated.json()["data"]
    stored = objects("ai-enhancer/")
    assert upload["uploadKey"] not in objects()  # consumed: deleted after sanitising

    put(upload, swap)

    assert objects("ai-enhancer/") == stored  # the original and the result are untouched
    (original,) = [key for key in stored if key.startswith("ai-enhancer/originals/")]
    assert_clean_green(stored[original])
    with browser(delivery_app, cookies={"guest_id": cookie}) as delivery:
        assert delivery.get(data["originalUrl"]).status_code == 200
        # The owner's own quarantined upload is not served either: nothing but generate reads it.
        refused = delivery.get(f"/r2-ai/{upload['uploadKey']}")
        assert refused.status_code == 404, refused.text
        assert refused.content != swap
    assert upload["uploadKey"].startswith(f"{QUARANTINE_PREFIX}ai-enhancer/uploads/")
