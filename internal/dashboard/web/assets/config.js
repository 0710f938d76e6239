// hermes dashboard: the config page. Sends the fields that changed to PUT
// /api/config (an emptied field unsets its key: null) with If-Match, the
// version the form was made from, so that a form gone stale is refused
// rather than overwriting; shows the server's message (the same as hermes
// config set's) under the field it is about.
import { call, problem, url } from "./api.js";

export function init() {
  const pick = document.getElementById("config-profile");
  pick.addEventListener("change", function () {
    window.location.href = url("/config") + "?profile=" + encodeURIComponent(pick.value);
  });
  const form = document.getElementById("config-form");
  if (!form) return;
  const result = document.getElementById("config-result");
  const fields = Array.from(form.querySelectorAll("[data-initial]"));

  function mark() {
    fields.forEach(function (f) { f.closest(".field").classList.toggle("changed", f.value !== f.dataset.initial); });
  }
  form.addEventListener("input", mark);
  form.addEventListener("reset", function () { setTimeout(mark, 0); result.textContent = ""; });

  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    form.querySelectorAll(".field-error").forEach(function (e) { e.textContent = ""; });
    const changed = {};
    fields.forEach(function (f) {
      if (f.value === f.dataset.initial) return;
      changed[f.name] = f.value.trim() === "" ? null : f.value;
    });
    const keys = Object.keys(changed);
    if (!keys.length) { result.className = "muted"; result.textContent = "Nothing to save: no field changed."; return; }
    const save = document.getElementById("config-save");
    save.disabled = true;
    result.className = "muted";
    result.textContent = "Saving " + keys.join(", ") + "…";
    const r = await call("PUT", "/api/config?profile=" + encodeURIComponent(form.dataset.profile), { config: changed }, { "If-Match": form.dataset.etag });
    save.disabled = false;
    if (!r.ok) {
      result.className = "bad";
      const msg = problem(r);
      result.textContent = "✗ Not saved: " + msg;
      const key = keys.find(function (k) { return (r.body.detail || "").startsWith(k) || (r.body.detail || "").includes(k + ":") || (r.body.detail || "").includes(k + " "); });
      if (key) document.getElementById("err-" + key).textContent = r.body.detail;
      if (r.status === 403 && r.body.login_url) {
        result.textContent += " ";
        const a = document.createElement("a");
        a.href = r.body.login_url + "?next=" + encodeURIComponent(window.location.pathname + window.location.search);
        a.textContent = "Sign in again";
        result.appendChild(a);
      }
      return;
    }
    form.dataset.etag = r.body.etag;
    (r.body.keys || []).forEach(function (k) {
      const f = document.getElementById("key-" + k.key);
      if (!f) return;
      f.value = k.value;
      f.dataset.initial = k.value;
    });
    mark();
    result.className = "ok";
    result.textContent = "✓ Saved " + r.body.changed.join(", ") + ". " + (r.body.effects || []).join("; ");
  });
}
