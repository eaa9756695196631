/* The tenant control room of one event: the capability gate, the summary of seed §7 with its
   two alert banners and two small charts (SVG, no library, no inline style), the requests
   with a status filter, paging and live updates while some are in flight, a request's
   detail (original, result, timeline, error), the event policy with its revision (a 409
   explained), and an edit the tenant requests itself. Every error shows by its code. */
"use strict";

(function () {
  const { config, t, api, showError, errorText } = window.AiImage;
  const auth = window.AiImageAuth;
  const $ = (id) => document.getElementById(id);
  const base = "/api/v1/tenant/events/" + encodeURIComponent(config.eventSlug);
  const ACTIVE = ["queued", "processing"];
  const SVG = "http://www.w3.org/2000/svg";
  const POLL_FIRST_MS = 1500;
  const POLL_MAX_MS = 15000;

  let event = null; // the event detail: revision, capability, policy, budget
  let styles = [];
  let cursor = null;
  let shown = []; // the requests listed, newest first
  let pollTimer = null;
  let pollDelay = POLL_FIRST_MS;
  let objectUrls = [];

  // --- formatting --------------------------------------------------------------------------
  const locale = config.lang === "de" ? "de-DE" : "en-GB";
  function money(micros) {
    return new Intl.NumberFormat(locale, { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 4 })
      .format((micros || 0) / 1e6);
  }
  function percent(rate) {
    if (rate === null || rate === undefined) return t("metric.none");
    return new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 }).format(rate);
  }
  function ms(value) {
    if (value === null || value === undefined) return t("metric.none");
    return new Intl.NumberFormat(locale, { maximumFractionDigits: 0 }).format(value) + " ms";
  }
  function age(iso) {
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (seconds < 60) return t("age.seconds", { n: seconds });
    if (seconds < 3600) return t("age.minutes", { n: Math.floor(seconds / 60) });
    if (seconds < 86400) return t("age.hours", { n: Math.floor(seconds / 3600) });
    return t("age.days", { n: Math.floor(seconds / 86400) });
  }
  function statusLabel(status) {
    return t("status." + status);
  }
  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function svg(tag, attributes) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    return node;
  }

  // --- the capability gate ---------------------------------------------------------------------
  function showGate() {
    const granted = event.capability.granted;
    $("locked").hidden = granted;
    $("unlocked").hidden = !granted;
    // The refusal a create would get (`feature_locked`), said with the two ways to unlock.
    if (!granted) $("locked-text").textContent = t("capability.howto");
    $("locked").dataset.code = granted ? "" : "feature_locked";
    $("event-name").textContent = event.name;
  }

  // --- summary ---------------------------------------------------------------------------------
  function banner(text, testid) {
    const box = element("p", "banner alert", text);
    box.setAttribute("role", "alert");
    box.dataset.testid = testid;
    return box;
  }

  function renderSummary(summary) {
    const alerts = summary.observability.alerts;
    const limits = summary.observability.thresholds;
    const banners = [];
    if (alerts.failure_rate_threshold_reached) {
      banners.push(banner(t("alert.failure", {
        rate: percent(summary.failure_rate), samples: summary.samples.finished, threshold: percent(limits.failure_rate),
      }), "alert-failure-rate"));
    }
    if (alerts.latency_threshold_reached) {
      banners.push(banner(t("alert.latency", {
        latency: ms(summary.average_provider_latency_ms), threshold: ms(limits.latency_warning_ms),
      }), "alert-latency"));
    }
    $("alerts").replaceChildren(...banners);
    const metrics = [
      ["metric.total", String(summary.total)],
      ["metric.failureRate", percent(summary.failure_rate)],
      ["metric.moderationRate", percent(summary.moderation_hit_rate)],
      ["metric.providerFailureRate", percent(summary.provider_failure_rate)],
      ["metric.latency", ms(summary.average_provider_latency_ms)],
    ];
    $("metrics").replaceChildren(...metrics.map(([key, value]) => {
      const pair = element("div", "metric");
      const detail = element("dd", "", value);
      detail.dataset.metric = key.replace("metric.", "");
      pair.append(element("dt", "", t(key)), detail);
      return pair;
    }));
    renderStatusChart(summary);
    renderSpend(summary.spend);
  }

  function renderStatusChart(summary) {
    const total = config.statuses.reduce((sum, status) => sum + (summary.counts[status] || 0), 0);
    const parts = config.statuses.map((status) => statusLabel(status) + " " + (summary.counts[status] || 0));
    const chart = svg("svg", { viewBox: "0 0 100 8", preserveAspectRatio: "none", class: "bar-chart", role: "img" });
    chart.setAttribute("aria-label", t("statusChart", { parts: parts.join(", ") }));
    let x = 0;
    for (const status of config.statuses) {
      const count = summary.counts[status] || 0;
      if (!total || !count) continue;
      const width = (count / total) * 100;
      chart.appendChild(svg("rect", { x, y: 0, width, height: 8, class: "seg-" + status }));
      x += width;
    }
    if (!total) chart.appendChild(svg("rect", { x: 0, y: 0, width: 100, height: 8, class: "seg-empty" }));
    $("status-chart").replaceChildren(chart);
    $("status-legend").replaceChildren(...config.statuses.map((status) => {
      const item = element("li", "");
      item.append(element("span", "swatch seg-" + status), document.createTextNode(statusLabel(status) + ": " + (summary.counts[status] || 0)));
      return item;
    }));
  }

  function renderSpend(spend) {
    const budget = event.budget;
    const spent = spend.tenant_spent_micros;
    const reserved = spend.tenant_reserved_micros;
    const hard = budget.hard_cap_micros;
    const soft = budget.soft_cap_micros;
    const scale = Math.max(hard || 0, soft || 0, spent + reserved, 1);
    const chart = svg("svg", { viewBox: "0 0 100 10", preserveAspectRatio: "none", class: "bar-chart", role: "img" });
    chart.setAttribute("aria-label", t("spend.chart", { spent: money(spent), cap: hard !== null ? money(hard) : t("spend.noCap") }));
    chart.appendChild(svg("rect", { x: 0, y: 0, width: 100, height: 10, class: "seg-empty" }));
    const over = hard !== null && spent + reserved >= hard;
    chart.appendChild(svg("rect", { x: 0, y: 1, width: (spent / scale) * 100, height: 8, class: over ? "spend over" : "spend" }));
    chart.appendChild(svg("rect", { x: (spent / scale) * 100, y: 1, width: (reserved / scale) * 100, height: 8, class: "reserved" }));
    if (soft !== null) chart.appendChild(svg("rect", { x: Math.min((soft / scale) * 100, 99.5), y: 0, width: 0.5, height: 10, class: "cap soft" }));
    if (hard !== null) chart.appendChild(svg("rect", { x: Math.min((hard / scale) * 100, 99.5), y: 0, width: 0.5, height: 10, class: "cap hard" }));
    $("spend-chart").replaceChildren(chart);
    const lines = [
      t("spend.event", { amount: money(spend.event_spent_micros) }),
      t("spend.tenant", { amount: money(spent), reserved: money(reserved) }),
      soft !== null ? t("spend.soft", { amount: money(soft) }) : null,
      hard !== null ? t("spend.hard", { amount: money(hard) }) : t("spend.noCap"),
    ].filter(Boolean);
    $("spend-lines").replaceChildren(...lines.map((line) => element("li", "", line)));
  }

  async function loadSummary() {
    const { data } = await api(base + "/ai-edits/summary");
    renderSummary(data);
  }

  // --- requests --------------------------------------------------------------------------------
  function requestRow(request) {
    const row = element("tr", "");
    row.dataset.requestId = request.request_id;
    const status = element("td", "");
    const open = element("button", "link status-" + request.status, statusLabel(request.status));
    open.type = "button";
    open.setAttribute("aria-label", statusLabel(request.status) + ", " + request.style_key + ": " + t("open"));
    open.addEventListener("click", () => openDetail(request.request_id));
    status.appendChild(open);
    // What it cost; while in flight the estimate reserved (≈); nothing billed: a dash.
    let cost = t("metric.none");
    if (request.actual_cost_micros !== null && request.actual_cost_micros !== undefined) cost = money(request.actual_cost_micros);
    else if (ACTIVE.includes(request.status)) cost = "≈ " + money(request.cost_estimate_micros);
    row.append(
      status,
      element("td", "", request.style_key),
      element("td", "", request.provider),
      element("td", "", age(request.created_at)),
      element("td", "num", cost),
    );
    return row;
  }

  function renderRequests() {
    $("request-list").replaceChildren(...shown.map(requestRow));
    $("request-empty").hidden = shown.length > 0;
    $("request-empty").textContent = t("noRequests");
    $("more-button").hidden = !cursor;
  }

  function listUrl(after) {
    const query = new URLSearchParams({ limit: "20" });
    const status = $("status-filter").value;
    if (status) query.set("status", status);
    if (after) query.set("cursor", after);
    return base + "/ai-edits?" + query.toString();
  }

  async function loadRequests(more) {
    const { data } = await api(listUrl(more ? cursor : null));
    shown = more ? shown.concat(data.requests) : data.requests;
    cursor = data.next_cursor;
    renderRequests();
    $("live").textContent = t("updated", { count: shown.length });
    schedulePoll();
  }

  // Live while requests are in flight: backoff from 1.5 s to 15 s, stops when none is.
  function schedulePoll() {
    if (pollTimer) clearTimeout(pollTimer);
    pollTimer = null;
    if (!auth.token() || !shown.some((request) => ACTIVE.includes(request.status))) {
      pollDelay = POLL_FIRST_MS;
      return;
    }
    pollTimer = setTimeout(refresh, pollDelay);
    pollDelay = Math.min(pollDelay * 2, POLL_MAX_MS);
  }

  async function refresh() {
    pollTimer = null;
    try {
      const before = shown.map((request) => request.status).join();
      await Promise.all([loadRequests(false), loadSummary()]);
      if (shown.map((request) => request.status).join() !== before) pollDelay = POLL_FIRST_MS;
    } catch (err) {
      fail(err);
    }
  }

  // --- a request's detail ----------------------------------------------------------------------
  function forgetImages() {
    for (const url of objectUrls) URL.revokeObjectURL(url);
    objectUrls = [];
  }

  async function showImage(img, none, url, missingText) {
    img.hidden = true;
    none.hidden = true;
    try {
      const response = await auth.authFetch(url);
      if (!response.ok) throw new Error("HTTP " + response.status);
      const objectUrl = URL.createObjectURL(await response.blob());
      objectUrls.push(objectUrl);
      img.src = objectUrl;
      img.hidden = false;
    } catch (err) {
      if (!auth.token()) return;
      none.textContent = missingText;
      none.hidden = false;
    }
  }

  function timelineItem(step) {
    const when = new Intl.DateTimeFormat(locale, { dateStyle: "short", timeStyle: "medium" }).format(new Date(step.at));
    const what = step.from_status
      ? t("transition", { from: statusLabel(step.from_status), to: statusLabel(step.to_status) })
      : t("transitionNew", { to: statusLabel(step.to_status) });
    const item = element("li", "");
    const time = element("time", "", when);
    time.setAttribute("datetime", step.at);
    item.append(time, document.createTextNode(" " + what + (step.code ? " (" + step.code + ")" : "")));
    return item;
  }

  async function openDetail(requestId) {
    try {
      const [{ data: request }, { data: steps }] = await Promise.all([
        api(base + "/ai-edits/" + encodeURIComponent(requestId)),
        api(base + "/ai-edits/" + encodeURIComponent(requestId) + "/transitions"),
      ]);
      forgetImages();
      $("detail-id").textContent = request.request_id;
      $("detail-status").textContent = statusLabel(request.status) + " · " + request.style_key + " · " + request.provider;
      let problem = "";
      if (request.error_code) problem = t("errorLabel", { code: request.error_code }) + " " + errorText(request.error_code);
      else if (request.block_reason) problem = t("blockLabel", { reason: request.block_reason });
      $("detail-error").textContent = problem;
      $("detail-timeline").replaceChildren(...(steps.length ? steps.map(timelineItem) : [element("li", "hint", t("noTimeline"))]));
      $("detail").hidden = false;
      $("detail").focus();
      showImage($("detail-original"), $("detail-original-none"), base + "/photos/" + encodeURIComponent(request.photo_id) + "/image", t("noOriginal"));
      if (request.status === "succeeded") {
        showImage($("detail-result"), $("detail-result-none"), base + "/ai-edits/" + encodeURIComponent(requestId) + "/result", t("noResult"));
      } else {
        $("detail-result").hidden = true;
        $("detail-result-none").textContent = t("noResult");
        $("detail-result-none").hidden = false;
      }
    } catch (err) {
      fail(err);
    }
  }

  // --- the event policy ------------------------------------------------------------------------
  function renderPolicy() {
    const policy = event.policy;
    $("policy-enabled").checked = policy.enabled;
    $("policy-prompt").checked = policy.allow_custom_prompt;
    $("policy-message").value = policy.policy_message || "";
    $("policy-styles").replaceChildren(...styles.map((style, index) => {
      const label = element("label", "choice");
      const input = element("input", "");
      input.type = "checkbox";
      input.value = style.key;
      input.id = "policy-style-" + index;
      input.checked = policy.allowed_style_keys.includes(style.key);
      label.append(input, element("span", "", (style.names && style.names[config.lang]) || style.name));
      return label;
    }));
  }

  async function savePolicy(submitEvent) {
    submitEvent.preventDefault();
    $("policy-status").textContent = "";
    $("policy-error").textContent = "";
    const body = {
      expected_revision: event.revision,
      enabled: $("policy-enabled").checked,
      allow_custom_prompt: $("policy-prompt").checked,
      allowed_style_keys: Array.from($("policy-styles").querySelectorAll("input:checked")).map((input) => input.value),
      policy_message: $("policy-message").value.trim() || null,
    };
    $("policy-save").disabled = true;
    try {
      const { data } = await api(base + "/policy", {
        method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      event = data;
      renderPolicy();
      $("policy-status").textContent = t("saved");
    } catch (err) {
      if (err.status === 409) {
        await loadEvent();
        renderPolicy();
        $("policy-error").textContent = t("conflict");
      } else {
        handleAuth(err);
        showError($("policy-error"), err);
      }
    } finally {
      $("policy-save").disabled = false;
    }
  }

  // --- the tenant's own edit -------------------------------------------------------------------
  function renderCreate(photos) {
    const photoSelect = $("create-photo");
    photoSelect.replaceChildren(...photos.map((photo, index) => {
      const option = element("option", "", t("photo", { n: index + 1 }) + " (" + photo.photo_id + ")");
      option.value = photo.photo_id;
      return option;
    }));
    const styleSelect = $("create-style");
    styleSelect.replaceChildren(...styles.map((style) => {
      const option = element("option", "", (style.names && style.names[config.lang]) || style.name);
      option.value = style.key;
      return option;
    }));
    $("create-submit").disabled = !photos.length || !styles.length;
    $("create-status").textContent = !photos.length ? t("noPhotos") : !styles.length ? t("noStyles") : "";
  }

  async function createEdit(submitEvent) {
    submitEvent.preventDefault();
    $("create-status").textContent = "";
    $("create-error").textContent = "";
    const body = { photo_id: $("create-photo").value, style_key: $("create-style").value };
    const prompt = $("create-prompt").value.trim();
    if (prompt) body.prompt = prompt;
    $("create-submit").disabled = true;
    try {
      await api(base + "/ai-edits", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      $("create-status").textContent = t("created");
      await Promise.all([loadRequests(false), loadSummary()]);
    } catch (err) {
      handleAuth(err);
      showError($("create-error"), err);
    } finally {
      $("create-submit").disabled = false;
    }
  }

  // --- loading, errors, sign-in ----------------------------------------------------------------
  async function loadEvent() {
    const { data } = await api(base);
    event = data;
  }

  function handleAuth(err) {
    // The shared api() has no hook for 401: an expired token goes back to sign-in here.
    if (err.status === 401) auth.expire();
  }

  function fail(err) {
    handleAuth(err);
    showError($("error"), err);
  }

  async function start() {
    $("error").textContent = "";
    try {
      await loadEvent();
      showGate();
      if (!event.capability.granted) return;
      const [{ data: styleList }, { data: photos }] = await Promise.all([
        api(base + "/ai-styles"), api(base + "/photos"),
      ]);
      styles = styleList;
      renderPolicy();
      renderCreate(photos);
      await Promise.all([loadSummary(), loadRequests(false)]);
    } catch (err) {
      fail(err);
    }
  }

  const filter = $("status-filter");
  for (const status of config.statuses) {
    const option = element("option", "", statusLabel(status));
    option.value = status;
    filter.appendChild(option);
  }
  filter.addEventListener("change", () => loadRequests(false).catch(fail));
  $("more-button").addEventListener("click", () => loadRequests(true).catch(fail));
  $("detail-close").addEventListener("click", () => {
    $("detail").hidden = true;
    forgetImages();
  });
  $("policy-form").addEventListener("submit", savePolicy);
  $("create-form").addEventListener("submit", createEdit);

  auth.bindPanel("tenant");
  auth.onChange((token) => {
    if (token) start();
    else if (pollTimer) clearTimeout(pollTimer);
  });
  auth.ready.then(() => {
    if (auth.token()) start();
  });
})();
