/* Shared by the pages: the config block, messages, and API calls with the CSRF token. */
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("page-config").textContent);

  function t(key, values) {
    const text = config.messages[key] || key;
    return text.replace(/\{(\w+)\}/g, (_, name) => (values && name in values ? String(values[name]) : ""));
  }

  function cookie(name) {
    const prefix = name + "=";
    for (const part of document.cookie.split(";")) {
      const item = part.trim();
      if (item.startsWith(prefix)) return decodeURIComponent(item.slice(prefix.length));
    }
    return "";
  }

  /** An API error with the envelope's code and, for 429, the seconds to wait. */
  class ApiError extends Error {
    constructor(status, error, retryAfter) {
      super((error && error.message) || "HTTP " + status);
      this.status = status;
      this.code = (error && error.code) || "http_" + status;
      this.details = (error && error.details) || {};
      this.retryAfter = retryAfter;
    }
  }

  // A signed-in user's bearer token: in memory only (never localStorage), so a reload or
  // another tab is a guest again until it signs in.
  let bearer = null;
  function setBearer(token) {
    bearer = token || null;
  }
  function authHeaders() {
    return bearer ? { Authorization: "Bearer " + bearer } : {};
  }

  /**
   * An image the caller owns, for an <img>: a guest's result by its URL (the cookie goes
   * along), a signed-in user's fetched with the bearer token into a blob URL.
   */
  async function imageSource(url) {
    if (!bearer) return url;
    const response = await fetch(url, { headers: authHeaders(), credentials: "same-origin" });
    if (!response.ok) throw new ApiError(response.status, { code: "http_" + response.status });
    return URL.createObjectURL(await response.blob());
  }

  /**
   * fetch() against the same origin. State changes carry the double-submit token: the
   * `csrf_token` cookie the API set (it is readable on purpose) echoed in X-CSRF-Token.
   */
  async function api(path, options) {
    const init = Object.assign({ credentials: "same-origin" }, options || {});
    const headers = new Headers(init.headers || {});
    const method = (init.method || "GET").toUpperCase();
    if (method !== "GET" && method !== "HEAD") {
      if (!cookie("csrf_token")) await fetch("/api/ai-image/usage", { credentials: "same-origin" });
      headers.set("X-CSRF-Token", cookie("csrf_token"));
    }
    headers.set("Accept", "application/json");
    if (bearer) headers.set("Authorization", "Bearer " + bearer);
    init.headers = headers;
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, { code: "network" });
    }
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    if (!response.ok || !body || body.success !== true) {
      const retry = parseInt(response.headers.get("Retry-After") || (body && body.retryAfter) || "", 10);
      throw new ApiError(response.status, body && body.error, Number.isFinite(retry) ? retry : null);
    }
    return { status: response.status, data: body.data, headers: response.headers };
  }

  /** PUT a file to a presigned URL (the object store, possibly another origin), with progress. */
  async function putPresigned(upload, file, onProgress) {
    // Content-Length is the browser's to set; the signature covers the type and the length.
    const type = (upload.headers && upload.headers["Content-Type"]) || file.type;
    await send(upload.method || "PUT", upload.url, file, {
      headers: { "Content-Type": type }, omitCredentials: true, onProgress, raw: true,
    });
  }

  /** Local time of day and weekday, for a moment in the future ("Wieder verfügbar ab …"). */
  function formatTime(epochMs) {
    const when = new Date(epochMs);
    return new Intl.DateTimeFormat(config.lang === "de" ? "de-DE" : "en-GB", {
      weekday: "long", day: "numeric", month: "long", hour: "2-digit", minute: "2-digit",
    }).format(when);
  }

  /**
   * The text for an error code in the page's language (config.errors), never the server's
   * English message: an unknown code (a newer server) gets the generic text.
   */
  function errorText(code, values) {
    const text = config.errors[code];
    if (!text) return config.unknownError;
    return text.replace(/\{(\w+)\}/g, (_, name) => (values && name in values ? String(values[name]) : ""));
  }

  function isRefusal(code) {
    return config.refusals.includes(code);
  }

  /**
   * Show an error in `element` (an alert region): a refusal is marked as one (what happened,
   * what to do next), a 429 counts down from Retry-After and then calls `done`.
   * Returns true while a countdown runs.
   */
  let countdown = null;
  function showError(element, err, done) {
    if (countdown) clearInterval(countdown);
    countdown = null;
    element.classList.toggle("refusal", isRefusal(err.code));
    if (err.status === 429 && err.retryAfter) {
      let seconds = err.retryAfter;
      const code = err.code === "rate_limited" || !config.errors[err.code] ? "rate_limited" : err.code;
      const render = () => {
        element.textContent = code === "rate_limited" ? errorText(code, { seconds }) : errorText(code) + " (" + t("elapsed", { seconds }) + ")";
      };
      render();
      countdown = setInterval(() => {
        seconds -= 1;
        if (seconds <= 0) {
          clearInterval(countdown);
          countdown = null;
          element.textContent = "";
          if (done) done();
        } else {
          render();
        }
      }, 1000);
      return true;
    }
    const reset = err.details && err.details.resetAt ? formatTime(err.details.resetAt) : "";
    element.textContent = errorText(err.code, { reset });
    return false;
  }

  /**
   * Send `body` with XMLHttpRequest so that the upload reports its progress: `onProgress`
   * gets 0..100. Answers like api(): {status, data, headers} or an ApiError.
   */
  function send(method, url, body, options) {
    const opts = options || {};
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.withCredentials = !opts.omitCredentials;
      for (const [name, value] of Object.entries(opts.headers || {})) xhr.setRequestHeader(name, value);
      if (opts.onProgress) {
        xhr.upload.addEventListener("progress", (event) => {
          if (event.lengthComputable) opts.onProgress(Math.round((event.loaded / event.total) * 100));
        });
        xhr.upload.addEventListener("load", () => opts.onProgress(100));
      }
      xhr.addEventListener("error", () => reject(new ApiError(0, { code: "network" })));
      xhr.addEventListener("load", () => {
        if (opts.raw) {
          if (xhr.status >= 200 && xhr.status < 300) resolve({ status: xhr.status });
          else reject(new ApiError(xhr.status, { code: "upload_failed" }));
          return;
        }
        let parsed = null;
        try {
          parsed = JSON.parse(xhr.responseText);
        } catch (err) {
          parsed = null;
        }
        if (xhr.status < 200 || xhr.status >= 300 || !parsed || parsed.success !== true) {
          const retry = parseInt(xhr.getResponseHeader("Retry-After") || (parsed && parsed.retryAfter) || "", 10);
          reject(new ApiError(xhr.status, parsed && parsed.error, Number.isFinite(retry) ? retry : null));
          return;
        }
        resolve({ status: xhr.status, data: parsed.data });
      });
      xhr.send(body);
    });
  }

  /** A state-changing API call with upload progress (the CSRF double submit as in api()). */
  async function apiUpload(path, body, onProgress) {
    if (!cookie("csrf_token")) await fetch("/api/ai-image/usage", { credentials: "same-origin" });
    const headers = { "X-CSRF-Token": cookie("csrf_token"), Accept: "application/json", ...authHeaders() };
    return send("POST", path, body, { headers, onProgress });
  }

  /**
   * Honest waiting. A stage line (uploading, queued, processing, storing) with the seconds
   * waited; after SLOW_AFTER_MS a "taking longer than usual" notice; after GIVE_UP_AFTER_MS
   * the page stops polling with a message (docs/architecture.md, "The pages"). While queued
   * or processing, `extra.estimate` (the provider's recent latency in seconds, from the job
   * or the request) adds "about N s"; without one the generic line stays.
   */
  const SLOW_AFTER_MS = 45000;
  const GIVE_UP_AFTER_MS = 5 * 60000;

  class Waiting {
    constructor(stageElement, noticeElement) {
      this.stage = stageElement;
      this.notice = noticeElement;
      this.started = Date.now();
      this.current = null;
      this.extra = {};
      this.notice.textContent = "";
      this.timer = setInterval(() => this.render(), 1000);
    }
    set(stage, extra) {
      this.current = stage;
      this.extra = extra || {};
      this.render();
    }
    elapsedMs() {
      return Date.now() - this.started;
    }
    render() {
      if (!this.current) return;
      const seconds = Math.floor(this.elapsedMs() / 1000);
      let line = t("stage." + this.current, this.extra);
      if (this.current !== "uploading" && seconds > 0) line += " " + t("elapsed", { seconds });
      const estimate = this.extra.estimate;
      const waitingOnProvider = this.current === "queued" || this.current === "processing";
      if (waitingOnProvider && estimate) {
        line += " · " + t("estimate", { seconds: estimate });
        this.stage.dataset.estimate = String(estimate);
      } else {
        delete this.stage.dataset.estimate;
      }
      this.stage.textContent = line;
      this.stage.dataset.stage = this.current;
      let notice = "";
      if (this.extra.paused) notice = this.extra.pausedText || t("paused");
      else if (this.elapsedMs() > SLOW_AFTER_MS) notice = t("slow", { minutes: Math.round(GIVE_UP_AFTER_MS / 60000) });
      if (this.notice.textContent !== notice) this.notice.textContent = notice;
    }
    /** Throws an ApiError `timed_out` once the limit has passed. */
    check() {
      if (this.elapsedMs() > GIVE_UP_AFTER_MS) throw new ApiError(0, { code: "timed_out" });
    }
    stop() {
      clearInterval(this.timer);
      this.current = null;
      this.stage.textContent = "";
      this.notice.textContent = "";
      delete this.stage.dataset.stage;
      delete this.stage.dataset.estimate;
    }
  }

  function checkFile(file) {
    if (!file) return t("noFile");
    if (!config.limits.contentTypes.includes(file.type)) return t("badType");
    if (file.size > config.limits.maxUploadBytes) {
      return t("tooLarge", { max: Math.round(config.limits.maxUploadBytes / 1048576) });
    }
    return null;
  }

  /** Bring `element` into view (the result, on a phone below the fold) and move focus there;
   * smooth unless the user asks for reduced motion. */
  function reveal(element) {
    const reduce = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    element.scrollIntoView({ behavior: reduce ? "auto" : "smooth", block: "start" });
    element.focus({ preventScroll: true });
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  window.AiImage = {
    config, t, cookie, api, apiUpload, putPresigned, formatTime, errorText, isRefusal, showError,
    checkFile, sleep, reveal, ApiError, Waiting, setBearer, authHeaders, imageSource, SLOW_AFTER_MS, GIVE_UP_AFTER_MS,
  };
})();
