"""The one error tree. Each class fixes an envelope `type` and an HTTP status; each raise
gives a stable machine `code`. `aiimage.http.envelope` maps them to responses, once.

The tree (status, envelope type); `except X` catches X and everything under it:

* AppError                         500 server_error   (base; unexpected failures)
  x ValidationError                400 validation_error
    + UnprocessableError           422
    + PayloadTooLargeError         413
    + UnsupportedMediaTypeError    415
    + ConflictError                409
  x AuthError                      401 auth_error     (the caller is not authenticated)
  x ForbiddenError                 403 forbidden      (the caller may not: CSRF, owner, plan)
    + CsrfError
    + QuotaExceededError
    + FeatureLockedError
  x NotFoundError                  404 not_found
  x MethodNotAllowedError          405 method_not_allowed (with Allow)
  x RateLimitedError               429 rate_limited   (with Retry-After)
  x UpstreamError                  502 server_error   (a dependency failed)
  x ServiceUnavailableError        503 server_error   (busy or briefly down)
    + StorageUnavailableError      503                (the object store, with Retry-After)
    + CapacityExhaustedError       503                (a provider's daily money ceiling)
  x ConfigurationError             500 server_error   (the deployment is misconfigured)
  x ProviderError                  (aiimage.providers.base: every failure to use a provider)
    + ProviderAuthError            502 server_error   (it refused OUR credentials; alarmed)
    + ProviderRejectedError        400 validation_error (it judged the input invalid)
    + ProviderRateLimitedError     429 rate_limited   (with Retry-After)
    + ProviderUnavailableError     502 server_error   (5xx, timeout, malformed answer)

Each `Provider*Error` is also the plain error of its status (`ProviderRejectedError` is a
`ValidationError`, `ProviderRateLimitedError` a `RateLimitedError`, `ProviderAuthError` and
`ProviderUnavailableError` are `UpstreamError`s), so the envelope needs no provider
knowledge. Use cases add leaves of their own (the catalog's unknown tenant is a
`NotFoundError`, a budget refusal a `ForbiddenError`).
"""

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


# Every machine `code` an error envelope (or a job's / an edit's `error`) can carry: what the
# pages translate and the OpenAPI description enumerates. tests/unit/test_error_codes.py
# finds the codes in the source and keeps this list exact.
ERROR_CODES: tuple[str, ...] = (
    "abuse_blocked",
    "abuse_busy",
    "bad_owner",
    "budget_exceeded",
    "capacity_exhausted",
    "conflict",
    "csrf_failed",
    "event_conflict",
    "event_exists",
    "event_policy",
    "feature_disabled",
    "feature_locked",
    "forbidden",
    "generation_expired",
    "generation_failed",
    "idempotency_in_progress",
    "idempotency_key_reused",
    "image_corrupt",
    "image_empty",
    "image_missing",
    "image_too_large",
    "image_too_many_pixels",
    "image_type_mismatch",
    "image_undecodable",
    "internal_error",
    "invalid_authorization",
    "invalid_cursor",
    "invalid_id",
    "invalid_idempotency_key",
    "invalid_key",
    "invalid_parameters",
    "invalid_request",
    "invalid_settings",
    "invalid_token",
    "invalid_url",
    "invalid_webhook_signature",
    "invalid_webhook_token",
    "key_mismatch",
    "method_not_allowed",
    "misconfigured",
    "model_version_not_allowed",
    "no_result",
    "not_a_tenant",
    "not_found",
    "not_owner",
    "not_superadmin",
    "number_out_of_range",
    "origin_unverified",
    "output_too_large",
    "param_not_supported",
    "param_out_of_range",
    "payload_too_large",
    "pending_without_job_id",
    "photo_already_reviewed",
    "photo_missing",
    "photo_not_ready",
    "photo_not_uploaded",
    "photo_pending_approval",
    "prompt_blocked",
    "provider_auth",
    "provider_image_missing",
    "provider_image_unreadable",
    "provider_job_unknown",
    "provider_malformed",
    "provider_model_unknown",
    "provider_output_refused",
    "provider_payment_required",
    "provider_prompt_missing",
    "provider_rate_limited",
    "provider_rejected",
    "provider_sync_only",
    "provider_timeout",
    "provider_unavailable",
    "quota_exceeded",
    "rate_limited",
    "request_too_large",
    "result_not_found",
    "service_busy",
    "settings_conflict",
    "storage_no_body",
    "storage_unavailable",
    "style_not_allowed",
    "token_expired",
    "too_many_open_photo_slots",
    "unauthenticated",
    "unavailable",
    "unhandled",
    "unknown_asset",
    "unknown_block",
    "unknown_event",
    "unknown_model",
    "unknown_photo",
    "unknown_request",
    "unknown_style",
    "unknown_tenant",
    "unprocessable",
    "unsupported_image_type",
    "unsupported_media_type",
    "upload_not_found",
    "upstream_error",
)


class AppError(Exception):
    """Base of every error the platform reports to a caller."""

    type: ClassVar[ErrorType] = "server_error"
    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "Internal server error"
    # Seconds until a retry can succeed, for errors that know it (429, capacity): the
    # envelope repeats it at the top level as `retryAfter`.
    retry_after: int | None = None

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


class OriginUnverifiedError(ForbiddenError):
    """CDN mode: the request did not come through the stack's CloudFront."""

    default_code = "origin_unverified"
    default_message = "Requests must come through the site's CDN"


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
    retry_after: int

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


class StorageUnavailableError(ServiceUnavailableError):
    """The object store failed (throttled, a 5xx, unreachable) after the SDK's retries: the
    caller may simply try again, so it is told when."""

    default_code = "storage_unavailable"
    default_message = "The image store is busy; try again shortly"
    retry_after_seconds: ClassVar[int] = 1

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(self.retry_after_seconds)})


class ConfigurationError(AppError):
    """The deployment is misconfigured (a missing secret, say). Never the caller's fault."""

    default_code = "misconfigured"


class CapacityExhaustedError(ServiceUnavailableError):
    """A provider's daily money ceiling (for a guest: the guests' share of it) has no room
    for the call: nobody is at fault, and it passes at UTC midnight, which `Retry-After` says."""

    default_code = "capacity_exhausted"
    default_message = "The image service has reached its capacity for today; try again later"
    retry_after: int

    def __init__(
        self, retry_after: int, message: str | None = None, *, details: dict[str, Any] | None = None
    ) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(
            message,
            details=details or {"retryAfter": self.retry_after},
            headers={"Retry-After": str(self.retry_after)},
        )
