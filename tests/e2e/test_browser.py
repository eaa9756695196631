"""The web app in a real browser against the local stack (moto server, emulators, workers).

1. The seed's real-user test: open `/tools/imag-enhancer/app`, upload an image, click
   "Verbessern", see Original and Ergebnis, usage 0 → 1, with the network, the CSRF token,
   the security headers and the console checked.
2. A guest Magic Edit on `/e/{token}`: the guest uploads a photo, edits it, from request
   to `succeeded` and its result.
3. A large image (over the inline limit) goes as a direct upload to the bucket.
4. Phone width, keyboard use of the compare slider, English.
5. The messages for a used-up quota (403) and a rate limit (429 with a countdown).
6. Drag and drop, paste, and the client-side type and size checks.
"""

from __future__ import annotations

import io
import json
import random
import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from PIL import Image, ImageDraw

from infra.seed_edits import SUMMER_TOKEN
from tests.conftest import assert_security_headers
from tests.e2e.conftest import NO_CHROMIUM, BrowserPage, chromium_path, screenshot_path

if TYPE_CHECKING:
    from playwright.sync_api import FilePayload, Page, Route

    from tests.plugins.stack import LocalStack

pytestmark = [
    pytest.mark.stack,
    # Decided before the local stack starts; the browser fixture repeats it for Playwright.
    pytest.mark.skipif(chromium_path() is None, reason=NO_CHROMIUM),
]

ENHANCER = "/tools/imag-enhancer/app"
GENERATE = "/api/ai-image/generate"


def photo_jpeg() -> bytes:
    """The seed runbook's test image: a sun over a blue sky."""
    image = Image.new("RGB", (480, 360), (70, 110, 160))
    draw = ImageDraw.Draw(image)
    draw.ellipse((150, 70, 330, 250), fill=(230, 190, 60))
    draw.rectangle((0, 290, 480, 360), fill=(50, 130, 70))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


def payload(name: str, mime_type: str, data: bytes) -> FilePayload:
    return {"name": name, "mimeType": mime_type, "buffer": data}


def noisy_png(min_bytes: int) -> bytes:
    """A PNG that does not compress below `min_bytes` (random pixels)."""
    side = int((min_bytes / 3) ** 0.5) + 64
    noise = random.Random(7).randbytes(side * side * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), noise).save(buffer, "PNG", compress_level=1)
    data = buffer.getvalue()
    assert len(data) > min_bytes
    return data


def image_loaded(page: Page, selector: str) -> None:
    page.wait_for_function(
        "s => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth }",
        arg=selector,
    )


def usage_text(page: Page) -> str:
    return page.locator("#usage-count").inner_text()


def wait_for_usage(page: Page, expected: str) -> None:
    page.wait_for_function(
        "t => document.getElementById('usage-count').textContent === t", arg=expected
    )


def assert_same_origin_headers(record: BrowserPage, api: str) -> None:
    """Every response of the app's own origin (pages, assets, API, images) had them."""
    own = [r for r in record.record.responses if r.url.startswith(api)]
    assert own
    for response in own:
        headers = response.all_headers()
        assert_security_headers(headers)
        if "text/html" in headers.get("content-type", ""):
            assert "unsafe-inline" not in headers["content-security-policy"]


def test_the_seed_real_user_flow(
    local_stack: LocalStack, browser_page: BrowserPage, tmp_path: Path
) -> None:
    page, record = browser_page.page, browser_page.record
    page.goto(local_stack.api + ENHANCER)
    wait_for_usage(page, "0/3")
    page.locator("#file-input").set_input_files(
        files=[payload("eh_test.jpg", "image/jpeg", photo_jpeg())]
    )
    with page.expect_response(lambda r: r.url.endswith(GENERATE)) as generated:
        page.get_by_role("button", name="Verbessern").click()
    response = generated.value
    assert response.status == 200, response.text()
    assert response.request.method == "POST"
    # The double submit: the header the page sent equals the cookie the API set.
    sent = response.request.all_headers()
    assert sent["x-csrf-token"] == browser_page.cookie("csrf_token")
    assert len(sent["x-csrf-token"]) >= 16
    assert sent["origin"] == local_stack.api
    body = response.json()
    assert body["success"] is True
    image_url = body["data"]["imageUrl"]

    page.locator("#compare-section").wait_for(state="visible")
    image_loaded(page, "#original-image")
    image_loaded(page, "#result-image")
    compare = page.locator("#compare")
    assert compare.get_by_text("Original", exact=True).is_visible()
    assert compare.get_by_text("Ergebnis", exact=True).is_visible()
    wait_for_usage(page, "1/3")
    # Saved under the original's name and what was done to it (the server adds the type).
    href = page.locator("#download").get_attribute("href") or ""
    assert href == urlsplit(image_url).path + "?download=eh_test-restyled"

    results = [r for r in record.responses if r.url == image_url]
    assert results
    assert {r.status for r in results} == {200}
    assert results[0].header_value("content-type") == "image/webp"
    assert [r.status for r in record.responses_to("GET", "/api/ai-image/usage")] == [200]
    assert_same_origin_headers(browser_page, local_stack.api)
    assert record.console_errors() == []
    page.screenshot(path=screenshot_path(tmp_path, "enhancer.png"), full_page=True)


def test_a_guest_magic_edit_to_succeeded(
    local_stack: LocalStack, browser_page: BrowserPage, tmp_path: Path
) -> None:
    page, record = browser_page.page, browser_page.record
    page.goto(f"{local_stack.api}/e/{SUMMER_TOKEN}")
    page.locator("#style-list input").first.wait_for()
    page.locator(".photo").first.wait_for()
    image_loaded(page, ".photo img")
    seeded = page.locator(".photo").count()

    # The guest's own photo: presigned PUT to the bucket, completed, then in the gallery.
    with page.expect_response(lambda r: r.url.endswith("/complete")) as completed:
        page.locator("#photo-input").set_input_files(
            files=[payload("mine.jpg", "image/jpeg", photo_jpeg())]
        )
    assert completed.value.status == 200, completed.value.text()
    uploaded = record.responses_to("POST", f"/api/v1/events/{SUMMER_TOKEN}/photos")[0]
    assert uploaded.status == 201
    photo_id = uploaded.json()["data"]["photo_id"]
    puts = [r for r in record.responses if r.request.method == "PUT"]
    assert [r.status for r in puts] == [200]
    assert puts[0].url.startswith(local_stack.moto)
    page.wait_for_function("n => document.querySelectorAll('.photo').length === n", arg=seeded + 1)
    own = page.locator(f'.photo[data-photo="{photo_id}"]')
    assert own.get_attribute("aria-pressed") == "true"
    image_loaded(page, f'.photo[data-photo="{photo_id}"] img')
    page.get_by_label("Vintage").check()

    with page.expect_response(
        lambda r: r.url.endswith("/ai-edits") and r.request.method == "POST"
    ) as created:
        page.get_by_role("button", name="Bearbeitung anfordern").click()
    response = created.value
    assert response.status == 201, response.text()
    assert response.request.all_headers()["x-csrf-token"] == browser_page.cookie("csrf_token")
    request = response.json()["data"]
    assert request["style_key"] == "vintage"
    assert request["photo_id"] == photo_id

    page.locator("#result-section").wait_for(state="visible")
    image_loaded(page, "#edit-result")
    assert page.locator("#status").inner_text() == "Fertig."
    polls = record.responses_to("GET", f"/ai-edits/{request['request_id']}")
    statuses = [
        json.loads(r.text())["data"]["status"]
        for r in polls
        if r.url.endswith(request["request_id"])
    ]
    assert statuses[-1] == "succeeded"
    result = record.responses_to("GET", f"/ai-edits/{request['request_id']}/result")
    assert [r.status for r in result] == [200]
    assert_same_origin_headers(browser_page, local_stack.api)
    assert record.console_errors() == []
    page.screenshot(path=screenshot_path(tmp_path, "magic-edits.png"), full_page=True)


def test_a_large_image_goes_as_a_direct_upload(
    local_stack: LocalStack, browser_page: BrowserPage
) -> None:
    page, record = browser_page.page, browser_page.record
    page.goto(local_stack.api + ENHANCER)
    wait_for_usage(page, "0/3")
    big = noisy_png(4_600_000)  # over the 4.5 MB inline limit, under the 10 MB one
    page.locator("#file-input").set_input_files(files=[payload("big.png", "image/png", big)])
    page.get_by_label("Hochskalieren (Real-ESRGAN)").check()
    with page.expect_response(lambda r: r.url.endswith(GENERATE), timeout=60_000) as generated:
        page.get_by_role("button", name="Verbessern").click()
    assert generated.value.status == 200, generated.value.text()
    page.locator("#compare-section").wait_for(state="visible")
    image_loaded(page, "#result-image")

    assert [r.status for r in record.responses_to("POST", "/api/ai-image/uploads")] == [201]
    puts = [r for r in record.responses if r.request.method == "PUT"]
    assert len(puts) == 1
    assert puts[0].url.startswith(local_stack.moto)  # the bucket itself, not the API
    assert puts[0].status == 200
    form = generated.value.request.post_data_buffer or b""
    assert b'name="uploadKey"' in form
    assert b'name="image"' not in form  # the bytes went to the bucket only
    assert record.console_errors() == []


def test_phone_width_keyboard_and_english(
    local_stack: LocalStack, phone_page: BrowserPage, tmp_path: Path
) -> None:
    page, record = phone_page.page, phone_page.record
    page.goto(local_stack.api + ENHANCER + "?lang=en")
    wait_for_usage(page, "0/3")
    assert page.locator("html").get_attribute("lang") == "en"
    # Nothing wider than the phone: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # The plan greys out what it does not include, and says what unlocks it.
    locked = page.get_by_label(re.compile("GFPGAN"))
    page.get_by_text("Available with Pro").first.wait_for()
    assert locked.is_disabled()

    page.locator("#file-input").set_input_files(
        files=[payload("eh_test.jpg", "image/jpeg", photo_jpeg())]
    )
    # Keyboard only: focus the button and press Enter, then move the slider with arrows.
    page.get_by_role("button", name="Enhance").focus()
    page.keyboard.press("Enter")
    page.locator("#compare-section").wait_for(state="visible")
    wait_for_usage(page, "1/3")
    slider = page.get_by_role("slider", name="Compare: original on the left, result on the right")
    slider.focus()
    before = page.locator("#result-layer").evaluate("e => e.style.clipPath")
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    after = page.locator("#result-layer").evaluate("e => e.style.clipPath")
    assert before != after
    assert slider.input_value() == "60"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert record.console_errors() == []
    page.screenshot(path=screenshot_path(tmp_path, "enhancer-phone.png"), full_page=True)


def generate_in_page(page: Page, api: str, csrf: str) -> int:
    """One generate from inside the page's browser context (its cookies), as the page does."""
    response = page.request.post(
        api + GENERATE,
        headers={"Origin": api, "X-CSRF-Token": csrf},
        multipart={
            "image": payload("eh_test.jpg", "image/jpeg", photo_jpeg()),
            "model": "nightmareai/real-esrgan",
        },
    )
    return response.status


def test_a_used_up_quota_and_a_rate_limit_are_explained(
    local_stack: LocalStack, browser_page: BrowserPage
) -> None:
    page, record = browser_page.page, browser_page.record
    page.goto(local_stack.api + ENHANCER)
    wait_for_usage(page, "0/3")
    csrf = browser_page.cookie("csrf_token")
    page.locator("#file-input").set_input_files(
        files=[payload("eh_test.jpg", "image/jpeg", photo_jpeg())]
    )

    # A 429 (answered here by the browser's router: the real limit needs 15 calls a minute).
    def too_many(route: Route) -> None:
        route.fulfill(
            status=429,
            headers={"Retry-After": "2", "Content-Type": "application/json"},
            body=json.dumps(
                {
                    "success": False,
                    "error": {"type": "rate_limited", "code": "rate_limited", "message": "Slow"},
                }
            ),
        )

    page.route("**" + GENERATE, too_many)
    page.get_by_role("button", name="Verbessern").click()
    page.get_by_text("Bitte in 2 s erneut versuchen").wait_for()
    assert page.get_by_role("button", name="Verbessern").is_disabled()
    page.get_by_text("Bitte in 1 s erneut versuchen").wait_for()
    page.wait_for_function("() => !document.getElementById('enhance-button').disabled")
    assert page.locator("#error").inner_text() == ""
    page.unroute("**" + GENERATE, too_many)

    assert [generate_in_page(page, local_stack.api, csrf) for _ in range(3)] == [200] * 3
    with page.expect_response(lambda r: r.url.endswith(GENERATE)) as refused:
        page.get_by_role("button", name="Verbessern").click()
    assert refused.value.status == 403
    assert refused.value.json()["error"]["code"] == "quota_exceeded"
    page.get_by_text("Ihr Kontingent ist aufgebraucht. Wieder verfügbar ab").wait_for()
    assert page.locator("#error").get_attribute("role") == "alert"
    assert "refusal" in (page.locator("#error").get_attribute("class") or "")
    wait_for_usage(page, "3/3")
    assert page.locator("#result-layer").is_hidden()  # the preview only, no result
    # At the limit the button is off, and says from when it is on again: after a reload too.
    assert page.get_by_role("button", name="Verbessern").is_disabled()
    page.reload()
    wait_for_usage(page, "3/3")
    assert page.get_by_role("button", name="Verbessern").is_disabled()
    assert (
        page.locator("#quota-hint")
        .inner_text()
        .startswith("Kontingent aufgebraucht. Wieder verfügbar ab ")
    )
    # The browser reports the refused requests themselves, and nothing else.
    unexpected = [
        e for e in record.console_errors() if "status of 403" not in e and "status of 429" not in e
    ]
    assert unexpected == []


DISPATCH_FILE = """([kind, name, type, size]) => {
    const file = new File([new Uint8Array(size)], name, { type });
    const data = new DataTransfer();
    data.items.add(file);
    if (kind === "paste") {
        document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data }));
    } else {
        const zone = document.getElementById("drop-zone");
        zone.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true }));
    }
}"""


def test_drop_paste_and_the_client_side_checks(
    local_stack: LocalStack, browser_page: BrowserPage
) -> None:
    page, record = browser_page.page, browser_page.record
    page.goto(local_stack.api + ENHANCER)
    wait_for_usage(page, "0/3")
    error, chosen = page.locator("#error"), page.locator("#file-name")

    page.evaluate(DISPATCH_FILE, ["drop", "dropped.webp", "image/webp", 2048])
    assert chosen.inner_text() == "Gewählt: dropped.webp"
    page.evaluate(DISPATCH_FILE, ["paste", "pasted.png", "image/png", 2048])
    assert chosen.inner_text() == "Gewählt: pasted.png"
    assert error.inner_text() == ""

    # The server's limits, checked before anything is sent.
    page.evaluate(DISPATCH_FILE, ["drop", "anim.gif", "image/gif", 2048])
    assert error.inner_text() == "Nur JPEG, PNG oder WebP."
    page.evaluate(DISPATCH_FILE, ["paste", "huge.png", "image/png", 10 * 1024 * 1024 + 1])
    assert error.inner_text() == "Das Bild ist größer als 10 MB."
    page.get_by_role("button", name="Verbessern").click()
    assert error.inner_text() == "Bitte zuerst ein Bild wählen."
    assert record.responses_to("POST", "/api/") == []
    assert record.console_errors() == []
