"""Secrets: from the environment locally, from SSM SecureStrings (via powertools, cached
for five minutes so rotation takes effect without a redeploy) in AWS. Values never reach
a log line: they stay `SecretStr` until the moment of use."""

from __future__ import annotations

from pydantic import SecretStr

from aiimage import aws
from aiimage.errors import ConfigurationError
from aiimage.settings import get_settings

_MAX_AGE_SECONDS = 300


def _resolve(name: str, value: SecretStr | None, parameter: str | None) -> SecretStr | None:
    if value is not None:
        return value
    if parameter is None:
        return None
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        fetched = aws.ssm_parameters().get(parameter, decrypt=True, max_age=_MAX_AGE_SECONDS)
    except GetParameterError as exc:
        raise ConfigurationError(f"{name} could not be read from its SSM parameter") from exc
    return SecretStr(str(fetched))


def guest_cookie_secret() -> SecretStr:
    settings = get_settings()
    secret = _resolve(
        "GUEST_COOKIE_SECRET", settings.guest_cookie_secret, settings.guest_cookie_secret_param
    )
    if secret is None or len(secret.get_secret_value()) < 32:
        raise ConfigurationError("GUEST_COOKIE_SECRET must be set to at least 32 characters")
    return secret


def jwt_secret() -> SecretStr | None:
    settings = get_settings()
    return _resolve("JWT_SECRET", settings.jwt_secret, settings.jwt_secret_param)


def cloudflare_api_token() -> SecretStr | None:
    settings = get_settings()
    return _resolve(
        "CLOUDFLARE_API_TOKEN", settings.cloudflare_api_token, settings.cloudflare_api_token_param
    )


def replicate_api_token() -> SecretStr | None:
    settings = get_settings()
    return _resolve(
        "REPLICATE_API_TOKEN", settings.replicate_api_token, settings.replicate_api_token_param
    )


def storage_secret_access_key() -> SecretStr | None:
    settings = get_settings()
    return _resolve(
        "STORAGE_SECRET_ACCESS_KEY",
        settings.storage_secret_access_key,
        settings.storage_secret_access_key_param,
    )


def runware_api_key() -> SecretStr | None:
    settings = get_settings()
    return _resolve("RUNWARE_API_KEY", settings.runware_api_key, settings.runware_api_key_param)


def runware_webhook_token() -> SecretStr | None:
    settings = get_settings()
    return _resolve(
        "RUNWARE_WEBHOOK_TOKEN",
        settings.runware_webhook_token,
        settings.runware_webhook_token_param,
    )
