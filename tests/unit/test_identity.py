"""Guest cookies and JWT verification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

from aiimage import identity
from aiimage.errors import AuthError, ConfigurationError
from tests.conftest import make_token


def test_signed_guest_cookie_round_trips() -> None:
    guest_id = identity.new_guest_id()
    assert identity.verify_guest_cookie(identity.sign_guest_id(guest_id)) == guest_id


def test_guest_ids_are_random_and_well_formed() -> None:
    ids = {identity.new_guest_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda v: v.split(".")[0],  # unsigned bare id
        lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"),  # signature tampered
        lambda v: ("0" if v[0] != "0" else "1") + v[1:],  # id tampered
        lambda v: v + "x",
        lambda v: v.upper(),
        lambda v: "",
        lambda v: ".",
        lambda v: "not-a-cookie",
    ],
)
def test_tampered_guest_cookies_are_rejected(mutate: Callable[[str], str]) -> None:
    value = identity.sign_guest_id(identity.new_guest_id())
    assert identity.verify_guest_cookie(mutate(value)) is None


def test_cookie_signed_with_another_key_is_rejected(settings_env: Callable[..., None]) -> None:
    value = identity.sign_guest_id(identity.new_guest_id())
    settings_env(GUEST_COOKIE_SECRET="another-secret-another-secret-another-secret")
    assert identity.verify_guest_cookie(value) is None


@given(st.text(max_size=120))
def test_arbitrary_text_never_verifies(value: str) -> None:
    assert identity.verify_guest_cookie(value) is None


def test_short_cookie_secret_is_a_configuration_error(settings_env: Callable[..., None]) -> None:
    settings_env(GUEST_COOKIE_SECRET="too-short")
    with pytest.raises(ConfigurationError):
        identity.sign_guest_id(identity.new_guest_id())


def test_valid_token_gives_a_user_with_its_plan() -> None:
    user = identity.user_from_bearer(make_token("u-42", plan="pro"))
    assert (user.owner_type, user.owner_id, user.plan, user.via) == (
        "user",
        "u-42",
        "pro",
        "bearer",
    )
    assert user.owner_key == "user#u-42"


def test_token_without_plan_means_free() -> None:
    assert identity.user_from_bearer(make_token(plan=None)).plan == "free"


@pytest.mark.parametrize(
    ("token_factory", "code"),
    [
        (lambda: make_token(expires_in=-3600), "token_expired"),
        (lambda: make_token(key="wrong-key-wrong-key-wrong-key-wrong-key"), "invalid_token"),
        (
            lambda: jwt.encode({"sub": "u", "exp": int(time.time()) + 60}, "", "none"),
            "invalid_token",
        ),
        (
            lambda: jwt.encode({"sub": "u"}, "test-jwt-secret-0123456789abcdef-0123456789"),
            "invalid_token",
        ),
        (
            lambda: jwt.encode(
                {"exp": int(time.time()) + 60}, "test-jwt-secret-0123456789abcdef-0123456789"
            ),
            "invalid_token",
        ),
        (lambda: "not.a.token", "invalid_token"),
        (lambda: make_token() + "x", "invalid_token"),
    ],
    ids=["expired", "wrong-key", "alg-none", "no-exp", "no-sub", "garbage", "bad-signature"],
)
def test_invalid_tokens_are_refused(token_factory: Callable[[], str], code: str) -> None:
    with pytest.raises(AuthError) as info:
        identity.user_from_bearer(token_factory())
    assert info.value.code == code
    assert info.value.status == 401


def test_issuer_and_audience_are_enforced_when_configured(
    settings_env: Callable[..., None],
) -> None:
    settings_env(JWT_ISSUER="https://issuer.test", JWT_AUDIENCE="aiimage")
    good = make_token(iss="https://issuer.test", aud="aiimage")
    assert identity.user_from_bearer(good).owner_id == "user-1"
    for bad in (
        make_token(iss="https://evil.test", aud="aiimage"),
        make_token(iss="https://issuer.test", aud="other"),
        make_token(),
    ):
        with pytest.raises(AuthError):
            identity.user_from_bearer(bad)


def test_public_key_verification_rejects_hs256_confusion(
    settings_env: Callable[..., None],
) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings_env(JWT_PUBLIC_KEY=public_pem)
    rs_token = jwt.encode(
        {"sub": "rsa-user", "exp": int(time.time()) + 60, "plan": "premium"},
        private,
        algorithm="RS256",
    )
    assert identity.user_from_bearer(rs_token).plan == "premium"
    # An HS256 token "signed" with the public key must not pass (algorithm confusion).
    with pytest.raises(AuthError):
        identity.user_from_bearer(hs256_by_hand({"sub": "attacker", "exp": 9999999999}, public_pem))


def hs256_by_hand(claims: dict[str, object], key: str) -> str:
    """PyJWT refuses to HMAC-sign with a PEM key, so forge the token as an attacker would."""

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = (
        b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        + b"."
        + b64(json.dumps(claims).encode())
    )
    signature = hmac.new(key.encode(), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + b64(signature)).decode()


def test_no_jwt_key_is_a_configuration_error(settings_env: Callable[..., None]) -> None:
    settings_env(JWT_SECRET="")
    with pytest.raises(ConfigurationError):
        identity.user_from_bearer(make_token())


def test_authorizer_claims_give_a_user() -> None:
    user = identity.user_from_authorizer({"sub": "cognito-user", "plan": "enterprise"})
    assert (user.owner_id, user.plan) == ("cognito-user", "enterprise")
    with pytest.raises(AuthError):
        identity.user_from_authorizer({"plan": "pro"})


def test_tenant_and_roles_come_from_the_token() -> None:
    token = make_token("admin-1", tenant_id="tenant-a", roles=["superadmin", "tenant_admin"])
    user = identity.user_from_bearer(token)
    assert user.tenant_id == "tenant-a"
    assert user.is_superadmin
    assert not identity.user_from_bearer(make_token("u")).is_superadmin


def test_authorizer_context_roles_are_a_flattened_string() -> None:
    user = identity.user_from_authorizer(
        {"sub": "admin-2", "roles": "[superadmin tenant_admin]", "tenant_id": "t"}
    )
    assert user.roles == frozenset({"superadmin", "tenant_admin"})
    assert identity.user_from_authorizer({"sub": "x", "role": 5}).roles == frozenset()
