"""The pages as a new user meets them (issue 19), in Chromium against the local stack:

1. messages by code in the page's language, refusals as refusals, no provider text for guests;
2. a link that opens no event is a 404 page;
3. honest waiting: upload percentage, stages, a slow notice, a stop, the paused service;
4. Magic Edits: the event's name, "my edits" across a reload;
5. the compare view: a preview at once, a divider on the image (mouse, touch, keyboard),
   the sizes, 100 %, the result scrolled into view on a phone;
6. a way forward: the locked models with what unlocks them, downloads named after the
   original, a format choice;
7. axe-core: no serious or critical violation on any page, in both languages, at desktop and
   phone width.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from infra.seed_edits import SUMMER_TOKEN
from tests.e2e.conftest import NO_CHROMIUM, BrowserPage, chromium_path, screenshot_path
from tests.e2e.test_browser import (
    ENHANCER,
    GENERATE,
    image_loaded,
    payload,
    photo_jpeg,
    wait_for_usage,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route, ViewportSize

    from tests.plugins.stack import LocalStack

pytestmark = [pytest.mark.stack, pytest.mark.skipif(chromium_path() is None, reason=NO_CHROMIUM)]

EDITS = f"/e/{SUMMER_TOKEN}"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}


def envelope_error(status: int, code: str, message: str = "SERVER ENGLISH TEXT") -> Any:
    """A route handler answering the API's error envelope."""

    def fulfill(route: Route) -> None:
        route.fulfill(
            status=status,
            headers={"Content-Type": "application/json"},
            body=json.dumps(
                {"success": False, "error": {"type": "x", "code": code, "message": message}}
            ),
        )

    return fulfill


def choose_photo(page: Page, name: str = "eh_test.jpg") -> None:
    page.locator("#file-input").set_input_files(files=[payload(name, "image/jpeg", photo_jpeg())])


def serious_violations(page: Page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]

    results: dict[str, Any] = Axe().run(page).response
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


# --- 1. messages by code -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "button", "expected"),
    [
        ("de", "Verbessern", "Das Bild hat zu viele Pixel."),
        ("en", "Enhance", "The image has too many pixels."),
    ],
)
def test_an_error_shows_the_text_for_its_code_never_the_server_message(
    local_stack: LocalStack, browser_page: BrowserPage, lang: str, button: str, expected: str
) -> None:
    page = browser_page.page
    page.goto(f"{local_stack.api}{ENHANCER}?lang={lang}")
    wait_for_usage(page, "0/3")
    page.route("**" + GENERATE, envelope_error(400, "image_too_many_pixels"))
    choose_photo(page)
    page.get_by_role("button", name=button).click()
    alert = page.get_by_role("alert")
    page.wait_for_function("() => document.getElementById('error').textContent !== ''")
    assert alert.inner_text().startswith(expected)
    assert "SERVER ENGLISH TEXT" not in page.content()
    assert "schiefgegangen" not in page.content()
    assert "Something went wrong" not in page.content()


@pytest.mark.parametrize(
    ("code", "lang", "expected"),
    [
        ("prompt_blocked", "de", "nicht erlaubten Begriff"),
        ("feature_disabled", "de", "vorübergehend pausiert"),
        ("feature_disabled", "en", "paused for now"),
        ("budget_exceeded", "en", "budget for AI edits is used up"),
    ],
)
def test_refusals_read_as_refusals(
    local_stack: LocalStack,
    browser_page: BrowserPage,
    code: str,
    lang: str,
    expected: str,
    tmp_path: Path,
) -> None:
    page = browser_page.page
    page.goto(f"{local_stack.api}{EDITS}?lang={lang}")
    page.locator(".photo").first.wait_for()
    page.locator("#style-list input").first.wait_for()
    page.route("**/ai-edits", envelope_error(403, code))
    page.locator("#request-button").click()
    error = page.locator("#error")
    page.wait_for_function("() => document.getElementById('error').textContent !== ''")
    assert expected in error.inner_text()
    if code == "feature_disabled":
        page.screenshot(path=screenshot_path(tmp_path, f"magic-edits-paused-{lang}.png"))
    assert error.get_attribute("role") == "alert"
    assert "refusal" in (error.get_attribute("class") or "")
    assert "SERVER ENGLISH TEXT" not in error.inner_text()


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("de", "Konnte nicht verarbeitet werden. Es wurde nichts berechnet."),
        ("en", "Could not be processed. Nothing was charged."),
    ],
)
def test_a_failed_edit_never_shows_provider_text_to_the_guest(
    local_stack: LocalStack, browser_page: BrowserPage, lang: str, expected: str
) -> None:
    page = browser_page.page
    page.goto(f"{local_stack.api}{EDITS}?lang={lang}")
    page.locator(".photo").first.wait_for()
    page.locator("#style-list input").first.wait_for()

    def failed(route: Route) -> None:
        # Even an old or a faulty server's provider text must not reach the page.
        request = {
            "request_id": "r1",
            "photo_id": "p1",
            "style_key": "vintage",
            "status": "failed",
            "created_at": "2026-12-07T10:00:00Z",
            "updated_at": "2026-12-07T10:00:01Z",
            "block_reason": None,
            "error_code": "misconfigured",
            "error_message": "No API token is configured for runware",
            "result_url": None,
            "paused": False,
        }
        route.fulfill(
            status=201,
            headers={"Content-Type": "application/json"},
            body=json.dumps({"success": True, "data": request}),
        )

    page.route("**/photos/*/ai-edits", failed)
    page.locator("#request-button").click()
    page.wait_for_function("() => document.getElementById('error').textContent !== ''")
    assert page.get_by_role("alert").inner_text() == expected
    assert "runware" not in page.content().lower()


# --- 2. a link that opens no event --------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "title"), [("de", "Veranstaltung nicht gefunden"), ("en", "Event not found")]
)
def test_a_bad_event_link_is_a_404_page(
    local_stack: LocalStack, browser_page: BrowserPage, lang: str, title: str, tmp_path: Path
) -> None:
    page = browser_page.page
    response = page.goto(f"{local_stack.api}/e/not-a-real-token?lang={lang}")
    assert response is not None
    assert response.status == 404
    assert page.title() == title
    assert page.get_by_role("heading", level=1).inner_text() == title
    assert page.get_by_role("alert").is_visible()
    assert page.locator("form").count() == 0
    assert serious_violations(page) == []
    page.screenshot(path=screenshot_path(tmp_path, f"event-not-found-{lang}.png"))


# --- 3. honest waiting --------------------------------------------------------------------

STAGES = """() => {
    window.__stages = [];
    new MutationObserver(() => {
        const line = document.getElementById("status").textContent;
        const last = window.__stages[window.__stages.length - 1];
        if (line && last !== line) window.__stages.push(line);
    }).observe(document.getElementById("status"), {
        childList: true, characterData: true, subtree: true,
    });
}"""


def test_the_upload_percentage_and_the_stages(
    local_stack: LocalStack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    page.goto(local_stack.api + ENHANCER)
    wait_for_usage(page, "0/3")
    page.evaluate(STAGES)
    choose_photo(page)
    page.get_by_label("Hochskalieren (Real-ESRGAN)").check()
    page.get_by_role("button", name="Verbessern").click()
    page.wait_for_function("() => document.getElementById('status').textContent === 'Fertig.'")
    stages: list[str] = page.evaluate("window.__stages")
    uploads = [s for s in stages if s.startswith("Wird hochgeladen")]
    assert uploads
    assert re.fullmatch(r"Wird hochgeladen … \d{1,3} %", uploads[0])
    assert any(s.startswith("Wird verarbeitet") for s in stages)
    assert any(s.startswith("Ergebnis wird gespeichert") for s in stages)
    assert stages[-1] == "Fertig."


def queued_job(route: Route) -> None:
    job = {"id": "job-1", "status": "queued"}
    status = 202 if route.request.method == "POST" else 200
    data: dict[str, Any] = {**job, "job": job} if status == 202 else job
    route.fulfill(
        status=status,
        headers={"Content-Type": "application/json"},
        body=json.dumps({"success": True, "data": data}),
    )


@pytest.mark.parametrize(
    ("lang", "slow", "stop"),
    [
        ("de", "Das dauert länger als üblich", "wir haben aufgehört zu warten"),
        ("en", "This is taking longer than usual", "we stopped waiting"),
    ],
)
def test_a_long_wait_is_said_and_stopped_after_the_limit(
    local_stack: LocalStack, browser_page: BrowserPage, lang: str, slow: str, stop: str
) -> None:
    page = browser_page.page
    page.clock.install()
    page.goto(f"{local_stack.api}{ENHANCER}?lang={lang}")
    wait_for_usage(page, "0/3")
    page.route("**" + GENERATE, queued_job)
    page.route("**/api/ai-image/jobs/job-1", queued_job)
    choose_photo(page)
    page.locator("#enhance-button").click()
    page.wait_for_function("() => document.getElementById('status').dataset.stage === 'queued'")
    assert page.locator("#notice").inner_text() == ""
    page.clock.run_for(50_000)  # past SLOW_AFTER_MS (45 s)
    page.wait_for_function("() => document.getElementById('notice').textContent !== ''")
    assert slow in page.locator("#notice").inner_text()
    page.clock.run_for(260_000)  # past GIVE_UP_AFTER_MS (5 minutes)
    page.wait_for_function("() => document.getElementById('error').textContent !== ''")
    assert stop in page.get_by_role("alert").inner_text()
    assert page.locator("#enhance-button").is_enabled()
    polls = browser_page.record.responses_to("GET", "/api/ai-image/jobs/job-1")
    count = len(polls)
    page.clock.run_for(60_000)
    assert len(browser_page.record.responses_to("GET", "/api/ai-image/jobs/job-1")) == count


def test_a_request_queued_while_paused_is_told_so(
    local_stack: LocalStack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    page.goto(local_stack.api + EDITS + "?lang=en")
    page.locator(".photo").first.wait_for()
    page.locator("#style-list input").first.wait_for()

    def paused(route: Route) -> None:
        request = {
            "request_id": "r2",
            "photo_id": "p1",
            "style_key": "vintage",
            "status": "queued",
            "created_at": "2026-12-07T10:00:00Z",
            "updated_at": "2026-12-07T10:00:00Z",
            "block_reason": None,
            "error_code": None,
            "error_message": None,
            "result_url": None,
            "paused": True,
        }
        route.fulfill(
            status=201 if route.request.method == "POST" else 200,
            headers={"Content-Type": "application/json"},
            body=json.dumps({"success": True, "data": request}),
        )

    page.route("**/photos/*/ai-edits", paused)
    page.route("**/ai-edits/r2", paused)
    page.locator("#request-button").click()
    page.get_by_text("The service is paused right now").wait_for()
    assert page.locator("#status").inner_text().startswith("Queued")


# --- 4. Magic Edits for guests ------------------------------------------------------------


def test_the_event_name_and_my_edits_across_a_reload(
    local_stack: LocalStack, browser_page: BrowserPage, tmp_path: Path
) -> None:
    page = browser_page.page
    page.goto(local_stack.api + EDITS)
    assert page.locator("#event-name").inner_text() == "Summer Party"
    page.locator(".photo").first.wait_for()
    page.get_by_label("Vintage").check()
    with page.expect_response(
        lambda r: r.url.endswith("/ai-edits") and r.request.method == "POST"
    ) as created:
        page.get_by_role("button", name="Bearbeitung anfordern").click()
    request_id = created.value.json()["data"]["request_id"]
    page.locator("#result-section").wait_for(state="visible")
    mine = page.locator(f'#mine-list li[data-request="{request_id}"]')
    mine.wait_for()
    page.reload()
    mine.wait_for()
    assert mine.get_attribute("data-status") == "succeeded"
    image_loaded(page, f'#mine-list li[data-request="{request_id}"] img')
    # Another browser (another guest) does not see it.
    other = page.context.browser
    assert other is not None
    context = other.new_context()
    try:
        stranger = context.new_page()
        stranger.goto(local_stack.api + EDITS)
        stranger.locator("#mine-list li").first.wait_for()
        assert stranger.locator(f'#mine-list li[data-request="{request_id}"]').count() == 0
    finally:
        context.close()
    page.screenshot(path=screenshot_path(tmp_path, "magic-edits-mine.png"), full_page=True)


# --- 5. the compare view ------------------------------------------------------------------


def slider_value(page: Page) -> int:
    return int(page.locator("#compare-slider").input_value())


def test_the_compare_view_preview_divider_sizes_and_zoom(
    local_stack: LocalStack, browser_page: BrowserPage, tmp_path: Path
) -> None:
    page = browser_page.page
    page.emulate_media(reduced_motion="reduce")  # the scroll to the result is instant
    page.goto(local_stack.api + ENHANCER)
    wait_for_usage(page, "0/3")
    choose_photo(page)
    # The preview right after choosing, before anything is sent.
    image_loaded(page, "#original-image")
    assert page.locator("#sizes").inner_text() == "Original: 480 \u00d7 360 px"
    assert browser_page.record.responses_to("POST", GENERATE) == []

    page.get_by_label("Hochskalieren (Real-ESRGAN)").check()
    page.locator("#scale").select_option("2")
    page.get_by_role("button", name="Verbessern").click()
    image_loaded(page, "#result-image")
    page.wait_for_function("() => document.getElementById('sizes').textContent.includes('→')")
    assert page.locator("#sizes").inner_text() == (
        "Original: 480 \u00d7 360 px \u2192 Ergebnis: 960 \u00d7 720 px"
    )

    # The divider on the image: a mouse drag, then the arrow keys.
    box = page.locator("#compare").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.2, y, steps=5)
    page.mouse.up()
    assert 15 <= slider_value(page) <= 25
    clip = page.locator("#result-layer").evaluate("e => e.style.clipPath")
    assert clip == f"inset(0px 0px 0px {slider_value(page)}%)"
    divider = page.locator("#divider").evaluate("e => e.style.left")
    assert divider == f"{slider_value(page)}%"
    page.locator("#compare-slider").focus()
    before = slider_value(page)
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    assert slider_value(page) == before + 5

    # 100 %: the result at its own pixel size, the frame scrolls.
    page.get_by_role("button", name="100 % ansehen").click()
    width = page.locator("#compare-stage").evaluate("e => e.getBoundingClientRect().width")
    assert width == 960
    assert page.locator("#zoom-button").get_attribute("aria-pressed") == "true"
    page.get_by_role("button", name="Einpassen").click()

    # Downloads: the original's name and what was done; the format choice travels along.
    href = page.locator("#download").get_attribute("href") or ""
    assert href.endswith("?download=eh_test-upscaled-2x")
    page.locator("#format").select_option("jpeg")
    href = page.locator("#download").get_attribute("href") or ""
    assert href.endswith("?download=eh_test-upscaled-2x&format=jpeg")
    answer = page.request.get(local_stack.api + href.replace("&format=jpeg", ""))
    assert answer.status == 200
    disposition = answer.headers.get("content-disposition")
    if disposition is not None:  # the delivery API's download naming
        assert disposition.startswith('attachment; filename="eh_test-upscaled-2x.webp"')
    page.screenshot(path=screenshot_path(tmp_path, "enhancer-compare.png"), full_page=True)


def test_on_a_phone_the_result_scrolls_into_view_and_touch_moves_the_divider(
    local_stack: LocalStack, browser: Browser, tmp_path: Path
) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto(f"{local_stack.api}{ENHANCER}?lang=en")
        wait_for_usage(page, "0/3")
        choose_photo(page)
        page.get_by_role("button", name="Enhance").tap()
        image_loaded(page, "#result-image")
        page.wait_for_function(
            "() => { const r = document.getElementById('compare-section')"
            ".getBoundingClientRect(); return r.top >= -1 && r.top < window.innerHeight / 2 }"
        )
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        box = page.locator("#compare").bounding_box()
        assert box is not None
        page.touchscreen.tap(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
        assert 70 <= slider_value(page) <= 90
        page.screenshot(path=screenshot_path(tmp_path, "enhancer-phone-result.png"))
    finally:
        context.close()


# --- 6. a way forward ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "reason"), [("de", "Mit Pro verfügbar"), ("en", "Available with Pro")]
)
def test_locked_models_say_what_unlocks_them(
    local_stack: LocalStack, browser_page: BrowserPage, lang: str, reason: str
) -> None:
    page = browser_page.page
    page.goto(f"{local_stack.api}{ENHANCER}?lang={lang}")
    page.get_by_text(reason).first.wait_for()
    locked = page.get_by_label(re.compile("GFPGAN"))
    assert locked.is_disabled()
    described = locked.get_attribute("aria-describedby") or ""
    assert page.locator(f"#{described}").inner_text() == reason


# --- 7. accessibility ---------------------------------------------------------------------

PAGES: list[tuple[str, Callable[[Page], None]]] = [
    (ENHANCER, lambda page: wait_for_usage(page, "0/3")),
    (EDITS, lambda page: page.locator("#style-list input").first.wait_for()),
]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("lang", ["de", "en"])
@pytest.mark.parametrize("path", [ENHANCER, EDITS], ids=["enhancer", "edits"])
def test_axe_finds_no_serious_violation(
    local_stack: LocalStack, browser: Browser, path: str, lang: str, viewport: ViewportSize
) -> None:
    context = browser.new_context(viewport=viewport)
    try:
        page = context.new_page()
        page.goto(f"{local_stack.api}{path}?lang={lang}")
        dict(PAGES)[path](page)
        if path == ENHANCER:
            page.locator(".choice.disabled .reason").first.wait_for()  # the locked models
            page.locator("#signin").wait_for()  # the demo sign-in (local stage)
            choose_photo(page)
            image_loaded(page, "#original-image")
        assert serious_violations(page) == []
    finally:
        context.close()


def test_the_axe_check_sees_a_contrast_failure(
    local_stack: LocalStack, browser_page: BrowserPage
) -> None:
    """The check above can fail: the page's lead paragraph at 2:1 (axe leaves the text of
    disabled controls out of its contrast rule, so the locked cards are checked by their
    colours in test_web_app's contrast test instead)."""
    page = browser_page.page
    page.goto(local_stack.api + ENHANCER)
    wait_for_usage(page, "0/3")
    page.evaluate("() => document.querySelector('.lead').style.setProperty('color', '#aaaaaa')")
    assert any(v.startswith("color-contrast (serious)") for v in serious_violations(page))


def test_the_local_demo_sign_in_unlocks_the_pro_models_and_keeps_no_token(
    local_stack: LocalStack, browser_page: BrowserPage
) -> None:
    page = browser_page.page
    page.goto(local_stack.api + ENHANCER + "?lang=en")
    wait_for_usage(page, "0/3")
    page.get_by_text("Available with Pro").first.wait_for()
    page.get_by_label("Demo sign-in (local only)").select_option("pro")
    page.get_by_text("Signed in: demo-pro-user (Pro)").wait_for()
    page.wait_for_function(
        "() => !document.querySelector('#model-list input[value=\"tencentarc/gfpgan\"]').disabled"
    )
    assert page.get_by_text("Available with Pro").count() == 0
    pro_usage = page.locator("#usage-count").inner_text()
    assert pro_usage.startswith("0/")
    assert pro_usage != "0/3"
    # A signed-in user's result, shown through the bearer token.
    choose_photo(page)
    page.get_by_label(re.compile("Real-ESRGAN")).check()
    with page.expect_response(lambda r: r.url.endswith(GENERATE)) as generated:
        page.get_by_role("button", name="Enhance").click()
    assert generated.value.status == 200, generated.value.text()
    assert generated.value.request.all_headers()["authorization"].startswith("Bearer ")
    image_loaded(page, "#result-image")
    assert (page.locator("#result-image").get_attribute("src") or "").startswith("blob:")
    # In memory only: nothing stored, and a reload is a guest again.
    assert page.evaluate("() => localStorage.length + sessionStorage.length") == 0
    assert "eyJ" not in page.evaluate("() => document.cookie")
    page.reload()
    wait_for_usage(page, "0/3")
    assert page.locator("#demo-user").input_value() == ""


@pytest.mark.parametrize(("lang", "name"), [("de", "Aquarell"), ("en", "Watercolor")])
def test_style_names_are_in_the_pages_language(
    local_stack: LocalStack, browser_page: BrowserPage, lang: str, name: str
) -> None:
    page = browser_page.page
    page.goto(f"{local_stack.api}{EDITS}?lang={lang}")
    page.get_by_label(name, exact=True).wait_for()
