"""The local provider: real Pillow work for every model id, strict parameter checks."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

from aiimage.imaging import enhance, webp
from aiimage.providers.base import (
    AiImageProvider,
    GenerationRequest,
    ImageInput,
    Outcome,
    ProviderRejectedError,
)
from aiimage.providers.local import LOCAL_MODELS, LocalProvider
from tests.generation import generation_request

WIDTH, HEIGHT = 40, 30


def source_image(mode: str = "RGB") -> Image.Image:
    """Gradient, shapes and a little texture: something every filter visibly changes."""
    gradient = Image.linear_gradient("L").resize((WIDTH, HEIGHT))
    image = Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_180), gradient))
    draw = ImageDraw.Draw(image)
    draw.ellipse((5, 5, 20, 20), fill=(220, 40, 30))
    draw.rectangle((24, 8, 36, 26), fill=(20, 160, 60))
    for x in range(0, WIDTH, 3):
        image.putpixel((x, (x * 7) % HEIGHT), (250, 250, 250))
    if mode == "RGBA":
        image = image.convert("RGBA")
        image.putalpha(Image.linear_gradient("L").resize((WIDTH, HEIGHT)))
    return image


def as_input(image: Image.Image) -> ImageInput:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return ImageInput(data=buffer.getvalue(), content_type="image/png")


def submit(model: str, image: Image.Image | None = None, **params: Any) -> Outcome:
    request = generation_request(model, as_input(image or source_image()), **params)
    return LocalProvider().submit(request)


def result_image(outcome: Outcome) -> Image.Image:
    assert outcome.status == "succeeded"
    assert outcome.content_type == "image/webp"
    assert outcome.image is not None
    image = Image.open(io.BytesIO(outcome.image))
    image.load()
    assert image.format == "WEBP"
    return image


def mean_difference(first: Image.Image, second: Image.Image) -> float:
    diff = ImageChops.difference(first.convert("RGB"), second.convert("RGB"))
    return sum(ImageStat.Stat(diff).mean) / 3


def as_delivered(image: Image.Image) -> Image.Image:
    """`image` after the provider's own WebP encoding: the floor for "unchanged"."""
    return Image.open(io.BytesIO(webp.encode(image, "WEBP", quality=90)))


def test_it_is_a_provider_named_local() -> None:
    provider: AiImageProvider = LocalProvider()
    assert provider.name == "local"


def test_model_ids_are_upscale_restore_and_every_style() -> None:
    assert {"upscale", "restore"} | {f"style:{name}" for name in enhance.STYLES} == LOCAL_MODELS


@pytest.mark.parametrize(("scale", "factor"), [(None, 2), (2, 2), (4, 4)])
def test_upscale_sizes_are_exact(scale: int | None, factor: int) -> None:
    image = result_image(submit("upscale", scale=scale))
    assert image.size == (WIDTH * factor, HEIGHT * factor)


def test_upscale_with_face_enhance_also_restores() -> None:
    plain = result_image(submit("upscale", scale=2))
    restored = result_image(submit("upscale", scale=2, face_enhance=True))
    assert restored.size == plain.size
    assert mean_difference(plain, restored) > 1.0


@pytest.mark.parametrize(("scale", "factor"), [(None, 1), (2, 2), (4, 4)])
def test_restore_then_optional_upscale(scale: int | None, factor: int) -> None:
    image = result_image(submit("restore", scale=scale))
    assert image.size == (WIDTH * factor, HEIGHT * factor)


def test_restore_changes_the_picture_and_fidelity_one_keeps_it() -> None:
    original = source_image()
    restored = result_image(submit("restore", original))
    faithful = result_image(submit("restore", original, strength=1.0))
    assert mean_difference(restored, as_delivered(original)) > 2.0
    assert mean_difference(faithful, as_delivered(original)) < 0.5


@pytest.mark.parametrize("style", sorted(enhance.STYLES))
def test_every_style_gives_a_webp_of_the_input_size(style: str) -> None:
    original = source_image()
    image = result_image(submit(f"style:{style}", original, strength=1.0))
    assert image.size == (WIDTH, HEIGHT)
    assert mean_difference(image, as_delivered(original)) > 2.0


@pytest.mark.parametrize("style", sorted(enhance.STYLES))
def test_style_strength_zero_is_about_the_input(style: str) -> None:
    original = source_image()
    image = result_image(submit(f"style:{style}", original, strength=0.0))
    assert mean_difference(image, as_delivered(original)) < 0.5


def test_style_strength_defaults_between_none_and_full() -> None:
    original = source_image()
    delivered = as_delivered(original)
    default = mean_difference(result_image(submit("style:mono", original)), delivered)
    full = mean_difference(result_image(submit("style:mono", original, strength=1.0)), delivered)
    assert 2.0 < default < full


def test_prompt_guidance_and_steps_are_accepted() -> None:
    outcome = submit(
        "style:vivid", prompt="a photo", negative_prompt="blur", guidance=7.5, steps=20
    )
    assert result_image(outcome).size == (WIDTH, HEIGHT)


def test_alpha_survives() -> None:
    image = result_image(submit("upscale", source_image("RGBA"), scale=2))
    assert image.mode == "RGBA"
    extrema = image.getchannel("A").getextrema()
    assert isinstance(extrema[0], int)
    assert isinstance(extrema[1], int)
    alpha_low, alpha_high = extrema
    assert alpha_low < 20
    assert alpha_high > 230


@pytest.mark.parametrize(
    ("model", "params", "code"),
    [
        ("sdxl", {}, "unknown_model"),
        ("style:nope", {}, "unknown_model"),
        ("style:", {}, "unknown_model"),
        ("Upscale", {}, "unknown_model"),
        ("upscale", {"scale": 3}, "param_out_of_range"),
        ("upscale", {"scale": 1}, "param_out_of_range"),
        ("upscale", {"strength": 0.5}, "param_not_supported"),
        ("restore", {"scale": 8}, "param_out_of_range"),
        ("restore", {"strength": 1.5}, "param_out_of_range"),
        ("style:mono", {"strength": -0.1}, "param_out_of_range"),
        ("style:mono", {"strength": float("nan")}, "param_out_of_range"),
        ("style:mono", {"scale": 2}, "param_not_supported"),
        ("style:mono", {"face_enhance": True}, "param_not_supported"),
    ],
)
def test_bad_requests_are_rejected(model: str, params: dict[str, Any], code: str) -> None:
    with pytest.raises(ProviderRejectedError) as caught:
        submit(model, **params)
    assert caught.value.code == code
    assert caught.value.status == 400


def test_output_pixel_backstop() -> None:
    request = generation_request("upscale", as_input(source_image()), scale=4)
    provider = LocalProvider(max_output_pixels=WIDTH * HEIGHT * 16 - 1)
    with pytest.raises(ProviderRejectedError) as caught:
        provider.submit(request)
    assert caught.value.code == "output_too_large"
    exact = LocalProvider(max_output_pixels=WIDTH * HEIGHT * 16)
    assert result_image(exact.submit(request)).size == (WIDTH * 4, HEIGHT * 4)


def test_undecodable_input_is_rejected() -> None:
    broken = ImageInput(data=b"\x89PNG\r\n\x1a\nnot really", content_type="image/png")
    with pytest.raises(ProviderRejectedError) as caught:
        LocalProvider().submit(GenerationRequest(model="restore", image=broken))
    assert caught.value.code == "image_undecodable"


def test_it_is_synchronous_poll_fails_and_cancel_is_a_no_op() -> None:
    provider = LocalProvider()
    outcome = provider.poll("job-1")
    assert (outcome.status, outcome.job_id) == ("failed", "job-1")
    assert outcome.error
    provider.cancel("job-1")
