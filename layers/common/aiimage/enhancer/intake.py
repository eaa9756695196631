"""How an image comes in, for `POST /api/ai-image/generate` and `POST /api/ai-image/jobs`
alike: the free checks (catalog, plan, prompts), the rate limit, the quota reservation,
reading and sanitising the image, and storing the sanitised original under its
reservation's name (`aiimage.enhancer.generate` explains the order and the clean-up).

A job submission ends here (`submit_job`: the worker calls the provider); generate goes
on to the provider and the signed result. Pillow is imported with the first image read,
so the jobs API's reads and cancels start without it.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from aiimage.enhancer import jobs
from aiimage.enhancer.dispatch import routes_for
from aiimage.enhancer.model_catalog import GenerateParams, ResolvedParams, resolve
from aiimage.errors import (
    NotFoundError,
    PayloadTooLargeError,
    StorageUnavailableError,
    ValidationError,
)
from aiimage.identity import Identity
from aiimage.limits import quota_store, rate_limiter
from aiimage.limits.plans import resolve_plan
from aiimage.limits.quota import Reservation, network_allowance
from aiimage.safety import blocked_terms, refuse_blocked
from aiimage.settings import Settings, get_settings
from aiimage.storage.keys import ROOT, ObjectKey, Owner, new_key, parse_upload_key
from aiimage.storage.objects import STORAGE_FAILURES, object_store

if TYPE_CHECKING:
    from aiimage.imaging.validation import CleanImage


@dataclass(frozen=True, slots=True)
class ImageSource:
    """Exactly one of: the bytes of a multipart upload, or the key of a direct upload."""

    data: bytes | None = None
    upload_key: str | None = None


def submit_job(identity: Identity, params: GenerateParams, source: ImageSource) -> jobs.Job:
    """`POST /api/ai-image/jobs`: the same checks and charge as generate, run by the worker."""
    settings = get_settings()
    _, entitlements = resolve_plan(identity, settings)
    resolved = resolve(params, entitlements)
    routes_for(resolved, settings)
    check_prompts(resolved, settings)
    check_source(source)
    rate_limiter().hit(
        "jobs", identity.owner_key, limit=settings.jobs_rate_limit_per_minute, window_seconds=60
    )
    reservation = quota_store().reserve(
        identity.owner_key, entitlements, network_allowance(identity)
    )
    with ExitStack() as undo:
        undo.callback(refund, reservation)
        _, original_key = store_original(undo, identity, reservation, source, resolved)
        job = jobs.create(identity, resolved, original_key, reservation)
        undo.pop_all()
    discard_upload(identity, source)
    return job


def store_original(
    undo: ExitStack,
    identity: Identity,
    reservation: Reservation,
    source: ImageSource,
    resolved: ResolvedParams,
) -> tuple[CleanImage, ObjectKey]:
    """The image read and sanitised, checked against the output cap, and stored as the
    original named after `reservation` (deleted again by `undo` on a later failure)."""
    settings = get_settings()
    clean = read_image(identity, source, settings)
    check_output_size(clean, resolved, settings)
    key = store(undo, original_key_for(identity, reservation, clean.content_type), clean.data)
    return clean, key


def check_prompts(resolved: ResolvedParams, settings: Settings) -> None:
    """Prompt safety (`aiimage.safety`), free like the other parameter checks: a blocked
    term is 403 `prompt_blocked` before the rate limit or the quota counts anything."""
    refuse_blocked(
        [("prompt", resolved.params.prompt), ("negative_prompt", resolved.params.negative_prompt)],
        blocked_terms(settings.blocked_terms),
    )


def check_source(source: ImageSource) -> None:
    if (source.data is None) == (source.upload_key is None):
        raise _image_missing()


def _image_missing() -> ValidationError:
    return ValidationError(
        "Send exactly one of: an image file, or the uploadKey of a direct upload",
        code="image_missing",
        details={"field": "image"},
    )


def read_image(identity: Identity, source: ImageSource, settings: Settings) -> CleanImage:
    if source.data is not None:
        data = source.data
    elif source.upload_key is not None:
        data = _read_upload(identity, source.upload_key, settings)
    else:
        raise _image_missing()
    from aiimage.imaging.validation import sanitize  # Pillow: with the first image

    return sanitize(data, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_image_pixels)


def _read_upload(identity: Identity, raw_key: str, settings: Settings) -> bytes:
    """The raw bytes of the caller's own quarantined upload (`storage.keys`): read here
    only, sanitised by the caller, then deleted by `_discard_upload`."""
    key = _upload_key(identity, raw_key)
    store_ = object_store()
    try:
        head = store_.head(key)
        if head.size > settings.max_upload_bytes:
            raise PayloadTooLargeError(
                "The uploaded image is too large",
                code="image_too_large",
                details={"maxBytes": settings.max_upload_bytes},
            )
        return store_.read(key)
    except NotFoundError:
        # Never uploaded, expired, or deleted between the two calls: the caller's mistake.
        raise ValidationError("Unknown uploadKey", code="upload_not_found") from None
    except STORAGE_FAILURES as exc:
        # A throttle or an outage is ours, and passes: the caller may retry the same key.
        raise StorageUnavailableError() from exc


def _upload_key(identity: Identity, raw_key: str) -> ObjectKey:
    try:
        key = parse_upload_key(raw_key)
    except NotFoundError:
        key = None  # not a quarantined upload: an original, a result, a foreign prefix
    if key is None or not key.owned_by(identity):
        # Another owner's key is indistinguishable from a missing one.
        raise ValidationError("Unknown uploadKey", code="upload_not_found")
    return key


def discard_upload(identity: Identity, source: ImageSource) -> None:
    # The sanitised original is stored; the raw upload (with its EXIF) leaves quarantine.
    # A later PUT to its URL lands in quarantine again, where only a generate naming it
    # (sanitising anew) or the sweep looks.
    if source.upload_key is not None:
        object_store().delete(_upload_key(identity, source.upload_key))


def check_output_size(clean: CleanImage, resolved: ResolvedParams, settings: Settings) -> None:
    scale = resolved.params.scale
    factor = (scale or 1) ** 2
    if clean.width * clean.height * factor > settings.max_output_pixels:
        raise ValidationError(
            f"The image is too large to upscale {scale}x",
            code="output_too_large",
            details={"maxOutputPixels": settings.max_output_pixels},
        )


def original_key_for(owner: Owner, reservation: Reservation, content_type: str) -> ObjectKey:
    """A new original's key, named after the reservation that pays for it (then random):
    the sweep finds a killed generate's original from its reservation alone."""
    key = new_key("originals", owner, content_type)
    return replace(
        key, name=reservation.reservation_id + key.name[len(reservation.reservation_id) :]
    )


def originals_prefix(owner_key: str, reservation_id: str) -> str:
    """Where the originals paid by `reservation_id` of `owner_key` (`guest#{id}`) are."""
    owner_type, _, owner_id = owner_key.partition("#")
    return f"{ROOT}/originals/{owner_type}/{owner_id}/{reservation_id}"


def store(undo: ExitStack, key: ObjectKey, data: bytes) -> ObjectKey:
    object_store().put(key, data, key.content_type)
    undo.callback(object_store().delete, key)
    return key


def refund(reservation: Reservation) -> None:
    quota_store().refund(reservation)
