"""The superadmin console page (`/admin`): both languages with the same keys, the scripts in
order, the config its script needs, every element id the script addresses, and the CSP
without inline code."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient

from aiimage.edits.models import ProviderName
from tests.conftest import assert_security_headers
from web_app import pages
from web_app.app import app
from web_app.messages import ERROR_MESSAGES
from web_app.messages_admin import ADMIN


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(app, base_url="https://app.test", raise_server_exceptions=False) as c:
        yield c


def page_config(text: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="page-config">(.*?)</script>', text)
    assert match, "the page has no config block"
    config: dict[str, Any] = json.loads(match.group(1))
    return config


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.inline_scripts = 0
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        element_id = names.get("id")
        if element_id:
            self.ids.append(element_id)
        if tag == "script" and "src" not in names and names.get("type") != "application/json":
            self.inline_scripts += 1
        self.handlers += [name for name in names if name.startswith("on")]


def parsed(text: str) -> _Ids:
    parser = _Ids()
    parser.feed(text)
    return parser


def test_both_languages_have_the_same_texts() -> None:
    assert ADMIN["de"].keys() == ADMIN["en"].keys()
    assert all(ADMIN["de"].values())
    assert all(ADMIN["en"].values())


def test_the_console_is_german_by_default_and_english_on_request(client: TestClient) -> None:
    german = client.get("/admin")
    assert german.status_code == 200
    assert '<html lang="de">' in german.text
    assert "<title>KI-Bearbeitung: Superadmin-Konsole</title>" in german.text
    assert "Betrieb" in german.text
    english = client.get("/admin?lang=en")
    assert '<html lang="en">' in english.text
    assert "<title>AI editing: superadmin console</title>" in english.text
    assert page_config(english.text)["messages"]["fakeOption"] == (
        "not for cost or quality statements"
    )
    assert page_config(german.text)["messages"]["fakeOption"] == (
        "nicht für Kosten- oder Qualitätsaussagen"
    )
    # Refusals are shown by code in the page's language.
    assert page_config(german.text)["errors"] == ERROR_MESSAGES["de"]
    assert page_config(english.text)["errors"] == ERROR_MESSAGES["en"]


def test_the_console_loads_the_sign_in_before_its_script_and_names_its_api(
    client: TestClient,
) -> None:
    text = client.get("/admin").text
    assert re.findall(r'<script src="/static/([a-z_]+\.js)\?v=', text) == [
        "common.js",
        "signin.js",
        "admin.js",
    ]
    assert pages.asset_url("admin.css") in text
    config = page_config(text)
    assert config["api"] == "/api/v1/admin"
    assert config["providers"] == list(get_args(ProviderName))
    assert config["auth"]["mode"] in ("local", "oidc")


def test_every_element_the_script_addresses_exists_once(client: TestClient) -> None:
    page = parsed(client.get("/admin").text)
    assert len(page.ids) == len(set(page.ids)), "duplicate ids"
    script = pages.ASSETS["admin.js"].body.decode()
    wanted = set(re.findall(r'\$\("([a-z0-9-]+)"\)', script))
    assert wanted - set(page.ids) == set()
    # Each screen of the navigation is a section of the page.
    assert {"settings", "styles", "packages", "budgets", "terms", "ops"} <= set(page.ids)


def test_every_field_of_the_settings_has_a_label_and_its_help(client: TestClient) -> None:
    text = client.get("/admin").text
    for field in (
        "kill-message",
        "set-default-provider",
        "set-fallback-provider",
        "set-runware-mode",
        "set-auto-dispatch",
        "set-queue-name",
        "set-max-polls",
    ):
        assert f'<label for="{field}">' in text, field
        assert re.search(rf'id="{field}"[^>]*aria-describedby="help-', text), field


def test_the_console_keeps_the_csp_without_inline_code(client: TestClient) -> None:
    for path in ("/admin", "/admin?lang=en"):
        response = client.get(path)
        assert_security_headers(response.headers)
        assert "'unsafe-inline'" not in response.headers["content-security-policy"]
        page = parsed(response.text)
        assert page.inline_scripts == 0
        assert page.handlers == []
