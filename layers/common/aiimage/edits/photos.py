"""Guest photo uploads to an event.

1. `create_photo_upload`: a presigned PUT bounded like the Enhancer's (type and exact size
   are part of the signature). A guest's slot is rate-limited three ways (`GuestLimits`:
   per guest, per network so fresh cookies gain nothing, per event) and is one of at most
   `open_photo_slots` uncompleted ones; the photo is recorded as `uploading`, and expires
   with its upload (`catalog_store`: TTL, then read as gone).
2. `complete_photo_upload`, once the PUT is done: quarantine, then publish. The PUT went
   to the photo's quarantine key (`storage.keys.quarantined`), which nothing else reads;
   the bytes are sanitised (sniffed, capped, EXIF/GPS/comments stripped) and published
   under `photo.object_key`, which no presigned URL names, with a display copy carrying
   the event's watermark (the same resolver as edit results); then the quarantine object
   is deleted and the photo is `ready`: listed in the gallery and open to edits. A second
   PUT to the still valid URL lands in quarantine again and changes nothing anyone reads
   (the sweep and a lifecycle rule expire it). A rejected upload is deleted with its
   record, so nothing unsanitised stays behind.
3. Approval (`EventAiEditing.require_photo_approval`): a guest's completed photo is `ready`
   with `review = pending`; the gallery shows it to its uploader only (marked as awaiting
   approval), edits of it are refused 409 `photo_pending_approval`, until a tenant admin
   approves it (`review_photo`: one conditional write) or rejects it (hidden for good).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from aiimage.edits.admission import Actor
from aiimage.edits.catalog_store import PhotoAwaitingApprovalError, UnknownPhotoError, catalog
from aiimage.edits.models import Event, Photo, PhotoReview, SanitizedWith
from aiimage.errors import ConflictError, NotFoundError, UnsupportedMediaTypeError, ValidationError
from aiimage.limits import rate_limiter
from aiimage.settings import get_settings
from aiimage.storage.keys import (
    CONTENT_TYPES,
    QUARANTINE_PREFIX,
    photo_display_key,
    photo_key,
    quarantined,
)
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
    """A photo slot. A guest is refused 429 `rate_limited` past a slot rate of the event's
    `guest_limits`, and 429 `too_many_open_photo_slots` with `open_photo_slots` uploads
    not completed; bad input is refused before anything is counted."""
    content_type = check_upload(content_type, size)
    limits = event.ai_editing.guest_limits
    if actor.kind == "guest":
        _count_slot_request(actor, event)
    photo_id = f"photo-{secrets.token_hex(12)}"
    key = photo_key(event.slug, photo_id, content_type)
    # The browser uploads into quarantine; only `complete` publishes to `key`.
    presigned = object_store().presign_put(quarantined(key), content_type=content_type, size=size)
    photo = Photo(
        photo_id=photo_id,
        event_id=event.event_id,
        object_key=key,
        uploaded_by=actor.requested_by,
        status="uploading",
    )
    if actor.kind == "guest":
        catalog().open_photo_slot(event.tenant_id, event.slug, photo, cap=limits.open_photo_slots)
    else:
        catalog().put_photo(event.tenant_id, event.slug, photo)
    return PhotoUpload(photo=photo, presigned=presigned)


def _count_slot_request(actor: Actor, event: Event) -> None:
    """Count a guest's slot request against its own rate, its network's (every guest behind
    one address: a script minting fresh cookies shares it) and the event's, in that order,
    so a caller refused at its own or its network's limit takes nothing from the event's."""
    limits = event.ai_editing.guest_limits
    rates = [
        ("event-photos", f"{event.event_id}#{actor.scope_hash}", limits.photo_slots_per_minute)
    ]
    if actor.network_hash is not None:
        network = f"{event.event_id}#{actor.network_hash}"
        rates.append(("event-photos-network", network, limits.network_photo_slots_per_minute))
    rates.append(("event-photos-event", event.event_id, limits.event_photo_slots_per_minute))
    for bucket, owner, limit in rates:
        rate_limiter().hit(bucket, owner, limit=limit, window_seconds=60)


def complete_photo_upload(actor: Actor, event: Event, photo_id: str) -> Photo:
    """Finish the uploader's own photo (idempotent: a ready photo is returned as it is)."""
    photo = catalog().get_photo(event.tenant_id, event.slug, photo_id)
    if photo.uploaded_by != actor.requested_by:
        raise UnknownPhotoError()
    if photo.status == "ready":
        return photo
    return prepare_photo(event, photo)


def prepare_photo(event: Event, photo: Photo) -> Photo:
    """Sanitise the quarantined upload into the published key, store the watermarked
    display copy, delete the quarantine object, mark ready."""
    settings = get_settings()
    store = object_store()
    upload_key = quarantined(photo.object_key)
    try:
        data = store.read(upload_key)
    except NotFoundError:
        raise ConflictError(
            "The photo has not been uploaded yet", code="photo_not_uploaded"
        ) from None
    declared = CONTENT_TYPES[photo.object_key.rsplit(".", 1)[-1]]
    limits = SanitizedWith(
        max_bytes=settings.max_upload_bytes, max_pixels=settings.max_image_pixels
    )
    # Pillow is imported by the paths that decode (here, the display copy, a re-sanitise):
    # the edits API's other routes start without it.
    from aiimage.imaging.validation import sanitize

    try:
        clean = sanitize(data, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels)
        if clean.content_type != declared:
            raise UnsupportedMediaTypeError(
                "The photo's content does not match its declared type",
                code="image_type_mismatch",
            )
    except ValidationError:
        store.delete(upload_key)
        catalog().delete_photo(event.tenant_id, event.slug, photo.photo_id)
        raise
    store.put(photo.object_key, clean.data, clean.content_type)
    display_key = display_key_for(event.slug, photo.photo_id)
    store.put(display_key, display_copy(event, clean.data), "image/webp")
    # The q95 re-encode may be larger than `max_bytes` (a q80 upload just under the cap
    # grows by a third): that cap bounds the caller's bytes, these are ours. The mark says
    # so, and edits send them as they are (`provider_input`).
    review = "pending" if needs_review(event, photo) else None
    ready = photo.model_copy(
        update={
            "status": "ready",
            "display_key": display_key,
            "sanitized_with": limits,
            "review": review,
        }
    )
    catalog().put_photo(event.tenant_id, event.slug, ready)
    # Last: a failure before this leaves the upload in place for a retried `complete`.
    store.delete(upload_key)
    return ready


def needs_review(event: Event, photo: Photo) -> bool:
    """A guest's upload to an event that requires approval (a tenant's own never does)."""
    return event.ai_editing.require_photo_approval and photo.uploaded_by.startswith("guest:")


def visible_to(photo: Photo, viewer: str) -> bool:
    """Approved (or never in review) photos are everyone's; a pending or rejected one is
    its uploader's alone."""
    return photo.review in (None, "approved") or photo.uploaded_by == viewer


def display_copy(event: Event, clean: bytes) -> bytes:
    """The gallery's WebP of sanitised bytes: bounded in size, with the event's watermark."""
    from aiimage.edits.watermarking import watermark_for_event
    from aiimage.imaging import webp
    from aiimage.imaging.thumbnail import decode_thumbnail

    # A JPEG is decoded at 1/2, 1/4 or 1/8 of its size where that still covers the copy.
    image = decode_thumbnail(clean, DISPLAY_MAX_SIDE)
    marked = watermark_for_event(event, image, in_place=True)
    return webp.encode(marked, "WEBP", quality=DISPLAY_QUALITY, release=True)


def display_key_for(slug: str, photo_id: str) -> str:
    return photo_display_key(slug, photo_id)


def published_key(photo: Photo) -> str:
    """The sanitised photo edits read and providers fetch: a ready photo's published key,
    never its quarantine (409 `photo_not_ready` for a photo not completed)."""
    if photo.status != "ready" or photo.object_key.startswith(QUARANTINE_PREFIX):
        raise ConflictError("The photo's upload has not been completed", code="photo_not_ready")
    if photo.review in ("pending", "rejected"):
        raise PhotoAwaitingApprovalError()
    return photo.object_key


def content_type_of(key: str) -> str:
    """The content type of a stored photo, from its key's extension."""
    return CONTENT_TYPES[key.rsplit(".", 1)[-1]]


@dataclass(frozen=True, slots=True)
class ProviderInput:
    """The published photo as a provider gets it: its bytes, their type, and its key."""

    key: str
    data: bytes
    content_type: str


def provider_input(photo: Photo) -> ProviderInput:
    """The published bytes of a ready photo, for an edit. `complete` sanitised them and its
    mark says under which limits: they go as they are, not decoded and re-encoded again
    (that took 300 ms at 40 MP, and a re-encode larger than the upload cap was refused).
    A photo without the mark, or marked under a pixel cap looser than today's, is
    sanitised again under today's pixel cap; its bytes are ours, so no byte cap applies."""
    key = published_key(photo)
    data = object_store().read(key)
    content_type = CONTENT_TYPES[key.rsplit(".", 1)[-1]]
    marked = photo.sanitized_with
    if marked is None or marked.max_pixels > get_settings().max_image_pixels:
        from aiimage.imaging.validation import sanitize

        clean = sanitize(data, max_bytes=len(data), max_pixels=get_settings().max_image_pixels)
        data, content_type = clean.data, clean.content_type
    return ProviderInput(key=key, data=data, content_type=content_type)


def gallery(event: Event, viewer: str) -> list[Photo]:
    """The event's newest ready photos that `viewer` (an actor's `requested_by`) may see:
    under approval, others' pending and rejected uploads are left out (so the page may
    show fewer than `GALLERY_LIMIT`)."""
    photos = catalog().photos(event.tenant_id, event.slug, limit=GALLERY_LIMIT)
    return [photo for photo in photos if visible_to(photo, viewer)]


def editable_photos(event: Event, *, limit: int) -> list[Photo]:
    """The event's newest ready photos an edit may start from: approved, or needing none."""
    found = catalog().photos(event.tenant_id, event.slug, limit=GALLERY_LIMIT)
    return [photo for photo in found if photo.review in (None, "approved")][:limit]


def pending_photos(event: Event, *, limit: int) -> list[Photo]:
    return catalog().pending_photos(event.tenant_id, event.slug, limit=limit)


def review_photo(event: Event, photo_id: str, decision: PhotoReview) -> tuple[Photo, bool]:
    """Approve or reject a pending photo (see `Catalog.review_photo`)."""
    return catalog().review_photo(event.tenant_id, event.slug, photo_id, decision)


def display_image(
    event: Event, photo_id: str, viewer: str | None, *, if_none_match: str | None = None
) -> StoredObject:
    """The watermarked display copy of a ready photo `viewer` may see (None: the event's
    tenant, who reviews every photo; 404 for any other)."""
    photo = catalog().get_photo(event.tenant_id, event.slug, photo_id)
    hidden = viewer is not None and not visible_to(photo, viewer)
    if photo.status != "ready" or photo.display_key is None or hidden:
        raise UnknownPhotoError()
    return object_store().get(photo.display_key, if_none_match=if_none_match)
