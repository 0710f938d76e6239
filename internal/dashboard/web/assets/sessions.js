// hermes dashboard: the sessions pages. A session's messages are shown as
// Markdown (markdown.js builds them from text nodes: nothing in a message
// is ever markup); the list is filtered as you type.
import { render } from "./markdown.js";

export function init(page) {
  if (page === "session") {
    document.querySelectorAll(".msg-body[data-markdown]").forEach(function (pre) {
      const div = document.createElement("div");
      div.className = "msg-body md";
      div.appendChild(render(pre.textContent));
      pre.replaceWith(div);
    });
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
