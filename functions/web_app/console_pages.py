"""The consoles' pages: the tenant control room (`/tenant`, `/tenant/events/{slug}`) and what
every console shares (the sign-in panel, `static/signin.js`, the console stylesheet).

A console page holds no caller data: it is the same for everyone, and its script signs in
(bearer token in memory) and asks the API. So a page is rendered without any lookup, and an
event slug in the path only travels to the script (validated first: it is never echoed
unchecked into the page).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from string import Template
from typing import Any

from aiimage.settings import Settings
from web_app import pages
from web_app.messages import Lang
from web_app.messages_console import SIGNIN, TENANT

TENANT_PATH = "/tenant"
TENANT_EVENT_PREFIX = "/tenant/events/"
# The slugs the tenant API accepts (ai_edits_api.views.Slug).
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
EDIT_STATUSES = ("queued", "processing", "succeeded", "failed", "blocked")

_SIGNIN_PANEL = (pages.TEMPLATE_DIR / "console" / "signin.html").read_text("utf-8")


def _escaped(messages: Mapping[str, str]) -> dict[str, str]:
    return {
        key.replace(".", "_"): html.escape(value)
        for key, value in messages.items()
        if not key.startswith("js.")
    }


def console_page(
    name: str,
    lang: Lang,
    settings: Settings,
    messages: Mapping[str, str],
    page_text: Mapping[str, str] | None = None,
    **config: Any,
) -> str:
    """A console page: template `name`, the page's `messages` with the sign-in's, the
    sign-in panel as `$signin_panel`, `signin.js` before `{name}.js`, and `console.css`."""
    texts = {**SIGNIN[lang], **messages}
    panel = Template(_SIGNIN_PANEL).substitute(_escaped(SIGNIN[lang]))
    return pages.render(
        name,
        lang,
        settings,
        {
            "signin_panel": panel,
            "console_css_url": pages.asset_url("console.css"),
            **(page_text or {}),
        },
        extra_messages=texts,
        scripts=("signin.js",),
        **config,
    )


def tenant_events_page(lang: Lang, settings: Settings) -> str:
    """The tenant's events (`GET /api/v1/tenant/events`), each with its capability."""
    return console_page("tenant", lang, settings, TENANT[lang])


def tenant_event_page(slug: str, lang: Lang, settings: Settings) -> str | None:
    """The control room of one event; None for a slug the API would refuse anyway."""
    if not SLUG.fullmatch(slug):
        return None
    return console_page(
        "tenant_event",
        lang,
        settings,
        TENANT[lang],
        {"event_slug": html.escape(slug)},
        eventSlug=slug,
        statuses=list(EDIT_STATUSES),
    )
