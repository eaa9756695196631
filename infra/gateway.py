"""API Gateway's HttpApi, locally: one ASGI app that routes to every function's app.

In AWS each HttpApi route invokes its Lambda, whose handler wraps the function's ASGI app
with Mangum. Locally the gateway calls that same app directly, so requests reach the code
unchanged (path, query string, headers, streamed body) and routing follows the template's
HttpApi events, not a hand-kept list. Route precedence and the answer for an unmatched
request (404 `{"message":"Not Found"}`) are API Gateway's.

What the app reads from API Gateway's event is given as AWS gives it: Mangum puts the
event at `scope["aws.event"]`, and the caller's address is its `requestContext.http.sourceIp`
(the TCP peer API Gateway saw, which no client header can change). Locally the peer is the
socket's (`scope["client"]`), so the gateway puts it in the same place: `make dev` counts a
request from 127.0.0.1 sending `X-Forwarded-For: 1.2.3.4` against 127.0.0.1, as AWS would.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from starlette.types import ASGIApp, Receive, Scope, Send

from infra.template import Function, HttpRoute, TemplateError

DEFAULT_ROUTE = "$default"
_NOT_FOUND = b'{"message":"Not Found"}'
_VARIABLE = re.compile(r"\{([A-Za-z0-9_.:-]+)(\+?)\}")


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    function: str
    handler: str
    app: ASGIApp
    # None for `$default`, which matches every request no other route takes.
    pattern: re.Pattern[str] | None
    greedy: bool
    variables: int

    @classmethod
    def of(cls, route: HttpRoute, function: Function, app: ASGIApp) -> Route:
        if route.path == DEFAULT_ROUTE:
            pattern, greedy, variables = None, False, 0
        else:
            pattern, greedy, variables = compile_path(route.path)
        return cls(
            method=route.method,
            path=route.path,
            function=function.logical_id,
            handler=function.handler,
            app=app,
            pattern=pattern,
            greedy=greedy,
            variables=variables,
        )

    @property
    def specificity(self) -> tuple[bool, bool, int, int, bool]:
        """Sort key, most specific first: literal paths before `{var}` paths before greedy
        `{proxy+}` paths before `$default`; longer paths first; a method before ANY."""
        depth = self.path.count("/")
        return (self.pattern is None, self.greedy, self.variables, -depth, self.method == "ANY")

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("ANY", method):
            return False
        return self.pattern is None or self.pattern.fullmatch(path) is not None


def compile_path(path: str) -> tuple[re.Pattern[str], bool, int]:
    """The regex of an HttpApi route path, whether it ends in a greedy variable, and how
    many variables it has. `{name}` is one segment; `{name+}` the rest of the path."""
    segments = path.strip("/").split("/") if path != "/" else []
    parts, greedy, variables = [], False, 0
    for position, segment in enumerate(segments):
        variable = _VARIABLE.fullmatch(segment)
        if variable is None:
            if "{" in segment or "}" in segment:
                raise TemplateError(f"Route {path}: a path variable must be a whole segment")
            parts.append(re.escape(segment))
            continue
        variables += 1
        if variable.group(2):
            if position != len(segments) - 1:
                raise TemplateError(f"Route {path}: a greedy variable must be the last segment")
            greedy = True
            parts.append(".+")
        else:
            parts.append("[^/]+")
    return re.compile("/" + "/".join(parts)), greedy, variables


def load_app(handler: str) -> ASGIApp:
    """The ASGI app that a handler string's module defines (`pkg.app.handler` -> `pkg.app:app`).
    Importing it reads the settings, so the environment must be in place first."""
    module_name = handler.rpartition(".")[0]
    app = getattr(importlib.import_module(module_name), "app", None)
    if not callable(app):
        raise TemplateError(f"Handler {handler}: module {module_name} has no ASGI `app`")
    return cast(ASGIApp, app)


def load_handler(handler: str) -> Callable[[dict[str, Any], Any], Any]:
    """The Lambda handler a handler string names (`pkg.app.handler`)."""
    module_name, _, attribute = handler.rpartition(".")
    function = getattr(importlib.import_module(module_name), attribute, None)
    if not callable(function):
        raise TemplateError(f"Handler {handler}: {module_name} has no callable {attribute}")
    return cast(Callable[[dict[str, Any], Any], Any], function)


class HttpApiGateway:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes: Sequence[Route] = sorted(routes, key=lambda r: r.specificity)
        seen: set[tuple[str, str]] = set()
        for route in self.routes:
            if (route.method, route.path) in seen:
                raise TemplateError(f"Route {route.method} {route.path} is declared twice")
            seen.add((route.method, route.path))

    def match(self, method: str, path: str) -> Route | None:
        return next((r for r in self.routes if r.matches(method, path)), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError(f"An HttpApi serves HTTP only, not {scope['type']}")
        route = self.match(scope["method"], scope["path"])
        if route is None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 404,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(_NOT_FOUND)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _NOT_FOUND})
            return
        await route.app(with_source_ip(scope), receive, send)


def with_source_ip(scope: Scope) -> Scope:
    """`scope` with the part of API Gateway's event the apps read: the socket peer as
    `requestContext.http.sourceIp` (Mangum, conversely, makes `scope["client"]` from it)."""
    client = scope.get("client")
    if not client:
        return scope
    event = {"requestContext": {"http": {"sourceIp": str(client[0])}}}
    return {**scope, "aws.event": event}


def build_gateway(functions: Iterable[Function]) -> HttpApiGateway:
    """A gateway for the HttpApi events of `functions`, importing each function's app."""
    return HttpApiGateway(
        Route.of(route, function, load_app(function.handler))
        for function in functions
        for route in function.routes
    )
