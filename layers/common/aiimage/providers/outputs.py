"""Fetching a provider's finished output without becoming an SSRF proxy.

A URL a provider hands us (in an answer, or in a webhook someone may have forged or
replayed) is fetched only when all of this holds:

- its origin, scheme + host + port, is on the provider's allow-list (`OutputPolicy`): the
  provider's delivery origins, its API base URL's origin, and `PROVIDER_OUTPUT_ORIGINS`;
  never one of the API's own origins (`PUBLIC_BASE_URL`, `ALLOWED_ORIGINS`), nor its host
  name on another port;
- every address its host resolves to is public: not private, loopback, link-local, unique
  local, multicast, unspecified or reserved, IPv4 or IPv6, also when an IPv6 address
  carries an IPv4 one (mapped, 6to4, Teredo, NAT64). The check is made on the resolved
  addresses, not on how the URL spells them (`2130706433`, `0x7f.1`), by the connection's
  own network backend (`GuardedBackend`), which then connects to the address it checked:
  nothing is resolved twice, so DNS rebinding has no second answer to change. TLS still
  verifies the certificate of the URL's host name;
- no redirect is followed (one could lead anywhere), no proxy from the environment is used,
  no credential is sent, the size is capped while streaming, the answer is an image.

The one exception is for the local stack and the tests, whose emulators serve outputs on
127.0.0.1: with `STAGE` local or test, a loopback address is connected to when the URL's
origin is an allow-listed origin whose host is itself loopback (`http://127.0.0.1:<port>`,
the emulator's base URL), on that port only. Deployed stages (dev, prod) never connect to
loopback.

`OutputDownloadingProvider` is what the clients whose results are URLs (Runware,
Replicate) share: their transport, output policy and downloader. Workers AI answers with
the image itself and has none of it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import httpcore
import httpx

from aiimage.origins import DEFAULT_PORTS, Origin, is_ip_literal
from aiimage.providers.base import Outcome, ProviderUnavailableError
from aiimage.providers.transport import ProviderTransport
from aiimage.settings import Settings, get_settings

MAX_OUTPUT_BYTES = 50 * 1024 * 1024
DOWNLOAD_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
LOOPBACK_STAGES = frozenset({"local", "test"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def refused_output() -> ProviderUnavailableError:
    return ProviderUnavailableError(
        "The image provider answered with an output we do not fetch",
        code="provider_output_refused",
    )


def is_public_address(address: IPAddress) -> bool:
    """Whether an output may be fetched from `address`: a global unicast address, and for
    an IPv6 address that embeds an IPv4 one, that one as well."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and not is_public_address(embedded):
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True, slots=True)
class OutputPolicy:
    """Where one provider's outputs may be fetched from (see the module's docstring)."""

    origins: frozenset[Origin]
    own_origins: frozenset[Origin] = frozenset()
    own_hosts: frozenset[str] = frozenset()  # the API's host names: refused on any port
    loopback_ports: frozenset[int] = frozenset()  # local and test stages only

    @classmethod
    def of(
        cls, *entries: str | Origin, own: Iterable[str] = (), allow_loopback: bool = False
    ) -> OutputPolicy:
        """A policy admitting `entries` (origins, or URLs whose origin counts), refusing the
        origins of the `own` URLs; loopback only for a loopback entry and `allow_loopback`."""
        origins = frozenset(e if isinstance(e, Origin) else Origin.of(e) for e in entries)
        own_origins = frozenset(_origins_of(own))
        loopback = (
            frozenset(o.port for o in origins if not o.subdomains and _is_loopback_host(o.host))
            if allow_loopback
            else frozenset()
        )
        own_hosts = frozenset(o.host for o in own_origins if not is_ip_literal(o.host))
        return cls(
            origins=frozenset(o for o in origins - own_origins if o.host not in own_hosts),
            own_origins=own_origins,
            own_hosts=own_hosts,
            loopback_ports=loopback,
        )

    def admits(self, url: httpx.URL) -> bool:
        """Whether the URL's origin is allowed (the addresses are checked at connection)."""
        scheme = url.scheme
        if scheme not in DEFAULT_PORTS or url.userinfo:
            return False
        host = url.raw_host.decode("ascii").lower()  # what is connected to (IDNA encoded)
        port = url.port or DEFAULT_PORTS[scheme]
        if host in self.own_hosts or any(o.admits(scheme, host, port) for o in self.own_origins):
            return False
        return any(origin.admits(scheme, host, port) for origin in self.origins)

    def may_connect(self, address: IPAddress, port: int) -> bool:
        if address.is_loopback and port in self.loopback_ports:
            return True
        return is_public_address(address)


def _origins_of(urls: Iterable[str]) -> Iterable[Origin]:
    for url in urls:
        try:
            yield Origin.of(url)
        except ValueError:
            continue  # not an http(s) origin: nothing we would fetch from anyway


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    return is_ip_literal(host) and ipaddress.ip_address(host).is_loopback


def output_policy(*delivery: str, base_url: str, settings: Settings | None = None) -> OutputPolicy:
    """A provider's policy from the settings: its `delivery` origins, its API base URL's
    origin (an emulator serves its outputs there), `PROVIDER_OUTPUT_ORIGINS`; the API's own
    origins refused; loopback only in the local and test stages."""
    settings = settings or get_settings()
    own = [*settings.allowed_origins]
    if settings.public_base_url:
        own.append(settings.public_base_url)
    return OutputPolicy.of(
        *(Origin.parse(entry) for entry in delivery),
        Origin.of(base_url),
        *settings.provider_output_origins,
        own=own,
        allow_loopback=settings.stage in LOOPBACK_STAGES,
    )


# --- the connection --------------------------------------------------------------------


class AddressRefusedError(httpcore.ConnectError):
    """The output's host resolved to an address we never connect to."""


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's network backend, resolving each host once, checking every address it
    resolves to, and connecting to a checked one (no second lookup to rebind)."""

    def __init__(self, policy: OutputPolicy) -> None:
        self._policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = resolve(host, port)
        refused = [a for a in addresses if not self._policy.may_connect(a, port)]
        if refused or not addresses:
            raise AddressRefusedError(f"{host} resolves to an address we do not fetch from")
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return super().connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"{host} could not be reached")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise AddressRefusedError("outputs are not fetched over a local socket")


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, in the resolver's order, once each."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise httpcore.ConnectError(f"{host} could not be resolved") from exc
    addresses: list[IPAddress] = []
    for *_, sockaddr in answers:
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over `GuardedBackend`. httpx takes no network backend itself, so
    the connection pool it builds is replaced by an equal one that has ours."""

    def __init__(self, policy: OutputPolicy) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=GuardedBackend(policy),
        )


def output_client(timeout: float | httpx.Timeout, policy: OutputPolicy) -> httpx.Client:
    """The client that downloads outputs: its connections checked by `policy`, no
    redirects, no proxy or certificates from the environment, no credentials."""
    return httpx.Client(
        transport=GuardedTransport(policy),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )


# --- the download ----------------------------------------------------------------------


def fetch_output(
    client: httpx.Client, url: str, *, policy: OutputPolicy, max_bytes: int
) -> tuple[bytes, str]:
    """The output's bytes and content type, or `ProviderUnavailableError`. `client` is an
    `output_client` (or a test's double of one): it does not follow redirects."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise refused_output() from exc
    if not policy.admits(parsed):
        raise refused_output()
    try:
        with client.stream("GET", parsed) as response:
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
        if isinstance(exc.__cause__, AddressRefusedError):
            raise refused_output() from exc
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


class OutputDownloadingProvider:
    """The part of a provider client whose results are URLs it downloads itself: the API
    transport, the output policy (public: the ops commands fetch under the same one), and
    a separate downloader that never carries the API credentials.

    Outcomes are built unfetched (`url` set, `image` None) and `fetched` downloads them:
    a poll's or a submit's answer at once, a webhook's only after its task matched a
    request of ours, so a forged or stray webhook never makes us connect anywhere."""

    # A class attribute, so one provider's cap can differ (and tests can lower it).
    max_output_bytes: ClassVar[int] = MAX_OUTPUT_BYTES

    def __init__(
        self,
        *,
        transport: ProviderTransport,
        outputs: OutputPolicy,
        downloader: httpx.Client | None = None,
    ) -> None:
        self._transport = transport
        self.outputs = outputs
        self._downloader = downloader or output_client(DOWNLOAD_TIMEOUT, outputs)

    def close(self) -> None:
        self._transport.close()
        self._downloader.close()

    def is_allowed(self, url: str) -> bool:
        """Whether `url`'s origin is on this provider's allow-list."""
        return self.outputs.admits(httpx.URL(url))

    def fetched(self, outcome: Outcome) -> Outcome:
        """`outcome` with its output downloaded, when it is a success still without one."""
        if outcome.status != "succeeded" or outcome.image is not None or outcome.url is None:
            return outcome
        data, content_type = fetch_output(
            self._downloader, outcome.url, policy=self.outputs, max_bytes=self.max_output_bytes
        )
        return dataclasses.replace(outcome, image=data, content_type=content_type)
