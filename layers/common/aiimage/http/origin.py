"""The absolute base of the URLs we hand to clients (`imageUrl`, `originalUrl`).

Never the request's `Host`: any client can send `Host: evil.example`, and a URL built from
it would point the caller (or a cache keyed without Host) at someone else's server. In order:

1. `PUBLIC_BASE_URL`, when the operator configured one (a custom domain, a CDN);
2. API Gateway's `requestContext.domainName`: the domain the request really arrived at
   (the execute-api host or a custom domain mapped to this API), which API Gateway sets
   from its own routing and a client cannot name freely;
3. the first configured app origin (`ALLOWED_ORIGINS`): the stack's own address when it
   runs locally (`make dev` configures its own host and port there).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import HTTPConnection

from aiimage.errors import ConfigurationError
from aiimage.settings import get_settings


def public_base(conn: HTTPConnection) -> str:
    settings = get_settings()
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    own = gateway_origin(conn)
    if own is not None:
        return own
    if not settings.allowed_origins:
        raise ConfigurationError("Set PUBLIC_BASE_URL or ALLOWED_ORIGINS for absolute URLs")
    return settings.allowed_origins[0]


def gateway_origin(conn: HTTPConnection) -> str | None:
    """`https://{requestContext.domainName}`: the API's own origin, where API Gateway
    received the request (None off API Gateway)."""
    domain = _gateway_domain(conn.scope.get("aws.event"))
    return f"https://{domain}" if domain is not None else None


def _gateway_domain(event: Any) -> str | None:
    context = event.get("requestContext") if isinstance(event, dict) else None
    domain = context.get("domainName") if isinstance(context, dict) else None
    return domain if isinstance(domain, str) and domain else None


async def _public_base(conn: HTTPConnection) -> str:
    # Async: FastAPI would run a sync dependency in the threadpool, a hop per request.
    return public_base(conn)


PublicBase = Annotated[str, Depends(_public_base)]
