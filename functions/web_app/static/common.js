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
    init.headers = headers;
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, { code: "network", message: t("network") });
    }
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    if (!response.ok || !body || body.success !== true) {
      const retry = parseInt(response.headers.get("Retry-After") || "", 10);
      throw new ApiError(response.status, body && body.error, Number.isFinite(retry) ? retry : null);
    }
    return { status: response.status, data: body.data, headers: response.headers };
  }

  /** PUT a file to a presigned URL (the object store, possibly another origin). */
  async function putPresigned(upload, file) {
    const headers = new Headers();
    // Content-Length is the browser's to set; the signature covers the type and the length.
    headers.set("Content-Type", (upload.headers && upload.headers["Content-Type"]) || file.type);
    let response;
    try {
      response = await fetch(upload.url, { method: upload.method || "PUT", body: file, headers, credentials: "omit" });
    } catch (err) {
      throw new ApiError(0, { code: "network", message: t("network") });
    }
    if (!response.ok) throw new ApiError(response.status, { code: "upload_failed", message: "HTTP " + response.status });
  }

  function formatTime(epochMs) {
    const when = new Date(epochMs);
    return new Intl.DateTimeFormat(config.lang === "de" ? "de-DE" : "en-GB", {
      weekday: "short", hour: "2-digit", minute: "2-digit",
    }).format(when);
  }

  /** Text for an error; a 429 counts down from Retry-After in `element`, then calls `done`. */
  let countdown = null;
  function showError(element, err, done) {
    if (countdown) clearInterval(countdown);
    countdown = null;
    if (err.status === 429 && err.retryAfter) {
      let seconds = err.retryAfter;
      element.textContent = t("rateLimited", { seconds });
      countdown = setInterval(() => {
        seconds -= 1;
        if (seconds <= 0) {
          clearInterval(countdown);
          countdown = null;
          element.textContent = "";
          if (done) done();
        } else {
          element.textContent = t("rateLimited", { seconds });
        }
      }, 1000);
      return true;
    }
    if (err.status === 403 && err.code === "quota_exceeded") {
      const reset = err.details.resetAt ? formatTime(err.details.resetAt) : "";
      element.textContent = t("quota", { reset });
    } else if (err.status === 403 && err.code === "feature_locked") {
      element.textContent = t("locked") + " " + err.message;
    } else if (err.status === 0) {
      element.textContent = t("network");
    } else {
      element.textContent = t("error", { message: err.message });
    }
    return false;
  }

  function checkFile(file) {
    if (!file) return t("noFile");
    if (!config.limits.contentTypes.includes(file.type)) return t("badType");
    if (file.size > config.limits.maxUploadBytes) {
      return t("tooLarge", { max: Math.round(config.limits.maxUploadBytes / 1048576) });
    }
    return null;
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  window.AiImage = { config, t, cookie, api, putPresigned, formatTime, showError, checkFile, sleep, ApiError };
})();
