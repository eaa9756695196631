/* The tenant control room's first page: the tenant's events, each with whether AI styling is
   unlocked for it, and a link to its control room. Signs in as the tenant admin first. */
"use strict";

(function () {
  const { config, t, api, showError } = window.AiImage;
  const auth = window.AiImageAuth;
  const $ = (id) => document.getElementById(id);

  function capability(event) {
    if (!event.capability.granted) return t("capability.locked");
    return t("capability.granted") + " · " + t("capability.grantedBy." + event.capability.granted_by);
  }

  function row(event) {
    const tr = document.createElement("tr");
    const name = document.createElement("td");
    const link = document.createElement("a");
    link.href = "/tenant/events/" + encodeURIComponent(event.slug) + "?lang=" + config.lang;
    link.textContent = event.name;
    name.appendChild(link);
    const slug = document.createElement("td");
    slug.textContent = event.slug;
    const cap = document.createElement("td");
    cap.textContent = capability(event);
    cap.className = event.capability.granted ? "ok" : "warn-text";
    tr.append(name, slug, cap);
    return tr;
  }

  async function load() {
    try {
      const { data } = await api("/api/v1/tenant/events");
      $("event-list").replaceChildren(...data.events.map(row));
      $("event-empty").hidden = data.events.length > 0;
      $("event-empty").textContent = t("noEvents");
    } catch (err) {
      if (err.status === 401) auth.expire();
      showError($("error"), err);
    }
  }

  auth.bindPanel("tenant");
  auth.onChange((token) => {
    if (token) load();
  });
  auth.ready.then(() => {
    // Local stage: the demo tenant admin signs in by the panel's button.
    if (auth.token()) load();
  });
})();
