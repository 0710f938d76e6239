// hermes dashboard: the profiles page. Create (POST /api/profiles, from
// the seeds or a copy of another profile) and delete (DELETE
// /api/profiles/{name}, after a dialog that names what is lost and asks
// for the name typed again); the server refuses a delete while the
// gateway runs, and the page says so (and shows the gateway's state as it
// is now, which may have changed since the page was loaded).
import { call, problem, el } from "./api.js";

// showGateway puts the gateway's state, as GET /api/profiles has it now,
// on the profile's card.
async function showGateway(card, name) {
  const r = await call("GET", "/api/profiles");
  const p = r.ok && (r.body.profiles || []).find(function (x) { return x.name === name; });
  const dd = card.querySelector(".gateway-state");
  if (!p || !dd) return;
  const g = p.gateway;
  dd.replaceChildren(el("span", { class: "state state-" + g.state }, g.state),
    g.desired_state ? el("span", { class: "muted" }, " (wanted " + g.desired_state + ")") : "");
}

export function init() {
  const form = document.getElementById("create-form");
  const result = document.getElementById("create-result");
  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    const body = {
      name: document.getElementById("create-name").value.trim(),
      clone_from: document.getElementById("create-from").value,
      clone_all: document.getElementById("create-all").checked,
      description: document.getElementById("create-description").value.trim(),
    };
    if (!body.name) { result.className = "bad"; result.textContent = "✗ Give the profile a name."; return; }
    result.className = "muted";
    result.textContent = "Creating " + body.name + "…";
    const r = await call("POST", "/api/profiles", body);
    if (!r.ok) { result.className = "bad"; result.textContent = "✗ Not created: " + problem(r); return; }
    result.className = "ok";
    result.textContent = "✓ Created " + body.name + " (gateway port " + r.body.profile.port + "). Reloading…" + (r.body.warning ? " " + r.body.warning : "");
    setTimeout(function () { window.location.reload(); }, 800);
  });

  const dialog = document.getElementById("delete-dialog");
  const confirmInput = document.getElementById("delete-confirm");
  const go = document.getElementById("delete-go");
  let target = null;
  confirmInput.addEventListener("input", function () { go.disabled = confirmInput.value !== target; });
  document.addEventListener("click", function (ev) {
    const btn = ev.target.closest("button[data-delete]");
    if (!btn || btn.disabled) return;
    target = btn.dataset.delete;
    document.getElementById("delete-name").textContent = target;
    document.getElementById("delete-lost").textContent = "This deletes " + btn.dataset.lost + ".";
    confirmInput.value = "";
    go.disabled = true;
    dialog.showModal();
    confirmInput.focus();
  });
  dialog.addEventListener("close", async function () {
    if (dialog.returnValue !== "delete" || confirmInput.value !== target) return;
    const card = document.getElementById("profile-" + target);
    const res = card.querySelector(".result");
    res.className = "result muted";
    res.textContent = "Deleting…";
    const r = await call("DELETE", "/api/profiles/" + encodeURIComponent(target), { confirm: target });
    if (!r.ok) {
      res.className = "result bad";
      res.textContent = "✗ Not deleted: " + problem(r);
      if (r.status === 409) showGateway(card, target);
      return;
    }
    res.className = "result ok";
    res.textContent = "✓ Deleted. Reloading…";
    setTimeout(function () { window.location.reload(); }, 800);
  });
}
