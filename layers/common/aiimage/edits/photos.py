"""Guest photo uploads to an event: a presigned PUT bounded like the Enhancer's (type and
exact size are part of the signature), recorded as a photo of the event right away so the
whole flow works without another system. The bytes are sanitised when an edit runs."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from aiimage.edits.catalog import catalog
from aiimage.edits.models import Event, Photo
from aiimage.edits.requests import Actor
from aiimage.limits import rate_limiter
from aiimage.settings import get_settings
from aiimage.storage.keys import EXTENSIONS
from aiimage.storage.objects import PresignedUpload, object_store
from aiimage.storage.uploads import check_upload


@dataclass(frozen=True, slots=True)
class PhotoUpload:
    photo: Photo
    presigned: PresignedUpload


def create_photo_upload(actor: Actor, event: Event, *, content_type: str, size: int) -> PhotoUpload:
    settings = get_settings()
    content_type = check_upload(content_type, size)
    rate_limiter().hit(
        "event-photos",
        f"{event.event_id}#{actor.scope_hash}",
        limit=settings.generate_rate_limit_per_minute,
        window_seconds=60,
    )
    photo_id = f"photo-{secrets.token_hex(12)}"
    key = f"events/{event.slug}/photos/{photo_id}.{EXTENSIONS[content_type]}"
    presigned = object_store().presign_put(key, content_type=content_type, size=size)
    photo = Photo(
        photo_id=photo_id, event_id=event.event_id, object_key=key, uploaded_by=actor.requested_by
    )
    catalog().put_photo(event.tenant_id, event.slug, photo)
    return PhotoUpload(photo=photo, presigned=presigned)
