"""SSRF through provider output URLs (`aiimage.providers.outputs.fetch_output`): only the
provider's own origins (scheme, host and port), no redirects, no credentials. A transport
records what would have been sent, so a refused URL is proven never to be requested at all.
The address checks after resolution are in tests/unit/test_outputs.py and, over sockets,
tests/functional/test_outputs_fetch.py."""

from __future__ import annotations

import httpx
import pytest

from aiimage.providers.base import ProviderUnavailableError
from aiimage.providers.outputs import OutputPolicy, fetch_output, output_client

ALLOWED = OutputPolicy.of(
    "https://replicate.delivery", "https://*.replicate.delivery", "https://im.runware.ai"
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


class Recorder:
    def __init__(self, answer: httpx.Response | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer or httpx.Response(
            200, content=PNG, headers={"content-type": "image/png"}
        )


def client(recorder: Recorder) -> httpx.Client:
    real = output_client(5.0, ALLOWED)
    # The production client's own settings (no redirects), with a recording transport.
    return httpx.Client(
        transport=httpx.MockTransport(recorder), follow_redirects=real.follow_redirects
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://127.0.0.1:9000/",
        "http://localhost/",
        "http://10.0.0.5/internal",
        "http://192.168.1.1/",
        "http://0.0.0.0/",
        "http://2130706433/",  # 127.0.0.1 as one number
        "https://replicate.delivery@evil.example/x.png",  # userinfo trick
        "https://replicate.delivery:443@evil.example/x.png",
        "https://replicate.delivery\\@evil.example/x.png",
        "https://evil.example\\@replicate.delivery/x",  # a user (sent as credentials): refused
        "https://evil.example#@replicate.delivery/x.png",
        "https://evil.example?@replicate.delivery/x.png",
        "https://evil.example%40replicate.delivery/x.png",
        "https://replicate.delivery.evil.example/x.png",  # allowed name as a subdomain
        "https://evilreplicate.delivery/x.png",  # allowed name as a suffix only
        "https://replicate.delivery./x.png",  # trailing dot
        "https://replicate.delivery:8443/x.png",  # another port of an allowed host
        "http://replicate.delivery/x.png",  # another scheme
        "http://replicate.delivery:443/x.png",
        "https://repl\u0456cate.delivery/x.png",  # Cyrillic i: an IDN look-alike
        "https://xn--replicate-delivery-xyz.example/x.png",
        "file:///etc/passwd",
        "gopher://replicate.delivery/",
        "ftp://replicate.delivery/x.png",
        "//replicate.delivery/x.png",
        "",
    ],
)
def test_urls_off_the_allow_list_are_never_requested(url: str) -> None:
    recorder = Recorder()
    with pytest.raises(ProviderUnavailableError) as refused:
        fetch_output(client(recorder), url, policy=ALLOWED, max_bytes=1024)
    assert refused.value.code == "provider_output_refused"
    assert recorder.requests == []


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://evil.example/x.png",
        "https://cdn.replicate.delivery/x.png",  # even an allowed host: no redirect at all
    ],
)
def test_a_redirect_is_not_followed(target: str) -> None:
    recorder = Recorder(httpx.Response(302, headers={"location": target}))
    with pytest.raises(ProviderUnavailableError):
        fetch_output(
            client(recorder),
            "https://replicate.delivery/out.png",
            policy=ALLOWED,
            max_bytes=1024,
        )
    assert [str(r.url) for r in recorder.requests] == ["https://replicate.delivery/out.png"]


def test_the_output_client_itself_follows_no_redirects() -> None:
    client = output_client(5.0, ALLOWED)
    assert client.follow_redirects is False
    assert client.trust_env is False  # no proxy from the environment


def test_an_allowed_host_gets_no_credentials() -> None:
    recorder = Recorder()
    data, content_type = fetch_output(
        client(recorder),
        "https://pbxt.replicate.delivery/abc/out.png",
        policy=ALLOWED,
        max_bytes=1024,
    )
    assert (data, content_type) == (PNG, "image/png")
    (request,) = recorder.requests
    assert "authorization" not in request.headers
    assert "cookie" not in request.headers


@pytest.mark.parametrize(
    "url",
    [
        "https://replicate.delivery/x",
        "https://a.b.replicate.delivery/x",
        "https://IM.RUNWARE.AI/x",
    ],
)
def test_the_checked_host_is_the_host_httpx_connects_to(url: str) -> None:
    # The check and the client must parse a URL the same way, or a crafted URL could pass
    # the check naming one host and connect to another.
    connected = (httpx.URL(url).host or "").lower()
    assert ALLOWED.admits(httpx.URL(url))
    recorder = Recorder()
    fetch_output(client(recorder), url, policy=ALLOWED, max_bytes=1024)
    assert recorder.requests[0].url.host.lower() == connected


def test_an_answer_that_is_not_an_image_is_refused() -> None:
    recorder = Recorder(
        httpx.Response(200, content=b"<html>", headers={"content-type": "text/html"})
    )
    with pytest.raises(ProviderUnavailableError):
        fetch_output(client(recorder), "https://replicate.delivery/x", policy=ALLOWED, max_bytes=64)
