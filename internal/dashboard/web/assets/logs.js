// hermes dashboard: the log page. A service's log followed live
// (/api/logs/{service}/stream) or the boot log (logs/container-boot.log)
// read once; each line coloured by the level it carries (level=warn,
// "level":"error", [ERROR], WARNING:, …), not by the stream it came on;
// filtered by level and text; paused (new lines wait, counted) and
// resumed; downloaded whole.
import { stream, el } from "./api.js";

const maxLines = 5000;
const rank = { debug: 0, info: 1, warn: 2, error: 3 };

// level is the level a line carries, "" when it names none.
export function level(line) {
  const m = /\blevel=("?)(\w+)\1/i.exec(line) || /"level"\s*:\s*"(\w+)"/i.exec(line) ||
    /^\s*\[?(DEBUG|INFO|WARN(?:ING)?|ERROR|ERR|FATAL|PANIC|CRITICAL)\]?[:\s]/.exec(line) ||
    /\s(DEBUG|INFO|WARN(?:ING)?|ERROR|FATAL|PANIC)\s/.exec(line);
  if (!m) return /^(✗|error:|panic:|fatal:)/i.test(line) ? "error" : "";
  const v = (m[2] || m[1]).toLowerCase();
  if (v.startsWith("warn")) return "warn";
  if (v === "err" || v === "error" || v === "fatal" || v === "panic" || v === "critical") return "error";
  if (v === "debug" || v === "trace") return "debug";
  if (v === "info" || v === "notice") return "info";
  return "";
}

export function init() {
  const select = document.getElementById("log-service");
  const out = document.getElementById("log");
  const state = document.getElementById("log-state");
  const minLevel = document.getElementById("log-level");
  const filter = document.getElementById("log-filter");
  const pause = document.getElementById("log-pause");
  const download = document.getElementById("log-download");
  let stop = null;
  let paused = false;
  let waiting = [];

  function say(text) { state.textContent = text; }

  function visible(div) {
    // A line that names no level counts as info.
    const min = minLevel.value;
    if (min && rank[div.dataset.level || "info"] < rank[min]) return false;
    const q = filter.value.trim().toLowerCase();
    return !q || div.dataset.text.includes(q);
  }

  function applyFilters() {
    out.querySelectorAll(".line").forEach(function (d) { d.hidden = !visible(d); });
  }

  function add(text, time, continued) {
    const lv = level(text);
    const div = el("div", { class: "line" + (lv ? " lv-" + lv : ""), "data-level": lv });
    div.dataset.text = text.toLowerCase();
    // The time of day to the millisecond; the whole UTC stamp on hover.
    if (time) div.appendChild(el("span", { class: "ts", title: time }, time.slice(11, 23) + (continued ? "+" : " ")));
    if (lv) div.appendChild(el("span", { class: "lv" }, lv.toUpperCase() + " "));
    div.appendChild(document.createTextNode(text));
    div.hidden = !visible(div);
    out.appendChild(div);
    while (out.childNodes.length > maxLines) out.removeChild(out.firstChild);
  }

  function flush() {
    waiting.forEach(function (l) { add(l.line, l.time, l.continued); });
    waiting = [];
    out.scrollTop = out.scrollHeight;
  }

  function onLine(data) {
    let l;
    try { l = JSON.parse(data); } catch (e) { return; }
    if (paused) {
      waiting.push(l);
      if (waiting.length > maxLines) waiting.shift();
      say("paused: " + waiting.length + " new line" + (waiting.length === 1 ? "" : "s") + " waiting");
      return;
    }
    add(l.line, l.time, l.continued);
    out.scrollTop = out.scrollHeight;
  }

  async function readText(path) {
    say("reading…");
    const resp = await fetch(path, { credentials: "same-origin" });
    if (!resp.ok) { say("cannot read this log (HTTP " + resp.status + ")"); return; }
    const text = await resp.text();
    text.split("\n").forEach(function (l) { if (l) add(l, "", false); });
    const n = out.childNodes.length;
    say("the whole boot log, " + n + " line" + (n === 1 ? "" : "s"));
  }

  function start() {
    if (stop) { stop(); stop = null; }
    out.replaceChildren();
    waiting = [];
    const opt = select.options[select.selectedIndex];
    if (!opt) { say("no log to show"); return; }
    download.href = opt.dataset.download;
    download.setAttribute("aria-label", "Download the whole log of " + opt.value);
    if (opt.dataset.text) { pause.disabled = true; readText(opt.dataset.text); return; }
    pause.disabled = false;
    say("connecting…");
    stop = stream(opt.dataset.stream, {
      line: onLine,
      end: function (d) { say("stream ended: " + d); },
    }, function (s) { if (!paused) say(s === "live" ? "following" : s); });
  }

  pause.addEventListener("click", function () {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    pause.setAttribute("aria-pressed", paused ? "true" : "false");
    if (!paused) { flush(); say("following"); } else say("paused");
  });
  minLevel.addEventListener("change", applyFilters);
  filter.addEventListener("input", applyFilters);
  document.getElementById("log-form").addEventListener("submit", function (ev) { ev.preventDefault(); });
  select.addEventListener("change", function () {
    const u = new URL(window.location.href);
    u.searchParams.set("service", select.value);
    window.history.replaceState(null, "", u);
    start();
  });
  start();
}
