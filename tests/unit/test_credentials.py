"""Secrets come from the environment or from SSM SecureStrings, never into a log."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aiimage import aws, credentials
from aiimage.errors import ConfigurationError

pytestmark = pytest.mark.usefixtures("aws_stack")

PARAMETER = "/aiimage/test/guest-cookie-secret"
VALUE = "ssm-guest-cookie-secret-0123456789abcdef"


@pytest.fixture
def from_ssm(settings_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUEST_COOKIE_SECRET")
    settings_env(GUEST_COOKIE_SECRET_PARAM=PARAMETER)


@pytest.mark.usefixtures("from_ssm")
def test_a_secure_string_is_read_and_decrypted() -> None:
    aws.ssm().put_parameter(Name=PARAMETER, Value=VALUE, Type="SecureString")
    assert credentials.guest_cookie_secret().get_secret_value() == VALUE


@pytest.mark.usefixtures("from_ssm")
def test_the_value_is_cached_between_invocations() -> None:
    aws.ssm().put_parameter(Name=PARAMETER, Value=VALUE, Type="SecureString")
    credentials.guest_cookie_secret()
    aws.ssm().delete_parameter(Name=PARAMETER)
    assert credentials.guest_cookie_secret().get_secret_value() == VALUE


@pytest.mark.usefixtures("from_ssm")
def test_a_missing_parameter_is_a_configuration_error_without_the_value() -> None:
    with pytest.raises(ConfigurationError, match="GUEST_COOKIE_SECRET could not be read"):
        credentials.guest_cookie_secret()


@pytest.mark.usefixtures("from_ssm")
def test_a_short_secret_is_refused() -> None:
    aws.ssm().put_parameter(Name=PARAMETER, Value="short", Type="SecureString")
    with pytest.raises(ConfigurationError, match="at least 32"):
        credentials.guest_cookie_secret()


def test_the_environment_wins_over_ssm(settings_env: Callable[..., None]) -> None:
    settings_env(GUEST_COOKIE_SECRET_PARAM="/does/not/exist")
    assert credentials.guest_cookie_secret().get_secret_value().startswith("test-guest-cookie")
