"""The platform's secrets, by name: from the environment locally, from SSM SecureStrings in
AWS (read by `aiimage.aws.secret` through powertools, cached for five minutes, so a rotation
takes effect without a redeploy). Call these per use rather than keeping the value: the
cache makes that cheap, and keeping it would pin a rotated-away key. Values never reach a
log line: they stay `SecretStr` until the moment of use."""

from __future__ import annotations

from pydantic import SecretStr

from aiimage import aws
from aiimage.errors import ConfigurationError
from aiimage.settings import get_settings

MIN_KEY_LENGTH = 32  # characters of a secret we sign or verify with


def _required_key(name: str, value: SecretStr | None, param: str | None) -> SecretStr:
    secret = aws.secret(name, value, param)
    if secret is None or len(secret.get_secret_value()) < MIN_KEY_LENGTH:
        raise ConfigurationError(f"{name} must be set to at least {MIN_KEY_LENGTH} characters")
    return secret


def guest_cookie_secret() -> SecretStr:
    settings = get_settings()
    return _required_key(
        "GUEST_COOKIE_SECRET", settings.guest_cookie_secret, settings.guest_cookie_secret_param
    )


def jwt_secret() -> SecretStr | None:
    settings = get_settings()
    return aws.secret("JWT_SECRET", settings.jwt_secret, settings.jwt_secret_param)


def cloudflare_api_token() -> SecretStr | None:
    settings = get_settings()
    return aws.secret(
        "CLOUDFLARE_API_TOKEN", settings.cloudflare_api_token, settings.cloudflare_api_token_param
    )


def replicate_api_token() -> SecretStr | None:
    settings = get_settings()
    return aws.secret(
        "REPLICATE_API_TOKEN", settings.replicate_api_token, settings.replicate_api_token_param
    )


def runware_api_key() -> SecretStr | None:
    settings = get_settings()
    return aws.secret("RUNWARE_API_KEY", settings.runware_api_key, settings.runware_api_key_param)


def runware_webhook_token() -> SecretStr | None:
    settings = get_settings()
    return aws.secret(
        "RUNWARE_WEBHOOK_TOKEN",
        settings.runware_webhook_token,
        settings.runware_webhook_token_param,
    )


def cdn_origin_secret() -> SecretStr:
    """The value CloudFront sends as X-Origin-Verify (`CDN_ENABLED`): required, 32+ chars."""
    settings = get_settings()
    return _required_key(
        "CDN_ORIGIN_SECRET", settings.cdn_origin_secret, settings.cdn_origin_secret_param
    )


def c2pa_signing_bundle() -> SecretStr:
    """The PEM bundle results are signed with (key and chain); required: no result is
    stored unsigned. `aiimage.imaging.provenance` checks what it holds."""
    settings = get_settings()
    bundle = aws.secret(
        "C2PA_SIGNING_BUNDLE", settings.c2pa_signing_bundle, settings.c2pa_signing_bundle_param
    )
    if bundle is None:
        raise ConfigurationError("C2PA_SIGNING_BUNDLE (or its _PARAM) must be set")
    return bundle
