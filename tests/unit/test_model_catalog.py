"""The model catalog: every parameter checked against its model and the caller's plan."""

from __future__ import annotations

import pytest

from aiimage.enhancer.model_catalog import CATALOG, GenerateParams, resolve
from aiimage.errors import AppError, FeatureLockedError, ValidationError
from aiimage.limits.plans import PAID_PLANS, Entitlements

GUEST = Entitlements(monthly_images=None, daily_burst_cap=3, max_upscale=2, face_enhance=False)
FREE = Entitlements(monthly_images=100, daily_burst_cap=20, max_upscale=4, face_enhance=False)
PRO = PAID_PLANS["pro"]
SD15 = "@cf/runwayml/stable-diffusion-v1-5-img2img"
SDXL = "@cf/stabilityai/stable-diffusion-xl-base-1.0"
ESRGAN = "nightmareai/real-esrgan"


def test_defaults_are_filled_in() -> None:
    resolved = resolve(GenerateParams(model=SD15), GUEST)
    assert resolved.params.steps == 20
    assert resolved.params.strength is not None
    assert resolved.params.strength < 1
    assert resolved.params.prompt
    assert resolved.params.scale is None


def test_every_model_has_a_local_fallback_last() -> None:
    for spec in CATALOG.values():
        assert spec.routes[-1].provider == "local", spec.slug


@pytest.mark.parametrize(
    ("params", "entitlements", "error", "code"),
    [
        (GenerateParams(model="unknown/model"), PRO, ValidationError, "unknown_model"),
        (GenerateParams(model=ESRGAN, scale=8), PRO, ValidationError, "param_out_of_range"),
        (GenerateParams(model=ESRGAN, scale=3), PRO, ValidationError, "param_out_of_range"),
        (GenerateParams(model=ESRGAN, scale=4), GUEST, FeatureLockedError, "feature_locked"),
        (
            GenerateParams(model=ESRGAN, face_enhance=True),
            GUEST,
            FeatureLockedError,
            "feature_locked",
        ),
        (GenerateParams(model="tencentarc/gfpgan"), FREE, FeatureLockedError, "feature_locked"),
        # SDXL's steps are capped at 20 by the provider: 50 is rejected, not clamped.
        (GenerateParams(model=SDXL, steps=50), PRO, ValidationError, "param_out_of_range"),
        (GenerateParams(model=SD15, strength=1.0), PRO, ValidationError, "param_out_of_range"),
        (GenerateParams(model=SD15, guidance=-1), PRO, ValidationError, "param_out_of_range"),
        (GenerateParams(model=SD15, scale=2), PRO, ValidationError, "param_not_supported"),
        (GenerateParams(model=ESRGAN, prompt="x"), PRO, ValidationError, "param_not_supported"),
        (GenerateParams(model=SD15, prompt="x" * 1001), PRO, ValidationError, "param_out_of_range"),
        (
            GenerateParams(model=SD15, face_enhance=True),
            PRO,
            ValidationError,
            "param_not_supported",
        ),
    ],
)
def test_bad_parameters_are_refused_with_a_clear_code(
    params: GenerateParams, entitlements: Entitlements, error: type[AppError], code: str
) -> None:
    with pytest.raises(error) as caught:
        resolve(params, entitlements)
    assert caught.value.code == code
    assert 400 <= caught.value.status < 500


def test_plans_unlock_what_they_include() -> None:
    assert resolve(GenerateParams(model=ESRGAN, scale=4, face_enhance=True), PRO).params.scale == 4
    assert resolve(GenerateParams(model=ESRGAN, scale=4), FREE).params.scale == 4
    codeformer = resolve(GenerateParams(model="sczhou/codeformer", strength=0.2), PRO)
    assert codeformer.params.strength == 0.2


def test_a_pinned_replicate_slug_resolves_to_the_catalog_slug() -> None:
    from aiimage.enhancer.model_catalog import catalog_slug
    from aiimage.errors import ValidationError
    from aiimage.providers.replicate import MODELS
    from aiimage.providers.replicate_pins import PINNED_VERSIONS

    for slug, version in PINNED_VERSIONS.items():
        assert catalog_slug(f"{slug}:{version}") == slug
        assert MODELS[slug].version == version  # the provider runs exactly the pinned one
    assert catalog_slug("nightmareai/real-esrgan") == "nightmareai/real-esrgan"
    with pytest.raises(ValidationError) as refused:
        catalog_slug("nightmareai/real-esrgan:" + "0" * 64)
    assert refused.value.code == "model_version_not_allowed"
    assert refused.value.details == {
        "field": "model",
        "model": "nightmareai/real-esrgan",
        "allowedVersion": PINNED_VERSIONS["nightmareai/real-esrgan"],
    }
    for unknown in ("@cf/runwayml/stable-diffusion-v1-5-img2img:1", "acme/model:abc", ":"):
        with pytest.raises(ValidationError) as refused:
            catalog_slug(unknown)
        assert refused.value.code == "unknown_model"
