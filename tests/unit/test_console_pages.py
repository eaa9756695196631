"""The consoles' pages of the web app: the tenant control room, the sign-in config block
(local demo users or OIDC with PKCE), the CSP that lets the sign-in reach the issuer, and
the template parameter behind the OIDC client."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from infra.template import load_template
from tests.conftest import assert_security_headers
from web_app import console_pages, pages
from web_app.app import app
from web_app.messages_console import SIGNIN, TENANT

EVENT_PAGE = "/tenant/events/summer-party"


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(app, base_url="https://app.test", raise_server_exceptions=False) as c:
        yield c


def page_config(text: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="page-config">(.*?)</script>', text)
    assert match, "the page has no config block"
    config: dict[str, Any] = json.loads(match.group(1))
    return config


def scripts(text: str) -> list[str]:
    return list(re.findall(r'<script src="/static/([a-z_]+\.js)\?v=', text))


def test_the_tenant_pages_are_german_by_default_and_english_on_request(client: TestClient) -> None:
    for path in ("/tenant", EVENT_PAGE):
        german = client.get(path)
        assert german.status_code == 200
        assert '<html lang="de">' in german.text
        assert "Anmelden" in german.text
        english = client.get(path + "?lang=en")
        assert '<html lang="en">' in english.text
        assert "Sign in" in english.text
        assert page_config(english.text)["messages"]["signin.expired"] == (
            "Your session has expired. Please sign in again."
        )
        assert page_config(german.text)["messages"]["signin.expired"] == (
            "Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an."
        )


def test_a_console_page_loads_the_sign_in_before_its_own_script(client: TestClient) -> None:
    assert scripts(client.get("/tenant").text) == ["common.js", "signin.js", "tenant.js"]
    assert scripts(client.get(EVENT_PAGE).text) == ["common.js", "signin.js", "tenant_event.js"]


def test_the_event_page_hands_its_slug_and_the_statuses_to_its_script(client: TestClient) -> None:
    config = page_config(client.get(EVENT_PAGE).text)
    assert config["eventSlug"] == "summer-party"
    assert config["statuses"] == ["queued", "processing", "succeeded", "failed", "blocked"]


@pytest.mark.parametrize("slug", ["Upper", "-dash", "a" * 65, "semi;colon", "%3Cscript%3E"])
def test_a_slug_the_api_would_refuse_is_a_404_page(client: TestClient, slug: str) -> None:
    response = client.get("/tenant/events/" + slug)
    assert response.status_code == 404
    assert "<script>" not in response.text
    assert_security_headers(response.headers)


def test_the_console_pages_keep_the_csp_without_inline_code(client: TestClient) -> None:
    for path in ("/tenant", EVENT_PAGE):
        response = client.get(path)
        assert_security_headers(response.headers)
        csp = response.headers["content-security-policy"]
        assert "unsafe-inline" not in csp
        assert "script-src 'self';" in csp
        assert " style=" not in response.text
        assert "<style" not in response.text
        for attributes, body in re.findall(r"<script([^>]*)>(.*?)</script>", response.text, re.S):
            assert 'type="application/json"' in attributes or (" src=" in attributes and not body)


def test_the_local_stage_signs_in_with_the_demo_users(
    client: TestClient, settings_env: Callable[..., None]
) -> None:
    settings_env(STAGE="local", JWT_ISSUER="https://id.example.com/pool", OIDC_CLIENT_ID="abc")
    response = client.get("/tenant")
    assert page_config(response.text)["auth"] == {
        "mode": "local",
        "localPath": pages.LOCAL_SIGN_IN_PATH,
    }
    # The issuer is not reached from the page on the local stage.
    assert "id.example.com" not in response.headers["content-security-policy"]


def test_in_aws_the_sign_in_is_oidc_against_the_issuer(
    client: TestClient, settings_env: Callable[..., None]
) -> None:
    settings_env(
        STAGE="prod", JWT_ISSUER="https://id.example.com/pool-1", OIDC_CLIENT_ID="client-123"
    )
    response = client.get(EVENT_PAGE)
    assert page_config(response.text)["auth"] == {
        "mode": "oidc",
        "issuer": "https://id.example.com/pool-1",
        "clientId": "client-123",
        "scope": "openid",
    }
    csp = response.headers["content-security-policy"]
    directives = {d.split(" ", 1)[0]: d for d in csp.split("; ")}
    assert directives["connect-src"].endswith(" https://id.example.com")
    assert "id.example.com" not in directives["script-src"]
    assert "id.example.com" not in directives["form-action"]


def test_without_a_client_id_the_page_names_no_issuer_origin(
    client: TestClient, settings_env: Callable[..., None]
) -> None:
    settings_env(STAGE="dev", JWT_ISSUER="https://id.example.com/pool-1", OIDC_CLIENT_ID="")
    response = client.get("/tenant")
    assert page_config(response.text)["auth"]["clientId"] is None
    assert "id.example.com" not in response.headers["content-security-policy"]


def test_the_template_passes_the_public_oidc_client_to_the_web_app() -> None:
    template = load_template()
    parameter = template.parameters["OidcClientId"]
    assert (parameter.type, parameter.default) == ("String", "")
    environment = template.functions["WebAppFunction"].environment
    assert environment["OIDC_CLIENT_ID"] == {"Ref": "OidcClientId"}
    # The other functions do not need it.
    assert "OIDC_CLIENT_ID" not in template.functions["AiEditsApiFunction"].environment


def test_both_languages_have_the_same_console_messages() -> None:
    for table in (SIGNIN, TENANT):
        assert set(table["de"]) == set(table["en"])


def test_the_sign_in_panel_is_in_every_console_page(client: TestClient) -> None:
    for path in ("/tenant", EVENT_PAGE):
        text = client.get(path).text
        assert 'id="signin-panel"' in text
        assert 'id="signin-message" class="error" role="alert"' in text
        assert 'id="console" hidden' in text


def test_the_console_statuses_are_the_request_statuses() -> None:
    from aiimage.edits.models import EditStatus

    assert set(console_pages.EDIT_STATUSES) == set(EditStatus.__args__)  # type: ignore[attr-defined]
