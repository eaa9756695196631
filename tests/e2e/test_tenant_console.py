"""The tenant control room (issue 20) in Chromium against the local stack: the local sign-in
as the demo tenant admin, an expired token back to sign-in with the message, the summary's
failure-rate banner after a scripted run of failures, the status filter and a request's
detail with its timeline, the policy change that refuses a guest's next request with the
policy message (and a 409 explained), the budget hard cap a superadmin sets refusing the
tenant's own edit with `budget_exceeded`, the capability gate; no console error, the
security headers, a CSP without inline code, axe-core without serious violations, phone
width. Screenshots: `UPDATE_SCREENSHOTS=1` writes them to docs/screenshots/."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from infra.seed_edits import SUMMER_TOKEN
from tests.conftest import assert_security_headers
from tests.e2e.conftest import NO_CHROMIUM, BrowserPage, chromium_path, open_page, screenshot_path
from tests.e2e.oidc import TinyOidc, as_oidc_page
from tests.e2e.test_pages_issue19 import serious_violations
from web_app.messages import ERROR_MESSAGES

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

    from tests.plugins.stack import LocalStack

pytestmark = [pytest.mark.stack, pytest.mark.skipif(chromium_path() is None, reason=NO_CHROMIUM)]

SLUG = "summer-party"
TENANT_API = f"/api/v1/tenant/events/{SLUG}"
FAILING_STYLE = "broken-demo"


def bearer(stack: LocalStack, plan: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.tokens[plan]}"}


def api(stack: LocalStack, method: str, path: str, plan: str = "tenant", **kwargs: Any) -> Any:
    return httpx.request(
        method, stack.api + path, headers=bearer(stack, plan), timeout=30, **kwargs
    )


def sign_in(page: Page, stack: LocalStack, path: str) -> None:
    response = page.goto(stack.api + path)
    assert response is not None
    assert response.status == 200
    assert_security_headers(response.headers)
    page.locator("#signin-button").click()
    page.locator("#console").wait_for(state="visible")


@pytest.fixture
def tenant_page(browser: Browser) -> Iterator[BrowserPage]:
    yield from open_page(browser, viewport={"width": 1280, "height": 1000})


def no_console_errors(page: BrowserPage, *expected: int) -> None:
    """None but the browser's own line for a refusal the test provoked (`expected`)."""
    provoked = tuple(f"status of {status} " for status in expected)
    errors = [
        e
        for e in page.record.console_errors()
        if not ("Failed to load resource" in e and any(p in e for p in provoked))
    ]
    assert errors == []


def test_sign_in_as_the_tenant_admin_lists_the_events(
    local_stack: LocalStack, tenant_page: BrowserPage, tmp_path: Path
) -> None:
    page = tenant_page.page
    sign_in(page, local_stack, "/tenant")
    rows = page.locator("#event-list tr")
    rows.first.wait_for()
    texts = rows.all_inner_texts()
    assert any("summer-party" in text and "Freigeschaltet" in text for text in texts), texts
    assert page.locator("#signin-panel").is_hidden()
    # The token is kept in memory only.
    storage = page.evaluate("() => [localStorage.length, sessionStorage.length, document.cookie]")
    assert storage[:2] == [0, 0]
    assert "ey" not in storage[2]
    page.screenshot(path=str(screenshot_path(tmp_path, "tenant-events-de.png")), full_page=True)
    assert serious_violations(page) == []
    no_console_errors(tenant_page)


def test_an_expired_token_returns_to_sign_in_with_the_message(
    local_stack: LocalStack, tenant_page: BrowserPage
) -> None:
    page = tenant_page.page

    def expired(route: Route) -> None:
        # A token the API refuses (as an expired one is): a 401 from the first call.
        route.fulfill(
            status=200,
            headers={"Content-Type": "application/json"},
            body=json.dumps(
                {"success": True, "data": {"plan": "tenant", "user": "x", "token": "a.b.c"}}
            ),
        )

    page.route("**/local/demo-token?plan=tenant", expired)
    page.goto(local_stack.api + "/tenant")
    page.locator("#signin-button").click()
    message = page.locator("[data-testid=signin-message]")
    message.wait_for(state="visible")
    assert message.inner_text() == "Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an."
    assert page.locator("#console").is_hidden()
    assert page.locator("#signin-panel").is_visible()
    page.unroute("**/local/demo-token?plan=tenant")
    # The message in English, from a token whose `exp` has passed (the page's own timer).
    past = "eyJhbGciOiJIUzI1NiJ9"  # any header; the payload is what counts

    def stale(route: Route) -> None:
        payload = base64.urlsafe_b64encode(json.dumps({"exp": 1}).encode()).decode().rstrip("=")
        token = f"{past}.{payload}.sig"
        route.fulfill(
            status=200,
            headers={"Content-Type": "application/json"},
            body=json.dumps({"success": True, "data": {"token": token}}),
        )

    page.route("**/local/demo-token?plan=tenant", stale)
    page.goto(local_stack.api + "/tenant?lang=en")
    page.locator("#signin-button").click()
    message.wait_for(state="visible")
    assert message.inner_text() == "Your session has expired. Please sign in again."


def _wait_for(predicate: Any, seconds: float = 90) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail("timed out waiting for the local stack")


def _failing_style(stack: LocalStack) -> None:
    styles = api(stack, "GET", "/api/v1/admin/ai-styles", plan="admin").json()["data"]
    base = next(style for style in styles if style["is_active"] and not style["is_premium"])
    # A model the local provider does not have: every request with it fails at submit.
    broken = {**base, "key": FAILING_STYLE, "name": "Broken", "names": {}}
    broken["provider_model"] = "style:no-such-model"
    answer = api(
        stack, "PUT", f"/api/v1/admin/ai-styles/{FAILING_STYLE}", plan="admin", json=broken
    )
    assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def failed_run(local_stack: LocalStack) -> list[str]:
    """A scripted run of failures: ten tenant edits with a style the provider refuses."""
    _failing_style(local_stack)
    photos = api(local_stack, "GET", f"{TENANT_API}/photos").json()["data"]
    made = []
    for _ in range(10):
        answer = api(
            local_stack,
            "POST",
            f"{TENANT_API}/ai-edits",
            json={"photo_id": photos[0]["photo_id"], "style_key": FAILING_STYLE},
        )
        assert answer.status_code == 201, answer.text
        made.append(answer.json()["data"]["request_id"])

    def all_failed() -> bool:
        page = api(local_stack, "GET", f"{TENANT_API}/ai-edits", params={"status": "failed"})
        done = {r["request_id"] for r in page.json()["data"]["requests"]}
        return set(made) <= done

    _wait_for(all_failed)
    return made


def test_the_summary_shows_the_failure_rate_banner_after_a_run_of_failures(
    local_stack: LocalStack, failed_run: list[str], tenant_page: BrowserPage, tmp_path: Path
) -> None:
    page = tenant_page.page
    sign_in(page, local_stack, f"/tenant/events/{SLUG}")
    banner = page.locator("[data-testid=alert-failure-rate]")
    banner.wait_for()
    assert "Fehlerquote hat die Alarmschwelle erreicht" in banner.inner_text()
    assert page.locator("[data-metric=failureRate]").inner_text().endswith("%")
    assert page.locator("#status-chart svg rect.seg-failed").count() == 1
    assert page.locator("#spend-chart svg rect.cap.hard").count() == 1
    page.screenshot(path=str(screenshot_path(tmp_path, "tenant-event-de.png")), full_page=True)
    assert serious_violations(page) == []
    no_console_errors(tenant_page)


def test_filter_the_requests_and_open_one(
    local_stack: LocalStack, failed_run: list[str], tenant_page: BrowserPage, tmp_path: Path
) -> None:
    page = tenant_page.page
    sign_in(page, local_stack, f"/tenant/events/{SLUG}")
    page.locator("#request-list tr").first.wait_for()
    page.locator("#status-filter").select_option("failed")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#request-list tr')].length > 0 &&"
        " [...document.querySelectorAll('#request-list tr button')]"
        ".every(b => b.textContent === 'Fehlgeschlagen')"
    )
    ids = page.locator("#request-list tr").evaluate_all(
        "rows => rows.map(r => r.dataset.requestId)"
    )
    assert set(failed_run) <= set(ids)
    page.locator(f"#request-list tr[data-request-id='{failed_run[-1]}'] button").click()
    detail = page.locator("[data-testid=request-detail]")
    detail.wait_for()
    timeline = page.locator("[data-testid=timeline] li").all_inner_texts()
    assert len(timeline) == 3, timeline
    assert "angelegt: In der Warteschlange" in timeline[0]
    assert "In Bearbeitung → Fehlgeschlagen" in timeline[2]
    assert "Fehler:" in page.locator("#detail-error").inner_text()
    page.locator("#detail-original").wait_for()  # the original, fetched with the token
    page.screenshot(path=str(screenshot_path(tmp_path, "tenant-request-de.png")), full_page=True)
    no_console_errors(tenant_page)


def _guest_create(browser: Browser, stack: LocalStack) -> dict[str, Any]:
    """A guest's request from the guest page's own origin (cookie + CSRF double submit)."""
    for guest in open_page(browser):
        guest.page.goto(stack.api + f"/e/{SUMMER_TOKEN}")
        guest.page.locator("#photo-list .photo").first.wait_for()
        answer: dict[str, Any] = guest.page.evaluate(
            """async (token) => {
                const photos = await (await fetch(`/api/v1/events/${token}/photos`)).json();
                const csrf = document.cookie.split('; ').find(c => c.startsWith('csrf_token='));
                const response = await fetch(
                    `/api/v1/events/${token}/photos/${photos.data[0].photo_id}/ai-edits`, {
                    method: 'POST',
                    headers: {'Content-Type': 'application/json',
                              'X-CSRF-Token': decodeURIComponent(csrf.split('=')[1])},
                    body: JSON.stringify({style_key: 'watercolor'}),
                });
                return {status: response.status, body: await response.json()};
            }""",
            SUMMER_TOKEN,
        )
        return answer
    raise AssertionError("no guest page")


def test_a_policy_change_refuses_the_guests_next_request_with_its_message(
    local_stack: LocalStack, browser: Browser, tenant_page: BrowserPage
) -> None:
    page = tenant_page.page
    sign_in(page, local_stack, f"/tenant/events/{SLUG}")
    page.locator("#policy-enabled").wait_for()
    page.wait_for_function("() => document.querySelectorAll('#policy-styles input').length > 0")
    # Someone else changes the event meanwhile: the page's revision is stale, 409 explained.
    current = api(local_stack, "GET", TENANT_API).json()["data"]
    other = {**current["policy"], "expected_revision": current["revision"]}
    assert api(local_stack, "PUT", f"{TENANT_API}/policy", json=other).status_code == 200
    page.locator("#policy-enabled").uncheck()
    page.locator("#policy-message").fill("Heute keine KI-Bearbeitung")
    page.locator("#policy-save").click()
    error = page.locator("[data-testid=policy-error]")
    error.wait_for(state="visible")
    assert "(409)" in error.inner_text()
    # The form shows the current policy again; saving now holds.
    page.locator("#policy-enabled").uncheck()
    page.locator("#policy-message").fill("Heute keine KI-Bearbeitung")
    page.locator("#policy-save").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=policy-status]')"
        ".textContent.startsWith('Gespeichert')"
    )
    try:
        refused = _guest_create(browser, local_stack)
        assert refused["status"] == 403
        assert refused["body"]["error"]["code"] == "event_policy"
        assert refused["body"]["error"]["message"] == "Heute keine KI-Bearbeitung"
    finally:
        now = api(local_stack, "GET", TENANT_API).json()["data"]
        restore = {
            **now["policy"],
            "enabled": True,
            "policy_message": None,
            "expected_revision": now["revision"],
        }
        assert api(local_stack, "PUT", f"{TENANT_API}/policy", json=restore).status_code == 200
    no_console_errors(tenant_page, 409)


def test_a_hard_cap_set_by_the_superadmin_refuses_the_tenants_edit(
    local_stack: LocalStack, tenant_page: BrowserPage
) -> None:
    before = api(local_stack, "GET", TENANT_API).json()["data"]["budget"]
    capped = api(
        local_stack,
        "PUT",
        "/api/v1/admin/tenants/demo-tenant/budget",
        plan="admin",
        json={"soft_cap_micros": 0, "hard_cap_micros": 0},
    )
    assert capped.status_code == 200, capped.text
    try:
        page = tenant_page.page
        sign_in(page, local_stack, f"/tenant/events/{SLUG}")
        page.wait_for_function("() => document.querySelectorAll('#create-style option').length > 0")
        page.locator("#create-style").select_option("watercolor")
        page.locator("#create-submit").click()
        error = page.locator("[data-testid=create-error]")
        error.wait_for(state="visible")
        # `budget_exceeded` in the page's language (ERROR_MESSAGES), not the server's text.
        assert error.inner_text() == ERROR_MESSAGES["de"]["budget_exceeded"]
        assert page.locator("[data-testid=create-error].refusal").count() == 1
        assert "Obergrenze" in page.locator("#spend-lines").inner_text()
    finally:
        restored = api(
            local_stack,
            "PUT",
            "/api/v1/admin/tenants/demo-tenant/budget",
            plan="admin",
            json={k: v for k, v in before.items() if v is not None},
        )
        assert restored.status_code == 200
    no_console_errors(tenant_page, 403)


def test_a_locked_event_says_how_to_unlock_it(
    local_stack: LocalStack, tenant_page: BrowserPage, tmp_path: Path
) -> None:
    page = tenant_page.page

    def locked(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        body["data"]["capability"] = {
            "granted": False,
            "granted_by": None,
            "unlock": ["package:ai_styling", "addon:ai_styling_unlock"],
        }
        route.fulfill(response=response, body=json.dumps(body))

    page.route(f"**{TENANT_API}", locked)
    sign_in(page, local_stack, f"/tenant/events/{SLUG}?lang=en")
    gate = page.locator("[data-testid=feature-locked]")
    gate.wait_for()
    assert "ai_styling_unlock" in gate.inner_text()
    assert gate.get_attribute("data-code") == "feature_locked"
    assert page.locator("#unlocked").is_hidden()
    page.screenshot(path=str(screenshot_path(tmp_path, "tenant-locked-en.png")), full_page=True)
    no_console_errors(tenant_page)


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_control_room_on_a_phone_in_both_languages(
    local_stack: LocalStack, browser: Browser, lang: str, tmp_path: Path
) -> None:
    for phone in open_page(
        browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    ):
        page = phone.page
        sign_in(page, local_stack, f"/tenant/events/{SLUG}?lang={lang}")
        page.locator("#metrics dd").first.wait_for()
        # Nothing wider than the phone but the scrolling request table.
        overflow = page.evaluate("() => document.documentElement.scrollWidth")
        assert overflow <= 390
        assert serious_violations(page) == []
        if lang == "en":
            page.screenshot(
                path=str(screenshot_path(tmp_path, "tenant-event-phone-en.png")), full_page=True
            )
        no_console_errors(phone)


# --- the OIDC sign-in (authorization code + PKCE) against a provider of the test's own -----


def test_the_oidc_sign_in_with_pkce_against_the_identity_provider(
    local_stack: LocalStack, tenant_page: BrowserPage
) -> None:
    oidc = TinyOidc(local_stack.tokens["tenant"])
    try:
        page = tenant_page.page
        as_oidc_page(page, oidc.base, r".*/tenant(\?.*)?$")
        page.goto(local_stack.api + "/tenant?lang=en")
        assert page.locator("#signin-local").is_hidden()
        page.locator("#signin-button").click()
        try:
            page.locator("#event-list tr").first.wait_for()
        except Exception as exc:  # the page's own account of what went wrong
            state = (page.url, page.locator("#signin-message").inner_text(), oidc.exchanges)
            raise AssertionError((tenant_page.record.console_errors(), state)) from exc
        [exchange] = oidc.exchanges
        assert exchange["grant_type"] == "authorization_code"
        assert exchange["client_id"] == "console-test"
        assert exchange["redirect_uri"] == local_stack.api + "/tenant?lang=en"
        assert len(exchange["code_verifier"]) >= 43
        # Back on the page: the code is gone from the URL, nothing is kept in storage.
        assert page.url == local_stack.api + "/tenant?lang=en"
        storage = page.evaluate("() => [localStorage.length, sessionStorage.length]")
        assert storage == [0, 0]
        assert "summer-party" in page.locator("#event-list").inner_text()
        no_console_errors(tenant_page)
    finally:
        oidc.close()


def test_an_oidc_answer_with_a_wrong_state_is_refused(
    local_stack: LocalStack, tenant_page: BrowserPage
) -> None:
    oidc = TinyOidc(local_stack.tokens["tenant"])
    try:
        page = tenant_page.page
        as_oidc_page(page, oidc.base, r".*/tenant(\?.*)?$")
        # A forged redirect back (no sign-in was started here): no exchange, a message.
        page.goto(local_stack.api + "/tenant?code=stolen&state=forged")
        message = page.locator("[data-testid=signin-message]")
        message.wait_for(state="visible")
        assert (
            message.inner_text()
            == "Die Anmeldung ist fehlgeschlagen. Bitte versuchen Sie es erneut."
        )
        assert oidc.exchanges == []
        assert page.locator("#console").is_hidden()
    finally:
        oidc.close()


def test_the_list_updates_live_while_requests_are_in_flight_and_then_stops(
    local_stack: LocalStack, tenant_page: BrowserPage
) -> None:
    page = tenant_page.page
    in_flight = {"left": 2}  # list answers that still show every request as processing
    lists: list[float] = []

    def hold(route: Route) -> None:
        response = route.fetch()
        lists.append(time.monotonic())
        body = response.json()
        if in_flight["left"] > 0 and body.get("success"):
            in_flight["left"] -= 1
            for request in body["data"]["requests"]:
                request["status"] = "processing"
        route.fulfill(response=response, body=json.dumps(body))

    sign_in(page, local_stack, f"/tenant/events/{SLUG}")
    page.wait_for_function("() => document.querySelectorAll('#create-style option').length > 0")
    page.route(f"**{TENANT_API}/ai-edits?*", hold)
    page.locator("#create-style").select_option("watercolor")
    page.locator("#create-submit").click()
    first = page.locator("#request-list tr").first.locator("button")
    page.wait_for_function(
        "() => document.querySelector('#request-list tr button')?.textContent === 'In Bearbeitung'"
    )
    # Without a reload the row reaches its real, terminal status.
    page.wait_for_function(
        "() => ['Fertig', 'Fehlgeschlagen', 'Blockiert']"
        ".includes(document.querySelector('#request-list tr button')?.textContent)",
        timeout=60_000,
    )
    assert first.inner_text() == "Fertig"
    assert page.locator("#more-button").is_hidden()  # one request: a single page
    assert len(lists) >= 3  # the create's own reload, then at least two polls
    # Nothing in flight any more: the polling has stopped.
    settled = len(lists)
    page.wait_for_timeout(8000)
    assert len(lists) == settled
    assert page.locator("[data-testid=create-status]").inner_text().startswith("Angefordert")
    no_console_errors(tenant_page)
