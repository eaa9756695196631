"""The Enhancer page signs in with the identity provider in AWS (`static/signin.js`, OIDC
authorization code with PKCE), as the consoles do: a user reaches the plan's models, and
the token stays in memory. Locally the page offers the demo users instead
(`test_pages_issue19.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import NO_CHROMIUM, BrowserPage, chromium_path
from tests.e2e.oidc import TinyOidc, as_oidc_page
from tests.e2e.test_browser import wait_for_usage

if TYPE_CHECKING:
    from tests.plugins.stack import LocalStack

pytestmark = [pytest.mark.stack, pytest.mark.skipif(chromium_path() is None, reason=NO_CHROMIUM)]

ENHANCER = "/tools/imag-enhancer/app"


def test_the_enhancer_page_signs_in_with_the_identity_provider(
    local_stack: LocalStack, browser_page: BrowserPage
) -> None:
    oidc = TinyOidc(local_stack.tokens["pro"])
    try:
        page = browser_page.page
        as_oidc_page(page, oidc.base, r".*/tools/imag-enhancer/app(\?.*)?$")
        page.goto(local_stack.api + ENHANCER + "?lang=en")
        wait_for_usage(page, "0/3")
        # No demo users outside the local stage: the provider's button.
        assert page.locator("#demo-user").is_hidden()
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Signed in: demo-pro-user (Pro)").wait_for()
        wait_for_usage(page, "0/40")
        page.wait_for_function(
            "() => !document.querySelector('#model-list input[value=\"tencentarc/gfpgan\"]')"
            ".disabled"
        )
        [exchange] = oidc.exchanges
        assert exchange["grant_type"] == "authorization_code"
        assert exchange["redirect_uri"] == local_stack.api + ENHANCER + "?lang=en"
        assert len(exchange["code_verifier"]) >= 43
        # Back on the page without the code; nothing kept in storage or cookies.
        assert page.url == local_stack.api + ENHANCER + "?lang=en"
        assert page.evaluate("() => localStorage.length + sessionStorage.length") == 0
        assert "eyJ" not in page.evaluate("() => document.cookie")
        page.get_by_role("button", name="Sign out").click()
        wait_for_usage(page, "0/3")
        assert page.locator("#signed-in").inner_text() == ""
    finally:
        oidc.close()
