"""Origins as allow-list entries: scheme, host and port, parsed strictly, compared exactly.

An entry is `scheme://host[:port]`: `http` or `https`, an ASCII host name or IP literal,
the scheme's default port when none is written. `*.` before the host admits its
subdomains only (`https://*.replicate.delivery`), never the host itself. Anything more (a
path, a user, a query, a fragment) or less (no scheme) is an error, so a setting that
does not say exactly what it admits fails at load rather than admitting too much.

Only the standard library: `aiimage.settings` parses its entries with it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"^(?:{_LABEL}\.)*{_LABEL}$")
WILDCARD = "*."


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str  # lower case; an IPv6 literal without brackets
    port: int
    subdomains: bool = False  # `*.host`: the host's subdomains, not the host

    @classmethod
    def parse(cls, entry: str) -> Origin:
        """An allow-list entry; `ValueError` saying what is wrong with it."""
        text = entry.strip()
        if "://" not in text:
            raise ValueError(f"{entry!r} has no scheme: write the origin, e.g. https://{text}")
        parts = urlsplit(text)
        if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in text:
            raise ValueError(f"{entry!r} is not an origin: no path, query or fragment")
        return cls.of(text)

    @classmethod
    def of(cls, url: str) -> Origin:
        """The origin of a URL (its path, query and fragment are not part of it)."""
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise ValueError(f"{url!r}: the scheme must be http or https")
        if "@" in parts.netloc:
            raise ValueError(f"{url!r}: an origin names no user")
        try:
            port = parts.port or DEFAULT_PORTS[scheme]
        except ValueError as exc:
            raise ValueError(f"{url!r}: the port must be a number from 1 to 65535") from exc
        host = (parts.hostname or "").rstrip(".")
        subdomains = host.startswith(WILDCARD)
        host = host.removeprefix(WILDCARD)
        if not (_HOST_NAME.match(host) or is_ip_literal(host)) or (
            subdomains and is_ip_literal(host)
        ):
            raise ValueError(f"{url!r}: {host!r} is not an ASCII host name or IP address")
        return cls(scheme, host, port, subdomains)

    def admits(self, scheme: str, host: str, port: int) -> bool:
        """Whether `scheme://host:port` (host in lower case) is this origin."""
        if (scheme, port) != (self.scheme, self.port):
            return False
        if self.subdomains:
            return host.endswith(f".{self.host}")
        return host == self.host

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        wildcard = WILDCARD if self.subdomains else ""
        return f"{self.scheme}://{wildcard}{host}:{self.port}"


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse_origins(value: object) -> object:
    """A comma-separated setting (or a sequence) as a tuple of origins; anything else as it
    came, for pydantic to refuse."""
    if isinstance(value, str):
        value = [entry for entry in value.split(",") if entry.strip()]
    if isinstance(value, list | tuple):
        return tuple(e if isinstance(e, Origin) else Origin.parse(str(e)) for e in value)
    return value
