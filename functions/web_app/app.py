"""WebAppFunction: the browser pages, served from the API's own origin so the guest cookie,
the CSRF double submit and the CSP hold exactly as for the API (adapter only: the pages and
assets are files packaged with the function, see `web_app.pages`).

- `GET /tools/imag-enhancer/app`: the Enhancer (German; `?lang=en`)
- `GET /e/{token}`: Magic Edits for the guests of one event; a link that opens no event is
  a 404 page in the page's language
- `GET /tenant`, `GET /tenant/events/{slug}`: the tenant control room (`web_app.console_pages`;
  bearer sign-in in the page, the data from the tenant API)
- `GET /admin`: the superadmin console (`web_app.admin_pages`; bearer sign-in in the page, the
  data from the superadmin API)
- `GET /static/{path}`: the pages' CSS and scripts, with ETag and Cache-Control

The routes are async: they answer from memory (templates and assets are read at import),
where a threadpool hop would be all cost.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from mangum import Mangum

from aiimage.edits.access import event_for_link
from aiimage.errors import NotFoundError
from aiimage.http.app import create_app, observed
from aiimage.settings import get_settings
from web_app import admin_pages, console_pages, pages
from web_app.messages import pick_lang

router = APIRouter(tags=["web app"])

Lang = Annotated[str | None, Query(max_length=8)]
# The pages hold no caller data (the script asks the API), yet must follow a deploy at once;
# private, because the first visit's answer sets the caller's cookies.
PAGE_CACHE = "private, no-cache"
# Versioned URLs (`?v=<content hash>`) may be kept for a year; others are revalidated.
ASSET_CACHE_VERSIONED = "public, max-age=31536000, immutable"
ASSET_CACHE = "public, max-age=300"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,64}")  # the join tokens the guest API accepts


def _page(body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        body,
        status_code=status_code,
        headers={
            "Cache-Control": PAGE_CACHE,
            "Content-Security-Policy": pages.page_csp(get_settings()),
        },
    )


@router.get(
    pages.ENHANCER_PATH,
    response_class=HTMLResponse,
    summary="The Enhancer page (German; `?lang=en` for English)",
)
async def enhancer(lang: Lang = None) -> HTMLResponse:
    return _page(pages.enhancer_page(pick_lang(lang), get_settings()))


@router.get(
    pages.EDITS_PREFIX + "{token}",
    response_class=HTMLResponse,
    responses={404: {"description": "The link opens no event: a page that says so"}},
    summary="The Magic Edits page for the guests of the event a join token opens",
)
def edits(token: str, lang: Lang = None) -> HTMLResponse:
    # Sync: the event is one DynamoDB read (in the threadpool). A malformed token is not
    # looked up at all.
    chosen, settings = pick_lang(lang), get_settings()
    try:
        if not _TOKEN.fullmatch(token):
            raise NotFoundError("No such event", code="unknown_event")
        event = event_for_link(token)
    except NotFoundError:
        return _page(pages.not_found_page(chosen, settings), status_code=404)
    return _page(pages.edits_page(event, chosen, settings))


@router.get(
    console_pages.TENANT_PATH,
    response_class=HTMLResponse,
    summary="The tenant control room: the tenant's events (German; `?lang=en` for English)",
)
async def tenant_events(lang: Lang = None) -> HTMLResponse:
    return _page(console_pages.tenant_events_page(pick_lang(lang), get_settings()))


@router.get(
    console_pages.TENANT_EVENT_PREFIX + "{slug}",
    response_class=HTMLResponse,
    responses={404: {"description": "Not an event slug: a page that says so"}},
    summary="The tenant control room of one event: summary, requests, policy",
)
async def tenant_event(slug: str, lang: Lang = None) -> HTMLResponse:
    chosen, settings = pick_lang(lang), get_settings()
    body = console_pages.tenant_event_page(slug, chosen, settings)
    if body is None:
        return _page(pages.not_found_page(chosen, settings), status_code=404)
    return _page(body)


@router.get(
    admin_pages.ADMIN_PATH,
    response_class=HTMLResponse,
    summary="The superadmin console (German; `?lang=en` for English)",
)
async def admin_console(lang: Lang = None) -> HTMLResponse:
    return _page(admin_pages.admin_page(pick_lang(lang), get_settings()))


@router.get(
    pages.STATIC_PREFIX + "{path:path}",
    response_class=Response,
    responses={200: {"description": "A stylesheet, script or icon of the pages"}},
    summary="The pages' assets; `?v=<content hash>` URLs are immutable",
)
async def static(path: str, request: Request, v: Annotated[str | None, Query()] = None) -> Response:
    asset = pages.ASSETS.get(path)
    if asset is None:
        raise NotFoundError("No such file", code="unknown_asset")
    cache = ASSET_CACHE_VERSIONED if v == asset.version else ASSET_CACHE
    headers = {"ETag": asset.etag, "Cache-Control": cache}
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)


app = create_app("Web app", router)
handler = observed(Mangum(app, lifespan="off"))
