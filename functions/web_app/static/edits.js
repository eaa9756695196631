/* The guest Magic Edits page: an event photo, a style, optionally a wish; live status. */
"use strict";

(function () {
  const { config, t, api, putPresigned, showError, checkFile, sleep } = window.AiImage;
  const $ = (id) => document.getElementById(id);
  const base = "/api/v1/events/" + encodeURIComponent(config.token);
  const form = $("edit-form");
  const button = $("request-button");
  const progress = $("progress");
  const status = $("status");
  const errorBox = $("error");
  const prompt = $("edit-prompt");
  const TERMINAL = ["succeeded", "failed", "blocked"];

  let photoId = null;

  function choosePhoto(id, name) {
    photoId = id;
    for (const tile of document.querySelectorAll(".photo")) {
      tile.setAttribute("aria-pressed", String(tile.dataset.photo === id));
    }
    $("photo-selected").textContent = t("selected", { name });
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
    photos.forEach((photo, index) => {
      const name = t("photo", { n: index + 1 });
      const tile = document.createElement("button");
      tile.type = "button";
      tile.className = "photo";
      tile.dataset.photo = photo.photo_id;
      tile.setAttribute("aria-pressed", "false");
      tile.setAttribute("aria-label", name);
      const image = document.createElement("img");
      image.src = photo.url;
      image.alt = name;
      tile.appendChild(image);
      tile.addEventListener("click", () => choosePhoto(photo.photo_id, name));
      list.appendChild(tile);
    });
    if (!photoId || !photos.some((p) => p.photo_id === photoId)) {
      choosePhoto(photos[0].photo_id, t("photo", { n: 1 }));
    } else {
      choosePhoto(photoId, t("photo", { n: photos.findIndex((p) => p.photo_id === photoId) + 1 }));
    }
  }

  async function loadPhotos() {
    const { data } = await api(base + "/photos");
    renderPhotos(data);
  }

  async function loadStyles() {
    const { data } = await api(base + "/ai-styles");
    const list = $("style-list");
    list.replaceChildren();
    data.forEach((style, index) => {
      const label = document.createElement("label");
      label.className = "choice";
      const input = document.createElement("input");
      input.type = "radio";
      input.name = "style";
      input.value = style.key;
      input.checked = index === 0;
      const text = document.createElement("span");
      text.textContent = style.name + (style.is_premium ? " · " + t("premium") : "");
      label.append(input, text);
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
    status.textContent = t("uploading");
    try {
      const { data: upload } = await api(base + "/photos", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ content_type: file.type, size: file.size }),
      });
      await putPresigned(upload, file);
      await api(base + "/photos/" + encodeURIComponent(upload.photo_id) + "/complete", { method: "POST" });
      photoId = upload.photo_id;
      await loadPhotos();
      status.textContent = t("done");
    } catch (err) {
      status.textContent = "";
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

  function describe(request) {
    const message = request.error_message || request.block_reason || request.error_code || "";
    return t("status." + request.status, { message });
  }

  async function requestEdit() {
    errorBox.textContent = "";
    const style = form.querySelector('input[name="style"]:checked');
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
    $("result-section").hidden = true;
    let waiting = false;
    try {
      let { data: request } = await api(base + "/photos/" + encodeURIComponent(photoId) + "/ai-edits", {
        method: "POST",
        // One key per click: a retried request is not a second edit.
        headers: { "Content-Type": "application/json", "Idempotency-Key": newKey() },
        body: JSON.stringify(body),
      });
      status.textContent = describe(request);
      let delay = 700;
      while (!TERMINAL.includes(request.status)) {
        await sleep(delay);
        delay = Math.min(delay * 1.4, 4000);
        ({ data: request } = await api(base + "/ai-edits/" + encodeURIComponent(request.request_id)));
        status.textContent = describe(request);
      }
      if (request.status === "succeeded") {
        const url = base + "/ai-edits/" + encodeURIComponent(request.request_id) + "/result";
        $("edit-result").src = url;
        $("download").href = url;
        $("result-section").hidden = false;
      }
    } catch (err) {
      status.textContent = "";
      if (err.details && err.details.field === "prompt") {
        $("prompt-row").hidden = true;
        errorBox.textContent = t("promptNotAllowed");
      } else {
        waiting = showError(errorBox, err, () => {
          button.disabled = false;
        });
      }
    } finally {
      progress.hidden = true;
      if (!waiting) button.disabled = false;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    requestEdit();
  });

  Promise.all([loadPhotos(), loadStyles()]).catch((err) => showError(errorBox, err));
})();
