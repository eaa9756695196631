"""Guest photo uploads to an event.

1. `create_photo_upload`: a presigned PUT bounded like the Enhancer's (type and exact size
   are part of the signature), at most `GuestLimits.photo_slots_per_minute` a guest; the
   photo is recorded as `uploading`.
2. `complete_photo_upload`, once the PUT is done: the bytes are sanitised (sniffed, capped,
   EXIF/GPS stripped) and written back over the upload, and a display copy carrying the
   event's watermark (the same resolver as edit results) is stored beside it. Then the photo
   is `ready`: listed in the gallery and open to edits. A rejected upload is deleted with
   its record, so nothing unsanitised stays behind.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from aiimage.edits.admission import Actor
from aiimage.edits.catalog_store import UnknownPhotoError, catalog
from aiimage.edits.models import Event, Photo
from aiimage.edits.watermarking import watermark_for_event
from aiimage.errors import ConflictError, NotFoundError, UnsupportedMediaTypeError, ValidationError
from aiimage.imaging import webp
from aiimage.imaging.validation import sanitize
from aiimage.limits import rate_limiter
from aiimage.settings import get_settings
from aiimage.storage.keys import CONTENT_TYPES, EXTENSIONS
from aiimage.storage.objects import PresignedUpload, StoredObject, object_store
from aiimage.storage.uploads import check_upload

# The gallery shows photos, not prints: a bounded copy keeps pages light and a full-size
# unmarked original out of guests' hands.
DISPLAY_MAX_SIDE = 1600
DISPLAY_QUALITY = 85
GALLERY_LIMIT = 100


@dataclass(frozen=True, slots=True)
class PhotoUpload:
    photo: Photo
    presigned: PresignedUpload


def create_photo_upload(actor: Actor, event: Event, *, content_type: str, size: int) -> PhotoUpload:
    """A photo slot: refused 429 `rate_limited` past the event's
    `guest_limits.photo_slots_per_minute` for a guest."""
    content_type = check_upload(content_type, size)
    if actor.kind == "guest":
        rate_limiter().hit(
            "event-photos",
            f"{event.event_id}#{actor.scope_hash}",
            limit=event.ai_editing.guest_limits.photo_slots_per_minute,
            window_seconds=60,
        )
    photo_id = f"photo-{secrets.token_hex(12)}"
    key = f"events/{event.slug}/photos/{photo_id}.{EXTENSIONS[content_type]}"
    presigned = object_store().presign_put(key, content_type=content_type, size=size)
    photo = Photo(
        photo_id=photo_id,
        event_id=event.event_id,
        object_key=key,
        uploaded_by=actor.requested_by,
        status="uploading",
    )
    catalog().put_photo(event.tenant_id, event.slug, photo)
    return PhotoUpload(photo=photo, presigned=presigned)


def complete_photo_upload(actor: Actor, event: Event, photo_id: str) -> Photo:
    """Finish the uploader's own photo (idempotent: a ready photo is returned as it is)."""
    photo = catalog().get_photo(event.tenant_id, event.slug, photo_id)
    if photo.uploaded_by != actor.requested_by:
        raise UnknownPhotoError()
    if photo.status == "ready":
        return photo
    return prepare_photo(event, photo)


def prepare_photo(event: Event, photo: Photo) -> Photo:
    """Sanitise the uploaded bytes in place, store the watermarked display copy, mark ready."""
    settings = get_settings()
    store = object_store()
    try:
        data = store.read(photo.object_key)
    except NotFoundError:
        raise ConflictError(
            "The photo has not been uploaded yet", code="photo_not_uploaded"
        ) from None
    declared = CONTENT_TYPES[photo.object_key.rsplit(".", 1)[-1]]
    try:
        clean = sanitize(
            data, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_image_pixels
        )
        if clean.content_type != declared:
            raise UnsupportedMediaTypeError(
                "The photo's content does not match its declared type",
                code="image_type_mismatch",
            )
    except ValidationError:
        store.delete(photo.object_key)
        catalog().delete_photo(event.tenant_id, event.slug, photo.photo_id)
        raise
    store.put(photo.object_key, clean.data, clean.content_type)
    display_key = display_key_for(event.slug, photo.photo_id)
    store.put(display_key, display_copy(event, clean.data), "image/webp")
    ready = photo.model_copy(update={"status": "ready", "display_key": display_key})
    catalog().put_photo(event.tenant_id, event.slug, ready)
    return ready


def display_copy(event: Event, clean: bytes) -> bytes:
    """The gallery's WebP of sanitised bytes: bounded in size, with the event's watermark."""
    image = webp.decode(clean)
    image.thumbnail((DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE))
    marked = watermark_for_event(event, image, in_place=True)
    return webp.encode(marked, "WEBP", quality=DISPLAY_QUALITY, release=True)


def display_key_for(slug: str, photo_id: str) -> str:
    return f"events/{slug}/photos/{photo_id}.display.webp"


def gallery(event: Event) -> list[Photo]:
    return catalog().photos(event.tenant_id, event.slug, limit=GALLERY_LIMIT)


def display_image(event: Event, photo_id: str, *, if_none_match: str | None = None) -> StoredObject:
    """The watermarked display copy of a ready photo (404 for any other)."""
    photo = catalog().get_photo(event.tenant_id, event.slug, photo_id)
    if photo.status != "ready" or photo.display_key is None:
        raise UnknownPhotoError()
    return object_store().get(photo.display_key, if_none_match=if_none_match)
