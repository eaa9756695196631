"""The web app function: pages, assets, caching, the page CSP, and what it refuses."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiimage.enhancer.model_catalog import CATALOG
from aiimage.settings import Settings, get_settings
from infra.seed_edits import seed_demo
from infra.template import load_template
from tests.conftest import ORIGIN, TEST_ENV, assert_security_headers
from web_app import pages
from web_app.app import app
from web_app.messages import MESSAGES, Lang

ENHANCER = "/tools/imag-enhancer/app"
EDITS = "/e/demo-join-token-0001"
CSRF = "a-csrf-token-of-sufficient-length"


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(app, base_url="https://app.test", raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def demo_event(aws_stack: None) -> None:
    """The demo catalog, whose summer event the join token of EDITS opens."""
    seed_demo(bucket=TEST_ENV["IMAGES_BUCKET"])


def page_config(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="page-config">(.*?)</script>', html)
    assert match, "the page has no config block"
    config: dict[str, Any] = json.loads(match.group(1))
    return config


def test_the_enhancer_page_is_german_by_default(client: TestClient) -> None:
    response = client.get(ENHANCER)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "private, no-cache"
    assert_security_headers(response.headers)
    assert '<html lang="de">' in response.text
    for word in ("Verbessern", "Original", "Ergebnis"):
        assert word in response.text
    # The page sets the guest and the CSRF cookie its script echoes.
    cookies = response.headers.get_list("set-cookie")
    assert any(c.startswith("guest_id=") and "HttpOnly" in c for c in cookies)
    assert any(c.startswith("csrf_token=") and "HttpOnly" not in c for c in cookies)


def test_the_enhancer_page_in_english(client: TestClient) -> None:
    response = client.get(ENHANCER, params={"lang": "en"})
    assert '<html lang="en">' in response.text
    assert ">Enhance<" in response.text
    assert page_config(response.text)["lang"] == "en"
    # An unknown language is the default, not an error.
    assert '<html lang="de">' in client.get(ENHANCER, params={"lang": "xx"}).text


def test_the_page_config_carries_the_catalog_and_the_server_limits(client: TestClient) -> None:
    config = page_config(client.get(ENHANCER).text)
    settings = get_settings()
    assert config["limits"] == {
        "maxUploadBytes": settings.max_upload_bytes,
        "maxInlineBytes": settings.max_inline_upload_bytes,
        "contentTypes": ["image/jpeg", "image/png", "image/webp"],
    }
    models = config["models"]
    assert isinstance(models, list)
    assert [m["slug"] for m in models] == list(CATALOG)
    esrgan = next(m for m in models if m["slug"] == "nightmareai/real-esrgan")
    assert esrgan["scales"] == [2, 4]
    assert esrgan["faceEnhance"]
    assert not esrgan["prompt"]
    assert set(config["messages"]) == {
        k.removeprefix("js.") for k in MESSAGES["de"] if k.startswith("js.")
    }


def test_both_languages_have_the_same_messages() -> None:
    assert set(MESSAGES["de"]) == set(MESSAGES["en"])


def test_the_config_block_cannot_close_its_script_element() -> None:
    block = pages._json_block({"text": "</script><script>alert(1)</script>&"})
    for character in "<>&":
        assert character not in block
    assert json.loads(block)["text"] == "</script><script>alert(1)</script>&"


@pytest.mark.usefixtures("demo_event")
def test_the_edits_page_names_its_event(client: TestClient) -> None:
    response = client.get(EDITS, params={"lang": "en"})
    assert response.status_code == 200
    assert_security_headers(response.headers)
    config = page_config(response.text)
    assert config["token"] == "demo-join-token-0001"
    assert config["event"]["name"] == "Summer Party"
    assert '<span id="event-name">Summer Party</span>' in response.text
    assert "Request edit" in response.text


@pytest.mark.usefixtures("aws_stack")
@pytest.mark.parametrize(
    ("lang", "title", "text"),
    [
        ("de", "Veranstaltung nicht gefunden", "Diesen Veranstaltungslink gibt es nicht"),
        ("en", "Event not found", "This event link does not exist"),
    ],
)
@pytest.mark.parametrize("token", ["not-a-real-token", "short", "bad.token.value"])
def test_a_link_that_opens_no_event_is_a_404_page(
    client: TestClient, token: str, lang: str, title: str, text: str
) -> None:
    response = client.get(f"/e/{token}", params={"lang": lang})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert_security_headers(response.headers)
    assert f"<title>{title}</title>" in response.text
    assert text in response.text
    assert 'role="alert"' in response.text
    assert "<form" not in response.text  # nothing to use
    assert re.search(r"\$\w", response.text) is None


@pytest.mark.usefixtures("demo_event")
@pytest.mark.parametrize(("path", "page"), [(ENHANCER, "enhancer"), (EDITS, "edits")])
@pytest.mark.parametrize("lang", ["de", "en"])
def test_each_page_has_the_shared_head_with_its_own_title_and_script(
    client: TestClient, path: str, page: str, lang: Lang
) -> None:
    text = client.get(path, params={"lang": lang}).text
    assert text.startswith(f'<!doctype html>\n<html lang="{lang}">\n<head>\n')
    assert text.count("<head>") == text.count("</head>") == 1
    head = text.split("</head>")[0]
    assert f"<title>{html.escape(MESSAGES[lang][f'{page}.title'])}</title>" in head
    scripts = re.findall(r'<script src="([^"]+)" defer></script>', head)
    # The Enhancer signs users in like the consoles (signin.js before its own script).
    signs_in = [pages.asset_url("signin.js")] if page == "enhancer" else []
    assert scripts == [pages.asset_url("common.js"), *signs_in, pages.asset_url(f"{page}.js")]
    assert re.search(r"\$\w", head) is None  # every placeholder filled
    assert "\n<body>" in text


@pytest.mark.parametrize("token", ["short", "a" * 65, "bad.token.value", "%3Cscript%3E1234"])
def test_a_malformed_event_token_is_not_found(client: TestClient, token: str) -> None:
    # Not looked up at all (no AWS here): a 404 page straight away.
    response = client.get(f"/e/{token}")
    assert response.status_code == 404
    assert "Veranstaltung nicht gefunden" in response.text
    assert_security_headers(response.headers)


@pytest.mark.usefixtures("demo_event")
def test_pages_keep_the_csp_without_inline_code(client: TestClient) -> None:
    for path in (ENHANCER, EDITS):
        response = client.get(path)
        csp = response.headers["content-security-policy"]
        assert "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp
        assert "script-src 'self';" in csp
        assert "style-src 'self';" in csp
        assert "frame-ancestors 'none'" in csp
        # No inline script or style the CSP would block: only the JSON data block.
        html = response.text
        assert " style=" not in html
        assert "<style" not in html
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
        for attributes, body in scripts:
            assert 'type="application/json"' in attributes or (" src=" in attributes and not body)


def test_the_page_csp_lets_the_browser_reach_the_object_store(
    client: TestClient, settings_env: Callable[..., None]
) -> None:
    settings_env(STORAGE_ENDPOINT_URL="https://acct.r2.cloudflarestorage.com/ignored/path")
    csp = client.get(ENHANCER).headers["content-security-policy"]
    directives = {d.split(" ", 1)[0]: d for d in csp.split("; ")}
    assert directives["connect-src"] == "connect-src 'self' https://acct.r2.cloudflarestorage.com"
    assert "https://acct.r2.cloudflarestorage.com" in directives["img-src"]
    assert "acct" not in directives["script-src"]


@pytest.mark.parametrize(
    ("env", "origins"),
    [
        ({"aws_region": "eu-central-1"}, ("https://s3.eu-central-1.amazonaws.com",)),
        (
            {"aws_region": "us-east-1"},
            ("https://s3.us-east-1.amazonaws.com", "https://s3.amazonaws.com"),
        ),
        ({"aws_endpoint_url": "http://127.0.0.1:5100"}, ("http://127.0.0.1:5100",)),
    ],
)
def test_storage_origins(env: dict[str, str], origins: tuple[str, ...]) -> None:
    settings = Settings(**env, storage_endpoint_url=None)
    assert pages.storage_origins(settings) == origins


def test_static_assets_have_type_etag_and_cache(client: TestClient) -> None:
    for name, kind in (("app.css", "text/css"), ("enhancer.js", "text/javascript")):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(kind)
        assert response.headers["etag"] == pages.ASSETS[name].etag
        assert response.headers["cache-control"] == "public, max-age=300"
        assert response.content == (pages.STATIC_DIR / name).read_bytes()
        assert_security_headers(response.headers)


def test_a_versioned_asset_url_is_immutable(client: TestClient) -> None:
    url = pages.asset_url("common.js")
    assert url in client.get(ENHANCER).text
    response = client.get(url)
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    # A stale version is served, but only briefly cached.
    stale = client.get("/static/common.js", params={"v": "000000000000"})
    assert stale.headers["cache-control"] == "public, max-age=300"


def test_a_matching_etag_is_not_modified(client: TestClient) -> None:
    etag = client.get("/static/app.css").headers["etag"]
    response = client.get("/static/app.css", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    changed = client.get("/static/app.css", headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/static/nope.js",
        "/static/",
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2fapp.py",
        "/static/%2e%2e%2f%2e%2e%2fweb_app%2fapp.py",
        "/static//etc/passwd",
        "/static/..\\app.py",
        "/static/app.css/../../app.py",
    ],
)
def test_unknown_assets_and_traversal_are_not_found(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert b"def " not in response.content
    assert b"root:" not in response.content
    assert_security_headers(response.headers)


def test_only_files_below_the_static_directory_are_indexed(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_text("1")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.css").write_text("b{}")
    (tmp_path / ".hidden").write_text("secret")
    assets = pages.load_assets(tmp_path)
    assert sorted(assets) == ["a.js", "sub/b.css"]


@pytest.mark.usefixtures("demo_event")
def test_pages_answer_get_only(client: TestClient) -> None:
    # Without Origin and CSRF token a POST is refused before routing; with them, 405.
    assert client.post(ENHANCER).status_code == 403
    client.cookies.set("csrf_token", CSRF)
    headers = {"Origin": ORIGIN, "X-CSRF-Token": CSRF}
    for path in (ENHANCER, EDITS, "/static/app.css"):
        response = client.post(path, headers=headers)
        assert response.status_code == 405
        assert response.headers["allow"] == "GET"


def test_the_template_routes_every_page_to_this_function() -> None:
    function = load_template().functions["WebAppFunction"]
    assert function.handler == "web_app.app.handler"
    routes = {(r.method, r.path) for r in function.routes}
    assert routes == {
        ("ANY", ENHANCER),
        ("ANY", "/e/{token}"),
        ("ANY", "/static/{path+}"),
        ("ANY", "/tenant"),
        ("ANY", "/tenant/events/{slug}"),
        ("ANY", "/admin"),
    }


def test_the_demo_sign_in_is_offered_on_the_local_stage_only(
    client: TestClient, settings_env: Callable[..., None]
) -> None:
    settings_env(STAGE="local")
    assert page_config(client.get(ENHANCER).text)["demoSignIn"] == pages.LOCAL_SIGN_IN_PATH
    for stage in ("test", "dev", "prod"):
        settings_env(STAGE=stage)
        assert page_config(client.get(ENHANCER).text)["demoSignIn"] is None


def test_outside_the_local_stage_the_enhancer_signs_in_with_the_identity_provider(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGE", "dev")
    monkeypatch.setenv("JWT_ISSUER", "https://id.example.test/")
    monkeypatch.setenv("OIDC_CLIENT_ID", "enhancer-web")
    get_settings.cache_clear()
    try:
        response = client.get(ENHANCER)
    finally:
        get_settings.cache_clear()
    config = page_config(response.text)
    assert config["auth"] == {
        "mode": "oidc",
        "issuer": "https://id.example.test/",
        "clientId": "enhancer-web",
        "scope": "openid",
    }
    assert config["demoSignIn"] is None  # no demo users outside the local stack
    csp = response.headers["content-security-policy"]
    assert "https://id.example.test" in csp.split("connect-src", 1)[1].split(";", 1)[0]
