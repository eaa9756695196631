"""The model catalog: every model a caller may ask for, which provider runs it (in order of
preference), the parameters it accepts with their ranges, and what a plan must include.

Validation is strict and happens before anything is reserved or stored: an out-of-range
value is a 400 that names the field and the allowed range, never silently changed. SDXL's
`steps` above 20 are rejected, not clamped (the provider's own cap is 20).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiimage.errors import FeatureLockedError, ValidationError
from aiimage.limits.plans import Entitlements
from aiimage.providers.params import GenerationParams
from aiimage.providers.replicate_pins import PINNED_VERSIONS

ProviderName = Literal["workers_ai", "replicate", "local"]
Kind = Literal["img2img", "upscale", "restore"]

MAX_PROMPT_LENGTH = 1000


@dataclass(frozen=True, slots=True)
class ProviderRoute:
    provider: ProviderName
    model: str  # the provider's own model id


@dataclass(frozen=True, slots=True)
class NumberRange:
    low: float
    high: float
    default: float

    def check(self, field: str, value: float | None) -> float:
        if value is None:
            return self.default
        if not self.low <= value <= self.high:
            raise ValidationError(
                f"{field} must be between {self.low:g} and {self.high:g}",
                code="param_out_of_range",
                details={"field": field, "min": self.low, "max": self.high},
            )
        return value


@dataclass(frozen=True, slots=True)
class ModelSpec:
    slug: str
    label: str
    kind: Kind
    routes: tuple[ProviderRoute, ...]
    scales: tuple[int, ...] = ()
    face_enhance: bool = False  # accepts the face_enhance switch
    face_model: bool = False  # the model itself restores faces (needs the entitlement)
    default_prompt: str | None = None  # set for prompt-driven (img2img) models
    strength: NumberRange | None = None
    guidance: NumberRange | None = None
    steps: NumberRange | None = None


class GenerateParams(GenerationParams):
    """What the caller asks for: a model and its settings, as the form sends them and as a
    job stores them (flat, the seed system's field names)."""

    model: str

    def settings(self) -> GenerationParams:
        return GenerationParams(**self.model_dump(exclude={"model"}))


@dataclass(frozen=True, slots=True)
class ResolvedParams:
    """A model and settings checked against the plan, with the model's defaults filled in."""

    spec: ModelSpec
    params: GenerationParams

    def as_requested(self) -> GenerateParams:
        """The flat form a job stores; `stored` turns it back into this resolution."""
        return GenerateParams(model=self.spec.slug, **self.params.model_dump())


_SD_STRENGTH = NumberRange(0.05, 0.95, 0.5)  # img2img needs < 1, or the input is ignored
_SD_GUIDANCE = NumberRange(0.0, 20.0, 7.5)
_SD_STEPS = NumberRange(1, 20, 20)
_ENHANCE_PROMPT = "a sharp, detailed, well-exposed photograph"

CATALOG: dict[str, ModelSpec] = {
    spec.slug: spec
    for spec in (
        ModelSpec(
            slug="@cf/runwayml/stable-diffusion-v1-5-img2img",
            label="Enhance (Stable Diffusion 1.5 img2img)",
            kind="img2img",
            routes=(
                ProviderRoute("workers_ai", "@cf/runwayml/stable-diffusion-v1-5-img2img"),
                ProviderRoute("local", "style:enhance"),
            ),
            default_prompt=_ENHANCE_PROMPT,
            strength=_SD_STRENGTH,
            guidance=_SD_GUIDANCE,
            steps=_SD_STEPS,
        ),
        ModelSpec(
            slug="@cf/stabilityai/stable-diffusion-xl-base-1.0",
            label="Restyle (Stable Diffusion XL)",
            kind="img2img",
            routes=(
                ProviderRoute("workers_ai", "@cf/stabilityai/stable-diffusion-xl-base-1.0"),
                ProviderRoute("local", "style:vivid"),
            ),
            default_prompt=_ENHANCE_PROMPT,
            strength=_SD_STRENGTH,
            guidance=_SD_GUIDANCE,
            steps=_SD_STEPS,
        ),
        ModelSpec(
            slug="nightmareai/real-esrgan",
            label="Upscale (Real-ESRGAN)",
            kind="upscale",
            routes=(
                ProviderRoute("replicate", "nightmareai/real-esrgan"),
                ProviderRoute("local", "upscale"),
            ),
            scales=(2, 4),
            face_enhance=True,
        ),
        ModelSpec(
            slug="tencentarc/gfpgan",
            label="Face restore (GFPGAN)",
            kind="restore",
            routes=(
                ProviderRoute("replicate", "tencentarc/gfpgan"),
                ProviderRoute("local", "restore"),
            ),
            scales=(2, 4),
            face_model=True,
        ),
        ModelSpec(
            slug="sczhou/codeformer",
            label="Face restore (CodeFormer)",
            kind="restore",
            routes=(
                ProviderRoute("replicate", "sczhou/codeformer"),
                ProviderRoute("local", "restore"),
            ),
            scales=(2, 4),
            face_model=True,
            # CodeFormer's fidelity (0 = most restoration, 1 = closest to the input).
            strength=NumberRange(0.0, 1.0, 0.5),
        ),
    )
}
DEFAULT_MODEL = "@cf/runwayml/stable-diffusion-v1-5-img2img"


def spec_allowed(spec: ModelSpec, entitlements: Entitlements) -> bool:
    """Whether a plan with `entitlements` can run `spec` at all (at its smallest scale)."""
    if spec.face_model and not entitlements.face_enhance:
        return False
    return not spec.scales or min(spec.scales) <= entitlements.max_upscale


def resolve(params: GenerateParams, entitlements: Entitlements) -> ResolvedParams:
    """Check `params` against the model and the plan; fill in the model's defaults."""
    spec = CATALOG.get(catalog_slug(params.model))
    if spec is None:
        raise _unknown_model()
    scale = _scale(spec, params.scale, entitlements)
    if params.face_enhance and not spec.face_enhance:
        raise ValidationError(
            f"{spec.slug} does not take face_enhance",
            code="param_not_supported",
            details={"field": "face_enhance"},
        )
    if (params.face_enhance or spec.face_model) and not entitlements.face_enhance:
        raise FeatureLockedError(
            "Face enhancement is not included in your plan",
            details={"feature": "faceEnhance"},
        )
    settings = params.settings()
    # Only what the catalog checks is replaced: every other setting passes through as sent.
    checked = settings.model_copy(
        update={
            "scale": scale,
            "prompt": _text("prompt", settings.prompt, spec) or spec.default_prompt,
            "negative_prompt": _text("negative_prompt", settings.negative_prompt, spec),
            "strength": _number("strength", spec.strength, settings.strength),
            "guidance": _number("guidance", spec.guidance, settings.guidance),
            "steps": _steps(spec, settings.steps),
        }
    )
    return ResolvedParams(spec=spec, params=checked)


def catalog_slug(model: str) -> str:
    """The catalog's slug of `model`, which may be pinned as Replicate names a version
    (`owner/name:<64-hex>`, as the seed's clients send it). Only the version the platform
    runs is accepted: another one is refused, never run as an unvetted model."""
    slug, pinned, version = model.partition(":")
    if not pinned:
        return model
    allowed = PINNED_VERSIONS.get(slug)
    if slug not in CATALOG or allowed is None:
        raise _unknown_model()
    if version != allowed:
        raise ValidationError(
            f"{slug} runs only at version {allowed}",
            code="model_version_not_allowed",
            details={"field": "model", "model": slug, "allowedVersion": allowed},
        )
    return slug


def _unknown_model() -> ValidationError:
    return ValidationError(
        "Unknown model",
        code="unknown_model",
        details={"field": "model", "allowed": sorted(CATALOG)},
    )


def stored(params: GenerateParams) -> ResolvedParams:
    """The resolution a job's stored parameters already passed at its creation."""
    return ResolvedParams(spec=CATALOG[params.model], params=params.settings())


def _scale(spec: ModelSpec, scale: int | None, entitlements: Entitlements) -> int | None:
    if not spec.scales:
        if scale is not None:
            raise ValidationError(
                f"{spec.slug} does not take a scale",
                code="param_not_supported",
                details={"field": "scale"},
            )
        return None
    chosen = scale if scale is not None else min(spec.scales)
    if chosen not in spec.scales:
        raise ValidationError(
            f"scale must be one of {', '.join(map(str, spec.scales))}",
            code="param_out_of_range",
            details={"field": "scale", "allowed": list(spec.scales)},
        )
    if chosen > entitlements.max_upscale:
        raise FeatureLockedError(
            f"Your plan allows upscaling up to {entitlements.max_upscale}x",
            details={"feature": "maxUpscale", "maxUpscale": entitlements.max_upscale},
        )
    return chosen


def _text(field: str, value: str | None, spec: ModelSpec) -> str | None:
    if value is None or not value.strip():
        return None
    if spec.default_prompt is None:
        raise ValidationError(
            f"{spec.slug} does not take a {field}",
            code="param_not_supported",
            details={"field": field},
        )
    if len(value) > MAX_PROMPT_LENGTH:
        raise ValidationError(
            f"{field} is longer than {MAX_PROMPT_LENGTH} characters",
            code="param_out_of_range",
            details={"field": field, "maxLength": MAX_PROMPT_LENGTH},
        )
    return value.strip()


def _number(field: str, allowed: NumberRange | None, value: float | None) -> float | None:
    if allowed is None:
        if value is not None:
            raise ValidationError(
                f"This model does not take {field}",
                code="param_not_supported",
                details={"field": field},
            )
        return None
    return allowed.check(field, value)


def _steps(spec: ModelSpec, steps: int | None) -> int | None:
    value = _number("steps", spec.steps, steps)
    return None if value is None else int(value)
