"""The event's watermark on its images: edit results and the display copies of photo uploads
both come through `watermark_for_event`, so one resolver decides what every image shows."""

from __future__ import annotations

from PIL import Image

from aiimage.edits.models import Event, EventAiEditing, Watermark
from aiimage.errors import NotFoundError
from aiimage.imaging import webp
from aiimage.imaging.watermark import apply_watermark
from aiimage.observability import LogEvent, logger
from aiimage.storage.objects import object_store


def resolve_watermark(event_policy: EventAiEditing) -> Watermark:
    """The watermark to apply to an event's images: photo uploads and edit results both ask
    here. Today it is the event's configured watermark; this is the single place to extend
    the resolution (a tenant's default mark, a mark forced by the plan, ...)."""
    return event_policy.watermark


def watermark_for_event(event: Event, image: Image.Image, *, in_place: bool = False) -> Image.Image:
    """`image` with the event's watermark: a new image, or `image` itself marked when the
    caller hands it over (`in_place`)."""
    config = resolve_watermark(event.ai_editing)
    return apply_watermark(image, config, mark=_mark_image(config), in_place=in_place)


def _mark_image(config: Watermark) -> Image.Image | None:
    """The configured image mark; a missing or broken one falls back to the text mark
    rather than failing an edit the provider has already done (and billed)."""
    if not (config.enabled and config.image_key):
        return None
    try:
        return webp.decode(object_store().read(config.image_key))
    except (NotFoundError, OSError, ValueError):
        logger.warning(LogEvent.WATERMARK_UNAVAILABLE, key=config.image_key)
        return None
