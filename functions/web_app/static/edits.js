/* The guest Magic Edits page: an event photo, a style, optionally a wish; honest waiting;
   the guest's own edits (kept by the server per guest cookie, so a reload keeps them). */
"use strict";

(function () {
  const { config, t, api, apiUpload, putPresigned, errorText, showError, checkFile, sleep, reveal, Waiting, formatTime } = window.AiImage;
  const $ = (id) => document.getElementById(id);
  const base = "/api/v1/events/" + encodeURIComponent(config.token);
  const form = $("edit-form");
  const button = $("request-button");
  const progress = $("progress");
  const status = $("status");
  const notice = $("notice");
  const errorBox = $("error");
  const prompt = $("edit-prompt");
  const TERMINAL = ["succeeded", "failed", "blocked"];

  let photoId = null;
  let styleNames = {};
  let photoReviews = {};

  /** The kill switch's message in the page's language when the operator set one, else the
   * generic paused text (feature_disabled carries details.statusMessages by language). */
  function pausedText(err) {
    const messages = (err.details && err.details.statusMessages) || {};
    const message = messages[config.lang];
    return message ? t("pausedBecause", { message }) : null;
  }

  if (config.event && config.event.policyMessage) $("policy-message").textContent = config.event.policyMessage;

  function localName(item) {
    return (item.names && (item.names[config.lang] || item.names.de)) || item.name;
  }

  function reviewText(review) {
    if (review === "pending") return t("awaitingApproval");
    if (review === "rejected") return t("refused");
    return "";
  }

  function choosePhoto(id, name) {
    photoId = id;
    for (const tile of document.querySelectorAll(".photo")) {
      tile.setAttribute("aria-pressed", String(tile.dataset.photo === id));
    }
    const review = reviewText(photoReviews[id]);
    $("photo-selected").textContent = t("selected", { name }) + (review ? " (" + review + ")" : "");
  }

  function renderPhotos(photos) {
    const list = $("photo-list");
    list.replaceChildren();
    if (!photos.length) {
      const empty = document.createElement("p");
      empty.className = "hint";
      empty.textContent = t("noPhotos");
      list.appendChild(empty);
      return;
    }
    photoReviews = {};
    photos.forEach((photo, index) => {
      const name = t("photo", { n: index + 1 });
      const review = reviewText(photo.review);
      photoReviews[photo.photo_id] = photo.review;
      const tile = document.createElement("button");
      tile.type = "button";
      tile.className = "photo";
      tile.dataset.photo = photo.photo_id;
      tile.setAttribute("aria-pressed", "false");
      tile.setAttribute("aria-label", review ? name + ", " + review : name);
      const image = document.createElement("img");
      image.src = photo.url;
      image.alt = "";
      tile.appendChild(image);
      if (review) {
        // One's own upload under the event's approval step: only its uploader sees it.
        tile.dataset.review = photo.review;
        tile.title = photo.review === "pending" ? t("awaitingApprovalHint") : review;
        const badge = document.createElement("span");
        badge.className = "photo-review";
        badge.textContent = review;
        tile.appendChild(badge);
      }
      tile.addEventListener("click", () => choosePhoto(photo.photo_id, name));
      list.appendChild(tile);
    });
    const index = photos.findIndex((p) => p.photo_id === photoId);
    if (index < 0) choosePhoto(photos[0].photo_id, t("photo", { n: 1 }));
    else choosePhoto(photoId, t("photo", { n: index + 1 }));
  }

  async function loadPhotos() {
    const { data } = await api(base + "/photos");
    renderPhotos(data);
  }

  async function loadStyles() {
    const { data } = await api(base + "/ai-styles");
    const list = $("style-list");
    list.replaceChildren();
    styleNames = {};
    data.forEach((style, index) => {
      styleNames[style.key] = localName(style);
      const label = document.createElement("label");
      label.className = "choice";
      const input = document.createElement("input");
      input.type = "radio";
      input.name = "style";
      input.value = style.key;
      input.checked = index === 0;
      const text = document.createElement("span");
      text.textContent = styleNames[style.key] + (style.is_premium ? " · " + t("premium") : "");
      label.append(input);
      if (style.preview_url) {
        const preview = document.createElement("img");
        preview.className = "style-preview";
        preview.src = style.preview_url;
        preview.alt = t("stylePreview", { style: styleNames[style.key] });
        preview.width = 96;
        preview.height = 72;
        preview.loading = "lazy";
        label.appendChild(preview);
      }
      label.appendChild(text);
      list.appendChild(label);
    });
  }

  async function uploadPhoto(file) {
    errorBox.textContent = "";
    const problem = checkFile(file);
    if (problem) {
      errorBox.textContent = problem;
      return;
    }
    progress.hidden = false;
    progress.value = 0;
    const waiting = new Waiting(status, notice);
    const onProgress = (percent) => {
      progress.value = percent;
      waiting.set("uploading", { percent });
    };
    onProgress(0);
    try {
      const { data: upload } = await api(base + "/photos", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ content_type: file.type, size: file.size }),
      });
      await putPresigned(upload, file, onProgress);
      waiting.set("storing");
      progress.removeAttribute("value");
      await api(base + "/photos/" + encodeURIComponent(upload.photo_id) + "/complete", { method: "POST" });
      photoId = upload.photo_id;
      await loadPhotos();
      waiting.stop();
      status.textContent = t("done");
    } catch (err) {
      waiting.stop();
      showError(errorBox, err);
    } finally {
      progress.hidden = true;
    }
  }
  $("photo-input").addEventListener("change", (event) => uploadPhoto(event.target.files[0]));

  function newKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** The line for a finished request: a refusal by its reason, a failure without internals. */
  function outcome(request) {
    if (request.status === "succeeded") return t("status.succeeded");
    if (request.status === "blocked") return t("refused") + ": " + errorText(request.block_reason || "prompt_blocked");
    if (request.status === "failed") return t("status.failed");
    return t("status." + request.status);
  }

  function renderMine(edits) {
    const list = $("mine-list");
    list.replaceChildren();
    if (!edits.length) {
      const empty = document.createElement("li");
      empty.className = "hint";
      empty.textContent = t("noEdits");
      list.appendChild(empty);
      return;
    }
    for (const edit of edits) {
      const item = document.createElement("li");
      item.dataset.request = edit.request_id;
      item.dataset.status = edit.status;
      const title = document.createElement("span");
      title.textContent = t("editOf", {
        style: styleNames[edit.style_key] || edit.style_key,
        time: formatTime(Date.parse(edit.created_at)),
      });
      const state = document.createElement("span");
      state.className = "hint";
      state.textContent = TERMINAL.includes(edit.status) ? outcome(edit) : t("status." + edit.status);
      item.append(title, " ", state);
      if (edit.result_url) {
        const link = document.createElement("a");
        link.href = edit.result_url;
        const thumb = document.createElement("img");
        thumb.src = edit.result_url;
        thumb.alt = t("editOf", { style: styleNames[edit.style_key] || edit.style_key, time: "" }).replace(/, $/, "");
        link.appendChild(thumb);
        item.appendChild(link);
      }
      list.appendChild(item);
    }
  }

  async function loadMine() {
    const { data } = await api(base + "/ai-edits");
    renderMine(data);
  }

  function showResult(request) {
    const url = request.result_url;
    $("edit-result").src = url;
    $("download").href = url;
    $("result-section").hidden = false;
    // The result may sit below the fold (phones): bring it into view and move focus there.
    reveal($("result-section"));
  }

  async function follow(request, waiting) {
    let delay = 700;
    while (!TERMINAL.includes(request.status)) {
      waiting.set(request.status === "processing" ? "processing" : "queued", {
        paused: request.paused,
        // Paused: the operator's message in the page's language, where one was set.
        pausedText: pausedText({ details: { statusMessages: request.pause_messages } }),
        estimate: request.estimated_seconds,
      });
      waiting.check();
      await sleep(delay);
      delay = Math.min(delay * 1.4, 4000);
      ({ data: request } = await api(base + "/ai-edits/" + encodeURIComponent(request.request_id)));
    }
    return request;
  }

  function checkedStyle() {
    return form.querySelector('input[name="style"]:checked');
  }

  async function requestEdit() {
    errorBox.textContent = "";
    errorBox.classList.remove("refusal");
    const style = checkedStyle();
    if (!photoId) {
      errorBox.textContent = t("noPhoto");
      return;
    }
    if (!style) {
      errorBox.textContent = t("noStyle");
      return;
    }
    const body = { style_key: style.value };
    if (!$("prompt-row").hidden && prompt.value.trim()) body.prompt = prompt.value.trim();
    button.disabled = true;
    progress.hidden = false;
    progress.removeAttribute("value");
    $("result-section").hidden = true;
    const waiting = new Waiting(status, notice);
    let countingDown = false;
    try {
      waiting.set("queued");
      const { data: created } = await api(base + "/photos/" + encodeURIComponent(photoId) + "/ai-edits", {
        method: "POST",
        // One key per click: a retried request is not a second edit.
        headers: { "Content-Type": "application/json", "Idempotency-Key": newKey() },
        body: JSON.stringify(body),
      });
      const request = await follow(created, waiting);
      waiting.stop();
      if (request.status === "succeeded") {
        status.textContent = outcome(request);
        showResult(request);
      } else {
        errorBox.classList.toggle("refusal", request.status === "blocked");
        errorBox.textContent = outcome(request);
      }
    } catch (err) {
      waiting.stop();
      if (err.details && err.details.field === "prompt") {
        $("prompt-row").hidden = true;
        errorBox.textContent = t("promptNotAllowed");
      } else if (err.code === "feature_disabled" && pausedText(err)) {
        errorBox.classList.add("refusal");
        errorBox.textContent = pausedText(err);
      } else {
        countingDown = showError(errorBox, err, () => {
          button.disabled = false;
        });
      }
    } finally {
      progress.hidden = true;
      if (!countingDown) button.disabled = false;
      loadMine().catch(() => undefined);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    requestEdit();
  });

  Promise.all([loadPhotos(), loadStyles()])
    .then(loadMine)
    .catch((err) => showError(errorBox, err));
})();
