"""The platform middleware, a plain ASGI wrapper around every app:

1. identity: a verified bearer user, or the guest of a correctly signed `guest_id` cookie,
   or a new guest whose signed cookie is set on the response; either with its network
   (`client_network`: API Gateway's sourceIp, never a client header);
2. CSRF on cookie-authenticated state changes: the Origin must be an allowed origin (or
   the API's own, `https://{requestContext.domainName}`, where the shipped pages are
   served) and `X-CSRF-Token` must equal the `csrf_token` cookie (double submit);
3. security headers on every response, errors and crashes included, and the RateLimit
   headers of the limits the request was checked against (`ratelimit_headers`); cookies
   only on responses no shared cache may keep, and `Cache-Control: no-store` by default on
   JSON (every answer of the API is the caller's own) and on whatever sets a cookie;
4. the envelope for anything that escapes the app (a crash becomes a bare 500).

Behind the stack's CloudFront (`CDN_ENABLED`), a request without CloudFront's origin secret
(`X-Origin-Verify`) is refused first, 403 `origin_unverified`: the gateway cannot be used
around the CDN (its WAF, its client address).

Plain ASGI rather than BaseHTTPMiddleware: no extra task per request, and it also wraps
Starlette's own error responses.
"""

from __future__ import annotations

import hmac
import secrets as pysecrets
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiimage import credentials
from aiimage import identity as ident
from aiimage.errors import (
    AppError,
    AuthError,
    CsrfError,
    OriginUnverifiedError,
    PayloadTooLargeError,
)
from aiimage.http.envelope import error_response, from_dependency_error
from aiimage.http.origin import gateway_origin
from aiimage.http.ratelimit_headers import rate_limit_headers
from aiimage.http.security import SECURITY_HEADERS
from aiimage.identity import Identity
from aiimage.limits.rate_limiter import RateDecision, track_decisions
from aiimage.network import client_network as network_of
from aiimage.network import cloudfront_viewer_ip
from aiimage.observability import LogEvent, MetricName, logger, metrics
from aiimage.settings import get_settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ORIGIN_SECRET_HEADER = "x-origin-verify"  # noqa: S105 - a header name, not its value
VIEWER_ADDRESS_HEADER = "cloudfront-viewer-address"
_MIN_CSRF_TOKEN_LENGTH = 16


def _cookie(name: str, value: str, *, http_only: bool) -> str:
    settings = get_settings()
    parts = [
        f"{name}={value}",
        "Path=/",
        f"Max-Age={settings.guest_cookie_max_age_days * 86400}",
        "SameSite=Lax",
    ]
    if settings.cookie_secure:
        parts.append("Secure")
    if http_only:
        parts.append("HttpOnly")
    return "; ".join(parts)


def _authorizer_claims(scope: Scope) -> dict[str, Any] | None:
    """Claims verified by the API Gateway JWT authorizer, when the route has one."""
    event = scope.get("aws.event") or {}
    claims = event.get("requestContext", {}).get("authorizer", {}).get("jwt", {}).get("claims")
    return claims if isinstance(claims, dict) else None


def client_network(conn: HTTPConnection) -> str | None:
    """The caller's network (`aiimage.network`), from the one trusted source: API Gateway's
    `requestContext.http.sourceIp` (the local gateway sets it from the socket), or, when
    `CLIENT_IP_HEADER` is configured (behind a CDN), that header alone; behind the stack's
    CloudFront (`CDN_ENABLED`, origin verified), `CloudFront-Viewer-Address`, which CloudFront
    writes itself. No other header (X-Forwarded-For, X-Real-IP, ...) is ever read: a client
    can write any of them."""
    settings = get_settings()
    header = settings.client_ip_header
    address: str | None
    if settings.cdn_enabled:
        viewer = conn.headers.get(VIEWER_ADDRESS_HEADER)
        address = cloudfront_viewer_ip(viewer) if viewer is not None else None
    elif header is not None:
        address = conn.headers.get(header)
    else:
        event = conn.scope.get("aws.event") or {}
        address = event.get("requestContext", {}).get("http", {}).get("sourceIp")
    return network_of(address) if isinstance(address, str) else None


def verify_origin(conn: HTTPConnection) -> None:
    """CDN mode: the request carries CloudFront's origin secret (compared in constant time)."""
    if not get_settings().cdn_enabled:
        return
    expected = credentials.cdn_origin_secret().get_secret_value().encode()
    presented = conn.headers.get(ORIGIN_SECRET_HEADER, "").encode()
    if not hmac.compare_digest(expected, presented):
        raise OriginUnverifiedError


def resolve_identity(conn: HTTPConnection, set_cookies: list[str]) -> Identity:
    """The caller (`_owner`) with the network it calls from."""
    owner = _owner(conn, set_cookies)
    return owner.model_copy(update={"network": client_network(conn)})


def _owner(conn: HTTPConnection, set_cookies: list[str]) -> Identity:
    authorization = conn.headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("Only bearer tokens are accepted", code="invalid_authorization")
        claims = _authorizer_claims(conn.scope)
        if claims is not None:
            return ident.user_from_authorizer(claims)
        try:
            return ident.user_from_bearer(token.strip())
        except AuthError:
            logger.info(LogEvent.JWT_REJECTED)
            raise

    presented = conn.cookies.get(ident.GUEST_COOKIE)
    guest_id = ident.verify_guest_cookie(presented)
    if guest_id is None:
        if presented:
            logger.info(LogEvent.GUEST_COOKIE_REJECTED)
        guest_id = ident.new_guest_id()
        set_cookies.append(
            _cookie(ident.GUEST_COOKIE, ident.sign_guest_id(guest_id), http_only=True)
        )
        logger.debug(LogEvent.GUEST_ISSUED)
    if not conn.cookies.get(ident.CSRF_COOKIE):
        # Readable by the page's script, which echoes it in X-CSRF-Token.
        set_cookies.append(_cookie(ident.CSRF_COOKIE, pysecrets.token_urlsafe(24), http_only=False))
    return ident.guest(guest_id)


WEBHOOK_PREFIX = "/api/v1/webhooks/"


def check_csrf(conn: HTTPConnection, method: str, identity: Identity) -> None:
    # Browsers never attach a bearer token by themselves, so only cookie callers are at risk.
    # Provider webhooks authenticate with their own secret and act for no cookie owner.
    if method in SAFE_METHODS or identity.via == "bearer":
        return
    if conn.url.path.startswith(WEBHOOK_PREFIX):
        return
    origin = (conn.headers.get("origin") or "").rstrip("/")
    if origin not in get_settings().allowed_origins and origin != gateway_origin(conn):
        raise CsrfError("The request's Origin is not allowed", details={"reason": "origin"})
    cookie = conn.cookies.get(ident.CSRF_COOKIE, "")
    header = conn.headers.get(ident.CSRF_HEADER, "")
    if len(cookie) < _MIN_CSRF_TOKEN_LENGTH or not hmac.compare_digest(
        cookie.encode(), header.encode()
    ):
        raise CsrfError(
            "X-CSRF-Token must match the csrf_token cookie", details={"reason": "token"}
        )


def limit_body(conn: HTTPConnection, receive: Receive, max_bytes: int) -> Receive:
    """Refuse a body over `max_bytes` (Lambda's own request limit, enforced locally too):
    up front when Content-Length says so, else while it streams in."""
    declared = conn.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    received = 0

    async def counting_receive() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > max_bytes:
            raise _too_large(max_bytes)
        return message

    return counting_receive


def _too_large(max_bytes: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        "The request body is too large; upload large images with POST /api/ai-image/uploads",
        code="request_too_large",
        details={"maxBytes": max_bytes},
    )


def _add_response_headers(
    message: Message, set_cookies: list[str], rate_decisions: list[RateDecision]
) -> None:
    headers = MutableHeaders(scope=message)
    for name, value in SECURITY_HEADERS:
        headers.setdefault(name.decode(), value.decode())
    if not shared_cacheable(headers.get("cache-control")):
        # A shared cache would hand this caller's cookie to everyone it serves the response
        # to; a response that may be kept there carries none.
        for cookie in set_cookies:
            headers.append("set-cookie", cookie)
        if "cache-control" not in headers and (
            set_cookies or headers.get("content-type", "").startswith("application/json")
        ):
            headers["cache-control"] = "no-store"
    # Written last, as the limiter's decisions are complete once the answer starts.
    for field, text in rate_limit_headers(rate_decisions).items():
        headers[field] = text


def shared_cacheable(cache_control: str | None) -> bool:
    """Whether a response may be kept by a shared cache (a CDN, a proxy): it says how
    long, and neither `private` nor `no-store` (RFC 9111 section 3)."""
    if not cache_control:
        return False
    directives = {part.strip().split("=", 1)[0].lower() for part in cache_control.split(",")}
    return not directives & {"private", "no-store"}


class PlatformMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        set_cookies: list[str] = []
        rate_decisions = track_decisions()
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                _add_response_headers(message, set_cookies, rate_decisions)
            await send(message)

        try:
            conn = HTTPConnection(scope)
            try:
                verify_origin(conn)
            except OriginUnverifiedError:
                logger.warning(LogEvent.ORIGIN_UNVERIFIED)
                raise
            identity = resolve_identity(conn, set_cookies)
            scope.setdefault("state", {})["identity"] = identity
            try:
                check_csrf(conn, scope["method"], identity)
            except CsrfError as exc:
                logger.info(
                    LogEvent.CSRF_REJECTED, extra={"reason": (exc.details or {}).get("reason")}
                )
                metrics.add_metric(name=MetricName.CSRF_REJECTED, unit="Count", value=1)
                raise
            limited = limit_body(conn, receive, get_settings().max_request_bytes)
            await self.app(scope, limited, send_with_headers)
        except AppError as exc:
            if started:
                raise
            await error_response(exc)(scope, receive, send_with_headers)
        except Exception as exc:
            if started:
                raise
            busy = from_dependency_error(exc)
            if busy is not None:
                logger.warning(LogEvent.REQUEST_FAILED, code=busy.code, exc_info=exc)
                await error_response(busy)(scope, receive, send_with_headers)
                return
            await error_response(AppError(code="unhandled"))(scope, receive, send_with_headers)
            logger.exception(LogEvent.REQUEST_FAILED, exc_info=exc)
