"""Demo data for Magic Edits: what `make dev` needs so a guest link works on a fresh machine.

Two events of one tenant: `summer-party` gets AI styling from its package (`premium`),
`winter-gala` from a completed `ai_styling_unlock` add-on (so it sees no premium style).
Each has one real JPEG in the bucket, and each demo style a preview under `style-previews/`
(the demo photo with a visibly different Pillow look per style, a 320 px WebP). Everything
goes through the Catalog, so the demo data has exactly the shape production data has.
Running it again overwrites in place.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from aiimage import aws
from aiimage.edits import photos
from aiimage.edits.catalog_store import Catalog, catalog
from aiimage.edits.models import (
    UNLOCK_ADDON,
    Addon,
    AiEditingSettings,
    Budget,
    Event,
    EventAiEditing,
    Package,
    Photo,
    Style,
    Tenant,
    Watermark,
)
from aiimage.edits.style_previews import PREVIEW_MAX_SIDE, preview_key_for
from aiimage.errors import ValidationError

TENANT_ID = "demo-tenant"
PACKAGE_KEY = "premium"
USD = 1_000_000  # micros
# Guest links of the demo events (public by design: anyone with the link may join).
SUMMER_TOKEN = "demo-join-token-0001"  # noqa: S105
WINTER_TOKEN = "demo-join-token-0002"  # noqa: S105

_SETTINGS = {"is_enabled": True, "queue_auto_dispatch": True, "default_provider": "local"}

STYLES: tuple[Style, ...] = (
    Style(
        key="watercolor",
        preview_key=preview_key_for("watercolor"),
        name="Watercolor",
        names={"de": "Aquarell", "en": "Watercolor"},
        provider="local",
        provider_model="style:dream",
        prompt_template="soft watercolor painting, pastel washes {prompt}",
        negative_prompt_template="harsh lines, text",
        cost_estimate_micros=20_000,
    ),
    Style(
        key="comic",
        preview_key=preview_key_for("comic"),
        name="Comic",
        names={"de": "Comic", "en": "Comic"},
        provider="local",
        provider_model="style:poster",
        prompt_template="bold comic book style, flat colours {prompt}",
        cost_estimate_micros=20_000,
    ),
    Style(
        key="vintage",
        preview_key=preview_key_for("vintage"),
        name="Vintage",
        names={"de": "Vintage", "en": "Vintage"},
        provider="local",
        provider_model="style:sepia",
        prompt_template="vintage photograph, sepia tones {prompt}",
        cost_estimate_micros=15_000,
    ),
    Style(
        key="oil-painting",
        preview_key=preview_key_for("oil-painting"),
        name="Oil painting",
        names={"de": "Ölgemälde", "en": "Oil painting"},
        provider="local",
        provider_model="style:vivid",
        prompt_template="rich oil painting, visible brush strokes {prompt}",
        negative_prompt_template="blurry, text",
        is_premium=True,
        cost_estimate_micros=40_000,
    ),
)

DEMO_WATERMARK = Watermark(text="Summer Party", position="bottom-right", opacity=0.8, scale=0.35)


@dataclass(frozen=True, slots=True)
class DemoCatalog:
    tenant_id: str
    event_slug: str  # unlocked by the package
    join_token: str
    photo_id: str
    style_keys: tuple[str, ...]
    package_key: str
    addon_event_slug: str  # unlocked by the add-on
    addon_join_token: str
    addon_photo_id: str


def demo_jpeg(seed: int = 0, size: tuple[int, int] = (640, 480)) -> bytes:
    """A small real photo stand-in: a sky gradient, a sun, hills and a house."""
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        shade = int(200 * y / height)
        draw.line([(0, y), (width, y)], fill=(60 + shade // 3, 120 + shade // 4, 230 - shade // 2))
    sun_x = width // 4 + 40 * seed
    draw.ellipse([sun_x, 40, sun_x + 100, 140], fill=(250, 210, 60))
    draw.polygon(
        [(0, height), (0, 330), (220, 260), (420, 340), (width, 300), (width, height)],
        fill=(40, 140 - 30 * seed, 60),
    )
    draw.rectangle([400, 260, 520, 360], fill=(180, 70, 50))
    draw.polygon([(390, 260), (460, 200), (530, 260)], fill=(90, 40, 30))
    draw.rectangle([445, 310, 475, 360], fill=(60, 40, 20))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _watercolor(image: Image.Image) -> Image.Image:
    soft = image.filter(ImageFilter.GaussianBlur(2)).filter(ImageFilter.SMOOTH_MORE)
    return Image.blend(soft, Image.new("RGB", soft.size, (255, 250, 240)), 0.3)


def _comic(image: Image.Image) -> Image.Image:
    flat = ImageOps.posterize(image, 2)
    edges = image.convert("L").filter(ImageFilter.FIND_EDGES).point(lambda v: 255 if v > 40 else 0)
    return Image.composite(Image.new("RGB", image.size), flat, edges)


def _vintage(image: Image.Image) -> Image.Image:
    sepia = ImageOps.colorize(image.convert("L"), black=(60, 35, 15), white=(250, 225, 180))
    return ImageEnhance.Contrast(sepia).enhance(0.85)


def _oil_painting(image: Image.Image) -> Image.Image:
    strokes = image.filter(ImageFilter.ModeFilter(5)).filter(ImageFilter.EDGE_ENHANCE_MORE)
    return ImageEnhance.Color(strokes).enhance(1.8)


# What each demo style's preview does to the demo photo: visibly different per style.
_PREVIEW_LOOKS = {
    "watercolor": _watercolor,
    "comic": _comic,
    "vintage": _vintage,
    "oil-painting": _oil_painting,
}


def style_preview(style_key: str) -> bytes:
    """A small WebP of the demo photo with the style's look (a stand-in for its output)."""
    with Image.open(io.BytesIO(demo_jpeg())) as source:
        image = source.convert("RGB")
    image.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE))
    buffer = io.BytesIO()
    _PREVIEW_LOOKS[style_key](image).save(buffer, "WEBP", quality=80)
    return buffer.getvalue()


def _seed_previews(bucket: str) -> None:
    for style in STYLES:
        if style.preview_key is not None:
            body = style_preview(style.key)
            aws.s3().put_object(
                Bucket=bucket, Key=style.preview_key, Body=body, ContentType="image/webp"
            )


def _seed_settings(store: Catalog) -> AiEditingSettings:
    # Another writer may move the version between read and write: retry on the conflict.
    for _ in range(5):
        current = store.get_settings()
        try:
            return store.update_settings(_SETTINGS, expected_version=current.version)
        except ValidationError as exc:
            if exc.code != "settings_conflict":
                raise
    raise RuntimeError("could not seed the AI editing settings: concurrent updates")


def _seed_event(store: Catalog, event: Event) -> None:
    try:
        store.create_event(event)
    except ValidationError as exc:
        if exc.code != "event_exists":
            raise
        # Seeded before: bring the policy up to date, keep slug and token as they are.
        store.put_event_policy(event.tenant_id, event.slug, event.ai_editing)


def _seed_photo(store: Catalog, bucket: str, event: Event, photo_id: str, seed: int) -> None:
    """A ready photo, as a completed upload leaves it: the (already clean) JPEG and its
    watermarked display copy."""
    key = f"events/{event.slug}/photos/{photo_id}.jpg"
    display_key = photos.display_key_for(event.slug, photo_id)
    data = demo_jpeg(seed)
    aws.s3().put_object(Bucket=bucket, Key=key, Body=data, ContentType="image/jpeg")
    aws.s3().put_object(
        Bucket=bucket,
        Key=display_key,
        Body=photos.display_copy(event, data),
        ContentType="image/webp",
    )
    store.put_photo(
        event.tenant_id,
        event.slug,
        Photo(
            photo_id=photo_id,
            event_id=event.event_id,
            object_key=key,
            uploaded_by="tenant:demo",
            display_key=display_key,
        ),
    )


def seed_demo(*, bucket: str, store: Catalog | None = None) -> DemoCatalog:
    """Write the demo tenant, package, styles, two events and their photos (idempotent)."""
    store = store or catalog()
    _seed_settings(store)
    store.put_tenant(
        Tenant(
            tenant_id=TENANT_ID,
            name="Demo Events GmbH",
            budget=Budget(soft_cap_micros=5 * USD, hard_cap_micros=20 * USD),
        )
    )
    store.put_package(Package(package_key=PACKAGE_KEY, name="Premium", features=("ai_styling",)))
    _seed_previews(bucket)
    for style in STYLES:
        store.put_style(style)

    summer = Event(
        event_id="evt-summer-party",
        tenant_id=TENANT_ID,
        slug="summer-party",
        join_token=SUMMER_TOKEN,
        name="Summer Party",
        # A visible mark, so `make dev` shows the watermark on display copies and results.
        ai_editing=EventAiEditing(allow_custom_prompt=True, watermark=DEMO_WATERMARK),
        package_key=PACKAGE_KEY,
    )
    winter = Event(
        event_id="evt-winter-gala",
        tenant_id=TENANT_ID,
        slug="winter-gala",
        join_token=WINTER_TOKEN,
        name="Winter Gala",
    )
    for index, event in enumerate((summer, winter)):
        _seed_event(store, event)
        _seed_photo(store, bucket, event, f"photo-{event.slug}-1", index)
    store.put_addon(
        TENANT_ID,
        winter.slug,
        Addon(
            addon_id="addon-winter-gala-unlock",
            event_id=winter.event_id,
            key=UNLOCK_ADDON,
            status="completed",
        ),
    )
    return DemoCatalog(
        tenant_id=TENANT_ID,
        event_slug=summer.slug,
        join_token=summer.join_token,
        photo_id=f"photo-{summer.slug}-1",
        style_keys=tuple(style.key for style in STYLES),
        package_key=PACKAGE_KEY,
        addon_event_slug=winter.slug,
        addon_join_token=winter.join_token,
        addon_photo_id=f"photo-{winter.slug}-1",
    )
