"""The caller's network (`aiimage.network`) and where it comes from: API Gateway's sourceIp
(in AWS through Mangum, locally through the gateway from the socket), the CDN's header only
when configured, and never a header a client can write."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mangum import Mangum
from starlette.requests import HTTPConnection
from starlette.types import Receive, Scope, Send

from aiimage.http.middleware import client_network as network_of_request
from aiimage.http.middleware import resolve_identity
from aiimage.network import client_network, network_hash
from bench.events import quiet_invoke
from infra.gateway import HttpApiGateway, Route, with_source_ip
from tests.conftest import make_token

_ipv6 = st.integers(min_value=0, max_value=2**128 - 1).map(ipaddress.IPv6Address)
_ipv4 = st.integers(min_value=0, max_value=2**32 - 1).map(ipaddress.IPv4Address)
_host_bits = st.integers(min_value=0, max_value=2**64 - 1)


def _not_mapped(address: ipaddress.IPv6Address) -> bool:
    return address.ipv4_mapped is None


@given(_ipv6.filter(_not_mapped), _host_bits, _host_bits)
def test_every_ipv6_address_of_one_64_is_the_same_network(
    address: ipaddress.IPv6Address, one: int, other: int
) -> None:
    prefix = int(address) >> 64 << 64
    first = client_network(str(ipaddress.IPv6Address(prefix | one)))
    second = client_network(str(ipaddress.IPv6Address(prefix | other)))
    if not (
        _not_mapped(ipaddress.IPv6Address(prefix | one))
        and _not_mapped(ipaddress.IPv6Address(prefix | other))
    ):
        return  # ::ffff:0:0/96 lies inside one /64 and counts per IPv4 address instead
    assert first == second == str(ipaddress.IPv6Network((prefix, 64)))


@given(_ipv6.filter(_not_mapped), _ipv6.filter(_not_mapped))
def test_different_64s_are_different_networks(
    one: ipaddress.IPv6Address, other: ipaddress.IPv6Address
) -> None:
    same_prefix = int(one) >> 64 == int(other) >> 64
    assert (client_network(str(one)) == client_network(str(other))) == same_prefix


@given(_ipv4)
def test_ipv4_counts_per_address_and_mapped_ipv6_is_the_ipv4_address(
    address: ipaddress.IPv4Address,
) -> None:
    assert client_network(str(address)) == str(address)
    assert client_network(f"::ffff:{address}") == str(address)
    assert client_network(str(ipaddress.IPv6Address(f"::ffff:{address}").exploded)) == str(address)


@pytest.mark.parametrize(
    "value",
    ["", "garbage", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4, 5.6.7.8", "::g", "1.2.3.4/24"],
)
def test_anything_but_one_address_is_no_network(value: str) -> None:
    assert client_network(value) is None


def test_examples() -> None:
    assert client_network("198.51.100.7") == "198.51.100.7"
    assert client_network("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64"
    assert client_network("2001:DB8:1:2::1") == "2001:db8:1:2::/64"
    assert client_network("fe80::1%eth0") == "fe80::/64"


def test_the_network_key_is_a_keyed_hash_never_the_address() -> None:
    key = network_hash("198.51.100.7")
    assert len(key) == 32
    assert set(key) <= set("0123456789abcdef")
    assert key == network_hash("198.51.100.7") != network_hash("198.51.100.8")


# --- where the address comes from ---------------------------------------------------------


def connection(
    headers: dict[str, str] | None = None, source_ip: str | None = None, client: str = "10.9.9.9"
) -> HTTPConnection:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": (client, 1234),
    }
    if source_ip is not None:
        scope["aws.event"] = {"requestContext": {"http": {"sourceIp": source_ip}}}
    return HTTPConnection(scope)


SPOOFS = {"X-Forwarded-For": "1.2.3.4", "X-Real-IP": "1.2.3.4", "CF-Connecting-IP": "1.2.3.4"}


def test_the_network_is_api_gateways_source_ip_and_no_header() -> None:
    assert network_of_request(connection(SPOOFS, source_ip="203.0.113.7")) == "203.0.113.7"
    # No API Gateway event (never behind API Gateway): unknown, not the socket, not a header.
    assert network_of_request(connection(SPOOFS)) is None


def test_behind_a_cdn_only_its_one_header_counts(settings_env: Callable[..., None]) -> None:
    settings_env(CLIENT_IP_HEADER="CF-Connecting-IP")
    request = connection({**SPOOFS, "CF-Connecting-IP": "2001:db8::5"}, source_ip="203.0.113.7")
    assert network_of_request(request) == "2001:db8::/64"
    assert network_of_request(connection({"X-Forwarded-For": "1.2.3.4"}, "203.0.113.7")) is None


def test_guests_and_users_alike_carry_their_network() -> None:
    guest = resolve_identity(connection(SPOOFS, source_ip="2001:db8:7:7::1"), [])
    assert (guest.owner_type, guest.network) == ("guest", "2001:db8:7:7::/64")
    bearer = {"Authorization": f"Bearer {make_token()}", **SPOOFS}
    user = resolve_identity(connection(bearer, source_ip="198.51.100.9"), [])
    assert (user.owner_type, user.network) == ("user", "198.51.100.9")


# --- the local gateway and Mangum give the app the same network ---------------------------


async def _echo_network(scope: Scope, receive: Receive, send: Send) -> None:
    body = str(network_of_request(HTTPConnection(scope))).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def test_the_local_gateway_sets_source_ip_from_the_socket_as_mangum_does() -> None:
    gateway = HttpApiGateway([Route("GET", "/n", "F", "f.handler", _echo_network, None, False, 0)])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = connection({"X-Forwarded-For": "1.2.3.4"}, client="127.0.0.2").scope
    asyncio.run(gateway(scope, receive, send))
    assert sent[-1]["body"] == b"127.0.0.2"
    assert with_source_ip({"type": "http"}) == {"type": "http"}

    # In AWS: the event's sourceIp, through Mangum, reaches the app as the same network.
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/n",
        "rawQueryString": "",
        "headers": {"x-forwarded-for": "1.2.3.4", "host": "api.example.com"},
        "requestContext": {
            "http": {
                "method": "GET",
                "path": "/n",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.2",
            },
            "domainName": "api.example.com",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    response = quiet_invoke(Mangum(_echo_network, lifespan="off"), event)
    assert response["body"] == "127.0.0.2"
