"""The response envelope and the single mapping from errors to responses.

`{"success": true, "data": ...}` or `{"success": false, "error": {"type", "code",
"message", "details"?}}`. Framework errors (unknown route, wrong method, invalid
parameters) and unexpected exceptions are mapped here too, so no response escapes the
envelope and no internal detail reaches a caller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aiimage.errors import (
    AppError,
    AuthError,
    ForbiddenError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    UnprocessableError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from aiimage.observability import LogEvent, logger

E = TypeVar("E", bound=Exception)


def ok(data: Any) -> dict[str, Any]:
    return {"success": True, "data": data}


def error_body(error: AppError) -> dict[str, Any]:
    body: dict[str, Any] = {"type": error.type, "code": error.code, "message": error.message}
    if error.details:
        body["details"] = error.details
    envelope: dict[str, Any] = {"success": False, "error": body}
    if error.retry_after is not None:
        # Top level too: where the seed system's clients read the wait (numeric seconds).
        envelope["retryAfter"] = error.retry_after
    return envelope


def error_response(error: AppError) -> JSONResponse:
    if error.status >= 500:
        # The caller learns only the category; the cause is in the logs.
        logger.error(LogEvent.REQUEST_FAILED, extra={"code": error.code}, exc_info=error)
    return JSONResponse(error_body(error), status_code=error.status, headers=error.headers)


_HTTP_STATUS_ERRORS: dict[int, type[AppError]] = {
    400: ValidationError,
    401: AuthError,
    403: ForbiddenError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: UnprocessableError,
    503: ServiceUnavailableError,
}


def from_http_exception(exc: StarletteHTTPException) -> AppError:
    if exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow", "")
        return MethodNotAllowedError([m.strip() for m in allow.split(",") if m.strip()])
    error_class = _HTTP_STATUS_ERRORS.get(exc.status_code, AppError)
    # Starlette's details are fixed phrases ("Not Found"); ours read better.
    return error_class(headers=dict(exc.headers or {}))


def from_validation_error(exc: RequestValidationError) -> AppError:
    # Location, message and type only: echoing the input could reflect a secret back.
    problems = [
        {
            "loc": [str(part) for part in e.get("loc", ())],
            "msg": e.get("msg"),
            "type": e.get("type"),
        }
        for e in exc.errors()
    ]
    return UnprocessableError(
        "The request parameters are invalid",
        code="invalid_parameters",
        details={"errors": problems},
    )


# AWS answers meaning "busy or briefly down, try again", after the SDK's own retries.
_AWS_BUSY_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "InternalServerError",
        "InternalError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)
BUSY_RETRY_AFTER_SECONDS = 1


def from_dependency_error(exc: Exception) -> AppError | None:
    """A 503 with `Retry-After` for AWS throttling, an AWS-side 5xx or an unreachable
    endpoint (the caller may simply retry); None for anything else (a bug: a plain 500)."""
    from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

    busy = isinstance(exc, ConnectionError | ReadTimeoutError)
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        busy = error.get("Code") in _AWS_BUSY_CODES or status >= 500
    if not busy:
        return None
    return ServiceUnavailableError(
        "The service is busy; try again shortly",
        code="service_busy",
        headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _handler(AppError, lambda exc: exc))
    app.add_exception_handler(
        StarletteHTTPException, _handler(StarletteHTTPException, from_http_exception)
    )
    app.add_exception_handler(
        RequestValidationError, _handler(RequestValidationError, from_validation_error)
    )


def _handler(
    kind: type[E], to_error: Callable[[E], AppError]
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    """A Starlette exception handler for `kind`: the enveloped response of its AppError."""

    async def handle(_: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, kind):  # Starlette hands it only `kind`: anything else is not ours
            raise exc
        return error_response(to_error(exc))

    return handle
