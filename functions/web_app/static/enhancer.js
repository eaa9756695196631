/* The Enhancer page: pick an image, a model and its settings, click "Verbessern". */
"use strict";

(function () {
  const { config, t, api, putPresigned, formatTime, showError, checkFile, sleep } = window.AiImage;
  const $ = (id) => document.getElementById(id);
  const form = $("enhance-form");
  const fileInput = $("file-input");
  const dropZone = $("drop-zone");
  const button = $("enhance-button");
  const progress = $("progress");
  const status = $("status");
  const errorBox = $("error");
  const scale = $("scale");
  const face = $("face-enhance");
  const prompt = $("prompt");
  const strength = $("strength");
  const slider = $("compare-slider");

  let file = null;
  let originalUrl = null;
  let entitlements = null;
  const TERMINAL = ["succeeded", "failed", "canceled"];

  // --- usage pill ------------------------------------------------------------------------
  function showUsage(usage) {
    if (!usage) return;
    $("usage-count").textContent = usage.used + "/" + usage.limit;
    $("usage-reset").textContent = t("resetAt", { reset: formatTime(usage.resetAt) });
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

  // --- models and their parameters ---------------------------------------------------------
  function lockReason(model) {
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

  function renderModels() {
    const list = $("model-list");
    const current = form.querySelector('input[name="model"]:checked');
    const wanted = current ? current.value : config.defaultModel;
    list.replaceChildren();
    config.models.forEach((model, index) => {
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
      list.appendChild(label);
    });
    if (!form.querySelector('input[name="model"]:checked')) {
      const first = form.querySelector('input[name="model"]:not(:disabled)');
      if (first) first.checked = true;
    }
    renderParams();
  }

  function renderParams() {
    const model = selectedModel();
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

  // --- compare view ------------------------------------------------------------------------
  function setSplit(percent) {
    // CSSOM, not a style attribute: the CSP allows no inline styles.
    $("result-layer").style.setProperty("clip-path", "inset(0 0 0 " + percent + "%)");
  }
  slider.addEventListener("input", () => setSplit(slider.value));

  function showResult(imageUrl) {
    $("original-image").src = originalUrl;
    $("result-image").src = imageUrl;
    $("download").href = imageUrl;
    $("compare-section").hidden = false;
    slider.value = "50";
    setSplit(50);
  }

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

  async function directUpload(data) {
    status.textContent = t("uploading");
    const { data: upload } = await api("/api/ai-image/uploads", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ contentType: file.type, size: file.size }),
    });
    await putPresigned(upload, file);
    data.set("uploadKey", upload.uploadKey);
  }

  async function waitForJob(job) {
    status.textContent = t("queued");
    let delay = 1000;
    while (!TERMINAL.includes(job.status)) {
      await sleep(delay);
      delay = Math.min(delay * 1.5, 5000);
      ({ data: job } = await api("/api/ai-image/jobs/" + encodeURIComponent(job.id)));
      if (job.status === "running" || job.status === "processing") status.textContent = t("working");
    }
    if (job.status !== "succeeded") {
      throw new window.AiImage.ApiError(500, job.error || { code: job.status, message: job.status });
    }
    return job.imageUrl;
  }

  async function enhance() {
    errorBox.textContent = "";
    const problem = checkFile(file);
    if (problem) {
      errorBox.textContent = problem;
      fileInput.focus();
      return;
    }
    const model = selectedModel();
    const data = buildForm(model);
    button.disabled = true;
    progress.hidden = false;
    $("compare-section").hidden = true;
    try {
      if (originalUrl) URL.revokeObjectURL(originalUrl);
      originalUrl = URL.createObjectURL(file);
      if (file.size > config.limits.maxInlineBytes) await directUpload(data);
      else data.set("image", file, file.name || "image");
      status.textContent = t("working");
      const answer = await api("/api/ai-image/generate", { method: "POST", body: data });
      let imageUrl;
      if (answer.status === 202) {
        imageUrl = await waitForJob(answer.data.job);
        await loadUsage();
      } else {
        imageUrl = answer.data.imageUrl;
        showUsage(answer.data.usage);
      }
      showResult(imageUrl);
      status.textContent = t("done");
    } catch (err) {
      status.textContent = "";
      if (err.code === "quota_exceeded" && err.details.used !== undefined) {
        showUsage({ used: err.details.used, limit: err.details.limit, resetAt: err.details.resetAt });
      }
      const waiting = showError(errorBox, err, () => {
        button.disabled = false;
      });
      if (waiting) {
        progress.hidden = true;
        return;
      }
    } finally {
      progress.hidden = true;
    }
    button.disabled = false;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    enhance();
  });

  renderModels();
  loadUsage();
})();
