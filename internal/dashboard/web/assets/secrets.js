// hermes dashboard: the secrets page. Set (PUT /api/env), remove (DELETE
// /api/env) and reveal for 30 seconds (POST /api/env/reveal) one variable
// of the profile's .env; the server asks for a recent login and says so.
import { call, problem, url } from "./api.js";

export function init() {
  const pick = document.getElementById("secrets-profile");
  pick.addEventListener("change", function () {
    window.location.href = url("/secrets") + "?profile=" + encodeURIComponent(pick.value);
  });
  const table = document.getElementById("secrets");
  const profile = table.dataset.profile;
  const q = "?profile=" + encodeURIComponent(profile);

  function say(node, ok, text, r) {
    node.className = "result " + (ok ? "ok" : "bad");
    node.textContent = text;
    if (r && r.status === 403 && r.body.login_url) {
      const a = document.createElement("a");
      a.href = r.body.login_url + "?next=" + encodeURIComponent(window.location.pathname + window.location.search);
      a.textContent = " Sign in again";
      node.appendChild(a);
    }
  }

  table.addEventListener("click", async function (ev) {
    const btn = ev.target.closest("button[data-act]");
    if (!btn || btn.disabled) return;
    const tr = btn.closest("tr");
    const key = tr.dataset.key;
    const res = tr.querySelector(".result");
    if (btn.dataset.act === "reveal") {
      const r = await call("POST", "/api/env/reveal" + q, { key: key });
      if (!r.ok) { say(res, false, "✗ " + problem(r), r); return; }
      const cell = tr.querySelector(".secret-value code");
      const masked = cell.textContent;
      cell.textContent = r.body.value;
      say(res, true, "shown for 30 seconds");
      setTimeout(function () { cell.textContent = masked; res.textContent = ""; }, 30000);
    } else if (btn.dataset.act === "set") {
      document.getElementById("secret-key").value = key;
      document.getElementById("secret-value").focus();
    } else if (btn.dataset.act === "delete") {
      if (!window.confirm("Remove " + key + " from the .env of " + profile + "?")) return;
      const r = await call("DELETE", "/api/env" + q, { key: key });
      if (!r.ok) { say(res, false, "✗ " + problem(r), r); return; }
      say(res, true, "✓ removed. Reloading…");
      setTimeout(function () { window.location.reload(); }, 700);
    }
  });

  const form = document.getElementById("secret-form");
  const result = document.getElementById("secret-result");
  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    const key = document.getElementById("secret-key").value.trim();
    const value = document.getElementById("secret-value").value;
    const r = await call("PUT", "/api/env" + q, { key: key, value: value });
    if (!r.ok) { say(result, false, "✗ Not saved: " + problem(r), r); return; }
    document.getElementById("secret-value").value = "";
    say(result, true, "✓ " + key + " saved (" + (r.body.redacted_value || "set") + "). Reloading…");
    setTimeout(function () { window.location.reload(); }, 700);
  });
}
