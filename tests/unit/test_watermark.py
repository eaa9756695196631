"""The watermark of Magic Edits results, checked on real pixels."""

from __future__ import annotations

from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageStat

from aiimage.edits.models import EventAiEditing, Watermark
from aiimage.edits.watermarking import resolve_watermark
from aiimage.imaging.watermark import (
    Box,
    Position,
    apply_watermark,
    margin_for,
    mark_box,
    prepare_mark,
)

POSITIONS: tuple[Position, ...] = get_args(Position)
BLUE = (40, 90, 160)
SIZE = (800, 600)
MARGIN = 12  # 2% of 600


def flat(size: tuple[int, int] = SIZE, mode: str = "RGB") -> Image.Image:
    colour = (*BLUE, 200) if mode == "RGBA" else BLUE
    return Image.new(mode, size, colour)


def red_square() -> Image.Image:
    return Image.new("RGBA", (100, 50), (255, 0, 0, 255))


def text_mark(**changes: object) -> Watermark:
    fields: dict[str, object] = {"text": "© Studio", "opacity": 0.8, "scale": 0.25}
    fields.update(changes)
    return Watermark.model_validate(fields)


def placed_box(image: Image.Image, config: Watermark, mark: Image.Image | None = None) -> Box:
    layer = prepare_mark(image.size, config, mark=mark)
    assert layer is not None
    return mark_box(image.size, layer.size, config.position, margin_for(image.size))


def grow(box: Box, by: int, size: tuple[int, int]) -> Box:
    left, top, right, bottom = box
    return max(0, left - by), max(0, top - by), min(size[0], right + by), min(size[1], bottom + by)


def changed_outside(before: Image.Image, after: Image.Image, box: Box) -> Box | None:
    """The bounding box of every pixel that differs outside `box` (None: none does)."""
    diff = ImageChops.difference(before.convert("RGBA"), after.convert("RGBA"))
    diff.paste((0, 0, 0, 0), box)
    return diff.getbbox(alpha_only=False)


def changed(before: Image.Image, after: Image.Image) -> Box | None:
    diff = ImageChops.difference(before.convert("RGBA"), after.convert("RGBA"))
    return diff.getbbox(alpha_only=False)


def expected_box(position: Position, mark_size: tuple[int, int]) -> Box:
    """The placement worked out independently of `mark_box`, for the 800x600 image."""
    (width, height), (mark_width, mark_height) = SIZE, mark_size
    lefts = {"left": MARGIN, "right": width - MARGIN - mark_width}
    tops = {"top": MARGIN, "bottom": height - MARGIN - mark_height}
    if position == "center":
        left, top = (width - mark_width) // 2, (height - mark_height) // 2
    else:
        vertical, horizontal = position.split("-")
        left, top = lefts[horizontal], tops[vertical]
    return left, top, left + mark_width, top + mark_height


# --- mark_box ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "box"),
    [
        ("top-left", (3, 3, 23, 13)),
        ("top-right", (77, 3, 97, 13)),
        ("bottom-left", (3, 67, 23, 77)),
        ("bottom-right", (77, 67, 97, 77)),
        ("center", (40, 35, 60, 45)),
    ],
)
def test_mark_box_places_the_mark_at_its_position(position: Position, box: Box) -> None:
    assert mark_box((100, 80), (20, 10), position, 3) == box


def test_mark_box_shrinks_a_margin_that_does_not_fit() -> None:
    assert mark_box((10, 10), (8, 8), "bottom-right", 5) == (1, 1, 9, 9)
    assert mark_box((10, 10), (8, 8), "top-left", 5) == (1, 1, 9, 9)
    assert mark_box((20, 10), (8, 8), "bottom-right", 5) == (7, 1, 15, 9)
    assert mark_box((10, 10), (10, 10), "top-right", 5) == (0, 0, 10, 10)


def test_margin_is_two_percent_of_the_shorter_side() -> None:
    assert margin_for((800, 600)) == 12
    assert margin_for((600, 1000)) == 12
    assert margin_for((16, 16)) == 0


# --- text marks ----------------------------------------------------------------------------


@pytest.mark.parametrize("position", POSITIONS)
def test_text_mark_changes_only_pixels_inside_its_box(position: Position) -> None:
    image = flat()
    config = text_mark(position=position)
    result = apply_watermark(image, config)

    box = placed_box(image, config)
    assert box == expected_box(position, (box[2] - box[0], box[3] - box[1]))
    assert result.size == image.size
    assert result.mode == "RGB"
    assert changed(result.crop(box), image.crop(box)) is not None
    assert changed_outside(image, result, grow(box, 1, image.size)) is None


def test_text_box_is_tight_around_the_drawn_text() -> None:
    image = flat()
    for text in ("© Studio", "i", "Acme Photo"):
        config = text_mark(text=text, opacity=1.0)
        assert changed(image, apply_watermark(image, config)) == placed_box(image, config)


def test_text_width_is_about_scale_times_the_image_width() -> None:
    for scale in (0.1, 0.2, 0.25, 0.4, 0.6):
        layer = prepare_mark(SIZE, text_mark(scale=scale))
        assert layer is not None
        assert 0.93 * scale * SIZE[0] <= layer.width <= scale * SIZE[0]


def test_text_is_white_with_a_dark_outline() -> None:
    image = flat()
    config = text_mark(opacity=1.0)
    inside = apply_watermark(image, config).crop(placed_box(image, config)).convert("L")
    darkest, lightest = inside.getextrema()
    base = image.convert("L").getpixel((0, 0))
    assert isinstance(base, int)
    assert isinstance(lightest, int)
    assert isinstance(darkest, int)
    assert lightest >= 250  # white text
    assert darkest < base - 40  # the outline is darker than the background


def test_opacity_zero_leaves_the_image_identical() -> None:
    image = flat()
    result = apply_watermark(image, text_mark(opacity=0.0))
    assert result.tobytes() == image.tobytes()
    assert result is not image


def test_higher_opacity_changes_the_box_more() -> None:
    image = flat()
    strong, faint = text_mark(opacity=1.0), text_mark(opacity=0.3)
    box = placed_box(image, strong)
    assert box == placed_box(image, faint)

    def mean_difference(config: Watermark) -> float:
        diff = ImageChops.difference(image.crop(box), apply_watermark(image, config).crop(box))
        return sum(ImageStat.Stat(diff).mean)

    assert mean_difference(strong) > 1.5 * mean_difference(faint) > 0


def test_disabled_or_empty_watermark_leaves_the_image_identical() -> None:
    image = flat()
    for config in (
        text_mark(enabled=False),
        Watermark(enabled=False, image_key="marks/logo.png"),
        Watermark(),
        Watermark(text="   "),
    ):
        result = apply_watermark(image, config, mark=red_square() if config.image_key else None)
        assert result.tobytes() == image.tobytes(), config
        assert result is not image


# --- image marks ---------------------------------------------------------------------------


@pytest.mark.parametrize("position", POSITIONS)
def test_image_mark_lands_in_its_corner_at_scale_width(position: Position) -> None:
    image = flat()
    config = Watermark(image_key="marks/logo.png", position=position, scale=0.25, opacity=1.0)
    result = apply_watermark(image, config, mark=red_square())

    box = expected_box(position, (200, 100))  # 0.25 x 800 wide, the square's 2:1 kept
    assert placed_box(image, config, red_square()) == box
    assert result.crop(box).getcolors() == [(200 * 100, (255, 0, 0))]
    assert changed_outside(image, result, box) is None


def test_image_mark_wins_over_the_text() -> None:
    image = flat()
    config = Watermark(text="© Studio", image_key="marks/logo.png", scale=0.25, opacity=1.0)
    result = apply_watermark(image, config, mark=red_square())
    assert result.crop(expected_box("bottom-right", (200, 100))).getcolors() == [
        (200 * 100, (255, 0, 0))
    ]


def test_image_mark_opacity_blends_with_the_background() -> None:
    image = flat()
    config = Watermark(image_key="marks/logo.png", position="top-left", scale=0.25, opacity=0.5)
    result = apply_watermark(image, config, mark=red_square())
    pixel = result.getpixel((MARGIN + 100, MARGIN + 50))
    assert isinstance(pixel, tuple)
    red, green, blue = pixel
    assert abs(red - (255 + 40) / 2) <= 2
    assert abs(green - 90 / 2) <= 2
    assert abs(blue - 160 / 2) <= 2


def test_a_mark_too_large_for_the_image_is_shrunk_to_fit() -> None:
    image = flat((100, 400))
    config = Watermark(image_key="marks/logo.png", scale=1.0, opacity=1.0)
    layer = prepare_mark(image.size, config, mark=red_square())
    assert layer is not None
    margin = margin_for(image.size)
    assert layer.width <= 100 - 2 * margin
    box = placed_box(image, config, red_square())
    assert box[2] == 100 - margin
    assert box[3] == 400 - margin
    assert changed_outside(image, apply_watermark(image, config, mark=red_square()), box) is None


# --- modes, tiny images, purity ------------------------------------------------------------


def test_rgba_input_keeps_its_alpha_outside_the_box() -> None:
    image = flat(mode="RGBA")
    image.paste((10, 200, 30, 0), (0, 0, 400, 600))  # half fully transparent
    config = text_mark(position="bottom-left", opacity=1.0)
    result = apply_watermark(image, config)

    box = placed_box(image, config)
    assert result.mode == "RGBA"
    assert changed_outside(image, result, grow(box, 1, image.size)) is None
    assert changed(result.getchannel("A"), image.getchannel("A")) is not None  # mark is "over"
    outside_alpha = ImageChops.difference(image.getchannel("A"), result.getchannel("A"))
    outside_alpha.paste(0, grow(box, 1, image.size))
    assert outside_alpha.getbbox() is None


def test_grey_input_stays_grey() -> None:
    image = Image.new("L", SIZE, 120)
    config = text_mark(position="top-right")
    result = apply_watermark(image, config)
    assert result.mode == "L"
    box = placed_box(image, config)
    assert changed_outside(image, result, grow(box, 1, image.size)) is None
    assert changed(image.crop(box), result.crop(box)) is not None


@pytest.mark.parametrize("size", [(1, 1), (16, 16), (3, 200), (200, 3)])
@pytest.mark.parametrize("position", POSITIONS)
def test_tiny_images_do_not_crash(size: tuple[int, int], position: Position) -> None:
    image = flat(size)
    for config, mark in (
        (text_mark(position=position, scale=1.0), None),
        (text_mark(position=position, scale=0.01), None),
        (Watermark(image_key="k", position=position, scale=1.0), red_square()),
        (Watermark(image_key="k", position=position, scale=0.01), red_square()),
    ):
        result = apply_watermark(image, config, mark=mark)
        assert result.size == size
        box = placed_box(image, config, mark)
        assert 0 <= box[0] < box[2] <= size[0]
        assert 0 <= box[1] < box[3] <= size[1]
        assert changed_outside(image, result, box) is None


def test_inputs_are_not_mutated() -> None:
    for mode in ("RGB", "RGBA"):
        image, mark = flat(mode=mode), red_square()
        image_bytes, mark_bytes = image.tobytes(), mark.tobytes()
        apply_watermark(image, text_mark(opacity=1.0))
        apply_watermark(image, Watermark(image_key="k", opacity=0.7), mark=mark)
        apply_watermark(image, Watermark(image_key="k", opacity=1.0), mark=mark)
        assert image.tobytes() == image_bytes
        assert (image.mode, image.size) == (mode, SIZE)
        assert mark.tobytes() == mark_bytes
        assert (mark.mode, mark.size) == ("RGBA", (100, 50))


def test_resolve_watermark_is_the_events_watermark() -> None:
    configured = Watermark(text="Acme", opacity=0.35, position="center")
    assert resolve_watermark(EventAiEditing(watermark=configured)) == configured
    assert resolve_watermark(EventAiEditing()) == Watermark()


# --- property ------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(min_value=1, max_value=300),
    height=st.integers(min_value=1, max_value=300),
    position=st.sampled_from(POSITIONS),
    scale=st.floats(min_value=0.01, max_value=1.0),
    opacity=st.floats(min_value=0.05, max_value=1.0),
    use_image=st.booleans(),
)
def test_pixels_outside_the_box_never_change(
    width: int, height: int, position: Position, scale: float, opacity: float, use_image: bool
) -> None:
    image = flat((width, height))
    mark = red_square() if use_image else None
    config = Watermark(
        text=None if use_image else "© Studio",
        image_key="k" if use_image else None,
        position=position,
        scale=scale,
        opacity=opacity,
    )
    result = apply_watermark(image, config, mark=mark)
    box = placed_box(image, config, mark)

    assert result.size == image.size
    assert 0 <= box[0] < box[2] <= width
    assert 0 <= box[1] < box[3] <= height
    assert changed_outside(image, result, grow(box, 1, image.size)) is None


def _whole_canvas_reference(image: Image.Image, config: Watermark) -> Image.Image:
    """The composite over the whole picture in RGBA, converted back: what the box-only
    composite must equal, pixel for pixel."""
    layer = prepare_mark(image.size, config)
    assert layer is not None
    mode = image.mode if image.mode in ("RGB", "RGBA", "L", "LA") else "RGB"
    left, top, _, _ = mark_box(image.size, layer.size, config.position, margin_for(image.size))
    canvas = image.convert("RGBA")
    canvas.alpha_composite(layer, dest=(left, top))
    return canvas if mode == "RGBA" else canvas.convert(mode)


def noisy(mode: str) -> Image.Image:
    return Image.effect_noise(SIZE, 64).convert("RGB").convert(mode)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P"])
@pytest.mark.parametrize("position", ["top-left", "center", "bottom-right"])
def test_the_box_only_composite_equals_the_whole_canvas_one(mode: str, position: str) -> None:
    image = noisy(mode)
    config = text_mark(position=position)
    expected = _whole_canvas_reference(image, config)
    result = apply_watermark(image, config)
    assert result.mode == expected.mode
    assert ImageChops.difference(result, expected).getbbox() is None


def test_in_place_marks_the_callers_image_without_a_copy() -> None:
    image = noisy("RGB")
    before = image.copy()
    config = text_mark()
    assert apply_watermark(image, config) is not image
    assert ImageChops.difference(image, before).getbbox() is None  # untouched by default
    marked = apply_watermark(image, config, in_place=True)
    assert marked is image
    assert ImageChops.difference(marked, _whole_canvas_reference(before, config)).getbbox() is None
