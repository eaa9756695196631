"""Fetching a provider's finished output: only over http(s), only from the provider's own
output hosts (no SSRF through a crafted URL), no redirects, a size cap while streaming, and
an image content type.

`OutputDownloadingProvider` is what the clients whose results are URLs (Runware, Replicate)
share: their transport, allowed hosts and downloader. Workers AI answers with the image
itself and has none of it."""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

import httpx

from aiimage.providers.base import ProviderUnavailableError
from aiimage.providers.transport import ProviderTransport

MAX_OUTPUT_BYTES = 50 * 1024 * 1024
DOWNLOAD_TIMEOUT = httpx.Timeout(20.0, connect=5.0)


class OutputDownloadingProvider:
    """The part of a provider client whose results are URLs it downloads itself: the API
    transport, the output hosts it fetches from (public: the ops commands fetch from the
    same ones), and a separate downloader that never carries the API credentials."""

    # A class attribute, so one provider's cap can differ (and tests can lower it).
    max_output_bytes: ClassVar[int] = MAX_OUTPUT_BYTES

    def __init__(
        self,
        *,
        transport: ProviderTransport,
        allowed_output_hosts: frozenset[str],
        downloader: httpx.Client | None = None,
    ) -> None:
        self._transport = transport
        self.allowed_hosts = frozenset(h.lower() for h in allowed_output_hosts)
        self._downloader = downloader or output_client(DOWNLOAD_TIMEOUT)

    def close(self) -> None:
        self._transport.close()
        self._downloader.close()

    def is_allowed(self, host: str) -> bool:
        return host_allowed(host, self.allowed_hosts)

    def _download(self, url: str) -> tuple[bytes, str]:
        return fetch_output(
            self._downloader, url, allowed_hosts=self.allowed_hosts, max_bytes=self.max_output_bytes
        )


def output_hosts(domain: str, base_url: str) -> frozenset[str]:
    """The provider's output domain, and the API's own host, so an emulator serving the
    outputs itself works too."""
    api_host = httpx.URL(base_url).host
    return frozenset({domain} | ({api_host} if api_host else set()))


def output_client(timeout: float | httpx.Timeout) -> httpx.Client:
    """The client that downloads outputs: no redirects (one could lead off the allow-list)
    and no credentials (outputs are public URLs; our API tokens never go there)."""
    return httpx.Client(timeout=timeout, follow_redirects=False)


def host_allowed(host: str, allowed_hosts: frozenset[str]) -> bool:
    # An allowed host admits itself and its subdomains (*.replicate.delivery, im.runware.ai).
    return any(host == h or host.endswith(f".{h}") for h in allowed_hosts)


def fetch_output(
    client: httpx.Client, url: str, *, allowed_hosts: frozenset[str], max_bytes: int
) -> tuple[bytes, str]:
    """The output's bytes and content type, or `ProviderUnavailableError`. `client` must
    not follow redirects (a redirect could leave the allowed hosts)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host_allowed(host, allowed_hosts):
        raise ProviderUnavailableError(
            "The image provider answered with an output we do not fetch",
            code="provider_output_refused",
        )
    try:
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise ProviderUnavailableError(
                    "The image provider output could not be fetched",
                    details={"providerStatus": response.status_code},
                )
            content_type = response.headers.get("content-type", "").partition(";")[0]
            content_type = content_type.strip().lower()
            if not content_type.startswith("image/"):
                raise ProviderUnavailableError("The image provider output is not an image")
            return _read_capped(response, max_bytes), content_type
    except httpx.HTTPError as exc:
        raise ProviderUnavailableError("The image provider output could not be fetched") from exc


def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    too_large = ProviderUnavailableError("The image provider output is too large")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
