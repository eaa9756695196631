"""One typed view of the environment that template.yaml (or the local stack) sets.

Every environment variable the template sets is a field here; a contract test keeps the
two in step. Secrets are `SecretStr` so they never print; in AWS they arrive as SSM
parameter names (`*_PARAM`) and are resolved lazily by `aiimage.credentials`.
"""

from __future__ import annotations

import json
import os
import types
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic.fields import FieldInfo

from aiimage.origins import Origin, parse_origins
from aiimage.singletons import singleton

Stage = Literal["local", "test", "dev", "prod"]

# The largest upload size anyone may declare or configure (422 beyond): Lambda never sees
# these bytes, but a size is a count and every count has a documented maximum.
MAX_UPLOAD_BYTES_CEILING = 100 * 1024 * 1024


class ModelPrice(BaseModel):
    """What one call of a model costs, in integer micro-USD (1 USD = 1,000,000)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Reserved before the call; settled when the provider reports nothing better.
    estimate_micros: int = Field(ge=0)
    # Workers AI bills neurons and reports none: the neurons one call uses.
    neurons: int | None = Field(default=None, ge=0)
    # Replicate bills seconds of `predict_time` on the model's hardware (a key of
    # `PriceTable.hardware_micros_per_second`).
    hardware: str | None = None


class PriceTable(BaseModel):
    """Provider prices (`AI_PRICE_TABLE`, JSON). Models are keyed by the provider's model id
    (`ProviderRoute.model`, a style's `provider_model`); a model missing here is priced at
    its provider's default. The figures are the providers' published list prices as of
    2026-12 (Workers AI: $0.011 per 1,000 neurons; Replicate: per second of hardware);
    Runware reports each task's cost itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: dict[str, ModelPrice] = {
        "@cf/runwayml/stable-diffusion-v1-5-img2img": ModelPrice(
            estimate_micros=11_000, neurons=1_000
        ),
        "@cf/stabilityai/stable-diffusion-xl-base-1.0": ModelPrice(
            estimate_micros=22_000, neurons=2_000
        ),
        "nightmareai/real-esrgan": ModelPrice(estimate_micros=4_500, hardware="gpu-t4"),
        "tencentarc/gfpgan": ModelPrice(estimate_micros=2_250, hardware="gpu-t4"),
        "sczhou/codeformer": ModelPrice(estimate_micros=9_750, hardware="gpu-l40s"),
    }
    # Per provider: the price of a model the table does not list.
    defaults: dict[str, ModelPrice] = {
        "workers_ai": ModelPrice(estimate_micros=22_000, neurons=2_000),
        "replicate": ModelPrice(estimate_micros=10_000, hardware="gpu-l40s"),
        "runware": ModelPrice(estimate_micros=10_000),
    }
    hardware_micros_per_second: dict[str, int] = {
        "cpu": 100,
        "gpu-t4": 225,
        "gpu-l40s": 975,
        "gpu-a100-large": 1_400,
        "gpu-h100": 1_525,
    }
    workers_ai_micros_per_1000_neurons: int = Field(default=11_000, ge=0)


class NoDecode:
    """Marks a field whose variable is taken as the text it is (its validator splits it),
    not decoded as JSON like the other structured fields."""


_STRUCTURED = (dict, list, tuple, set, frozenset)


def _structured(annotation: Any) -> bool:
    """Whether a variable for this annotation is JSON (a model, a mapping, a sequence)."""
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return any(_structured(arg) for arg in get_args(annotation) if arg is not type(None))
    if origin is Annotated:
        return _structured(get_args(annotation)[0])
    if isinstance(origin, type):
        return issubclass(origin, _STRUCTURED)
    return isinstance(annotation, type) and issubclass(annotation, (BaseModel, *_STRUCTURED))


def _variable_names(name: str, field: FieldInfo) -> tuple[str, ...]:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(str(choice).lower() for choice in alias.choices)
    return ((alias if isinstance(alias, str) else name).lower(),)


def _from_environment(settings: type[BaseModel]) -> dict[str, Any]:
    """Each field's value from its variable (its name, or its aliases in order; any case),
    JSON-decoded for a structured field unless it is marked `NoDecode`: what
    pydantic-settings read for these fields, without importing it (with python-dotenv and
    argparse, about 20 ms of every cold start)."""
    environment = {key.lower(): value for key, value in os.environ.items()}
    values: dict[str, Any] = {}
    for name, field in settings.model_fields.items():
        found = next((v for v in _variable_names(name, field) if v in environment), None)
        if found is None:
            continue
        raw = environment[found]
        decode = _structured(field.annotation) and not any(
            marker is NoDecode or isinstance(marker, NoDecode) for marker in field.metadata
        )
        try:
            values[name] = json.loads(raw) if decode else raw
        except ValueError as exc:
            raise ValueError(f"{found.upper()} is not valid JSON: {exc}") from exc
    return values


class Settings(BaseModel):
    """Built from the environment; arguments, where given, win over it (tests)."""

    model_config = ConfigDict(
        extra="ignore", frozen=True, validate_default=True, validate_by_name=True
    )

    if not TYPE_CHECKING:  # the type checker keeps the fields' own signature

        def __init__(self, **values: Any) -> None:
            super().__init__(**{**_from_environment(type(self)), **values})

    stage: Stage = "local"
    aws_region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    # Points every AWS client at moto locally; unset in AWS.
    aws_endpoint_url: str | None = None

    # Observability (read by powertools too; declared so the contract covers them).
    powertools_service_name: str = "aiimage"
    powertools_metrics_namespace: str = "AiImage"
    powertools_log_level: str = "INFO"
    powertools_trace_disabled: bool = True

    # Tables and queues.
    limits_table: str = "aiimage-limits"
    jobs_table: str = "aiimage-jobs"
    jobs_queue_url: str | None = None

    # Objects: one S3-compatible bucket (Cloudflare R2 in production: its endpoint, region
    # "auto" and an R2 access key; unset in AWS S3, where the function role signs).
    images_bucket: str = "aiimage-images"
    storage_endpoint_url: str | None = None
    storage_region: str | None = None
    storage_access_key_id: str | None = None
    storage_secret_access_key: SecretStr | None = None
    storage_secret_access_key_param: str | None = None
    # Absolute base of the URLs handed to clients (`imageUrl`); default: API Gateway's
    # domainName, else the first allowed origin, never `Host` (`aiimage.http.origin`).
    public_base_url: str | None = None
    presigned_url_ttl_seconds: int = Field(default=300, ge=30, le=3600)
    # Objects above this are answered with a redirect to a presigned URL: a Lambda response
    # is capped at 6 MB, and binary bodies travel base64-encoded (4/3 larger).
    max_proxy_bytes: int = Field(default=4_000_000, ge=1, le=4_400_000)

    # Uploads (the seed system's limits) and the image pipeline's guards. A request body is
    # capped as Lambda caps it (6 MB), locally too, so both behave alike.
    max_request_bytes: int = Field(default=6 * 1024 * 1024, ge=1)
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1, le=MAX_UPLOAD_BYTES_CEILING)
    # Larger images must use a direct upload: the Lambda request payload is capped at 6 MB.
    max_inline_upload_bytes: int = Field(default=4_500_000, ge=1)
    max_image_pixels: int = Field(default=40_000_000, ge=1)
    max_output_pixels: int = Field(default=64_000_000, ge=1)

    # Identity. Either the secret itself (local) or the name of an SSM SecureString (AWS).
    guest_cookie_secret: SecretStr | None = None
    guest_cookie_secret_param: str | None = None
    jwt_secret: SecretStr | None = None
    jwt_secret_param: str | None = None
    jwt_public_key: SecretStr | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    # The consoles' public OIDC client (authorization code + PKCE against `jwt_issuer`).
    oidc_client_id: str | None = None
    cookie_secure: bool = True
    guest_cookie_max_age_days: int = Field(default=365, ge=1, le=400)
    # The caller's address is API Gateway's `sourceIp`; behind a CDN, the one header that CDN
    # sets (e.g. CF-Connecting-IP), and only then. Unset: every header is ignored.
    client_ip_header: str | None = None
    # Behind the stack's own CloudFront (EnableCdn): every request must carry the origin
    # secret CloudFront adds (X-Origin-Verify, 403 otherwise), and the caller's address is
    # CloudFront-Viewer-Address, which CloudFront sets; CLIENT_IP_HEADER is then unused.
    cdn_enabled: bool = False
    cdn_origin_secret: SecretStr | None = None
    cdn_origin_secret_param: str | None = None

    # Origins allowed for cookie-authenticated state changes (CSRF Origin check).
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = ("http://127.0.0.1:3000",)

    # Quotas (the seed system's defaults).
    guest_daily_limit: int = Field(default=3, ge=0)
    user_daily_limit: int = Field(default=20, ge=0)
    user_monthly_limit: int = Field(default=100, ge=0)
    # Shared by every guest behind one network (an IPv4 address, an IPv6 /64), on top of
    # each guest's own: guests are free to mint, networks are not (`aiimage.limits.quota`).
    guest_network_daily_limit: int = Field(default=10, ge=0)

    # Providers. Tokens: the value locally, an SSM SecureString name (`*_PARAM`) in AWS.
    # WORKERS_AI_ENABLED=0 is the seed's rollback switch: Workers AI models fall back.
    workers_ai_enabled: bool = True
    cloudflare_account_id: str | None = None
    cloudflare_api_token: SecretStr | None = None
    cloudflare_api_token_param: str | None = None
    workers_ai_base_url: str = "https://api.cloudflare.com/client/v4"
    replicate_api_token: SecretStr | None = None
    replicate_api_token_param: str | None = None
    replicate_base_url: str = "https://api.replicate.com/v1"
    runware_api_key: SecretStr | None = None
    runware_api_key_param: str | None = None
    runware_base_url: str = "https://api.runware.ai/v1"
    # Where provider outputs may also be downloaded from, beyond each provider's delivery
    # domain and its API base URL (`aiimage.providers.outputs`): comma-separated origins
    # `scheme://host[:port]`, `*.` for subdomains (`https://*.cdn.example`). Private,
    # loopback and link-local addresses stay refused whatever this admits.
    provider_output_origins: Annotated[tuple[Origin, ...], NoDecode] = ()
    # Runware's completion webhooks are unsigned: a secret token in their URL authenticates
    # them. Used only with PUBLIC_BASE_URL (the address Runware can reach).
    runware_webhook_token: SecretStr | None = None
    runware_webhook_token_param: str | None = None
    # C2PA signing (aiimage.imaging.provenance): one PEM bundle, the ES256 private key and
    # the certificate chain (leaf first). `make dev` generates a session CA; in AWS it is an
    # SSM SecureString. A missing, expired or mismatched bundle refuses to store any result.
    c2pa_signing_bundle: SecretStr | None = None
    c2pa_signing_bundle_param: str | None = None
    # The seed system's name is RUNWARE_TIMEOUT (seconds); both spellings are read.
    runware_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=300,
        validation_alias=AliasChoices("RUNWARE_TIMEOUT", "RUNWARE_TIMEOUT_SECONDS"),
    )
    # Per-request timeout towards a provider, and the total time a provider call may take
    # inside an API request before it becomes an asynchronous job (API Gateway stops at 30 s).
    provider_timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    provider_max_retries: int = Field(default=2, ge=0, le=5)
    # The Pillow provider: the offline default of `make dev`; off in AWS unless wanted.
    local_provider_enabled: bool = True
    # What provider calls cost (`aiimage.providers.pricing`); JSON to override.
    ai_price_table: PriceTable = PriceTable()
    # Daily money ceilings per paid provider (`aiimage.limits.spend`), in USD because that
    # is what an operator reads on the provider's invoice; exact decimals (at most 6 places,
    # the micro-USD), never floats. 0 = no ceiling. Guests may use this share of each.
    workers_ai_daily_ceiling_usd: Decimal = Field(default=Decimal(0), ge=0, decimal_places=6)
    replicate_daily_ceiling_usd: Decimal = Field(default=Decimal(0), ge=0, decimal_places=6)
    runware_daily_ceiling_usd: Decimal = Field(default=Decimal(0), ge=0, decimal_places=6)
    guest_spend_share_percent: int = Field(default=30, ge=0, le=100)
    spend_alert_cooldown_minutes: int = Field(default=30, ge=1)

    # Magic Edits: the catalog/request table, idempotency records, the submit queue.
    edits_table: str = "aiimage-edits"
    idempotency_table: str = "aiimage-idempotency"
    edits_queue_url: str | None = None
    edits_poll_queue_url: str | None = None
    # The global AI Editing Settings are cached this long per process (writes through the
    # same process invalidate at once).
    edits_settings_cache_seconds: int = Field(default=30, ge=0, le=3600)
    budget_alert_cooldown_minutes: int = Field(default=30, ge=1)
    abuse_escalation_threshold_per_hour: int = Field(default=25, ge=1)
    # A guest scope past the threshold is refused (`abuse_blocked`) this long; a tenant
    # admin can lift the block earlier.
    abuse_block_minutes: int = Field(default=60, ge=1, le=10_080)
    # Observability of Magic Edits (the seed's `ai-editing.observability.*`): the summary's
    # alert flags, and the log signals that go with them.
    ai_failure_rate_alert_threshold: float = Field(default=0.35, gt=0, le=1)
    ai_failure_rate_min_samples: int = Field(default=10, ge=1)
    ai_latency_warning_ms: int = Field(default=15_000, ge=1)
    # Retention (the seed's names): `prune` deletes older requests (and their images) and
    # ledger lines; a DynamoDB TTL a week later is the second line.
    ai_editing_request_retention_days: int = Field(default=90, ge=1, le=3650)
    ai_editing_usage_ledger_retention_days: int = Field(default=365, ge=1, le=3650)

    # Prompt safety (`aiimage.safety`): comma-separated terms that replace the shipped
    # baseline list; unset or empty, the baseline. Magic Edits' runtime setting wins there.
    blocked_terms: Annotated[tuple[str, ...] | None, NoDecode] = None

    # Rate limits per owner and minute, at most the limiter's MAX_LIMIT (100: one item
    # holds a window's hits), so a larger figure fails at start, not on every request.
    generate_rate_limit_per_minute: int = Field(default=15, ge=1, le=100)
    jobs_rate_limit_per_minute: int = Field(default=10, ge=1, le=100)
    # Reads of jobs (one or the list): the seed's polling limit.
    job_reads_rate_limit_per_minute: int = Field(default=10, ge=1, le=100)

    @property
    def daily_ceilings_micros(self) -> dict[str, int]:
        """The ceilings in integer micro-USD per provider (0 = none), converted exactly."""
        return {
            "workers_ai": int(self.workers_ai_daily_ceiling_usd * 1_000_000),
            "replicate": int(self.replicate_daily_ceiling_usd * 1_000_000),
            "runware": int(self.runware_daily_ceiling_usd * 1_000_000),
        }

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())
        return value

    @field_validator("provider_output_origins", mode="before")
    @classmethod
    def _parse_output_origins(cls, value: object) -> object:
        return parse_origins(value)

    @field_validator("blocked_terms", mode="before")
    @classmethod
    def _split_terms(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(t.strip() for t in value.split(",") if t.strip()) or None
        return value

    @field_validator(
        "aws_endpoint_url",
        "jobs_queue_url",
        "edits_queue_url",
        "edits_poll_queue_url",
        "storage_endpoint_url",
        "storage_region",
        "storage_access_key_id",
        "storage_secret_access_key",
        "storage_secret_access_key_param",
        "public_base_url",
        "guest_cookie_secret",
        "guest_cookie_secret_param",
        "jwt_secret",
        "jwt_secret_param",
        "jwt_public_key",
        "jwt_issuer",
        "jwt_audience",
        "oidc_client_id",
        "client_ip_header",
        "cdn_origin_secret",
        "cdn_origin_secret_param",
        "cloudflare_account_id",
        "cloudflare_api_token",
        "cloudflare_api_token_param",
        "replicate_api_token",
        "replicate_api_token_param",
        "runware_api_key",
        "runware_api_key_param",
        "runware_webhook_token",
        "runware_webhook_token_param",
        "c2pa_signing_bundle",
        "c2pa_signing_bundle_param",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # CloudFormation cannot omit a variable conditionally; an empty string means "unset".
        return None if value == "" else value


@singleton
def get_settings() -> Settings:
    """The process-wide settings, read once (Lambda reuses them across warm invocations)."""
    return Settings()


# The stages that run in AWS, where a deployment must be complete (a provider, the signing
# bundle); locally and in the tests `make dev` and the fixtures provide what they need.
DEPLOYED_STAGES = frozenset({"dev", "prod"})


def on_deployed_lambda() -> bool:
    """In a Lambda execution environment of a deployed stage (not the local stack, the
    tests or a benchmark, which set Lambda's variables too)."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")) and (
        get_settings().stage in DEPLOYED_STAGES
    )
