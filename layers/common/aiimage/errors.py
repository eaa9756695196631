"""The one error tree. Each class fixes an envelope `type` and an HTTP status; each raise
gives a stable machine `code`. `aiimage.http.envelope` maps them to responses, once."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

ErrorType = Literal[
    "validation_error",
    "auth_error",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "rate_limited",
    "server_error",
]


class AppError(Exception):
    """Base of every error the platform reports to a caller."""

    type: ClassVar[ErrorType] = "server_error"
    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.code = code or self.default_code
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)


class ValidationError(AppError):
    type = "validation_error"
    status = 400
    default_code = "invalid_request"
    default_message = "The request is invalid"


class UnprocessableError(ValidationError):
    status = 422
    default_code = "unprocessable"


class PayloadTooLargeError(ValidationError):
    status = 413
    default_code = "payload_too_large"
    default_message = "The payload is too large"


class UnsupportedMediaTypeError(ValidationError):
    status = 415
    default_code = "unsupported_media_type"
    default_message = "The media type is not supported"


class ConflictError(ValidationError):
    """The request collides with another (a retried create still running, a stale version)."""

    status = 409
    default_code = "conflict"
    default_message = "The request conflicts with another one"


class AuthError(AppError):
    type = "auth_error"
    status = 401
    default_code = "unauthenticated"
    default_message = "Authentication required"


class ForbiddenError(AppError):
    type = "forbidden"
    status = 403
    default_code = "forbidden"
    default_message = "Forbidden"


class CsrfError(ForbiddenError):
    default_code = "csrf_failed"
    default_message = "Cross-site request check failed"


class QuotaExceededError(ForbiddenError):
    default_code = "quota_exceeded"
    default_message = "Usage quota exceeded"


class FeatureLockedError(ForbiddenError):
    """The caller's plan does not include what was asked for (a scale, face enhancement)."""

    default_code = "feature_locked"
    default_message = "Your plan does not include this feature"


class NotFoundError(AppError):
    type = "not_found"
    status = 404
    default_code = "not_found"
    default_message = "Not found"


class MethodNotAllowedError(AppError):
    type = "method_not_allowed"
    status = 405
    default_code = "method_not_allowed"
    default_message = "Method not allowed"

    def __init__(self, allowed: list[str], message: str | None = None) -> None:
        super().__init__(message, headers={"Allow": ", ".join(allowed)})


class RateLimitedError(AppError):
    type = "rate_limited"
    status = 429
    default_code = "rate_limited"
    default_message = "Too many requests"

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(
            message,
            details={"retryAfter": self.retry_after},
            headers={"Retry-After": str(self.retry_after)},
        )


class UpstreamError(AppError):
    """A dependency (provider, AWS service) failed; its detail stays in the logs."""

    status = 502
    default_code = "upstream_error"
    default_message = "An upstream service failed"


class ServiceUnavailableError(AppError):
    status = 503
    default_code = "unavailable"
    default_message = "The service is temporarily unavailable"


class ConfigurationError(AppError):
    """The deployment is misconfigured (a missing secret, say). Never the caller's fault."""

    default_code = "misconfigured"
