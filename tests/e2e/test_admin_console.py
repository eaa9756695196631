"""The superadmin console (`/admin`, issue 20) in Chromium against the local stack: a
superadmin signs in, flips the kill switch behind its confirmation and a guest is refused
`feature_disabled` with the status message; creates a style that a guest then sees;
sets a tenant's hard cap and a guest is refused `budget_exceeded`. Every screen without
console errors, with the security headers and a CSP without inline code, and without a
serious axe-core violation in both languages at phone width; screenshots of each screen."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from infra.seed_edits import STYLES, SUMMER_TOKEN, TENANT_ID
from tests.conftest import assert_security_headers
from tests.e2e.conftest import NO_CHROMIUM, BrowserPage, chromium_path, open_page, screenshot_path
from tests.e2e.test_pages_issue19 import serious_violations

if TYPE_CHECKING:
    from playwright.sync_api import APIRequestContext, Browser, Page

    from tests.plugins.stack import LocalStack

pytestmark = [pytest.mark.stack, pytest.mark.skipif(chromium_path() is None, reason=NO_CHROMIUM)]

GUEST_EDITS = f"/api/v1/events/{SUMMER_TOKEN}/photos/photo-summer-party-1/ai-edits"
GUEST_STYLES = f"/api/v1/events/{SUMMER_TOKEN}/ai-styles"
PHONE_WIDTH = 390
SCREENS = ("settings", "styles", "packages", "budgets", "terms", "ops")


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserPage]:
    yield from open_page(browser, viewport={"width": PHONE_WIDTH, "height": 844}, is_mobile=True)


@pytest.fixture
def guest(browser: Browser, local_stack: LocalStack) -> Iterator[APIRequestContext]:
    """A guest's own browser profile, with the CSRF cookie the API sets."""
    context = browser.new_context()
    try:
        context.request.get(local_stack.api + "/api/ai-image/usage")
        yield context.request
    finally:
        context.close()


def guest_create(guest: APIRequestContext, api: str) -> tuple[int, dict[str, Any]]:
    csrf = next(c["value"] for c in guest.storage_state()["cookies"] if c["name"] == "csrf_token")
    response = guest.post(
        api + GUEST_EDITS,
        data=json.dumps({"style_key": STYLES[0].key}),
        headers={"Content-Type": "application/json", "Origin": api, "X-CSRF-Token": csrf},
    )
    return response.status, response.json()


def admin_api(
    guest: APIRequestContext, stack: LocalStack, method: str, path: str, body: Any = None
) -> Any:
    """The superadmin API with the demo superadmin's token (setup and clean-up only)."""
    response = guest.fetch(
        stack.api + "/api/v1/admin" + path,
        method=method,
        data=None if body is None else json.dumps(body),
        headers={
            "Authorization": f"Bearer {stack.tokens['admin']}",
            "Content-Type": "application/json",
        },
    )
    assert response.ok, response.text()
    return response.json()["data"]


def sign_in(page: Page, api: str, lang: str = "de") -> None:
    response = page.goto(f"{api}/admin?lang={lang}")
    assert response is not None
    assert response.status == 200
    assert_security_headers(response.headers)
    csp = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp
    assert "script-src 'self'" in csp
    page.locator("#signin-button").click()
    page.locator("#console").wait_for(state="visible")
    page.wait_for_function("() => document.getElementById('settings-version').textContent !== ''")
    page.wait_for_function("() => document.querySelectorAll('#style-list tr').length > 0")


def confirm(page: Page, expected_text: str | None = None) -> None:
    dialog = page.locator("#confirm-dialog")
    dialog.wait_for(state="visible")
    if expected_text is not None:
        assert expected_text in page.locator("#confirm-text").inner_text()
    page.locator("#confirm-ok").click()
    dialog.wait_for(state="hidden")


def status_is(page: Page, text: str) -> None:
    page.wait_for_function(
        "(text) => document.getElementById('status').textContent.includes(text)", arg=text
    )


def test_the_kill_switch_is_confirmed_and_refuses_guests_with_its_message(
    local_stack: LocalStack, browser_page: BrowserPage, guest: APIRequestContext
) -> None:
    page, api = browser_page.page, local_stack.api
    sign_in(page, api)
    kill = page.locator("#kill-state")
    assert kill.inner_text() == "KI-Bearbeitung ist AN."
    version = int(page.locator("#settings-version").inner_text())
    try:
        page.locator("#kill-message").fill("Wartung bis 18 Uhr")
        # Cancelled first: nothing changes.
        page.locator("#kill-button").click()
        page.locator("#confirm-dialog").wait_for(state="visible")
        page.locator("#confirm-cancel").click()
        status_is(page, "Nicht geändert.")
        assert admin_api(guest, local_stack, "GET", "/ai-editing/settings")["is_enabled"] is True

        page.locator("#kill-button").click()
        confirm(page, "Wartung bis 18 Uhr")
        status_is(page, f"Gespeichert: Version {version + 1}.")
        assert kill.inner_text() == "KI-Bearbeitung ist AUS. Gäste sehen: „Wartung bis 18 Uhr“"
        status, body = guest_create(guest, api)
        assert status == 403
        assert body["error"]["code"] == "feature_disabled"
        assert body["error"]["message"] == "Wartung bis 18 Uhr"

        page.locator("#kill-button").click()
        confirm(page)
        status_is(page, f"Gespeichert: Version {version + 2}.")
        assert kill.inner_text() == "KI-Bearbeitung ist AN."
        status, body = guest_create(guest, api)
        assert status == 201, body
    finally:
        current = admin_api(guest, local_stack, "GET", "/ai-editing/settings")
        if not current["is_enabled"]:
            admin_api(
                guest,
                local_stack,
                "PUT",
                "/ai-editing/settings",
                {"expected_version": current["version"], "changes": {"is_enabled": True}},
            )
    assert browser_page.record.console_errors() == []


def test_a_version_conflict_is_explained_and_the_current_values_loaded(
    local_stack: LocalStack, browser_page: BrowserPage, guest: APIRequestContext
) -> None:
    page, api = browser_page.page, local_stack.api
    sign_in(page, api, "en")
    loaded = int(page.locator("#settings-version").inner_text())
    # Another superadmin saves meanwhile.
    admin_api(
        guest,
        local_stack,
        "PUT",
        "/ai-editing/settings",
        {"expected_version": loaded, "changes": {"queue_max_polls": 31}},
    )
    page.locator("#set-max-polls").fill("40")
    page.locator("#settings-form button[type=submit]").click()
    confirm(page, "queue_max_polls: 30 → 40")
    error = page.get_by_role("alert").filter(has_text="changed meanwhile")
    error.wait_for()
    assert error.inner_text() == (
        f"The settings were changed meanwhile (your version {loaded}, now {loaded + 1}). "
        "Nothing was saved. The current values are loaded now: please check them and make "
        "your change again."
    )
    page.wait_for_function("() => document.getElementById('set-max-polls').value === '31'")
    assert page.locator("#settings-version").inner_text() == str(loaded + 1)
    admin_api(
        guest,
        local_stack,
        "PUT",
        "/ai-editing/settings",
        {"expected_version": loaded + 1, "changes": {"queue_max_polls": 30}},
    )
    # Chromium logs the refused PUT itself; nothing else may be logged.
    errors = browser_page.record.console_errors()
    assert [e for e in errors if "status of 409" not in e] == []
    assert len(errors) == 1


def test_a_new_style_is_previewed_saved_and_seen_by_guests(
    local_stack: LocalStack, browser_page: BrowserPage, guest: APIRequestContext
) -> None:
    page, api = browser_page.page, local_stack.api
    sign_in(page, api)
    page.locator("a[data-screen=styles]").click()
    page.locator("#styles").wait_for(state="visible")
    page.locator("#style-new").click()
    page.locator("#style-key").fill("e2e-pastel")
    page.locator("#style-name").fill("Pastel")
    page.locator("#style-name-de").fill("Pastell")
    page.locator("#style-name-en").fill("Pastel")
    page.locator("#style-provider").select_option("local")
    page.locator("#style-model").fill("style:dream")
    page.locator("#style-prompt").fill("a {prompt} in soft pastel")
    page.locator("#style-cost").fill("0.02")
    page.locator("#preview-custom").fill("cat")
    page.locator("#preview-button").click()
    preview = page.locator("#preview-output")
    preview.filter(has_text="Gesendet würde").wait_for()
    assert preview.inner_text() == "Gesendet würde: „a cat in soft pastel“"

    page.locator("#style-save").click()
    confirm(page, "e2e-pastel")
    status_is(page, "Gespeichert.")
    row = page.locator("#style-list tr[data-key=e2e-pastel]")
    assert row.locator("td").nth(4).inner_text() == "0.02"
    stored = next(
        s for s in admin_api(guest, local_stack, "GET", "/ai-styles") if s["key"] == "e2e-pastel"
    )
    assert stored["cost_estimate_micros"] == 20_000
    assert stored["names"] == {"de": "Pastell", "en": "Pastel"}
    seen = guest.get(api + GUEST_STYLES).json()["data"]
    assert "e2e-pastel" in [s["key"] for s in seen]

    row.get_by_role("button", name="Deaktivieren …").click()
    confirm(page, "e2e-pastel")
    status_is(page, "Gespeichert.")
    page.locator("#style-list tr[data-key=e2e-pastel]").filter(has_text="deaktiviert").wait_for()
    seen = guest.get(api + GUEST_STYLES).json()["data"]
    assert "e2e-pastel" not in [s["key"] for s in seen]
    assert browser_page.record.console_errors() == []


def test_a_hard_cap_refuses_the_next_guest_request(
    local_stack: LocalStack, browser_page: BrowserPage, guest: APIRequestContext
) -> None:
    page, api = browser_page.page, local_stack.api
    before = admin_api(guest, local_stack, "GET", f"/tenants/{TENANT_ID}/budget")["budget"]
    sign_in(page, api)
    page.locator("a[data-screen=budgets]").click()
    page.locator("#budget-tenant").fill(TENANT_ID)
    page.locator("#budget-lookup button[type=submit]").click()
    page.locator("#budget-form").wait_for(state="visible")
    assert page.locator("#budget-hard").input_value() == "20"
    # No cooldown of the tenant's own: empty, the deployment's 30 minutes as placeholder.
    cooldown = page.locator("#budget-cooldown")
    assert (cooldown.input_value(), cooldown.get_attribute("placeholder")) == ("", "30")
    try:
        page.locator("#budget-hard").fill("0")
        cooldown.fill("5")
        page.locator("#budget-save").click()
        confirm(page, "hart 0 USD")
        status_is(page, "Gespeichert.")
        page.locator("#budget-usage").filter(has_text="hart 0 USD").wait_for()
        saved = admin_api(guest, local_stack, "GET", f"/tenants/{TENANT_ID}/budget")
        assert saved["budget"]["hard_cap_micros"] == 0
        in_effect = (saved["budget"]["alert_cooldown_minutes"], saved["alert_cooldown_minutes"])
        assert in_effect == (5, 5)
        status, body = guest_create(guest, api)
        assert status == 403
        assert body["error"]["code"] == "budget_exceeded"
    finally:
        admin_api(guest, local_stack, "PUT", f"/tenants/{TENANT_ID}/budget", before)
    assert browser_page.record.console_errors() == []


def _visit_every_screen(page: Page, api: str) -> Iterator[str]:
    """Each screen with something on it (an event, a tenant, a dry run), by name."""
    for screen in SCREENS:
        page.locator(f"a[data-screen={screen}]").click()
        page.locator(f"#{screen}").wait_for(state="visible")
        if screen == "packages":
            page.locator("#event-tenant").fill(TENANT_ID)
            page.locator("#event-slug").fill("winter-gala")
            page.locator("#event-form button[type=submit]").click()
            page.locator("#event-view").wait_for(state="visible")
        elif screen == "budgets":
            page.locator("#budget-tenant").fill(TENANT_ID)
            page.locator("#budget-lookup button[type=submit]").click()
            page.locator("#budget-form").wait_for(state="visible")
        elif screen == "ops":
            page.locator("#recover-list").click()
            page.locator("#recover-output").filter(has_text="recover-stuck").wait_for()
        yield screen


@pytest.mark.parametrize("lang", ["de", "en"])
def test_every_screen_at_phone_width_has_no_serious_axe_violation(
    local_stack: LocalStack, phone: BrowserPage, lang: str, tmp_path: Path
) -> None:
    page = phone.page
    sign_in(page, local_stack.api, lang)
    for screen in _visit_every_screen(page, local_stack.api):
        assert serious_violations(page) == [], (lang, screen)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH, screen
        if lang == "de" or screen == "settings":
            suffix = "" if lang == "de" else "-en"
            page.screenshot(
                path=str(screenshot_path(tmp_path, f"admin-{screen}{suffix}.png")), full_page=True
            )
    # The dialog too: focus starts on the safe answer.
    page.locator("a[data-screen=settings]").click()
    page.locator("#kill-button").click()
    page.locator("#confirm-dialog").wait_for(state="visible")
    assert page.evaluate("document.activeElement.id") == "confirm-cancel"
    assert serious_violations(page) == []
    page.keyboard.press("Escape")
    page.locator("#confirm-dialog").wait_for(state="hidden")
    assert phone.record.console_errors() == []
