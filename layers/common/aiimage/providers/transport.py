"""HTTP transport shared by the provider clients: one lazily created httpx client per
provider, explicit timeouts, bounded retries that honour `Retry-After`, and the mapping of
HTTP failures onto the platform's error tree.

Retries are deliberate: 429 and 502/503/504 are retried (the provider did not run the
request), connection failures are retried (nothing was sent), but a read timeout on a
non-idempotent call (creating a prediction) is not, because the provider may already be
running it and a retry would run and bill it twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from httpx._client import UseClientDefault
from pydantic import SecretStr

from aiimage.errors import ConfigurationError
from aiimage.observability import LogEvent, logger
from aiimage.providers.base import (
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitedError,
    ProviderRejectedError,
    ProviderUnavailableError,
)
from aiimage.providers.codes import TIMEOUT_CODE

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
# A provider asking us to wait longer than this is treated as "busy now", not waited for.
MAX_RETRY_DELAY_SECONDS = 10.0

ErrorMapper = Callable[[httpx.Response], ProviderError | None]


def retry_after_seconds(response: httpx.Response, default: float = 1.0) -> float:
    """`Retry-After` in seconds (delta form; an HTTP date is rare from APIs and ignored)."""
    raw = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return default


def default_error(response: httpx.Response, provider: str) -> ProviderError:
    """The status-code mapping every provider shares (DESIGN.md, Providers)."""
    status = response.status_code
    if status in (401, 403):
        return ProviderAuthError(provider, details={"providerStatus": status})
    if status == 429:
        return ProviderRateLimitedError(round(retry_after_seconds(response)) or 1)
    if 400 <= status < 500:
        return ProviderRejectedError()
    return ProviderUnavailableError()


class ProviderTransport:
    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        token: Callable[[], SecretStr | None],
        timeout: float,
        max_retries: int,
        map_error: ErrorMapper | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.provider = provider
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._max_retries = max_retries
        self._map_error = map_error
        self._sleep = sleep
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        """The pooled connection. It carries no credentials: those are read per request."""
        if self._client is None:
            self._client = httpx.Client(
                base_url=self._base_url,
                timeout=httpx.Timeout(self._timeout, connect=min(5.0, self._timeout)),
                follow_redirects=False,
            )
        return self._client

    def _authorization(self) -> str:
        # Read on every call, through the secrets' five-minute cache: a rotated key arrives
        # without a cold start.
        token = self._token()
        if token is None:
            raise ConfigurationError(f"No API token is configured for {self.provider}")
        return f"Bearer {token.get_secret_value()}"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        json: Any = None,
        files: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> httpx.Response:
        """Send a request; return the 2xx response or raise a `ProviderError`.

        `deadline` (a `time.monotonic()` value) bounds the whole call including retries.
        """
        sent_headers = {**(headers or {}), "Authorization": self._authorization()}
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.client.request(
                    method,
                    path,
                    json=json,
                    files=files,
                    headers=sent_headers,
                    timeout=self._attempt_timeout(timeout, deadline),
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                error: ProviderError = ProviderUnavailableError()
                delay = self._backoff(attempt)
                cause: Exception = exc
            except httpx.TimeoutException as exc:
                if not idempotent:
                    raise ProviderUnavailableError(
                        f"{self.provider} did not answer in time", code=TIMEOUT_CODE
                    ) from exc
                error, delay, cause = ProviderUnavailableError(), self._backoff(attempt), exc
            except httpx.HTTPError as exc:
                raise ProviderUnavailableError() from exc
            else:
                if response.is_success:
                    return response
                error = self.error_for(response)
                if response.status_code not in RETRYABLE_STATUSES:
                    raise error
                delay = (
                    float(error.retry_after)
                    if isinstance(error, ProviderRateLimitedError)
                    else self._backoff(attempt)
                )
                cause = httpx.HTTPStatusError(
                    f"HTTP {response.status_code}", request=response.request, response=response
                )
            if not self._may_retry(attempt, delay, deadline):
                raise error from cause
            logger.warning(
                LogEvent.PROVIDER_RETRY,
                provider=self.provider,
                attempt=attempt,
                delay=round(delay, 2),
                reason=error.code,
            )
            self._sleep(delay)

    @property
    def timeout(self) -> float:
        """The configured per-request read timeout in seconds."""
        return self._timeout

    def _attempt_timeout(
        self, timeout: float | httpx.Timeout | None, deadline: float | None
    ) -> float | httpx.Timeout | UseClientDefault:
        """This attempt's timeout: as asked, but never past the call's deadline (a retry
        must not start a full-length attempt with only a second left)."""
        if deadline is None:
            return timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT
        chosen = timeout if timeout is not None else self._timeout
        left = max(0.1, deadline - time.monotonic())
        if isinstance(chosen, httpx.Timeout):
            read = chosen.read if chosen.read is not None else left
            return httpx.Timeout(min(read, left), connect=chosen.connect)
        return httpx.Timeout(min(chosen, left), connect=min(5.0, chosen, left))

    def error_for(self, response: httpx.Response) -> ProviderError:
        mapped = self._map_error(response) if self._map_error is not None else None
        return mapped or default_error(response, self.provider)

    def _may_retry(self, attempt: int, delay: float, deadline: float | None) -> bool:
        if attempt > self._max_retries or delay > MAX_RETRY_DELAY_SECONDS:
            return False
        return deadline is None or time.monotonic() + delay < deadline

    @staticmethod
    def _backoff(attempt: int) -> float:
        # Exponential with full jitter: 0..0.5 s, 0..1 s, 0..2 s …
        return random.uniform(0, 0.5 * 2 ** (attempt - 1))  # noqa: S311 - not cryptographic
