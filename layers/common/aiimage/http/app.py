"""The app factory every HTTP function uses, and the Lambda handler wrapper."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, ParamSpec, TypeVar

from aws_lambda_powertools.logging import correlation_paths
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.routing import APIRoute
from mangum import Mangum
from starlette.concurrency import run_in_threadpool

from aiimage import snapstart
from aiimage.http import pydantic_v1
from aiimage.http.envelope import install_error_handlers
from aiimage.http.middleware import PlatformMiddleware
from aiimage.http.models import Envelope
from aiimage.identity import Identity
from aiimage.observability import logger, metrics
from aiimage.providers.registry import require_usable_provider
from aiimage.settings import on_deployed_lambda

# Before any route is declared: every route's fields would import pydantic.v1.
pydantic_v1.install()


# A regular expression of request paths (matched from the start) and the routers of them.
RouterGroups = Mapping[str, Callable[[], Sequence[APIRouter]]]


def create_app(
    title: str,
    *routers: APIRouter,
    needs_provider: bool = False,
    signs: bool = False,
    deferred: RouterGroups | None = None,
) -> FastAPI:
    """`needs_provider`: the app sends work to image providers, so a deployment without a
    usable one fails here, at cold start (`require_usable_provider`). `signs`: it signs
    results, so an unusable C2PA bundle is logged here (`provenance.check_at_cold_start`).
    `deferred`: path patterns and the routers of the routes they match, imported and
    included with the first request for such a path (`DeferredRouters`)."""
    if needs_provider:
        require_usable_provider()
    if signs and on_deployed_lambda():  # elsewhere the signer loads with the first result
        from aiimage.imaging.provenance import check_at_cold_start

        check_at_cold_start()
    app = FastAPI(title=title, version="1.0.0", docs_url=None, redoc_url=None)
    install_error_handlers(app)
    app.add_middleware(PlatformMiddleware)
    for router in routers:
        app.include_router(router)
    later = DeferredRouters(app, deferred or {})
    if deferred:
        app.add_middleware(_IncludeDeferred, deferred=later)  # outermost: before routing
        snapstart.register(later.include_all)
    _document_errors_as_answered(app, later)
    return app


class DeferredRouters:
    """Routers that only some callers reach (the edits API's tenant and superadmin
    routes), left out of the cold start of the callers who never do: each group is
    imported and included with the first request whose path its pattern matches (from the
    start: `re.match`), with a SnapStart snapshot, or when the OpenAPI description is
    built."""

    def __init__(self, app: FastAPI, groups: RouterGroups) -> None:
        self._app = app
        self._pending = {re.compile(pattern): load for pattern, load in groups.items()}

    def include(self, path: str) -> None:
        for pattern in [pattern for pattern in self._pending if pattern.match(path)]:
            self._include(pattern)

    def include_all(self) -> None:
        for pattern in list(self._pending):
            self._include(pattern)

    def _include(self, pattern: re.Pattern[str]) -> None:
        routers = self._pending[pattern]()  # an import that fails is tried again
        for router in routers:
            self._app.include_router(router)
        del self._pending[pattern]

    @property
    def pending(self) -> bool:
        return bool(self._pending)


class _IncludeDeferred:
    def __init__(self, app: Any, deferred: DeferredRouters) -> None:
        self.app = app
        self.deferred = deferred

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Synchronous: no other request of the loop sees a group half included.
        if scope["type"] == "http" and self.deferred.pending:
            self.deferred.include(scope["path"])
        await self.app(scope, receive, send)


def _document_errors_as_answered(app: FastAPI, deferred: DeferredRouters) -> None:
    build = app.openapi  # FastAPI caches the description it builds

    def openapi() -> dict[str, Any]:
        from aiimage.http.openapi_errors import document_errors

        deferred.include_all()  # the description documents every route
        return document_errors(build())

    app.openapi = openapi  # type: ignore[method-assign]


async def current_identity(request: Request) -> Identity:
    # Async: FastAPI runs a sync dependency in the threadpool, a hop per request for a
    # read of what the middleware resolved.
    identity: Identity = request.state.identity
    return identity


CurrentIdentity = Annotated[Identity, Depends(current_identity)]

P = ParamSpec("P")
T = TypeVar("T")


async def run_blocking(
    request: Request, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """Blocking work (boto3) of an async route. On Lambda (Mangum's scope carries the
    event) an execution environment serves one invocation at a time and nothing else runs
    on its event loop, so the call runs inline: a threadpool hop costs more than the rest
    of a small request (about 1 ms on a warm usage request, most of it waking an idle
    worker thread). Elsewhere (uvicorn, the test client) concurrent requests share the
    loop, and it runs in the threadpool."""
    if "aws.event" in request.scope:
        return func(*args, **kwargs)
    return await run_in_threadpool(func, *args, **kwargs)


def envelope_response(
    envelope: Envelope[Any], *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """An envelope built from typed models, serialised once by pydantic. Returned from a
    route, it skips FastAPI's validation of the answer against the route's `response_model`
    (which still documents it): a second pass over valid data, and for a sync route one
    more threadpool hop."""
    return Response(
        envelope.model_dump_json(by_alias=True),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


class ThreadpoolOnceRoute(APIRoute):
    """A sync route that runs in the threadpool once. FastAPI runs a sync endpoint in the
    threadpool, then validates its answer there in a second hop; wrapped as a coroutine
    that awaits the endpoint in the threadpool, its answer is validated on the loop. An
    async endpoint is left as it is. The wrapper keeps the endpoint's signature (FastAPI
    reads parameters and their annotations through `__wrapped__`)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = _in_threadpool(endpoint)
        super().__init__(path, endpoint, **kwargs)


def _in_threadpool(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(endpoint)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(endpoint, *args, **kwargs)

    return run


def api_router(**kwargs: Any) -> APIRouter:
    """The router of every HTTP function: its sync routes run in the threadpool once."""
    return APIRouter(route_class=ThreadpoolOnceRoute, **kwargs)


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
