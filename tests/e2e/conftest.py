"""Browser tests: Playwright (Python) driving Debian's Chromium against the local stack.

Chromium is the system's (`/usr/bin/chromium`, from Debian's `chromium` package; `make
test` installs it when missing and the user is root), not Playwright's download. Without
it, or without Playwright, the tests skip with the reason printed by `-ra`: never silently.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.plugins.stack import LocalStack, running_local_stack

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    configured = os.environ.get("CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    for candidate in (
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


NO_CHROMIUM = (
    "BROWSER TESTS SKIPPED: no Chromium at /usr/bin/chromium (install Debian's `chromium` "
    "package: `apt-get install -y chromium`, which `make test` does as root; or set "
    "CHROMIUM=/path/to/chromium)"
)


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalStack]:
    """The browser tests' own stack: their guests all come from 127.0.0.1 and would spend
    the network's daily allowance (10 images) that the functional stack tests count on."""
    with running_local_stack() as stack:
        yield stack


# Module scope, not session: Playwright's sync API keeps an event loop running in this
# thread while it is open, and every later test that runs a Mangum handler (which starts
# its own loop) would fail with "This event loop is already running".
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        pytest.skip(NO_CHROMIUM)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is a dev dependency
        pytest.skip("BROWSER TESTS SKIPPED: Playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Recorder:
    """What a page did: console messages, uncaught errors, every request and response."""

    console: list[ConsoleMessage] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)

    def console_errors(self) -> list[str]:
        errors = [f"{m.type}: {m.text} ({m.location})" for m in self.console if m.type == "error"]
        return errors + [f"pageerror: {e}" for e in self.page_errors]

    def responses_to(self, method: str, url_part: str) -> list[Response]:
        return [r for r in self.responses if r.request.method == method and url_part in r.url]


@dataclass
class BrowserPage:
    page: Page
    record: Recorder

    def cookie(self, name: str) -> str:
        values = [c.get("value", "") for c in self.page.context.cookies() if c.get("name") == name]
        assert values, f"no {name} cookie"
        return values[0]


def open_page(browser: Browser, **context_options: Any) -> Iterator[BrowserPage]:
    context = browser.new_context(**context_options)
    page = context.new_page()
    record = Recorder()
    # Playwright wraps handlers with an attribute: lambdas, not builtin bound methods.
    page.on("console", lambda message: record.console.append(message))
    page.on("pageerror", lambda error: record.page_errors.append(str(error)))
    page.on("request", lambda request: record.requests.append(request))
    page.on("response", lambda response: record.responses.append(response))
    page.set_default_timeout(30_000)
    try:
        yield BrowserPage(page, record)
    finally:
        context.close()


@pytest.fixture
def browser_page(browser: Browser) -> Iterator[BrowserPage]:
    """A fresh browser profile (no cookies) at desktop width."""
    yield from open_page(browser, viewport={"width": 1280, "height": 900})


@pytest.fixture
def phone_page(browser: Browser) -> Iterator[BrowserPage]:
    yield from open_page(
        browser, viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )


def screenshot_path(tmp_path: Path, name: str) -> Path:
    """docs/screenshots/ when UPDATE_SCREENSHOTS=1 (to refresh the committed ones), else a
    temporary file: a test run does not rewrite the repository."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS / name
    return tmp_path / name
