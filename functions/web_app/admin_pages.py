"""The superadmin console (`/admin`): one page of screens (settings, styles, packages and
add-ons, budgets, blocked terms, operations) over the superadmin API. Like the tenant
control room it holds no caller data: the script signs in as a superadmin (`signin.js`) and
asks the API; every text is `messages_admin` in the page's language."""

from __future__ import annotations

from typing import get_args

from aiimage.edits.models import ProviderName
from aiimage.settings import Settings
from web_app import pages
from web_app.console_pages import console_page
from web_app.messages import Lang
from web_app.messages_admin import ADMIN

ADMIN_PATH = "/admin"
API_PREFIX = "/api/v1/admin"


def admin_page(lang: Lang, settings: Settings) -> str:
    return console_page(
        "admin",
        lang,
        settings,
        ADMIN[lang],
        {"admin_css_url": pages.asset_url("admin.css")},
        api=API_PREFIX,
        providers=list(get_args(ProviderName)),
    )
