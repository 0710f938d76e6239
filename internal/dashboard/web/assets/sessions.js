// hermes dashboard: the sessions pages. A session's messages are shown as
// Markdown (markdown.js builds them from text nodes: nothing in a message
// is ever markup); the list is filtered as you type.
import { render } from "./markdown.js";
import { call, problem, url } from "./api.js";

// actions wires the session page's rename and delete (PATCH and DELETE
// /api/sessions/{profile}/{id}).
function actions() {
  const box = document.getElementById("session-actions");
  if (!box) return;
  const base = "/api/sessions/" + encodeURIComponent(box.dataset.profile) + "/" + encodeURIComponent(box.dataset.id);
  const result = document.getElementById("session-result");
  function say(ok, text) { result.className = ok ? "ok" : "bad"; result.textContent = text; }
  document.getElementById("rename-form").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    const title = document.getElementById("rename-title").value;
    const r = await call("PATCH", base, { title: title });
    if (!r.ok) { say(false, "✗ Not renamed: " + problem(r)); return; }
    document.getElementById("session-title").textContent = r.body.title;
    document.title = r.body.title + " · hermes";
    say(true, "✓ Renamed.");
  });
  document.getElementById("session-delete").addEventListener("click", async function () {
    if (!window.confirm("Delete this session and its " + document.querySelectorAll(".messages .msg").length + " messages? This cannot be undone.")) return;
    const r = await call("DELETE", base);
    if (!r.ok) { say(false, "✗ Not deleted: " + problem(r)); return; }
    say(true, "✓ Deleted. Back to the sessions…");
    setTimeout(function () { window.location.href = url("/sessions") + "?profile=" + encodeURIComponent(box.dataset.profile); }, 700);
  });
}

export function init(page) {
  if (page === "session") {
    document.querySelectorAll(".msg-body[data-markdown]").forEach(function (pre) {
      const div = document.createElement("div");
      div.className = "msg-body md";
      div.appendChild(render(pre.textContent));
      pre.replaceWith(div);
    });
    actions();
    return;
  }
  const q = document.getElementById("session-filter");
  if (!q) return;
  const rows = Array.from(document.querySelectorAll("#sessions-list tr[data-session]"));
  q.addEventListener("input", function () {
    const v = q.value.trim().toLowerCase();
    rows.forEach(function (tr) { tr.hidden = v !== "" && !tr.textContent.toLowerCase().includes(v); });
  });
}
