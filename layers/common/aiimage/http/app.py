"""The app factory every HTTP function uses, and the Lambda handler wrapper."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.logging import correlation_paths
from fastapi import APIRouter, Depends, FastAPI, Request
from mangum import Mangum

from aiimage import snapstart
from aiimage.http.envelope import install_error_handlers
from aiimage.http.middleware import PlatformMiddleware
from aiimage.identity import Identity
from aiimage.observability import logger, metrics
from aiimage.providers.registry import require_usable_provider


def create_app(title: str, *routers: APIRouter, needs_provider: bool = False) -> FastAPI:
    """`needs_provider`: the app sends work to image providers, so a deployment without a
    usable one fails here, at cold start (`require_usable_provider`)."""
    if needs_provider:
        require_usable_provider()
    app = FastAPI(title=title, version="1.0.0", docs_url=None, redoc_url=None)
    install_error_handlers(app)
    app.add_middleware(PlatformMiddleware)
    for router in routers:
        app.include_router(router)
    return app


def current_identity(request: Request) -> Identity:
    identity: Identity = request.state.identity
    return identity


CurrentIdentity = Annotated[Identity, Depends(current_identity)]

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def observed(handler: Mangum) -> LambdaHandler:
    """Wrap a Mangum handler with request-scoped logging context and metric flushing, and
    register the SnapStart hooks with the app's middleware stack to build before a snapshot."""
    snapstart.register(lambda: _build_middleware_stack(handler.app))
    with_metrics = metrics.log_metrics(handler)
    wrapped: LambdaHandler = logger.inject_lambda_context(
        with_metrics, correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
    )
    return wrapped


def _build_middleware_stack(app: Any) -> None:
    # Starlette builds it on the first request; built at snapshot time, every restored copy
    # has it. The OpenAPI schema stays unbuilt: only /openapi.json asks for it.
    if isinstance(app, FastAPI) and app.middleware_stack is None:
        app.middleware_stack = app.build_middleware_stack()
