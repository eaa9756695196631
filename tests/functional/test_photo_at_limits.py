"""A guest photo at the upload limits (just under 10 MiB, 39.9 MP JPEG) goes the whole way:
presign, upload, complete (sanitised: its q95 re-encode is larger than the upload cap, which
bounds the caller's bytes, not ours), and an edit through the submit worker with the `local`
provider, which reads the stored photo as it is instead of sanitising it again."""

from __future__ import annotations

import io
import random
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageChops

from aiimage import aws
from aiimage.edits import photos, request_store, runner
from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import EditRequest, Photo, ProviderName, SanitizedWith
from aiimage.errors import PayloadTooLargeError
from aiimage.providers.base import GenerationRequest
from aiimage.storage.objects import object_store
from edit_submit_worker.app import handler as submit_worker
from infra.sqs_poller import LambdaContext, sqs_event
from tests.conftest import TEST_ENV
from tests.functional.test_ai_edits_api import create
from tests.functional.test_event_photos import complete, upload

pytestmark = pytest.mark.usefixtures("aws_stack")
MAX_BYTES = 10 * 1024 * 1024
WIDTH, HEIGHT = 7296, 5472  # 39.9 MP, under the 40 MP cap


def photo_at_limits() -> bytes:
    """Gradients under fine noise, at the highest JPEG quality that stays under 10 MiB."""
    size = (WIDTH, HEIGHT)
    rng = random.Random(18)  # reproducible pixels
    grain = Image.frombytes("L", size, rng.randbytes(WIDTH * HEIGHT)).point(
        lambda v: 128 + (v - 128) // 6
    )
    ramp = Image.linear_gradient("L").resize(size)
    bands = (ramp, Image.radial_gradient("L").resize(size), ramp.rotate(180))
    image = Image.merge("RGB", [ImageChops.add(band, grain, 1, -128) for band in bands])
    for quality in range(82, 60, -2):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        if buffer.tell() <= MAX_BYTES:
            return buffer.getvalue()
    raise AssertionError("no quality fits the cap")


def run_submit_worker() -> int:
    url = TEST_ENV["EDITS_QUEUE_URL"]
    messages = (
        aws.sqs()
        .receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
        .get("Messages", [])
    )
    arn = f"arn:aws:sqs:us-east-1:123456789012:{url.rsplit('/', 1)[1]}"
    result = submit_worker(sqs_event(messages, arn, "us-east-1"), LambdaContext("submit"))
    assert result["batchItemFailures"] == []
    return len(messages)


def test_a_photo_at_the_upload_limits_is_completed_and_edited(
    guest: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = photo_at_limits()
    assert MAX_BYTES - 1024 * 1024 < len(data) <= MAX_BYTES
    catalog().update_settings({"queue_auto_dispatch": True}, expected_version=1)
    sent: list[GenerationRequest] = []
    generation_request = runner._generation_request

    def spy(request: EditRequest, provider: ProviderName) -> GenerationRequest:
        sent.append(generation_request(request, provider))
        return sent[-1]

    monkeypatch.setattr(runner, "_generation_request", spy)

    photo_id = upload(guest, data)
    assert complete(guest, photo_id).status_code == 200
    photo = catalog().get_photo("tenant-a", "party", photo_id)
    assert photo.status == "ready"
    # The record says under which limits it was sanitised; its bytes may exceed the cap.
    assert photo.sanitized_with == SanitizedWith(max_bytes=MAX_BYTES, max_pixels=40_000_000)
    stored = aws.s3().get_object(Bucket=TEST_ENV["IMAGES_BUCKET"], Key=photo.object_key)
    published = stored["Body"].read()
    assert len(published) > MAX_BYTES  # the q95 re-encode of a q80 photo

    created = create(guest, {"style_key": "watercolor"}, photo=photo_id)
    assert created.status_code == 201, created.text
    request_id = created.json()["data"]["request_id"]
    assert run_submit_worker() == 1

    edit = request_store.load_edit("tenant-a", "party", request_id)
    assert (edit.status, edit.error_code) == ("succeeded", None)
    # The stored photo went to the provider as it is, not decoded and re-encoded again.
    assert [(r.image.data == published, r.image.content_type) for r in sent] == [
        (True, "image/jpeg")
    ]
    assert edit.result_key is not None
    result = aws.s3().get_object(Bucket=TEST_ENV["IMAGES_BUCKET"], Key=edit.result_key)
    with Image.open(io.BytesIO(result["Body"].read())) as image:
        assert image.size == (WIDTH, HEIGHT)


def stored_photo(data: bytes, sanitized_with: SanitizedWith | None) -> Photo:
    """A ready photo whose published bytes are `data`, marked or not."""
    photo = Photo(
        photo_id="photo-legacy",
        event_id="evt-party",
        object_key="events/party/photos/legacy.jpg",
        uploaded_by="seed",
        sanitized_with=sanitized_with,
    )
    object_store().put(photo.object_key, data, "image/jpeg")
    return photo


def test_a_marked_photo_goes_as_it_is_and_an_unmarked_one_is_sanitised_again(
    world: None, settings_env: Callable[..., None]
) -> None:
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x010E] = "a caption"  # ImageDescription: metadata sanitising drops
    Image.new("RGB", (640, 480), (40, 120, 200)).save(buffer, "JPEG", exif=exif.tobytes())
    data = buffer.getvalue()
    marked = SanitizedWith(max_bytes=MAX_BYTES, max_pixels=40_000_000)

    assert photos.provider_input(stored_photo(data, marked)).data == data
    legacy = photos.provider_input(stored_photo(data, None))
    assert legacy.data != data
    assert legacy.content_type == "image/jpeg"
    with Image.open(io.BytesIO(legacy.data)) as image:
        assert (image.size, dict(image.getexif())) == ((640, 480), {})

    # Marked under a looser pixel cap than today's: checked again, and refused.
    settings_env(MAX_IMAGE_PIXELS="300000")
    with pytest.raises(PayloadTooLargeError) as refused:
        photos.provider_input(stored_photo(data, marked))
    assert refused.value.code == "image_too_many_pixels"
    # Marked under today's cap: no decode at all.
    tight = SanitizedWith(max_bytes=MAX_BYTES, max_pixels=300_000)
    assert photos.provider_input(stored_photo(data, tight)).data == data
