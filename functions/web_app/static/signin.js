/* The consoles' sign-in (tenant control room, superadmin console): a bearer token held in
   memory only (never localStorage, sessionStorage or a cookie), so a reload signs out.

   - local stage (`auth.mode == "local"`): the dev stack's demo token endpoint,
     GET /local/demo-token?plan=<role> ("tenant": the demo tenant admin, "admin": the demo
     superadmin). The route exists in the local stack only, never in template.yaml.
   - AWS (`auth.mode == "oidc"`): the authorization code flow with PKCE (S256) against
     `auth.issuer` (its /.well-known/openid-configuration), public client `auth.clientId`,
     redirect back to this page; the code is exchanged at the token endpoint. Only the PKCE
     verifier and the state survive the redirect (sessionStorage); they are one-use.

   window.AiImageAuth = {signIn(role), token(), signOut(), authFetch(url, init), onChange(cb),
   ready, bindPanel(role)}: `ready` settles once a returning authorization code is exchanged
   (or at once); `bindPanel` wires the consoles' shared sign-in panel.
   A 401, or the token's `exp` passing, forgets the token and dispatches
   "aiimage:signed-out" on window with {detail: {reason: "expired"}}. */
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("page-config").textContent);
  const auth = config.auth || { mode: "local" };
  const common = window.AiImage || null;
  const PENDING = "aiimage.oidc.pending"; // {state, verifier, redirectUri}: until the code returns
  const listeners = [];
  let bearer = null;
  let expiryTimer = null;

  function notify() {
    // The shared api() of common.js sends the same token.
    if (common) common.setBearer(bearer);
    for (const callback of listeners.slice()) {
      try {
        callback(bearer);
      } catch (err) {
        setTimeout(() => { throw err; });
      }
    }
  }

  /** The token's `exp` (seconds), or null: the payload is read, never trusted. */
  function expiresAt(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const claims = JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
      return typeof claims.exp === "number" ? claims.exp : null;
    } catch (err) {
      return null;
    }
  }

  function setToken(token) {
    if (expiryTimer) clearTimeout(expiryTimer);
    expiryTimer = null;
    bearer = token || null;
    const exp = bearer ? expiresAt(bearer) : null;
    if (exp !== null) {
      // setTimeout's ceiling is about 24.8 days; a token never lives that long here.
      const ms = Math.min(Math.max(exp * 1000 - Date.now(), 0), 2147483647);
      expiryTimer = setTimeout(() => expire(), ms);
    }
    notify();
  }

  function expire() {
    if (!bearer) return;
    setToken(null);
    window.dispatchEvent(new CustomEvent("aiimage:signed-out", { detail: { reason: "expired" } }));
  }

  class AuthError extends Error {
    constructor(code, status) {
      super(code);
      this.code = code;
      this.status = status || 0;
      this.details = {};
    }
  }

  // --- PKCE ---------------------------------------------------------------------------------
  function base64url(bytes) {
    let text = "";
    for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function randomString(size) {
    return base64url(crypto.getRandomValues(new Uint8Array(size)));
  }

  async function challengeOf(verifier) {
    return base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  }

  async function discover() {
    const issuer = String(auth.issuer || "").replace(/\/+$/, "");
    const response = await fetch(issuer + "/.well-known/openid-configuration", { credentials: "omit" });
    if (!response.ok) throw new AuthError("signin_unavailable", response.status);
    return response.json();
  }

  function redirectUri() {
    return window.location.origin + window.location.pathname;
  }

  async function startOidc(role) {
    if (!auth.issuer || !auth.clientId) throw new AuthError("signin_unavailable");
    const discovery = await discover();
    const verifier = randomString(48);
    const state = randomString(16);
    // The language survives the round trip in the redirect URI's query (?lang=en).
    const lang = new URLSearchParams(window.location.search).get("lang");
    const back = redirectUri() + (lang ? "?lang=" + encodeURIComponent(lang) : "");
    sessionStorage.setItem(PENDING, JSON.stringify({ state, verifier, redirectUri: back, role }));
    const query = new URLSearchParams({
      response_type: "code",
      client_id: auth.clientId,
      redirect_uri: back,
      scope: auth.scope || "openid",
      state,
      code_challenge: await challengeOf(verifier),
      code_challenge_method: "S256",
    });
    window.location.assign(discovery.authorization_endpoint + "?" + query.toString());
    return new Promise(() => undefined); // the page leaves
  }

  /** Back from the identity provider: exchange the code once, then drop it from the URL. */
  async function completeOidc() {
    const params = new URLSearchParams(window.location.search);
    const code = params.get("code");
    const error = params.get("error");
    if (!code && !error) return;
    const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
    sessionStorage.removeItem(PENDING);
    const clean = new URLSearchParams(window.location.search);
    for (const name of ["code", "state", "error", "error_description", "session_state", "iss"]) clean.delete(name);
    const rest = clean.toString();
    window.history.replaceState(null, "", window.location.pathname + (rest ? "?" + rest : ""));
    if (error) throw new AuthError("signin_refused");
    if (!pending || pending.state !== params.get("state")) throw new AuthError("signin_state_mismatch");
    const discovery = await discover();
    const response = await fetch(discovery.token_endpoint, {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: pending.redirectUri,
        client_id: auth.clientId,
        code_verifier: pending.verifier,
      }).toString(),
    });
    const body = response.ok ? await response.json() : null;
    const token = body && (body.access_token || body.id_token);
    if (!token) throw new AuthError("signin_refused", response.status);
    setToken(token);
  }

  // --- the local stack's demo users -------------------------------------------------------------
  async function startLocal(role) {
    const path = auth.localPath || "/local/demo-token";
    const response = await fetch(path + "?plan=" + encodeURIComponent(role), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    const body = response.ok ? await response.json() : null;
    if (!body || body.success !== true || !body.data || !body.data.token) {
      throw new AuthError("signin_unavailable", response.status);
    }
    setToken(body.data.token);
    return body.data.token;
  }

  // A refused return from the provider: kept for a panel bound later (the page's script
  // runs after this one) and dispatched for one bound already.
  let failure = null;
  const ready = (auth.mode === "oidc" ? completeOidc() : Promise.resolve()).catch((err) => {
    failure = err.code || "signin_refused";
    window.dispatchEvent(new CustomEvent("aiimage:signin-failed", { detail: { code: failure } }));
  });

  function say(key) {
    return (config.messages && config.messages[key]) || key;
  }

  /**
   * The consoles' sign-in panel (templates/console/signin.html): shown while signed out,
   * with the reason after an expiry; `#console` (the signed-in content) and
   * `#signout-button` while signed in. Its button signs in as `role`.
   */
  function bindPanel(role) {
    const panel = document.getElementById("signin-panel");
    const content = document.getElementById("console");
    const message = document.getElementById("signin-message");
    const button = document.getElementById("signin-button");
    const signOutButton = document.getElementById("signout-button");
    const local = document.getElementById("signin-local");
    if (!panel || !button) return;
    if (local) local.hidden = auth.mode !== "local";
    const render = (token) => {
      panel.hidden = Boolean(token);
      if (content) content.hidden = !token;
      if (signOutButton) signOutButton.hidden = !token;
      if (token) message.textContent = "";
    };
    listeners.push(render);
    render(bearer);
    button.addEventListener("click", async () => {
      button.disabled = true;
      message.textContent = "";
      try {
        await window.AiImageAuth.signIn(role);
      } catch (err) {
        message.textContent = say("signin.failed");
      } finally {
        button.disabled = false;
      }
    });
    if (signOutButton) signOutButton.addEventListener("click", () => setToken(null));
    window.addEventListener("aiimage:signed-out", (event) => {
      if (event.detail && event.detail.reason === "expired") message.textContent = say("signin.expired");
      const title = document.getElementById("signin-title");
      if (title) title.focus();
    });
    window.addEventListener("aiimage:signin-failed", () => {
      message.textContent = say("signin.failed");
    });
    if (failure) message.textContent = say("signin.failed");
  }

  window.AiImageAuth = {
    async signIn(role) {
      // "user": the Enhancer's signed-in user (OIDC only: locally it offers the demo plans).
      const known = role === "tenant" || role === "admin" || (role === "user" && auth.mode === "oidc");
      if (!known) throw new AuthError("signin_unavailable");
      return auth.mode === "oidc" ? startOidc(role) : startLocal(role);
    },
    token() {
      return bearer;
    },
    signOut() {
      setToken(null);
    },
    async authFetch(url, init) {
      const options = Object.assign({ credentials: "same-origin" }, init || {});
      const headers = new Headers(options.headers || {});
      if (bearer) headers.set("Authorization", "Bearer " + bearer);
      options.headers = headers;
      const response = await fetch(url, options);
      if (response.status === 401) {
        expire();
        throw new AuthError("token_expired", 401);
      }
      return response;
    },
    onChange(callback) {
      listeners.push(callback);
    },
    ready,
    bindPanel,
    // For a 401 seen through another client (common.js api()): as authFetch would do.
    expire,
  };
})();
