"""The web app's pages and assets: packaged with the function, read once per process.

Assets are served only from an index built at import (name -> bytes, type, ETag), so a
request path is a dictionary key and never reaches the file system: no traversal. Pages
are HTML templates with server-rendered text; what the script needs (messages, the model
catalog, the upload limits, the event token) travels in a JSON data block, which the
Content-Security-Policy (`script-src 'self'`, no inline scripts) does not execute.
"""

from __future__ import annotations

import hashlib
import html
import json
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import urlsplit

from aiimage.edits.access import GuestEventView
from aiimage.enhancer.model_catalog import CATALOG, DEFAULT_MODEL, ModelSpec, NumberRange
from aiimage.http.security import SECURITY_HEADERS
from aiimage.settings import Settings
from aiimage.storage.keys import EXTENSIONS
from web_app.messages import (
    ERROR_MESSAGES,
    MESSAGES,
    MODEL_LABELS,
    REFUSALS,
    UNKNOWN_ERROR,
    Lang,
)

ROOT = Path(__file__).resolve().parent
STATIC_DIR = ROOT / "static"
TEMPLATE_DIR = ROOT / "templates"
STATIC_PREFIX = "/static/"
ENHANCER_PATH = "/tools/imag-enhancer/app"
EDITS_PREFIX = "/e/"

_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str

    @property
    def version(self) -> str:
        return self.etag.strip('"')[:12]


def _asset(body: bytes, name: str) -> Asset:
    suffix = Path(name).suffix
    content_type = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Asset(body, content_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def load_assets(directory: Path = STATIC_DIR) -> dict[str, Asset]:
    """Every regular file below `directory`, by its path relative to it (`/`-separated)."""
    return {
        path.relative_to(directory).as_posix(): _asset(path.read_bytes(), path.name)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }


ASSETS = load_assets()
TEMPLATES = {path.stem: path.read_text("utf-8") for path in TEMPLATE_DIR.glob("*.html")}
# Fragments a page places with `$name` (`$head`: the doctype and the head with the page's
# title and script), filled from the page's own values; the line break after is the page's.
PARTIALS = {
    path.stem: path.read_text("utf-8").removesuffix("\n")
    for path in (TEMPLATE_DIR / "partials").glob("*.html")
}


def asset_url(name: str) -> str:
    """A versioned URL: the content hash in the query lets browsers cache it for long."""
    return f"{STATIC_PREFIX}{name}?v={ASSETS[name].version}"


# --- Content-Security-Policy ---------------------------------------------------------------


def storage_origins(settings: Settings) -> tuple[str, ...]:
    """Origins of the object store that the browser talks to directly: presigned PUTs of
    direct uploads, and the presigned GETs delivery redirects large results to."""
    endpoint = settings.storage_endpoint_url or settings.aws_endpoint_url
    if endpoint:
        parts = urlsplit(endpoint)
        return (f"{parts.scheme}://{parts.netloc}",)
    region = settings.storage_region or settings.aws_region
    # Path-style addressing (aiimage.aws.s3); us-east-1 also answers on the global name.
    regional = f"https://s3.{region}.amazonaws.com"
    return (regional, "https://s3.amazonaws.com") if region == "us-east-1" else (regional,)


def oidc_origin(settings: Settings) -> str | None:
    """The identity provider's origin, which the consoles' sign-in talks to (discovery and
    the token endpoint) when it is OIDC (`auth_view`)."""
    if settings.stage == "local" or not settings.jwt_issuer or not settings.oidc_client_id:
        return None
    parts = urlsplit(settings.jwt_issuer)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme == "https" else None


def page_csp(settings: Settings) -> str:
    """The platform's policy, with the object store added to `connect-src` and `img-src`,
    and the identity provider's origin to `connect-src` (the consoles' OIDC sign-in)."""
    base = dict(SECURITY_HEADERS)[b"content-security-policy"].decode()
    extra = " ".join(storage_origins(settings))
    issuer = oidc_origin(settings)
    directives = []
    for directive in base.split(";"):
        directive = directive.strip()
        name = directive.split(" ", 1)[0]
        if name in ("connect-src", "img-src"):
            directive = f"{directive} {extra}"
        if name == "connect-src" and issuer:
            directive = f"{directive} {issuer}"
        directives.append(directive)
    return "; ".join(directives)


# --- pages ---------------------------------------------------------------------------------


def _range(spec: NumberRange | None) -> dict[str, float] | None:
    if spec is None:
        return None
    return {"min": spec.low, "max": spec.high, "default": spec.default}


def model_view(spec: ModelSpec, lang: Lang) -> dict[str, Any]:
    return {
        "slug": spec.slug,
        "label": MODEL_LABELS[lang].get(spec.slug, spec.label),
        "kind": spec.kind,
        "scales": list(spec.scales),
        "faceEnhance": spec.face_enhance,
        "faceModel": spec.face_model,
        "prompt": spec.default_prompt is not None,
        "strength": _range(spec.strength),
    }


def limits_view(settings: Settings) -> dict[str, Any]:
    return {
        "maxUploadBytes": settings.max_upload_bytes,
        # Above this the page uploads directly to the bucket (Lambda's payload limit).
        "maxInlineBytes": settings.max_inline_upload_bytes,
        "contentTypes": sorted(EXTENSIONS),
    }


def _json_block(config: dict[str, Any]) -> str:
    # `<`, `>` and `&` escaped: the JSON cannot close the script element it sits in.
    text = json.dumps(config, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _page_script(name: str, before: tuple[str, ...] = ()) -> str:
    """The page's own script element (`{name}.js`), if it has one, after the scripts of
    `before` (e.g. `signin.js`): a page without (the 404 page) loads only the shared one."""
    names = [*before, f"{name}.js"]
    return "".join(
        f'<script src="{asset_url(script)}" defer></script>' for script in names if script in ASSETS
    )


def auth_view(settings: Settings) -> dict[str, Any]:
    """How the consoles sign in (`static/signin.js`): the local stack's demo users, or the
    OIDC authorization code flow with PKCE against the token issuer (a public client)."""
    if settings.stage == "local":
        return {"mode": "local", "localPath": LOCAL_SIGN_IN_PATH}
    return {
        "mode": "oidc",
        "issuer": settings.jwt_issuer,
        "clientId": settings.oidc_client_id,
        "scope": "openid",
    }


def render(
    name: str,
    lang: Lang,
    settings: Settings,
    page_text: dict[str, str] | None = None,
    *,
    extra_messages: Mapping[str, str] | None = None,
    scripts: tuple[str, ...] = (),
    **config: Any,
) -> str:
    """The page `name` in `lang`: its messages (and `extra_messages`, a console's own),
    `page_text` (values the caller escaped), the config block for its script, and the
    `scripts` it loads before its own."""
    messages = {**MESSAGES[lang], **(extra_messages or {})}
    max_mb = f"{settings.max_upload_bytes / (1024 * 1024):g}"
    text = {
        key.replace(".", "_"): html.escape(Template(value).safe_substitute(max_mb=max_mb))
        for key, value in messages.items()
        if not key.startswith("js.")
    }
    script_messages = {k.removeprefix("js."): v for k, v in messages.items() if k.startswith("js.")}
    other = "en" if lang == "de" else "de"
    values = {
        **text,
        **(page_text or {}),
        "lang": lang,
        "other_lang": other,
        "icon_url": asset_url("favicon.svg"),
        "css_url": asset_url("app.css"),
        "common_js_url": asset_url("common.js"),
        # Each page has its own title message and script: `{name}.title`, `{name}.js`.
        "page_title": text[f"{name}_title"],
        "page_script": _page_script(name, scripts),
        "config": _json_block(
            {
                "lang": lang,
                "messages": script_messages,
                # Errors by code in the page's language; the server's English text never shows.
                "errors": ERROR_MESSAGES[lang],
                "unknownError": UNKNOWN_ERROR[lang],
                "refusals": sorted(REFUSALS),
                "auth": auth_view(settings),
                **config,
            }
        ),
    }
    # A partial's text is a value of the page: it is placed, not substituted again.
    partials = {key: Template(body).substitute(values) for key, body in PARTIALS.items()}
    return Template(TEMPLATES[name]).substitute(values, **partials)


# The local stack's demo sign-in (infra.local.DemoSignIn): offered on the `local` stage only;
# in AWS a user signs in with the identity provider (no such route exists there).
LOCAL_SIGN_IN_PATH = "/local/demo-token"


def enhancer_page(lang: Lang, settings: Settings) -> str:
    models = [model_view(spec, lang) for spec in CATALOG.values()]
    return render(
        "enhancer",
        lang,
        settings,
        models=models,
        defaultModel=DEFAULT_MODEL,
        limits=limits_view(settings),
        demoSignIn=LOCAL_SIGN_IN_PATH if settings.stage == "local" else None,
        # In AWS the identity provider's sign-in (OIDC with PKCE), as on the consoles.
        scripts=("signin.js",),
    )


def edits_page(event: GuestEventView, lang: Lang, settings: Settings) -> str:
    """The guest page of one event: its name rendered in the page, its policy text and the
    token in the config block."""
    return render(
        "edits",
        lang,
        settings,
        {"event_name": html.escape(event.name)},
        token=event.token,
        event={"name": event.name, "policyMessage": localized(event.policy_messages, lang)},
        limits=limits_view(settings),
    )


def not_found_page(lang: Lang, settings: Settings) -> str:
    """The answer to a link that opens no event (HTTP 404): what happened, what to do."""
    return render("notfound", lang, settings)


def localized(texts: dict[str, str], lang: Lang) -> str | None:
    """A translatable field (`{"de": …, "en": …}`): the page's language, else German (the
    catalog's default language), else any."""
    return texts.get(lang) or texts.get("de") or next(iter(texts.values()), None)
