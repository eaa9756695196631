"""Issue 19's remaining page parts, in Chromium against the local stack, in both languages,
at desktop and phone width (390x844):

1. the approval step: one's own pending upload is marked as awaiting approval;
2. the time estimate: "etwa N s" / "about N s" while queued or processing, the generic line
   without data (Magic Edits and the Enhancer);
3. style previews: each style choice shows its seeded preview with alt text in the page's
   language;
4. the kill switch's message in the page's language when set, else the generic text.

axe-core finds no serious or critical violation on the changed views.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from infra.seed_edits import STYLES, SUMMER_TOKEN
from tests.e2e.conftest import NO_CHROMIUM, BrowserPage, chromium_path, open_page, screenshot_path
from tests.e2e.test_browser import ENHANCER, GENERATE, payload, photo_jpeg, wait_for_usage
from tests.e2e.test_pages_issue19 import serious_violations

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route, ViewportSize

    from tests.plugins.stack import LocalStack

pytestmark = [pytest.mark.stack, pytest.mark.skipif(chromium_path() is None, reason=NO_CHROMIUM)]

EDITS = f"/e/{SUMMER_TOKEN}"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
WIDTHS = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]
LANGS = ["de", "en"]


@pytest.fixture(params=WIDTHS)
def sized_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserPage]:
    viewport: ViewportSize = request.param
    phone = viewport == PHONE
    yield from open_page(browser, viewport=viewport, is_mobile=phone, has_touch=phone)


def json_answer(route: Route, data: Any, status: int = 200) -> None:
    route.fulfill(
        status=status,
        headers={"Content-Type": "application/json"},
        body=json.dumps({"success": status < 400, "data": data}),
    )


def open_edits(page: Page, api: str, lang: str) -> None:
    page.goto(f"{api}{EDITS}?lang={lang}")
    page.locator(".photo").first.wait_for()
    page.locator("#style-list input").first.wait_for()


def edit_view(status: str, estimate: int | None) -> dict[str, Any]:
    return {
        "request_id": "r-wait",
        "photo_id": "p1",
        "style_key": "vintage",
        "status": status,
        "created_at": "2026-12-07T10:00:00Z",
        "updated_at": "2026-12-07T10:00:00Z",
        "block_reason": None,
        "error_code": None,
        "error_message": None,
        "result_url": None,
        "paused": False,
        "estimated_seconds": estimate,
    }


# --- 1. the approval step -----------------------------------------------------------------

AWAITING = {"de": "Wartet auf Freigabe", "en": "Awaiting approval"}


@pytest.mark.parametrize("lang", LANGS)
def test_ones_own_pending_upload_is_marked_awaiting_approval(
    local_stack: LocalStack, sized_page: BrowserPage, lang: str, tmp_path: Path
) -> None:
    page = sized_page.page
    seeded: list[dict[str, Any]] = []

    def gallery(route: Route) -> None:
        if route.request.method != "GET":
            route.continue_()
            return
        real = route.fetch().json()["data"]
        seeded[:] = real
        # The server lists one's own pending upload beside the approved photos.
        mine = {**real[0], "photo_id": "photo-mine-pending", "review": "pending"}
        json_answer(route, [*real, mine])

    page.route("**/api/v1/events/*/photos", gallery)
    open_edits(page, local_stack.api, lang)
    pending = page.locator('.photo[data-review="pending"]')
    pending.wait_for()
    assert page.locator(".photo").count() == len(seeded) + 1
    assert pending.locator(".photo-review").inner_text() == AWAITING[lang]
    assert AWAITING[lang] in (pending.get_attribute("aria-label") or "")
    assert page.locator(".photo:not([data-review])").count() == len(seeded)
    pending.click()
    assert page.locator("#photo-selected").inner_text().endswith(f"({AWAITING[lang]})")
    if page.viewport_size == PHONE:
        page.screenshot(path=screenshot_path(tmp_path, f"magic-edits-approval-{lang}.png"))
    # Asking for an edit of it is refused by code, in the page's language.
    page.route(
        "**/photos/photo-mine-pending/ai-edits",
        lambda route: route.fulfill(
            status=409,
            headers={"Content-Type": "application/json"},
            body=json.dumps(
                {
                    "success": False,
                    "error": {
                        "type": "validation_error",
                        "code": "photo_pending_approval",
                        "message": "SERVER ENGLISH TEXT",
                    },
                }
            ),
        ),
    )
    page.locator("#request-button").click()
    page.wait_for_function("() => document.getElementById('error').textContent !== ''")
    error = page.locator("#error")
    assert ("Freigabe" if lang == "de" else "approval") in error.inner_text()
    assert "refusal" in (error.get_attribute("class") or "")
    assert "SERVER ENGLISH TEXT" not in error.inner_text()
    assert serious_violations(page) == []


# --- 2. the time estimate -----------------------------------------------------------------

ABOUT = {"de": "etwa 6 s", "en": "about 6 s"}


@pytest.mark.parametrize("lang", LANGS)
def test_a_queued_edit_shows_the_estimate_and_none_without_data(
    local_stack: LocalStack, sized_page: BrowserPage, lang: str, tmp_path: Path
) -> None:
    page = sized_page.page
    open_edits(page, local_stack.api, lang)
    estimate: list[int | None] = [6]
    page.route(
        "**/photos/*/ai-edits",
        lambda route: json_answer(route, edit_view("queued", estimate[0]), 201),
    )
    page.route(
        "**/ai-edits/r-wait", lambda route: json_answer(route, edit_view("processing", estimate[0]))
    )
    page.locator("#request-button").click()
    status = page.locator("#status")
    page.wait_for_function(
        "(text) => document.getElementById('status').textContent.includes(text)", arg=ABOUT[lang]
    )
    assert status.get_attribute("data-estimate") == "6"
    assert serious_violations(page) == []
    if page.viewport_size == PHONE:
        page.screenshot(path=screenshot_path(tmp_path, f"magic-edits-estimate-{lang}.png"))
    # Without recent data the generic line stays.
    estimate[0] = None
    page.wait_for_function("() => !document.getElementById('status').dataset.estimate")
    page.wait_for_function("() => document.getElementById('status').textContent !== ''")
    assert ABOUT[lang].split()[0] not in status.inner_text()


@pytest.mark.parametrize("lang", LANGS)
def test_an_enhancer_job_shows_the_estimate(
    local_stack: LocalStack, sized_page: BrowserPage, lang: str
) -> None:
    page = sized_page.page
    page.goto(f"{local_stack.api}{ENHANCER}?lang={lang}")
    wait_for_usage(page, "0/3")
    job = {
        "id": "job-wait",
        "status": "queued",
        "model": "nightmareai/real-esrgan",
        "createdAt": 0,
        "updatedAt": 0,
        "imageUrl": None,
        "originalUrl": "/r2-ai/x",
        "input": {"url": "/r2-ai/x"},
        "error": None,
        "estimatedSeconds": 6,
    }
    page.route("**" + GENERATE, lambda route: json_answer(route, {**job, "job": job}, 202))
    page.route("**/api/ai-image/jobs/job-wait", lambda route: json_answer(route, job))
    page.locator("#file-input").set_input_files(
        files=[payload("eh_test.jpg", "image/jpeg", photo_jpeg())]
    )
    page.locator("#enhance-button").click()
    page.wait_for_function(
        "(text) => document.getElementById('status').textContent.includes(text)", arg=ABOUT[lang]
    )


# --- 3. style previews --------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_each_style_choice_shows_its_preview(
    local_stack: LocalStack, sized_page: BrowserPage, lang: str, tmp_path: Path
) -> None:
    page = sized_page.page
    open_edits(page, local_stack.api, lang)
    previews = page.locator("#style-list img.style-preview")
    # The summer party's package shows every demo style, the premium one included.
    assert previews.count() == len(STYLES)
    prefix = "Vorschau: " if lang == "de" else "Preview: "
    names = {style.names[lang] for style in STYLES}
    alts = set()
    for index in range(previews.count()):
        preview = previews.nth(index)
        preview.scroll_into_view_if_needed()
        page.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0", arg=preview.element_handle()
        )
        alt = preview.get_attribute("alt") or ""
        assert alt.startswith(prefix)
        alts.add(alt.removeprefix(prefix))
    assert alts == names
    assert serious_violations(page) == []
    if page.viewport_size == PHONE:
        page.screenshot(
            path=screenshot_path(tmp_path, f"magic-edits-styles-{lang}.png"), full_page=True
        )


# --- 4. the kill switch's message ---------------------------------------------------------

MESSAGES = {"de": "Wartung bis 18 Uhr", "en": "Maintenance until 6 pm"}
PAUSED_WITH = {
    "de": "Der Dienst ist gerade pausiert: Wartung bis 18 Uhr",
    "en": "The service is paused right now: Maintenance until 6 pm",
}
GENERIC = {"de": "vorübergehend pausiert", "en": "paused for now"}


def refuse_paused(page: Page, messages: dict[str, str]) -> None:
    body = {
        "success": False,
        "error": {
            "type": "forbidden",
            "code": "feature_disabled",
            "message": "SERVER ENGLISH TEXT",
            "details": {"statusMessages": messages},
        },
    }
    page.route(
        "**/photos/*/ai-edits",
        lambda route: route.fulfill(
            status=403, headers={"Content-Type": "application/json"}, body=json.dumps(body)
        ),
    )


@pytest.mark.parametrize("lang", LANGS)
def test_the_kill_switch_message_in_the_pages_language(
    local_stack: LocalStack, sized_page: BrowserPage, lang: str, tmp_path: Path
) -> None:
    page = sized_page.page
    open_edits(page, local_stack.api, lang)
    refuse_paused(page, MESSAGES)
    page.locator("#request-button").click()
    error = page.locator("#error")
    page.wait_for_function("() => document.getElementById('error').textContent !== ''")
    assert error.inner_text() == PAUSED_WITH[lang]
    assert error.get_attribute("role") == "alert"
    assert "refusal" in (error.get_attribute("class") or "")
    assert serious_violations(page) == []
    if page.viewport_size == PHONE:
        page.screenshot(path=screenshot_path(tmp_path, f"magic-edits-paused-message-{lang}.png"))


@pytest.mark.parametrize("lang", LANGS)
def test_without_a_translation_the_generic_paused_text(
    local_stack: LocalStack, sized_page: BrowserPage, lang: str
) -> None:
    page = sized_page.page
    open_edits(page, local_stack.api, lang)
    # Only the other language is set: this page shows its own generic text.
    other = "en" if lang == "de" else "de"
    refuse_paused(page, {other: MESSAGES[other]})
    page.locator("#request-button").click()
    page.wait_for_function("() => document.getElementById('error').textContent !== ''")
    text = page.locator("#error").inner_text()
    assert GENERIC[lang] in text
    assert MESSAGES[other] not in text
    assert "SERVER ENGLISH TEXT" not in text


@pytest.mark.parametrize("lang", LANGS)
def test_a_request_queued_while_paused_shows_the_operators_message(
    local_stack: LocalStack, sized_page: BrowserPage, lang: str
) -> None:
    page = sized_page.page
    open_edits(page, local_stack.api, lang)
    view = {**edit_view("queued", None), "paused": True, "pause_messages": MESSAGES}
    page.route("**/photos/*/ai-edits", lambda route: json_answer(route, view, 201))
    page.route("**/ai-edits/r-wait", lambda route: json_answer(route, view))
    page.locator("#request-button").click()
    page.get_by_text(PAUSED_WITH[lang]).wait_for()
    assert page.locator("#notice").inner_text() == PAUSED_WITH[lang]
