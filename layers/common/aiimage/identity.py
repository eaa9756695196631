"""Who is calling: a signed guest cookie or a JWT bearer.

Guests get a random id whose cookie value carries an HMAC-SHA256 signature; anything that
does not verify (unsigned, tampered, signed with another key, malformed) is discarded and
a fresh guest is issued. Bearer tokens are verified with the configured key (HS256 secret
or an RS256/ES256 public key), or taken from the API Gateway JWT authorizer, which has
verified them already. An invalid bearer is an error, never a silent fall-back to guest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from aiimage import credentials
from aiimage.errors import AuthError, ConfigurationError
from aiimage.settings import get_settings

GUEST_COOKIE = "guest_id"
CSRF_COOKIE = "csrf_token"
CSRF_HEADER = "x-csrf-token"

_GUEST_ID = re.compile(r"[0-9a-f]{32}")
_JWT_LEEWAY_SECONDS = 30


class Identity(BaseModel):
    model_config = ConfigDict(frozen=True)

    owner_type: Literal["guest", "user"]
    owner_id: str
    # Plan name from the token's `plan` claim; guests have the plan "guest".
    plan: str
    via: Literal["cookie", "bearer"]
    # Magic Edits: the tenant a tenant admin acts for, and roles such as "superadmin".
    tenant_id: str | None = None
    roles: frozenset[str] = frozenset()
    # The caller's network as API Gateway saw it (`aiimage.network`): an IPv4 address or an
    # IPv6 /64, e.g. "198.51.100.7" or "2001:db8:1:2::/64"; None when unknown (a worker).
    network: str | None = None

    @property
    def is_superadmin(self) -> bool:
        return "superadmin" in self.roles

    @property
    def owner_key(self) -> str:
        """The key under which quotas and limits of this owner are stored."""
        return f"{self.owner_type}#{self.owner_id}"


# --- guests -------------------------------------------------------------------------------


def _signature(guest_id: str) -> str:
    key = credentials.guest_cookie_secret().get_secret_value().encode()
    digest = hmac.new(key, f"guest_id:{guest_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def new_guest_id() -> str:
    return secrets.token_hex(16)


def sign_guest_id(guest_id: str) -> str:
    return f"{guest_id}.{_signature(guest_id)}"


def verify_guest_cookie(value: str | None) -> str | None:
    """The guest id of a correctly signed cookie value, else None."""
    if not value:
        return None
    guest_id, dot, signature = value.partition(".")
    if not dot or not _GUEST_ID.fullmatch(guest_id):
        return None
    if not hmac.compare_digest(signature.encode(), _signature(guest_id).encode()):
        return None
    return guest_id


def guest(guest_id: str) -> Identity:
    return Identity(owner_type="guest", owner_id=guest_id, plan="guest", via="cookie")


# --- users --------------------------------------------------------------------------------


def _user_from_claims(claims: Mapping[str, Any]) -> Identity:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise AuthError("The token has no subject", code="invalid_token")
    plan = claims.get("plan")
    tenant = claims.get("tenant_id")
    return Identity(
        owner_type="user",
        owner_id=subject,
        plan=plan if isinstance(plan, str) and plan else "free",
        via="bearer",
        tenant_id=tenant if isinstance(tenant, str) and tenant else None,
        roles=_roles(claims.get("roles", claims.get("role"))),
    )


def _roles(value: object) -> frozenset[str]:
    # A JSON list in a verified token; API Gateway's authorizer context flattens lists into
    # strings such as "[superadmin tenant_admin]".
    if isinstance(value, str):
        return frozenset(r for r in value.strip("[]").replace(",", " ").split() if r)
    if isinstance(value, list):
        return frozenset(r for r in value if isinstance(r, str) and r)
    return frozenset()


def user_from_bearer(token: str) -> Identity:
    """Verify a bearer token with the configured key and return its user."""
    settings = get_settings()
    secret = credentials.jwt_secret()
    if settings.jwt_public_key is not None:
        key: str = settings.jwt_public_key.get_secret_value()
        algorithms = ["RS256", "ES256"]
    elif secret is not None:
        key, algorithms = secret.get_secret_value(), ["HS256"]
    else:
        raise ConfigurationError("No JWT key is configured (JWT_SECRET or JWT_PUBLIC_KEY)")
    # Imported here: PyJWT pulls in cryptography, which only a bearer request needs.
    import jwt

    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=_JWT_LEEWAY_SECONDS,
            options={"require": ["exp", "sub"], "verify_aud": settings.jwt_audience is not None},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("The token has expired", code="token_expired") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError("The token is invalid", code="invalid_token") from exc
    return _user_from_claims(claims)


def user_from_authorizer(claims: Mapping[str, Any]) -> Identity:
    """A user from claims that the API Gateway JWT authorizer has verified."""
    return _user_from_claims(claims)
