"""A tiny OpenID provider of the browser tests' own (discovery, authorize, a token endpoint
that checks PKCE), and the pages served as in AWS against it: the sign-in of the consoles
and of the Enhancer page (`static/signin.js`)."""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route


class TinyOidc:
    """Discovery, an authorize endpoint that redirects at once, and a token endpoint that
    checks the PKCE verifier against the challenge (S256) before it answers `token`."""

    def __init__(self, token: str) -> None:
        import hashlib
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs, urlencode, urlsplit

        self.token = token
        self.challenges: dict[str, tuple[str, str, str]] = {}  # code -> challenge, method, uri
        self.exchanges: list[dict[str, str]] = []
        oidc = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    self._json(
                        200,
                        {
                            "issuer": oidc.base,
                            "authorization_endpoint": oidc.base + "/authorize",
                            "token_endpoint": oidc.base + "/token",
                        },
                    )
                elif url.path == "/authorize":
                    code = f"code-{len(oidc.challenges)}"
                    oidc.challenges[code] = (
                        query["code_challenge"],
                        query["code_challenge_method"],
                        query["redirect_uri"],
                    )
                    target = query["redirect_uri"]
                    joiner = "&" if "?" in target else "?"
                    location = target + joiner + urlencode({"code": code, "state": query["state"]})
                    # A page that navigates on (not a 302: Playwright routes no redirect
                    # target, and the test rewrites the page it lands on).
                    page = f'<meta http-equiv="refresh" content="0;url={location}">'.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                else:
                    self._json(404, {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                oidc.exchanges.append(form)
                challenge, method, uri = oidc.challenges.pop(form.get("code", ""), ("", "", ""))
                digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
                if method != "S256" or expected != challenge or form.get("redirect_uri") != uri:
                    self._json(400, {"error": "invalid_grant"})
                    return
                self._json(200, {"access_token": oidc.token, "token_type": "Bearer"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def as_oidc_page(page: Page, issuer: str, path: str) -> None:
    """Serve the pages whose URL matches `path` (a regular expression) as in AWS (auth mode
    oidc, the issuer in connect-src): the local stack is stage `local`, whose pages sign in
    with the demo users."""

    # The provider listens on loopback like the stack: Chromium asks before a page may
    # reach the local network (a page served by `route.fulfill` has no address of its own).
    page.context.grant_permissions(["local-network-access"])

    def rewrite(route: Route) -> None:
        response = route.fetch()
        body = response.text()
        config = {"mode": "oidc", "issuer": issuer, "clientId": "console-test", "scope": "openid"}
        body = re.sub(r'"auth":\{[^}]*\}', '"auth":' + json.dumps(config), body, count=1)
        headers = dict(response.headers)
        headers["content-security-policy"] = headers["content-security-policy"].replace(
            "connect-src 'self'", f"connect-src 'self' {issuer}"
        )
        route.fulfill(response=response, body=body, headers=headers)

    page.route(re.compile(path), rewrite)
