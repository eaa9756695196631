/* The superadmin console (/admin): screens over the superadmin API, signed in as a
   superadmin (signin.js). Every change is confirmed in a dialog first, then the answer's
   state is shown; a refusal shows the envelope's code in the page's language, and a
   version conflict (409) says what happened and loads the current values. */
"use strict";

(function () {
  const { config, t, errorText, isRefusal, ApiError } = window.AiImage;
  const auth = window.AiImageAuth;
  const $ = (id) => document.getElementById(id);
  const SCREENS = ["settings", "styles", "packages", "budgets", "terms", "ops"];
  const state = { settings: null, styles: [], packages: [], event: null, tenant: null, terms: null };

  // --- the API ---------------------------------------------------------------------------
  async function call(method, path, body) {
    const init = { method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await auth.authFetch(config.api + path, init);
    } catch (err) {
      throw err.code ? err : new ApiError(0, { code: "network" });
    }
    let parsed = null;
    try {
      parsed = await response.json();
    } catch (err) {
      parsed = null;
    }
    if (!response.ok || !parsed || parsed.success !== true) {
      throw new ApiError(response.status, parsed && parsed.error, null);
    }
    return parsed.data;
  }

  // --- status, refusals, confirmation ------------------------------------------------------
  function say(key, values) {
    $("error").textContent = "";
    $("status").textContent = t(key, values);
  }

  function fail(err) {
    $("status").textContent = "";
    const element = $("error");
    element.classList.toggle("refusal", isRefusal(err.code));
    if (err.code === "settings_conflict") {
      const details = err.details || {};
      element.textContent = t("conflict", { expected: details.expectedVersion, current: details.currentVersion });
      loadSettings().catch(() => undefined);
      loadTerms().catch(() => undefined);
      return;
    }
    element.textContent = errorText(err.code);
  }

  function confirmChange(text) {
    const dialog = $("confirm-dialog");
    $("confirm-text").textContent = text;
    dialog.returnValue = "";
    dialog.showModal();
    $("confirm-cancel").focus(); // the safe answer is the default
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    });
  }
  $("confirm-ok").addEventListener("click", () => $("confirm-dialog").close("ok"));
  $("confirm-cancel").addEventListener("click", () => $("confirm-dialog").close("cancel"));

  /** Ask, then run `action`; a "no" changes nothing and says so. */
  async function change(text, action) {
    if (!(await confirmChange(text))) {
      say("canceled");
      return;
    }
    try {
      await action();
    } catch (err) {
      fail(err);
    }
  }

  function guarded(action) {
    return async (event) => {
      if (event) event.preventDefault();
      try {
        await action();
      } catch (err) {
        fail(err);
      }
    };
  }

  // --- values -------------------------------------------------------------------------------
  /** "12.5" → 12500000 micro-USD, exactly (no float arithmetic); "" → null; bad → NaN. */
  function usdToMicros(text) {
    const value = String(text || "").trim();
    if (!value) return null;
    const match = /^(\d{1,7})(?:[.,](\d{1,6}))?$/.exec(value);
    if (!match) return NaN;
    return parseInt(match[1], 10) * 1000000 + parseInt((match[2] || "").padEnd(6, "0"), 10);
  }

  function microsToUsd(micros) {
    if (micros === null || micros === undefined) return "";
    const fraction = String(micros % 1000000).padStart(6, "0").replace(/0+$/, "");
    return String(Math.floor(micros / 1000000)) + (fraction ? "." + fraction : "");
  }

  function capText(micros) {
    return micros === null || micros === undefined ? t("noCap") : microsToUsd(micros) + " USD";
  }

  // datetime-local fields hold UTC: "2026-12-08T10:00" ⇄ "2026-12-08T10:00:00Z".
  function toUtc(value) {
    return value ? value + ":00Z" : null;
  }
  function fromUtc(iso) {
    return iso ? new Date(iso).toISOString().slice(0, 16) : "";
  }
  function whenText(iso) {
    return iso ? fromUtc(iso).replace("T", " ") + " UTC" : t("never");
  }

  function fill(select, values, none) {
    const items = (none ? [["", t("none")]] : []).concat(values.map((v) => [v, v]));
    select.replaceChildren(
      ...items.map(([value, label]) => {
        const option = document.createElement("option");
        option.value = value;
        option.textContent = label;
        return option;
      })
    );
  }

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function button(label, onClick) {
    const element = document.createElement("button");
    element.type = "button";
    element.className = "button secondary";
    element.textContent = label;
    element.addEventListener("click", onClick);
    return element;
  }

  // --- screens --------------------------------------------------------------------------------
  function show(name, focus) {
    const chosen = SCREENS.includes(name) ? name : "settings";
    for (const screen of SCREENS) $(screen).hidden = screen !== chosen;
    for (const link of document.querySelectorAll("[data-screen]")) {
      if (link.dataset.screen === chosen) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    if (focus) $(chosen).focus();
  }
  window.addEventListener("hashchange", () => show(window.location.hash.slice(1), true));

  // --- AI Editing Settings ----------------------------------------------------------------------
  const SETTING_FIELDS = {
    default_provider: () => $("set-default-provider").value,
    fallback_provider: () => $("set-fallback-provider").value || null,
    runware_mode: () => $("set-runware-mode").value,
    queue_auto_dispatch: () => $("set-auto-dispatch").checked,
    queue_name: () => $("set-queue-name").value.trim(),
    queue_max_polls: () => parseInt($("set-max-polls").value, 10),
  };

  function renderSettings(settings) {
    state.settings = settings;
    $("settings-version").textContent = String(settings.version);
    $("set-default-provider").value = settings.default_provider;
    $("set-fallback-provider").value = settings.fallback_provider || "";
    $("set-runware-mode").value = settings.runware_mode;
    $("set-auto-dispatch").checked = settings.queue_auto_dispatch;
    $("set-queue-name").value = settings.queue_name;
    $("set-max-polls").value = String(settings.queue_max_polls);
    $("fake-warning").hidden = settings.runware_mode !== "fake";
    const on = settings.is_enabled;
    const kill = $("kill-state");
    kill.classList.toggle("off", !on);
    if (on) kill.textContent = t("kill.on");
    else if (settings.status_message) kill.textContent = t("kill.off", { message: settings.status_message });
    else kill.textContent = t("kill.offNoMessage");
    kill.dataset.enabled = String(on);
    $("kill-message").value = settings.status_message || "";
    $("kill-button").textContent = on ? t("kill.switchOff") : t("kill.switchOn");
    $("kill-button").className = on ? "button danger" : "button primary";
  }

  async function loadSettings() {
    renderSettings(await call("GET", "/ai-editing/settings"));
  }

  async function putSettings(changes) {
    const updated = await call("PUT", "/ai-editing/settings", {
      expected_version: state.settings.version,
      changes,
    });
    renderSettings(updated);
    say("savedVersion", { version: updated.version });
  }

  $("set-runware-mode").addEventListener("change", () => {
    $("fake-warning").hidden = $("set-runware-mode").value !== "fake";
  });

  $("settings-form").addEventListener(
    "submit",
    guarded(async () => {
      const changes = {};
      for (const [name, read] of Object.entries(SETTING_FIELDS)) {
        const value = read();
        if (value !== state.settings[name]) changes[name] = value;
      }
      const names = Object.keys(changes);
      if (!names.length) {
        say("confirm.noChanges");
        return;
      }
      const listed = names.map((n) => n + ": " + String(state.settings[n]) + " → " + String(changes[n])).join(", ");
      await change(t("confirm.settings", { changes: listed }), () => putSettings(changes));
    })
  );

  $("kill-button").addEventListener(
    "click",
    guarded(async () => {
      if (state.settings.is_enabled) {
        const message = $("kill-message").value.trim();
        await change(t("confirm.killOff", { message }), () =>
          putSettings({ is_enabled: false, status_message: message || null })
        );
      } else {
        // As the CLI's kill-switch off: the message goes with the switch.
        await change(t("confirm.killOn"), () => putSettings({ is_enabled: true, status_message: null }));
      }
    })
  );

  // --- AI Styles --------------------------------------------------------------------------------
  function styleFromForm() {
    const names = {};
    if ($("style-name-de").value.trim()) names.de = $("style-name-de").value.trim();
    if ($("style-name-en").value.trim()) names.en = $("style-name-en").value.trim();
    return {
      key: $("style-key").value.trim(),
      name: $("style-name").value.trim(),
      names,
      provider: $("style-provider").value,
      provider_model: $("style-model").value.trim(),
      prompt_template: $("style-prompt").value,
      negative_prompt_template: $("style-negative").value.trim() || null,
      is_active: $("style-active").checked,
      is_premium: $("style-premium").checked,
      cost_estimate_micros: usdToMicros($("style-cost").value),
      entitlements: {
        required_feature: $("style-required-feature").value.trim() || null,
        required_addon: $("style-required-addon").value.trim() || null,
      },
    };
  }

  function styleToForm(style) {
    $("style-key").value = style ? style.key : "";
    $("style-name").value = style ? style.name : "";
    $("style-name-de").value = (style && style.names.de) || "";
    $("style-name-en").value = (style && style.names.en) || "";
    $("style-provider").value = style ? style.provider : "runware";
    $("style-model").value = style ? style.provider_model : "";
    $("style-prompt").value = style ? style.prompt_template : "";
    $("style-negative").value = (style && style.negative_prompt_template) || "";
    $("style-active").checked = style ? style.is_active : true;
    $("style-premium").checked = style ? style.is_premium : false;
    $("style-cost").value = style ? microsToUsd(style.cost_estimate_micros) : "";
    $("style-required-feature").value = (style && style.entitlements.required_feature) || "";
    $("style-required-addon").value = (style && style.entitlements.required_addon) || "";
    $("preview-output").textContent = "";
  }

  function renderStyles(styles) {
    state.styles = styles;
    $("style-list").replaceChildren(
      ...styles.map((style) => {
        const tr = document.createElement("tr");
        tr.dataset.key = style.key;
        const flags = [style.is_active ? t("active") : t("inactive")];
        if (style.is_premium) flags.push(t("premium"));
        const actions = document.createElement("td");
        actions.append(
          button(t("edit"), () => {
            styleToForm(style);
            $("style-name").focus();
          }),
          button(style.is_active ? t("deactivate") : t("activate"), guarded(() => toggleStyle(style)))
        );
        tr.append(cell(style.key), cell(style.name), cell(style.provider + " · " + style.provider_model), cell(flags.join(", ")), cell(microsToUsd(style.cost_estimate_micros)), actions);
        return tr;
      })
    );
  }

  async function loadStyles() {
    renderStyles(await call("GET", "/ai-styles"));
  }

  async function saveStyle(style) {
    await call("PUT", "/ai-styles/" + encodeURIComponent(style.key), style);
    await loadStyles();
    say("saved");
  }

  async function toggleStyle(style) {
    const key = style.is_active ? "confirm.deactivate" : "confirm.activate";
    await change(t(key, { key: style.key }), () => saveStyle(Object.assign({}, style, { is_active: !style.is_active })));
  }

  $("style-form").addEventListener(
    "submit",
    guarded(async () => {
      const style = styleFromForm();
      if (Number.isNaN(style.cost_estimate_micros) || style.cost_estimate_micros === null) {
        $("error").textContent = t("badMoney");
        $("style-cost").focus();
        return;
      }
      await change(t("confirm.style", { key: style.key }), () => saveStyle(style));
    })
  );
  $("style-new").addEventListener("click", () => {
    styleToForm(null);
    $("style-key").focus();
  });

  $("preview-button").addEventListener(
    "click",
    guarded(async () => {
      const preview = await call("POST", "/prompt-preview", {
        prompt_template: $("style-prompt").value,
        negative_prompt_template: $("style-negative").value.trim() || null,
        custom_prompt: $("preview-custom").value || null,
      });
      const lines = [t("preview.ok", { prompt: preview.prompt })];
      if (preview.negative_prompt) lines.push(t("preview.negative", { prompt: preview.negative_prompt }));
      if (preview.blocked_field) lines.push(t("preview.blocked", { field: preview.blocked_field }));
      $("preview-output").textContent = lines.join("\n");
      $("preview-output").classList.toggle("warning", Boolean(preview.blocked_field));
    })
  );

  // --- packages and add-ons ---------------------------------------------------------------------
  function renderPackages(packages) {
    state.packages = packages;
    $("package-list").replaceChildren(
      ...packages.map((pkg) => {
        const tr = document.createElement("tr");
        const actions = document.createElement("td");
        actions.append(
          button(t("edit"), () => {
            $("package-key").value = pkg.package_key;
            $("package-name").value = pkg.name;
            $("package-ai-styling").checked = pkg.features.includes("ai_styling");
            $("package-features").value = pkg.features.filter((f) => f !== "ai_styling").join(", ");
            $("package-name").focus();
          })
        );
        tr.append(cell(pkg.package_key), cell(pkg.name), cell(pkg.features.join(", ") || "—"), actions);
        return tr;
      })
    );
    if (state.event) renderEvent(state.event);
  }

  async function loadPackages() {
    renderPackages(await call("GET", "/packages"));
  }

  $("package-form").addEventListener(
    "submit",
    guarded(async () => {
      const others = $("package-features").value.split(",").map((f) => f.trim()).filter(Boolean);
      const features = ($("package-ai-styling").checked ? ["ai_styling"] : []).concat(others.filter((f) => f !== "ai_styling"));
      const pkg = { package_key: $("package-key").value.trim(), name: $("package-name").value.trim(), features };
      await change(t("confirm.package", { key: pkg.package_key }), async () => {
        await call("PUT", "/packages/" + encodeURIComponent(pkg.package_key), pkg);
        await loadPackages();
        say("saved");
      });
    })
  );

  function eventPath() {
    return "/tenants/" + encodeURIComponent(state.event.tenant_id) + "/events/" + encodeURIComponent(state.event.slug);
  }

  function renderEvent(access) {
    state.event = access;
    $("event-view").hidden = false;
    const granted = access.entitlement.granted;
    const line = $("event-entitlement");
    line.classList.toggle("off", !granted);
    line.textContent = access.name + ": " + (granted ? t("granted." + access.entitlement.granted_by) : t("locked"));
    fill($("event-package"), state.packages.map((p) => p.package_key), true);
    $("event-package").value = access.package_key || "";
    $("addon-list").replaceChildren(
      ...access.addons.map((addon) => {
        const tr = document.createElement("tr");
        tr.append(cell(addon.addon_id), cell(addon.key), cell(addon.status), cell(whenText(addon.expires_at)));
        return tr;
      })
    );
    if (!access.addons.length) {
      const tr = document.createElement("tr");
      const td = cell(t("noAddons"));
      td.colSpan = 4;
      tr.append(td);
      $("addon-list").append(tr);
    }
  }

  $("event-form").addEventListener(
    "submit",
    guarded(async () => {
      const tenant = $("event-tenant").value.trim();
      const slug = $("event-slug").value.trim();
      renderEvent(await call("GET", "/tenants/" + encodeURIComponent(tenant) + "/events/" + encodeURIComponent(slug)));
      say("loaded");
    })
  );

  $("event-package-save").addEventListener(
    "click",
    guarded(async () => {
      const key = $("event-package").value || null;
      await change(t("confirm.eventPackage", { event: state.event.name, key: key || t("none") }), async () => {
        renderEvent(await call("PUT", eventPath() + "/package", { package_key: key }));
        say("saved");
      });
    })
  );

  $("addon-form").addEventListener(
    "submit",
    guarded(async () => {
      const addon = {
        addon_id: $("addon-id").value.trim(),
        event_id: state.event.event_id,
        key: $("addon-key").value.trim(),
        status: $("addon-status").value,
        expires_at: toUtc($("addon-expires").value),
      };
      const text = t("confirm.addon", { event: state.event.name, key: addon.key, status: addon.status, expires: whenText(addon.expires_at) });
      await change(text, async () => {
        await call("PUT", eventPath() + "/addons/" + encodeURIComponent(addon.addon_id), addon);
        renderEvent(await call("GET", eventPath()));
        say("saved");
      });
    })
  );

  // --- budgets ------------------------------------------------------------------------------------
  function renderBudget(view) {
    state.tenant = view;
    const budget = view.budget;
    $("budget-form").hidden = false;
    $("budget-usage").textContent =
      view.name + " · " +
      t("usage", {
        month: view.usage.month,
        spent: microsToUsd(view.usage.spent_micros),
        reserved: microsToUsd(view.usage.reserved_micros),
        soft: capText(budget.soft_cap_micros),
        hard: capText(budget.hard_cap_micros),
      });
    $("budget-soft").value = microsToUsd(budget.soft_cap_micros);
    $("budget-hard").value = microsToUsd(budget.hard_cap_micros);
    $("budget-override").value = fromUtc(budget.override_until);
    // Empty while the deployment's value holds; its figure is the placeholder.
    $("budget-cooldown").value = budget.alert_cooldown_minutes == null ? "" : String(budget.alert_cooldown_minutes);
    $("budget-cooldown").placeholder = String(view.alert_cooldown_minutes);
  }

  function budgetPath() {
    return "/tenants/" + encodeURIComponent(state.tenant.tenant_id) + "/budget";
  }

  $("budget-lookup").addEventListener(
    "submit",
    guarded(async () => {
      renderBudget(await call("GET", "/tenants/" + encodeURIComponent($("budget-tenant").value.trim()) + "/budget"));
      say("loaded");
    })
  );

  $("budget-form").addEventListener(
    "submit",
    guarded(async () => {
      const soft = usdToMicros($("budget-soft").value);
      const hard = usdToMicros($("budget-hard").value);
      if (Number.isNaN(soft) || Number.isNaN(hard)) {
        $("error").textContent = t("badMoney");
        return;
      }
      const cooldownText = $("budget-cooldown").value.trim();
      const cooldown = cooldownText === "" ? null : Number(cooldownText);
      if (cooldown !== null && !(Number.isInteger(cooldown) && cooldown >= 1 && cooldown <= 10080)) {
        $("error").textContent = t("badCooldown");
        return;
      }
      const body = {
        soft_cap_micros: soft,
        hard_cap_micros: hard,
        override_until: toUtc($("budget-override").value),
        alert_cooldown_minutes: cooldown,
      };
      const text =
        t("confirm.budget", { tenant: state.tenant.name, soft: capText(soft), hard: capText(hard), override: whenText(body.override_until) }) +
        " " + t("cooldownValue", { minutes: cooldown === null ? $("budget-cooldown").placeholder : cooldown });
      await change(text, async () => {
        await call("PUT", budgetPath(), body);
        renderBudget(await call("GET", budgetPath()));
        say("saved");
      });
    })
  );

  // --- blocked terms --------------------------------------------------------------------------
  function renderTerms(view) {
    state.terms = view;
    $("terms-text").value = view.terms.join("\n");
    const key = view.platform_default ? "termsSource.platform" : "termsSource.stored";
    $("terms-source").textContent = t(key, { count: view.terms.length }) + " " + t("version", { version: view.version });
  }

  async function loadTerms() {
    renderTerms(await call("GET", "/ai-editing/blocked-terms"));
  }

  async function putTerms(terms) {
    const view = await call("PUT", "/ai-editing/blocked-terms", { expected_version: state.terms.version, terms });
    renderTerms(view);
    await loadSettings();
    say("savedVersion", { version: view.version });
  }

  $("terms-form").addEventListener(
    "submit",
    guarded(async () => {
      const terms = $("terms-text").value.split("\n").map((line) => line.trim()).filter(Boolean);
      await change(t("confirm.terms", { count: terms.length }), () => putTerms(terms));
    })
  );
  $("terms-reset").addEventListener(
    "click",
    guarded(() => change(t("confirm.termsReset"), () => putTerms(null)))
  );

  // --- operations ---------------------------------------------------------------------------------
  function report(element, result) {
    const verb = config.messages["verb." + result.verb] || result.verb;
    const lines = [t("report", Object.assign({}, result, { verb }))];
    if (result.dry_run) lines.push(t("report.dry"));
    if (result.note) lines.push(result.note);
    element.textContent = lines.concat(result.details).join("\n");
  }

  async function recover(mode) {
    const result = await call("POST", "/ops/recover-stuck", {
      minutes: parseInt($("recover-minutes").value, 10) || 30,
      mode,
    });
    report($("recover-output"), result);
    // Acting needs a fresh dry run: what it found is what the buttons act on.
    const found = mode === "list" ? result.found : 0;
    $("recover-requeue").disabled = found === 0;
    $("recover-fail").disabled = found === 0;
    $("recover-requeue").dataset.count = String(found);
  }

  $("recover-list").addEventListener("click", guarded(() => recover("list")));
  $("recover-requeue").addEventListener(
    "click",
    guarded(() => change(t("confirm.requeue", { count: $("recover-requeue").dataset.count }), () => recover("requeue")))
  );
  $("recover-fail").addEventListener(
    "click",
    guarded(() => change(t("confirm.fail", { count: $("recover-requeue").dataset.count }), () => recover("fail")))
  );

  async function dispatch(dryRun) {
    const limit = parseInt($("dispatch-limit").value, 10) || 100;
    const result = await call("POST", "/ops/dispatch", { limit, dry_run: dryRun });
    report($("dispatch-output"), result);
    $("dispatch-send").disabled = !dryRun || result.found === 0;
  }

  $("dispatch-list").addEventListener("click", guarded(() => dispatch(true)));
  $("dispatch-send").addEventListener(
    "click",
    guarded(() => change(t("confirm.dispatch", { count: $("dispatch-limit").value }), () => dispatch(false)))
  );

  $("prune-list").addEventListener(
    "click",
    guarded(async () => {
      const body = {};
      const requests = parseInt($("prune-requests").value, 10);
      const ledger = parseInt($("prune-ledger").value, 10);
      if (requests) body.request_days = requests;
      if (ledger) body.ledger_days = ledger;
      report($("prune-output"), await call("POST", "/ops/prune", body));
    })
  );

  // --- start ----------------------------------------------------------------------------------------
  fill($("set-default-provider"), config.providers, false);
  fill($("set-fallback-provider"), config.providers, true);
  fill($("style-provider"), config.providers, false);
  for (const option of $("set-runware-mode").options) {
    if (option.value === "fake") option.textContent = "fake (" + t("fakeOption") + ")";
  }
  show(window.location.hash.slice(1), false);

  async function loadAll() {
    say("loading");
    try {
      await Promise.all([loadSettings(), loadStyles(), loadPackages(), loadTerms()]);
      say("loaded");
    } catch (err) {
      fail(err);
    }
  }

  auth.bindPanel("admin");
  auth.onChange((token) => {
    if (token) loadAll();
  });
  auth.ready.then(() => {
    if (auth.token()) loadAll();
  });
})();
