"""The caller's network: what guests behind one connection share.

An IPv4 address counts as itself; an IPv6 address counts as its /64, the smallest prefix
a provider hands to one subscriber (a host picks any of 2^64 addresses in it at will). An
IPv4-mapped IPv6 address (`::ffff:198.51.100.7`) is the IPv4 address it maps.

Where the address comes from is decided once, in `aiimage.http.middleware`: API Gateway's
`requestContext.http.sourceIp` (the socket peer API Gateway saw), never a client header;
behind a CDN (`CLIENT_IP_HEADER`) the one header that CDN sets, and then only it; behind
the stack's own CloudFront (`CDN_ENABLED`) its `CloudFront-Viewer-Address`.

A network never reaches a key or a log line as itself: `network_hash` is its keyed
pseudonym (HMAC-SHA256 with the guest cookie secret, as `aiimage.edits.abuse.scope_hash`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from aiimage import credentials

# A guest whose network is unknown (no API Gateway event: never behind API Gateway) counts
# against this one shared network: unknown callers can mint no allowance of their own.
UNKNOWN_NETWORK = "unknown"
IPV6_PREFIX = 64
_HASH_LENGTH = 32


def client_network(source_ip: str) -> str | None:
    """The network of an address: "198.51.100.7", "2001:db8:1:2::/64"; None for anything
    that is not one address."""
    try:
        address = ipaddress.ip_address(source_ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    # int() drops a zone index (`fe80::1%eth0`): the prefix is the same on every link.
    network = ipaddress.IPv6Network((int(address), IPV6_PREFIX), strict=False)
    return str(network)


def cloudfront_viewer_ip(header: str) -> str | None:
    """The address of CloudFront's `CloudFront-Viewer-Address` header ("198.51.100.7:46532",
    "2001:db8::1:46532": the address, a colon, the viewer's port); None when malformed."""
    address, colon, port = header.strip().rpartition(":")
    if not colon or not port.isdigit():
        return None
    return address.strip("[]") or None


def network_hash(network: str) -> str:
    """The keyed pseudonym of a network (hex, 32 characters): stable, not reversible
    without the key."""
    key = credentials.guest_cookie_secret().get_secret_value().encode()
    message = b"client-network:v1:" + network.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:_HASH_LENGTH]
