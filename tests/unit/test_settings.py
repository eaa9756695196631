from __future__ import annotations

import pytest
from pydantic import ValidationError

from aiimage.limits.rate_limiter import MAX_LIMIT
from aiimage.settings import Settings


def test_origins_are_split_and_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_ORIGINS", " https://a.test/ ,http://127.0.0.1:3000,, ")
    assert Settings().allowed_origins == ("https://a.test", "http://127.0.0.1:3000")


def test_empty_template_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JWT_SECRET_PARAM", "JWT_PUBLIC_KEY", "JWT_ISSUER", "AWS_ENDPOINT_URL"):
        monkeypatch.setenv(name, "")
    settings = Settings()
    assert settings.jwt_secret_param is None
    assert settings.jwt_public_key is None
    assert settings.jwt_issuer is None
    assert settings.aws_endpoint_url is None


def test_secrets_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUEST_COOKIE_SECRET", "very-secret-value-very-secret-value")
    settings = Settings()
    assert "very-secret-value" not in repr(settings)
    assert "very-secret-value" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STAGE", "staging"),
        ("USER_DAILY_LIMIT", "-1"),
        ("GENERATE_RATE_LIMIT_PER_MINUTE", "0"),
        # Above what the limiter can hold: at start, not as a 500 on every request.
        ("JOB_READS_RATE_LIMIT_PER_MINUTE", "101"),
        ("JOBS_RATE_LIMIT_PER_MINUTE", "1000000"),
    ],
)
def test_invalid_values_fail_fast(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize("name", ["RUNWARE_TIMEOUT", "RUNWARE_TIMEOUT_SECONDS"])
def test_the_runware_timeout_has_the_seed_systems_name_too(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "12.5")
    assert Settings().runware_timeout_seconds == 12.5


def test_a_structured_variable_is_json_and_a_marked_one_is_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AI_PRICE_TABLE", '{"models": {"m": {"estimate_micros": 7}}}')
    monkeypatch.setenv("BLOCKED_TERMS", "a, b,,")
    settings = Settings()
    assert settings.ai_price_table.models["m"].estimate_micros == 7
    assert settings.blocked_terms == ("a", "b")


def test_a_variable_is_read_in_any_case_and_arguments_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("guest_Daily_LIMIT", "7")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert Settings().guest_daily_limit == 7
    assert Settings().aws_region == "eu-west-1"
    assert Settings(aws_region="eu-central-1", guest_daily_limit=2).model_dump(
        include={"aws_region", "guest_daily_limit"}
    ) == {"aws_region": "eu-central-1", "guest_daily_limit": 2}


def test_the_first_alias_found_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNWARE_TIMEOUT", "3")
    monkeypatch.setenv("RUNWARE_TIMEOUT_SECONDS", "4")
    assert Settings().runware_timeout_seconds == 3


def test_a_structured_variable_that_is_no_json_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_PRICE_TABLE", "not json")
    with pytest.raises(ValueError, match="AI_PRICE_TABLE is not valid JSON"):
        Settings()


@pytest.mark.parametrize(
    "field",
    [
        "generate_rate_limit_per_minute",
        "jobs_rate_limit_per_minute",
        "job_reads_rate_limit_per_minute",
    ],
)
def test_every_rate_limit_setting_is_bounded_by_the_limiter(field: str) -> None:
    Settings(**{field: MAX_LIMIT})  # the largest the limiter holds is a valid setting
    with pytest.raises(ValidationError):
        Settings(**{field: MAX_LIMIT + 1})
