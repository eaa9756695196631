"""The output allow-list without a server: origins parsed strictly and compared with their
port, the addresses refused after resolution in every spelling, the backend that resolves
once and connects to the address it checked, and the setting that fails at load."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import httpcore
import httpx
import pytest
from pydantic import ValidationError

from aiimage.origins import Origin
from aiimage.providers import outputs
from aiimage.providers.base import ProviderUnavailableError
from aiimage.providers.outputs import (
    AddressRefusedError,
    GuardedBackend,
    OutputPolicy,
    is_public_address,
    resolve,
)
from aiimage.settings import Settings, get_settings

# --- origins ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "origin"),
    [
        ("https://replicate.delivery", Origin("https", "replicate.delivery", 443)),
        ("https://replicate.delivery/", Origin("https", "replicate.delivery", 443)),
        ("HTTPS://Replicate.Delivery:443", Origin("https", "replicate.delivery", 443)),
        ("http://127.0.0.1:9000", Origin("http", "127.0.0.1", 9000)),
        ("http://outputs.example", Origin("http", "outputs.example", 80)),
        ("http://[::1]:8080", Origin("http", "::1", 8080)),
        ("https://*.runware.ai", Origin("https", "runware.ai", 443, subdomains=True)),
    ],
)
def test_an_entry_is_scheme_host_and_port(entry: str, origin: Origin) -> None:
    assert Origin.parse(entry) == origin


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("replicate.delivery", "has no scheme"),
        ("127.0.0.1:9000", "has no scheme"),
        ("ftp://replicate.delivery", "http or https"),
        ("https://replicate.delivery/outputs", "no path"),
        ("https://replicate.delivery?x=1", "no path"),
        ("https://replicate.delivery#x", "no path"),
        ("https://user@replicate.delivery", "no user"),
        ("https://replicate.delivery:99999", "port"),
        ("https://replicate.delivery:http", "port"),
        ("https://*.127.0.0.1", "not an ASCII host"),
        ("https://repl\u0456cate.delivery", "not an ASCII host"),
        ("https://", "not an ASCII host"),
        ("https://*", "not an ASCII host"),
    ],
)
def test_a_malformed_entry_is_an_error_saying_why(entry: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Origin.parse(entry)


def test_the_setting_fails_at_load_on_an_entry_without_scheme(
    settings_env: Callable[..., None],
) -> None:
    settings_env(PROVIDER_OUTPUT_ORIGINS="https://cdn.example, outputs.example:8443")
    with pytest.raises(ValidationError, match="has no scheme: write the origin"):
        get_settings()


def test_the_setting_parses_a_list_of_origins() -> None:
    settings = Settings.model_validate(
        {"provider_output_origins": "https://cdn.example, http://10.1.2.3:81"}
    )
    assert settings.provider_output_origins == (
        Origin("https", "cdn.example", 443),
        Origin("http", "10.1.2.3", 81),
    )
    assert Settings().provider_output_origins == ()


POLICY = OutputPolicy.of(
    "https://replicate.delivery",
    "https://*.replicate.delivery",
    "http://127.0.0.1:9000",
    own=["https://api.example.com", "http://127.0.0.1:3000"],
    allow_loopback=True,
)


@pytest.mark.parametrize(
    ("url", "admitted"),
    [
        ("https://replicate.delivery/x.png", True),
        ("https://replicate.delivery:443/x.png", True),
        ("https://pbxt.replicate.delivery/x.png", True),
        ("https://replicate.delivery:444/x.png", False),
        ("http://replicate.delivery/x.png", False),
        ("http://127.0.0.1:9000/v1/__outputs/p.png", True),
        ("http://127.0.0.1:9001/evil.png", False),  # the finding: another port
        ("http://127.0.0.1/evil.png", False),
        ("https://127.0.0.1:9000/x.png", False),
        ("http://127.0.0.1:3000/r2-ai/x.png", False),  # our own API
        ("https://api.example.com/r2-ai/x.png", False),
        ("https://user:pw@replicate.delivery/x.png", False),
    ],
)
def test_the_policy_compares_scheme_host_and_port(url: str, admitted: bool) -> None:
    assert POLICY.admits(httpx.URL(url)) is admitted


def test_the_apis_own_host_name_is_refused_on_every_port_even_when_listed() -> None:
    policy = OutputPolicy.of("https://api.example.com:8443", own=["https://api.example.com"])
    assert not policy.admits(httpx.URL("https://api.example.com:8443/x.png"))
    assert policy.origins == frozenset()


# --- addresses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "10.0.0.5",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",  # carrier-grade NAT
        "169.254.169.254",  # the instance metadata service
        "0.0.0.0",  # noqa: S104 - an address refused, not bound
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",  # documentation
        "::",
        "::1",
        "fe80::1",
        "fd00:ec2::254",  # the metadata service over IPv6
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:8.8.8.8",  # IPv4-mapped: never what a resolver should hand us
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2001:db8::1",  # documentation
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "spelling", ["2130706433", "0x7f.1", "0x7f000001", "0177.0.0.1", "127.1", "017700000001"]
)
def test_every_spelling_of_loopback_resolves_to_loopback(spelling: str) -> None:
    # The check is on what the resolver answers, not on how a URL writes it.
    assert resolve(spelling, 80) == [ipaddress.ip_address("127.0.0.1")]


class Connected:
    """Records what the backend's parent class was asked to connect to."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

    def __call__(self, host: str, *args: Any, **kwargs: Any) -> object:
        self.hosts.append(host)
        return object()


@pytest.fixture
def connected(monkeypatch: pytest.MonkeyPatch) -> Connected:
    recorder = Connected()
    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", recorder)
    return recorder


def answers(*addresses: str) -> list[tuple[Any, ...]]:
    return [
        (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 443))
        for a in addresses
    ]


def test_the_backend_resolves_once_and_connects_to_the_address_it_checked(
    monkeypatch: pytest.MonkeyPatch, connected: Connected
) -> None:
    lookups: list[str] = []
    # A rebinding resolver: public first, then the metadata service on every later lookup.
    replies = iter([answers("8.8.8.8"), answers("169.254.169.254")])

    def resolver(host: str, *args: object, **kwargs: object) -> list[tuple[Any, ...]]:
        lookups.append(host)
        return next(replies)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    GuardedBackend(POLICY).connect_tcp("cdn.replicate.delivery", 443)
    assert lookups == ["cdn.replicate.delivery"]
    assert connected.hosts == ["8.8.8.8"]


def test_one_private_address_among_public_ones_refuses_the_host(
    monkeypatch: pytest.MonkeyPatch, connected: Connected
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: answers("8.8.8.8", "10.0.0.1"))
    with pytest.raises(AddressRefusedError):
        GuardedBackend(POLICY).connect_tcp("pbxt.replicate.delivery", 443)
    assert connected.hosts == []


def test_loopback_is_connected_to_only_on_an_allow_listed_loopback_port(
    connected: Connected,
) -> None:
    GuardedBackend(POLICY).connect_tcp("127.0.0.1", 9000)
    with pytest.raises(AddressRefusedError):
        GuardedBackend(POLICY).connect_tcp("127.0.0.1", 9001)
    no_loopback = OutputPolicy.of("http://127.0.0.1:9000")
    with pytest.raises(AddressRefusedError):
        GuardedBackend(no_loopback).connect_tcp("127.0.0.1", 9000)
    assert connected.hosts == ["127.0.0.1"]


def test_a_refused_address_is_a_refused_output(connected: Connected) -> None:
    policy = OutputPolicy.of("http://127.0.0.1:9000")  # the origin passes, the address not
    with (
        pytest.raises(ProviderUnavailableError) as refused,
        outputs.output_client(1.0, policy) as client,
    ):
        outputs.fetch_output(client, "http://127.0.0.1:9000/x", policy=policy, max_bytes=9)
    assert refused.value.code == "provider_output_refused"
    assert connected.hosts == []


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_deployed_stages_permit_no_loopback(settings_env: Callable[..., None], stage: str) -> None:
    settings_env(STAGE=stage, PROVIDER_OUTPUT_ORIGINS="http://127.0.0.1:9000")
    policy = outputs.output_policy("https://replicate.delivery", base_url="http://127.0.0.1:9001")
    assert policy.loopback_ports == frozenset()
    assert not policy.may_connect(ipaddress.ip_address("127.0.0.1"), 9000)


def test_the_local_and_test_stages_permit_their_loopback_origins(
    settings_env: Callable[..., None],
) -> None:
    settings_env(STAGE="local", PUBLIC_BASE_URL="http://127.0.0.1:3000")
    policy = outputs.output_policy("https://replicate.delivery", base_url="http://127.0.0.1:9001")
    assert policy.loopback_ports == frozenset({9001})
    assert not policy.admits(httpx.URL("http://127.0.0.1:3000/r2-ai/x.png"))
