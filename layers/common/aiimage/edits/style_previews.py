"""Style preview images: a small WebP per style of the catalog, showing what the style does,
in the bucket under `style-previews/{style_key}.webp` (`Style.preview_key`). Guests of an
event fetch it through the event's link (`GET …/ai-styles/{style}/preview`); it shows no
one's photo, so it is cached publicly."""

from __future__ import annotations

from aiimage.edits.catalog_store import UnknownStyleError, catalog
from aiimage.storage.objects import StoredObject, object_store

PREVIEW_PREFIX = "style-previews/"
PREVIEW_MAX_SIDE = 320


def preview_key_for(style_key: str) -> str:
    return f"{PREVIEW_PREFIX}{style_key}.webp"


def preview_image(style_key: str, *, if_none_match: str | None = None) -> StoredObject:
    """The preview of an active style that has one (404 `unknown_style` otherwise)."""
    style = catalog().get_style(style_key)
    if not style.is_active or style.preview_key is None:
        raise UnknownStyleError()
    return object_store().get(style.preview_key, if_none_match=if_none_match)
