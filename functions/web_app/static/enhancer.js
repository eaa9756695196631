/* The Enhancer page: pick an image (a preview at once), a model and its settings, click
   "Verbessern"; honest waiting; a compare view with a divider on the image; downloads named
   after the original. */
"use strict";

(function () {
  const {
    config, t, api, apiUpload, putPresigned, formatTime, showError, checkFile, sleep, reveal, Waiting, ApiError,
    setBearer, authHeaders, imageSource,
  } = window.AiImage;
  const $ = (id) => document.getElementById(id);
  const form = $("enhance-form");
  const fileInput = $("file-input");
  const dropZone = $("drop-zone");
  const button = $("enhance-button");
  const progress = $("progress");
  const status = $("status");
  const notice = $("notice");
  const errorBox = $("error");
  const quotaHint = $("quota-hint");
  const scale = $("scale");
  const face = $("face-enhance");
  const prompt = $("prompt");
  const strength = $("strength");
  const slider = $("compare-slider");
  const zoomButton = $("zoom-button");

  let file = null;
  let originalUrl = null;
  let resultUrl = null;
  let resultModel = null;
  let entitlements = null;
  let available = null; // model id -> {available, unlockedBy}, from GET /api/ai-image/models
  let exhausted = false;
  const TERMINAL = ["succeeded", "failed", "canceled"];

  // --- usage: the quota before any upload --------------------------------------------------
  function showUsage(usage) {
    if (!usage) return;
    $("usage-count").textContent = usage.used + "/" + usage.limit;
    const reset = usage.resetAt ? formatTime(usage.resetAt) : "";
    $("usage-reset").textContent = reset ? t("resetAt", { reset }) : "";
    exhausted = usage.used >= usage.limit;
    // At the limit the button is off until the reset, and says when that is.
    button.disabled = exhausted;
    quotaHint.textContent = exhausted ? t("limitReached", { reset }) : "";
  }

  async function loadUsage() {
    try {
      const { data } = await api("/api/ai-image/usage");
      entitlements = data.entitlements;
      showUsage(data.usage);
      renderModels();
    } catch (err) {
      showError(errorBox, err);
    }
  }

  async function loadModels() {
    try {
      const { data } = await api("/api/ai-image/models");
      available = {};
      for (const model of data) available[model.id] = model;
      renderModels();
    } catch (err) {
      available = null; // the entitlements from the usage answer decide alone
    }
  }

  // --- models and their parameters ---------------------------------------------------------
  function planName(plan) {
    return plan.charAt(0).toUpperCase() + plan.slice(1);
  }

  function lockReason(model) {
    const view = available && available[model.slug];
    if (view && !view.available) {
      return view.unlockedBy ? t("unlockedBy", { plan: planName(view.unlockedBy) }) : t("unavailable");
    }
    if (!entitlements) return null;
    if (model.faceModel && !entitlements.faceEnhance) return t("lockedFace");
    if (model.scales.length && Math.min.apply(null, model.scales) > entitlements.maxUpscale) {
      return t("lockedScale", { max: entitlements.maxUpscale });
    }
    return null;
  }

  function selectedModel() {
    const checked = form.querySelector('input[name="model"]:checked');
    return config.models.find((m) => checked && m.slug === checked.value) || config.models[0];
  }

  function modelChoice(model, index, wanted) {
    const reason = lockReason(model);
    const label = document.createElement("label");
    label.className = "choice" + (reason ? " disabled" : "");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "model";
    input.value = model.slug;
    input.id = "model-" + index;
    input.disabled = Boolean(reason);
    input.checked = model.slug === wanted && !reason;
    input.addEventListener("change", renderParams);
    const text = document.createElement("span");
    text.textContent = model.label;
    if (reason) {
      const why = document.createElement("span");
      why.className = "reason";
      why.id = "model-" + index + "-reason";
      why.textContent = reason;
      input.setAttribute("aria-describedby", why.id);
      text.appendChild(why);
    }
    label.append(input, text);
    return label;
  }

  function renderModels() {
    const list = $("model-list");
    const current = form.querySelector('input[name="model"]:checked');
    const wanted = current ? current.value : config.defaultModel;
    list.replaceChildren(...config.models.map((model, index) => modelChoice(model, index, wanted)));
    if (!form.querySelector('input[name="model"]:checked')) {
      const first = form.querySelector('input[name="model"]:not(:disabled)');
      if (first) first.checked = true;
    }
    renderParams();
  }

  function renderScales(model) {
    const maxUpscale = entitlements ? entitlements.maxUpscale : Infinity;
    $("param-scale").hidden = model.scales.length === 0;
    const previous = scale.value;
    scale.replaceChildren();
    for (const value of model.scales) {
      const option = document.createElement("option");
      option.value = String(value);
      option.textContent = value + "×";
      option.disabled = value > maxUpscale;
      scale.appendChild(option);
    }
    if ([...scale.options].some((o) => o.value === previous && !o.disabled)) scale.value = previous;
    const lockedScales = model.scales.some((s) => s > maxUpscale);
    $("scale-reason").textContent = lockedScales ? t("lockedScale", { max: maxUpscale }) : "";
  }

  function renderParams() {
    const model = selectedModel();
    renderScales(model);
    $("param-face").hidden = !model.faceEnhance;
    const faceAllowed = !entitlements || entitlements.faceEnhance;
    face.disabled = !faceAllowed;
    if (!faceAllowed) face.checked = false;
    $("face-reason").textContent = faceAllowed ? "" : t("lockedFace");

    $("param-prompt").hidden = !model.prompt;
    $("param-strength").hidden = !model.strength;
    if (model.strength) {
      strength.min = String(model.strength.min);
      strength.max = String(model.strength.max);
      if (strength.dataset.model !== model.slug) strength.value = String(model.strength.default);
      strength.dataset.model = model.slug;
      $("strength-value").textContent = Number(strength.value).toFixed(2);
    }
  }
  strength.addEventListener("input", () => {
    $("strength-value").textContent = Number(strength.value).toFixed(2);
  });

  // --- compare view: a divider on the image (mouse, touch, keyboard), sizes, 100 % ----------
  function setSplit(percent) {
    // CSSOM, not a style attribute: the CSP allows no inline styles.
    $("result-layer").style.setProperty("clip-path", "inset(0 0 0 " + percent + "%)");
    $("divider").style.setProperty("left", percent + "%");
    slider.setAttribute("aria-valuetext", percent + " %");
  }
  // The range input lies over the whole image: a drag (mouse or touch) anywhere on it moves
  // the divider, the arrow keys move it too, and it is one labelled control for assistive tech.
  slider.addEventListener("input", () => setSplit(slider.value));

  function sizeText(image) {
    return t("size", { width: image.naturalWidth, height: image.naturalHeight });
  }

  function showSizes() {
    const original = $("original-image");
    const result = $("result-image");
    let text = t("sizeOriginal", { size: sizeText(original) });
    if (!$("result-layer").hidden && result.naturalWidth) text += " → " + t("sizeResult", { size: sizeText(result) });
    $("sizes").textContent = text;
  }
  $("original-image").addEventListener("load", showSizes);
  $("result-image").addEventListener("load", showSizes);

  function setZoom(on) {
    const stage = $("compare-stage");
    const result = $("result-image");
    $("compare").classList.toggle("zoomed", on);
    zoomButton.setAttribute("aria-pressed", String(on));
    zoomButton.textContent = on ? t("zoomOut") : t("zoomIn");
    // At 100 % the stage takes the result's own pixel size; the frame scrolls.
    if (on && result.naturalWidth) {
      stage.style.setProperty("width", result.naturalWidth + "px");
      stage.style.setProperty("height", result.naturalHeight + "px");
    } else {
      stage.style.removeProperty("width");
      stage.style.removeProperty("height");
    }
  }
  zoomButton.addEventListener("click", () => setZoom(zoomButton.getAttribute("aria-pressed") !== "true"));

  function showPreview() {
    if (originalUrl) URL.revokeObjectURL(originalUrl);
    originalUrl = URL.createObjectURL(file);
    $("original-image").src = originalUrl;
    for (const id of ["result-layer", "divider", "result-actions"]) $(id).hidden = true;
    slider.hidden = true;
    $("compare-hint").hidden = true;
    setZoom(false);
    $("compare-section").hidden = false;
  }

  /** `photo.jpg` + a 2x upscale → `photo-upscaled-2x` (the server adds the extension). */
  function downloadStem(model, params) {
    const stem = ((file && file.name) || "image").replace(/\.[^.]*$/, "") || "image";
    let suffix = "enhanced";
    if (model.kind === "upscale") suffix = "upscaled-" + (params.get("scale") || model.scales[0] || 2) + "x";
    else if (model.kind === "restore") suffix = "faces-restored";
    else if (model.kind === "img2img") suffix = "restyled";
    return stem + "-" + suffix;
  }

  function downloadHref() {
    const url = new URL(resultUrl, window.location.href);
    url.searchParams.set("download", resultModel.stem);
    const format = $("format").value;
    if (format !== "webp") url.searchParams.set("format", format);
    else url.searchParams.delete("format");
    return url.pathname + url.search;
  }
  $("format").addEventListener("change", () => {
    if (resultUrl) $("download").href = downloadHref();
  });

  function showResult(imageUrl, source, stem) {
    resultUrl = imageUrl;
    resultModel = { stem };
    $("original-image").src = originalUrl;
    $("result-image").src = source;
    $("download").href = downloadHref();
    for (const id of ["result-layer", "divider", "result-actions"]) $(id).hidden = false;
    slider.hidden = false;
    $("compare-hint").hidden = false;
    $("compare-section").hidden = false;
    slider.value = "50";
    setSplit(50);
    setZoom(false);
    // On every width the result comes into view (on a phone it starts below the fold).
    reveal($("compare-section"));
  }

  // --- choosing a file: picker, drag and drop, paste ----------------------------------------
  function chooseFile(candidate) {
    errorBox.textContent = "";
    const problem = checkFile(candidate);
    if (problem) {
      file = null;
      errorBox.textContent = problem;
      $("file-name").textContent = "";
      return;
    }
    file = candidate;
    $("file-name").textContent = t("selected", { name: file.name || "clipboard" });
    showPreview();
  }
  fileInput.addEventListener("change", () => chooseFile(fileInput.files[0]));
  for (const name of ["dragenter", "dragover"]) {
    dropZone.addEventListener(name, (event) => {
      event.preventDefault();
      dropZone.classList.add("over");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    dropZone.addEventListener(name, () => dropZone.classList.remove("over"));
  }
  dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) chooseFile(event.dataTransfer.files[0]);
  });
  document.addEventListener("paste", (event) => {
    const items = event.clipboardData ? [...event.clipboardData.files] : [];
    if (items.length) {
      event.preventDefault();
      chooseFile(items[0]);
    }
  });

  // --- enhancing ---------------------------------------------------------------------------
  function buildForm(model) {
    const data = new FormData();
    data.set("model", model.slug);
    if (model.scales.length && scale.value) data.set("scale", scale.value);
    if (model.faceEnhance && face.checked) data.set("face_enhance", "true");
    if (model.prompt && prompt.value.trim()) data.set("prompt", prompt.value.trim());
    if (model.strength) data.set("strength", strength.value);
    return data;
  }

  function onUpload(waiting) {
    return (percent) => {
      progress.value = percent;
      waiting.set("uploading", { percent });
      // The bytes are there; the server works on them now.
      if (percent >= 100) waiting.set("processing");
    };
  }

  async function directUpload(data, waiting) {
    const { data: upload } = await api("/api/ai-image/uploads", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ contentType: file.type, size: file.size }),
    });
    await putPresigned(upload, file, onUpload(waiting));
    data.set("uploadKey", upload.uploadKey);
  }

  async function waitForJob(job, waiting) {
    let delay = 1000;
    while (!TERMINAL.includes(job.status)) {
      waiting.set(job.status === "queued" ? "queued" : "processing", { estimate: job.estimatedSeconds });
      waiting.check();
      await sleep(delay);
      delay = Math.min(delay * 1.5, 5000);
      ({ data: job } = await api("/api/ai-image/jobs/" + encodeURIComponent(job.id)));
    }
    if (job.status !== "succeeded") {
      const code = job.status === "canceled" ? "canceled" : (job.error && job.error.code) || "generation_failed";
      throw new ApiError(500, { code });
    }
    return job.imageUrl;
  }

  async function run(model, data, waiting) {
    progress.value = 0;
    waiting.set("uploading", { percent: 0 });
    if (file.size > config.limits.maxInlineBytes) await directUpload(data, waiting);
    else data.set("image", file, file.name || "image");
    const answer = await apiUpload("/api/ai-image/generate", data, onUpload(waiting));
    progress.removeAttribute("value");
    if (answer.status === 202) {
      const job = answer.data.job || answer.data;
      const imageUrl = await waitForJob(job, waiting);
      await loadUsage();
      return imageUrl;
    }
    showUsage(answer.data.usage);
    return answer.data.imageUrl;
  }

  /** Resolves once the browser has the result (cached for the compare view), or failed to. */
  function loaded(url) {
    return new Promise((resolve) => {
      const image = new Image();
      image.addEventListener("load", resolve);
      image.addEventListener("error", resolve);
      image.src = url;
    });
  }

  async function enhance() {
    errorBox.textContent = "";
    errorBox.classList.remove("refusal");
    const problem = checkFile(file);
    if (problem) {
      errorBox.textContent = problem;
      fileInput.focus();
      return;
    }
    const model = selectedModel();
    const data = buildForm(model);
    const stem = downloadStem(model, data);
    button.disabled = true;
    progress.hidden = false;
    const waiting = new Waiting(status, notice);
    let countingDown = false;
    try {
      const imageUrl = await run(model, data, waiting);
      waiting.set("storing");
      const source = await imageSource(imageUrl);
      await loaded(source);
      showResult(imageUrl, source, stem);
      waiting.stop();
      status.textContent = t("done");
    } catch (err) {
      waiting.stop();
      if (err.code === "quota_exceeded" && err.details.used !== undefined) {
        showUsage({ used: err.details.used, limit: err.details.limit, resetAt: err.details.resetAt });
      }
      countingDown = showError(errorBox, err, () => {
        button.disabled = exhausted;
      });
    } finally {
      progress.hidden = true;
    }
    if (!countingDown) button.disabled = exhausted;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    enhance();
  });

  // A signed-in user's download carries the token: fetched, then saved under the name the
  // server gives (Content-Disposition), as a guest's plain link would be.
  $("download").addEventListener("click", async (event) => {
    if (!Object.keys(authHeaders()).length) return;
    event.preventDefault();
    try {
      const response = await fetch($("download").href, { headers: authHeaders() });
      if (!response.ok) throw new ApiError(response.status, { code: "http_" + response.status });
      const named = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
      const link = document.createElement("a");
      link.href = URL.createObjectURL(await response.blob());
      link.download = named ? named[1] : resultModel.stem + ".webp";
      link.click();
    } catch (err) {
      showError(errorBox, err);
    }
  });

  // --- the demo sign-in of the local stack (`make dev`); in AWS the identity provider's -----
  async function signIn(plan) {
    if (!plan) {
      setBearer(null);
      $("signed-in").textContent = "";
    } else {
      const { data } = await api(config.demoSignIn + "?plan=" + encodeURIComponent(plan));
      setBearer(data.token);
      $("signed-in").textContent = t("signedIn", { user: data.user, plan: planName(data.plan) });
    }
    await Promise.all([loadUsage(), loadModels()]);
  }

  // --- in AWS: the identity provider's sign-in (static/signin.js, OIDC with PKCE) ----------
  function signedInAs(token) {
    if (!token) return "";
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const claims = JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
      return t("signedIn", { user: claims.email || claims.sub || "", plan: planName(claims.plan || "free") });
    } catch (err) {
      return "";
    }
  }

  function offerProviderSignIn() {
    const auth = window.AiImageAuth;
    const signInButton = $("oidc-signin");
    const signOutButton = $("oidc-signout");
    const show = (token) => {
      signInButton.hidden = Boolean(token);
      signOutButton.hidden = !token;
      $("signed-in").textContent = signedInAs(token);
    };
    auth.onChange((token) => {
      show(token); // common.js's api() already sends it (signin.js sets the bearer)
      Promise.all([loadUsage(), loadModels()]).catch((err) => showError(errorBox, err));
    });
    signInButton.addEventListener("click", () => auth.signIn("user").catch((err) => showError(errorBox, err)));
    signOutButton.addEventListener("click", () => auth.signOut());
    for (const id of ["demo-signin-label", "demo-user"]) $(id).hidden = true;
    $("signin").hidden = false;
    show(auth.token());
    auth.ready.then(() => show(auth.token()));
  }

  async function offerSignIn() {
    if (config.auth && config.auth.mode === "oidc" && window.AiImageAuth) {
      offerProviderSignIn();
      return;
    }
    if (!config.demoSignIn) return;
    const { data } = await api(config.demoSignIn);
    const select = $("demo-user");
    for (const plan of data.plans) {
      const option = document.createElement("option");
      option.value = plan;
      option.textContent = planName(plan);
      select.appendChild(option);
    }
    select.addEventListener("change", () => signIn(select.value).catch((err) => showError(errorBox, err)));
    $("signin").hidden = false;
  }

  renderModels();
  loadUsage();
  loadModels();
  offerSignIn().catch(() => undefined);
})();
