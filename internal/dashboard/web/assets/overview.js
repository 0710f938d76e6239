// hermes dashboard: the overview, kept up to date from /api/events (one
// "state" event with the whole overview each time it changes), and the
// service buttons: each enabled only when its action makes sense, with the
// progress and then the result, or the error in words, beside it.
import { call, problem, stream, el, timeEl, refreshTimes, bytes, url } from "./api.js";

const pending = {}; // service name → the verb in progress

function stateSpan(state) {
  return el("span", { class: "state state-" + state }, state);
}

function gatewayRow(p) {
  const g = p.gateway;
  const listen = p.port ? (p.host ? p.host + ":" : "") + p.port : el("span", { class: "muted", title: p.port_error || "" }, "none");
  let model;
  if (p.model) model = el("span", null, p.model, p.base_url_host ? el("span", { class: "muted" }, " via " + p.base_url_host) : null);
  else if (p.config_error) model = el("span", { class: "bad", title: p.config_error }, "config.yaml unreadable");
  else model = el("span", { class: "muted" }, "not set");
  return el("tr", { "data-profile": p.name },
    el("td", { "data-label": "profile" }, el("a", { href: url("/profiles") + "#profile-" + encodeURIComponent(p.name) }, p.name)),
    el("td", { "data-label": "state" }, stateSpan(g.state), g.state_error ? el("span", { class: "muted", title: g.state_error }, " (state file unreadable)") : null),
    el("td", { "data-label": "wanted" }, g.desired_state || "—"),
    el("td", { "data-label": "listens on" }, listen),
    el("td", { "data-label": "model" }, model),
    el("td", { "data-label": "active sessions" }, String(p.active_sessions), p.sessions_error ? el("span", { class: "bad", title: p.sessions_error }, " store unreadable") : null));
}

// resources are the service's CPU and memory when the supervisor reports
// them (per-service /proc figures, summed over its process group): the CPU
// time with its share of one core over the last seconds, the resident
// memory (the proportional one on hover). Nothing is shown otherwise.
// The share is taken over at least cpuWindow: /proc counts CPU time in
// hundredths of a second, so two events a few milliseconds apart would
// read as hundreds of percent.
const lastCPU = {}; // service → {pid, cpu, at, pct}
const cpuWindow = 2000; // ms

function resources(st) {
  const r = st.resources;
  if (!r) { delete lastCPU[st.name]; return { cpu: "—", mem: "—" }; }
  const now = Date.now();
  let cpu = r.cpu_seconds.toFixed(1) + " s";
  let prev = lastCPU[st.name];
  if (!prev || prev.pid !== st.pid) {
    prev = lastCPU[st.name] = { pid: st.pid, cpu: r.cpu_seconds, at: now, pct: null };
  } else if (now - prev.at >= cpuWindow) {
    prev.pct = Math.max(0, (r.cpu_seconds - prev.cpu) / ((now - prev.at) / 1000) * 100);
    prev.cpu = r.cpu_seconds;
    prev.at = now;
  }
  if (prev.pct !== null) {
    cpu += " (" + prev.pct.toFixed(prev.pct < 10 ? 1 : 0) + " %)";
  }
  const mem = el("span", { title: r.pss_bytes ? "proportional: " + bytes(r.pss_bytes) : "resident memory" }, bytes(r.rss_bytes));
  return { cpu: cpu, mem: mem };
}

function button(st, verb, label) {
  const enabled = st.actions[verb] && !pending[st.name];
  return el("button", {
    type: "button", "data-verb": verb, "aria-label": label + " " + st.name,
    "data-action": url("/api/services/" + encodeURIComponent(st.name) + "/" + verb),
    disabled: !enabled,
  }, label);
}

function serviceRow(st, previous) {
  const res = resources(st);
  const result = el("span", { class: "result", role: "status" });
  if (previous) { result.textContent = previous.textContent; result.className = previous.className; }
  return el("tr", { "data-service": st.name },
    el("td", { "data-label": "service" }, el("a", { href: url("/logs") + "?service=" + encodeURIComponent(st.name) }, st.name)),
    el("td", { "data-label": "state" }, stateSpan(st.state), st.note ? el("span", { class: "self-note" }, " " + st.note) : null),
    el("td", { "data-label": "wanted" }, st.want),
    el("td", { "data-label": "pid" }, st.pid ? String(st.pid) : "—"),
    el("td", { "data-label": "since" }, timeEl(st.since)),
    el("td", { "data-label": "CPU", class: "res-cpu" }, res.cpu),
    el("td", { "data-label": "memory", class: "res-mem" }, res.mem),
    el("td", { "data-label": "restarts" }, String(st.restarts)),
    el("td", { "data-label": "reason", class: "reason" }, st.reason || ""),
    el("td", { "data-label": "actions", class: "actions" },
      button(st, "start", "Start"), " ", button(st, "stop", "Stop"), " ", button(st, "restart", "Restart"), " ", result));
}

// replace swaps the rows of a tbody, keeping the focus on the same button.
function replace(tbody, rows) {
  const active = document.activeElement;
  let focusKey = null;
  if (active && tbody.contains(active)) {
    const tr = active.closest("tr");
    focusKey = tr && (tr.dataset.service || tr.dataset.profile) + "|" + (active.dataset.verb || active.tagName);
  }
  tbody.replaceChildren.apply(tbody, rows);
  if (focusKey) {
    tbody.querySelectorAll("tr").forEach(function (tr) {
      tr.querySelectorAll("a,button").forEach(function (c) {
        if ((tr.dataset.service || tr.dataset.profile) + "|" + (c.dataset.verb || c.tagName) === focusKey) c.focus();
      });
    });
  }
}

function render(sn) {
  document.getElementById("sum-gateways").textContent = sn.running + " / " + sn.profiles.length;
  document.getElementById("sum-sessions").textContent = String(sn.active_sessions);
  document.getElementById("sum-services").textContent = String(sn.services.length);
  replace(document.getElementById("gateways"), sn.profiles.map(gatewayRow));
  const err = document.getElementById("services-error");
  err.hidden = !sn.services_error;
  err.querySelector("span").textContent = sn.services_error || "";
  const tbody = document.getElementById("services");
  const results = {};
  tbody.querySelectorAll("tr[data-service]").forEach(function (tr) {
    results[tr.dataset.service] = tr.querySelector(".result");
  });
  const rows = sn.services.map(function (st) { return serviceRow(st, results[st.name]); });
  if (!rows.length) rows.push(el("tr", null, el("td", { colspan: "10", class: "muted" }, "No services are registered.")));
  replace(tbody, rows);
}

const past = { start: "started", stop: "stopped", restart: "restarted" };
const doing = { start: "starting…", stop: "stopping…", restart: "restarting…" };

async function act(btn) {
  const tr = btn.closest("tr");
  const name = tr.dataset.service;
  const verb = btn.dataset.verb;
  if (verb !== "start" && tr.querySelector(".self-note") && !window.confirm("This stops the dashboard you are looking at. " + verb + " it?")) return;
  const result = tr.querySelector(".result");
  pending[name] = verb;
  tr.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
  tr.setAttribute("aria-busy", "true");
  result.className = "result busy";
  result.textContent = doing[verb];
  const r = await call("POST", btn.dataset.action);
  delete pending[name];
  tr.removeAttribute("aria-busy");
  const row = document.querySelector('#services tr[data-service="' + CSS.escape(name) + '"]') || tr;
  const res = row.querySelector(".result");
  if (r.ok) {
    res.className = "result ok";
    // "✓ stopped", or "✓ started (now running)" when the state says more.
    const state = r.body.state;
    res.textContent = "✓ " + past[verb] + (state && state !== past[verb] ? " (now " + state + ")" : "");
  } else {
    res.className = "result bad";
    res.textContent = "✗ " + verb + " failed: " + problem(r);
  }
  // The buttons follow the state the next event brings; until then, the
  // answer's (the service's row as the server sees it) decides.
  const acts = r.ok && r.body.actions ? r.body.actions : { start: true, stop: true, restart: true };
  row.querySelectorAll("button[data-verb]").forEach(function (b) { b.disabled = !acts[b.dataset.verb]; });
}

export function init() {
  document.addEventListener("click", function (ev) {
    const btn = ev.target.closest("#services button[data-verb]");
    if (btn && !btn.disabled) act(btn);
  });
  const live = document.getElementById("live");
  stream(url("/api/events"), {
    state: function (data) {
      try { render(JSON.parse(data)); } catch (e) { return; }
      live.textContent = "Live: updated " + new Date().toLocaleTimeString();
    },
  }, function (s) { if (s !== "live") live.textContent = s; });
  refreshTimes();
  setInterval(function () { refreshTimes(); }, 15000);
}
