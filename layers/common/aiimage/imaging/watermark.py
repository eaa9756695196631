"""The watermark of Magic Edits results and of the display copies of photo uploads.

Pure Pillow, no I/O: the caller decodes the watermark image (the `image_key` object in the
images bucket) and passes it as `mark`; otherwise the configured text is rendered with
Pillow's built-in font. What to draw is a `WatermarkConfig`, the fields this module reads
(the event's `aiimage.edits.models.Watermark` has them). Every function returns a new
image and leaves its input alone, unless the caller hands it over (`in_place=True`).

Geometry: the mark is `scale` x the image's width wide (an image mark keeps its aspect
ratio), shrunk further only when it would not fit inside the margins, and placed at
`position` with a margin of about 2% of the image's shorter side (`mark_box`). Only pixels
inside that box can change.
"""

from __future__ import annotations

from typing import Literal, Protocol

from PIL import Image, ImageDraw, ImageFont

Position = Literal["bottom-right", "bottom-left", "top-right", "top-left", "center"]
Box = tuple[int, int, int, int]

MARGIN_RATIO = 0.02  # of the image's shorter side
TEXT_FILL = (255, 255, 255, 255)
OUTLINE_FILL = (0, 0, 0, 200)  # a thin dark outline: readable on light and dark backgrounds
OUTLINE_RATIO = 0.06  # of the font size, at least 1 px
_PROBE_SIZE = 64  # the font size the text is first measured at

# The modes composited and converted back as they are; any other mode comes back as RGB,
# or RGBA when it carries transparency (`decode` only ever yields RGB or RGBA).
_ROUND_TRIP_MODES = frozenset({"RGB", "RGBA", "L", "LA"})


class WatermarkConfig(Protocol):
    """The watermark to draw, as far as the pixels are concerned (where it comes from and
    where its image is stored are the caller's business)."""

    @property
    def enabled(self) -> bool: ...

    @property
    def text(self) -> str | None: ...

    @property
    def position(self) -> Position: ...

    @property
    def opacity(self) -> float: ...  # 0..1

    @property
    def scale(self) -> float: ...  # of the image's width, 0..1


def margin_for(image_size: tuple[int, int]) -> int:
    """The distance between the mark and the image's edges: ~2% of the shorter side."""
    return round(MARGIN_RATIO * min(image_size))


def mark_box(
    image_size: tuple[int, int], mark_size: tuple[int, int], position: Position, margin: int
) -> Box:
    """Where a mark of `mark_size` lands: (left, top, right, bottom), right/bottom exclusive
    (Pillow's box convention). When the margins do not fit around the mark they shrink
    evenly, so a mark that fits in the image always stays inside it."""
    width, height = image_size
    mark_width, mark_height = mark_size
    margin_x = max(0, min(margin, (width - mark_width) // 2))
    margin_y = max(0, min(margin, (height - mark_height) // 2))
    if position == "center":
        left, top = (width - mark_width) // 2, (height - mark_height) // 2
    else:
        vertical, horizontal = position.split("-")
        left = margin_x if horizontal == "left" else width - margin_x - mark_width
        top = margin_y if vertical == "top" else height - margin_y - mark_height
    left, top = max(0, left), max(0, top)
    return left, top, left + mark_width, top + mark_height


def prepare_mark(
    image_size: tuple[int, int], config: WatermarkConfig, *, mark: Image.Image | None = None
) -> Image.Image | None:
    """The RGBA mark exactly as it is composited onto an image of `image_size` (sized, fitted
    and with the opacity applied), or None when there is nothing to draw."""
    if not config.enabled or config.opacity <= 0:
        return None
    width, height = image_size
    target_width = max(1, round(config.scale * width))
    if mark is not None:
        layer = _scaled_mark(mark, target_width)
    elif config.text and config.text.strip():
        layer = _text_mark(config.text.strip(), target_width)
    else:
        return None
    if layer is None:
        return None
    margin = margin_for(image_size)
    layer = _fit(layer, max(1, width - 2 * margin), max(1, height - 2 * margin))
    return _with_opacity(layer, config.opacity)


def apply_watermark(
    image: Image.Image,
    config: WatermarkConfig,
    *,
    mark: Image.Image | None = None,
    in_place: bool = False,
) -> Image.Image:
    """`image` with the watermark composited on it (unchanged when disabled or with neither
    a text nor a mark). `mark` is the decoded watermark image, passed by the caller when the
    watermark has an image; it wins over the text. The result has the size of `image`
    and its mode (RGB, RGBA, L, LA; others come back as RGB or RGBA). An RGBA image keeps
    its alpha outside the mark; under it the mark is composited "over".

    A new image unless `in_place`: then a caller that owns `image` (a freshly decoded
    result, say) gets it back marked, and no full-size copy is made. Only the mark's box is
    ever converted to RGBA, so a 40 MP picture costs a mark-sized buffer, not two copies."""
    layer = prepare_mark(image.size, config, mark=mark)
    mode = image.mode if image.mode in _ROUND_TRIP_MODES else _fallback_mode(image)
    if image.mode != mode:
        image = image.convert(mode)  # a new image already
    elif not in_place:
        image = image.copy()
    if layer is None:
        return image
    left, top, _, _ = mark_box(image.size, layer.size, config.position, margin_for(image.size))
    box = (left, top, left + layer.width, top + layer.height)
    region = image.crop(box).convert("RGBA")
    region.alpha_composite(layer)
    image.paste(region if mode == "RGBA" else region.convert(mode), box)
    return image


def _fallback_mode(image: Image.Image) -> str:
    has_alpha = image.has_transparency_data
    return "RGBA" if has_alpha else "RGB"


def _scaled_mark(mark: Image.Image, target_width: int) -> Image.Image | None:
    if mark.width < 1 or mark.height < 1:
        return None
    rgba = mark.convert("RGBA")
    target_height = max(1, round(mark.height * target_width / mark.width))
    return rgba.resize((target_width, target_height), Image.Resampling.LANCZOS)


def _text_mark(text: str, target_width: int) -> Image.Image | None:
    """White text with a thin dark outline, its width as close to `target_width` as the
    integer font sizes allow (never wider), cropped to the drawn pixels."""
    base = ImageFont.load_default(size=_PROBE_SIZE)
    if not isinstance(base, ImageFont.FreeTypeFont):  # Pillow built without FreeType
        return _render_bitmap_text(text, base, target_width)
    probe_width = _text_width(text, base)
    if probe_width <= 0:
        return None
    size = max(1, int(_PROBE_SIZE * target_width / probe_width))
    while size > 1 and _text_width(text, base.font_variant(size=size)) > target_width:
        size -= 1
    while _text_width(text, base.font_variant(size=size + 1)) <= target_width:
        size += 1
    layer = _render_text(text, base.font_variant(size=size), _stroke(size))
    if layer is not None and layer.width > target_width:  # even size 1 is too wide
        layer = _scaled_mark(layer, target_width)
    return layer


def _stroke(size: int) -> int:
    return max(1, round(size * OUTLINE_RATIO))


def _text_width(text: str, font: ImageFont.FreeTypeFont) -> int:
    left, _, right, _ = ImageDraw.Draw(Image.new("RGBA", (1, 1))).multiline_textbbox(
        (0, 0), text, font=font, stroke_width=_stroke(int(font.size))
    )
    return int(right - left)


def _render_text(
    text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, stroke: int
) -> Image.Image | None:
    measure = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    left, top, right, bottom = measure.multiline_textbbox(
        (0, 0), text, font=font, stroke_width=stroke
    )
    size = (max(1, int(right - left)), max(1, int(bottom - top)))
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(layer).multiline_text(
        (-left, -top),
        text,
        font=font,
        fill=TEXT_FILL,
        stroke_width=stroke,
        stroke_fill=OUTLINE_FILL,
    )
    drawn = layer.getchannel("A").getbbox()
    return layer.crop(drawn) if drawn is not None else None


def _render_bitmap_text(
    text: str, font: ImageFont.ImageFont, target_width: int
) -> Image.Image | None:
    layer = _render_text(text, font, 1)
    return _scaled_mark(layer, target_width) if layer is not None else None


def _fit(layer: Image.Image, max_width: int, max_height: int) -> Image.Image:
    """Shrink (keeping the aspect ratio) so the layer fits in max_width x max_height."""
    if layer.width <= max_width and layer.height <= max_height:
        return layer
    ratio = min(max_width / layer.width, max_height / layer.height)
    size = (max(1, int(layer.width * ratio)), max(1, int(layer.height * ratio)))
    return layer.resize(size, Image.Resampling.LANCZOS)


def _with_opacity(layer: Image.Image, opacity: float) -> Image.Image:
    if opacity >= 1:
        return layer
    result = layer.copy()
    lut = [round(value * opacity) for value in range(256)]
    result.putalpha(layer.getchannel("A").point(lut))
    return result
