// hermes dashboard: what every page's script shares. The API, its token
// (open-local mode: the page carries it and every API call sends it as
// X-Hermes-Session-Token; gated: the session cookie does), the path prefix,
// server-sent events, relative times, and a small DOM builder that only
// ever sets text (no markup from data is ever parsed).
"use strict";

const tokenMeta = document.querySelector('meta[name="hermes-session-token"]');
export const token = tokenMeta ? tokenMeta.content : "";
const baseMeta = document.querySelector('meta[name="hermes-base"]');
const base = (baseMeta ? baseMeta.content : "/").replace(/\/$/, "");

// url is a path of the dashboard under its prefix: url("/api/x").
export function url(path) { return base + path; }

export function headers(extra) {
  const h = Object.assign({ "Accept": "application/json" }, extra || {});
  if (token) h["X-Hermes-Session-Token"] = token;
  return h;
}

// call sends a request and returns {ok, status, body, headers}; body is
// the decoded JSON (or {} when there is none). It never throws for an
// HTTP error; a network failure is {ok:false, status:0, body:{detail}}.
export async function call(method, path, payload, extra) {
  const init = { method: method, credentials: "same-origin", headers: headers(extra) };
  if (payload !== undefined) {
    init.body = JSON.stringify(payload);
    init.headers["Content-Type"] = "application/json";
  }
  try {
    const resp = await fetch(path.startsWith("/") && !path.startsWith(base + "/") ? url(path) : path, init);
    const body = await resp.json().catch(function () { return {}; });
    return { ok: resp.ok, status: resp.status, body: body, headers: resp.headers };
  } catch (err) {
    return { ok: false, status: 0, body: { detail: "the dashboard could not be reached (" + err.message + ")" } };
  }
}

// problem is an API error in words.
export function problem(r) {
  const b = r.body || {};
  const what = b.detail || b.error || ("HTTP " + r.status);
  return r.status ? what + " (HTTP " + r.status + ")" : what;
}

// stream follows server-sent events at path, calling on[event](data) for
// each, and onState(text) as the connection comes and goes. EventSource
// sends the cookie but no header, so with a token (open-local) the stream
// is read with fetch. Returns a function that stops it.
export function stream(path, on, onState) {
  const say = onState || function () {};
  if (!token) {
    const es = new EventSource(path, { withCredentials: true });
    es.addEventListener("open", function () { say("live"); });
    es.addEventListener("error", function () { say("disconnected, reconnecting…"); });
    Object.keys(on).forEach(function (ev) {
      es.addEventListener(ev, function (e) { on[ev](e.data); if (ev === "end") es.close(); });
    });
    return function () { es.close(); };
  }
  const ctl = new AbortController();
  let stopped = false;
  (async function loop() {
    while (!stopped) {
      try {
        const resp = await fetch(path, { headers: headers({ "Accept": "text/event-stream" }), credentials: "same-origin", signal: ctl.signal });
        if (!resp.ok) { say("cannot follow (HTTP " + resp.status + ")"); return; }
        say("live");
        const reader = resp.body.getReader();
        const dec = new TextDecoder();
        let buf = "";
        for (;;) {
          const chunk = await reader.read();
          if (chunk.done) break;
          buf += dec.decode(chunk.value, { stream: true });
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let event = "message";
            const data = [];
            block.split("\n").forEach(function (l) {
              if (l.startsWith("event:")) event = l.slice(6).trim();
              else if (l.startsWith("data:")) data.push(l.slice(5).replace(/^ /, ""));
            });
            if (on[event]) on[event](data.join("\n"));
            if (event === "end") { stopped = true; return; }
          }
        }
      } catch (err) {
        if (err.name === "AbortError") return;
      }
      say("disconnected, reconnecting…");
      await new Promise(function (r) { setTimeout(r, 3000); });
    }
  })();
  return function () { stopped = true; ctl.abort(); };
}

// el builds an element: el("td", {class: "x", "data-label": "state"}, child, "text", …).
// Strings become text nodes; attributes are set with setAttribute.
export function el(tag, attrs) {
  const e = document.createElement(tag);
  Object.keys(attrs || {}).forEach(function (k) {
    const v = attrs[k];
    if (v === false || v === null || v === undefined) return;
    if (k === "text") e.textContent = v;
    else if (k === "disabled" || k === "checked" || k === "hidden") e[k] = !!v;
    else e.setAttribute(k, v === true ? "" : String(v));
  });
  for (let i = 2; i < arguments.length; i++) {
    const c = arguments[i];
    if (c === null || c === undefined || c === false || c === "") continue;
    e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return e;
}

// exact is a time as a person reads it, in UTC.
export function exact(d) {
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

// ago is a relative time: "just now", "3 min ago", "2 h ago", "4 days ago".
export function ago(d, now) {
  const s = Math.round(((now || new Date()) - d) / 1000);
  if (s < 0) return "in " + ago(now || new Date(), d).replace(/ ago$/, "");
  if (s < 10) return "just now";
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  return Math.floor(s / 86400) + (s < 172800 ? " day ago" : " days ago");
}

// timeEl is a <time> that shows a relative time and the exact one on
// hover (title); refreshTimes keeps them current.
export function timeEl(iso) {
  const d = new Date(iso);
  if (!iso || isNaN(d) || d.getFullYear() < 1971) return document.createTextNode("—");
  return el("time", { datetime: iso, title: exact(d), text: ago(d) });
}

export function refreshTimes(root) {
  (root || document).querySelectorAll("time[datetime]").forEach(function (t) {
    const d = new Date(t.getAttribute("datetime"));
    if (isNaN(d)) return;
    t.title = exact(d);
    t.textContent = ago(d);
  });
}

// bytes is a size in words: 512 B, 3.4 MiB.
export function bytes(n) {
  if (n < 1024) return n + " B";
  const u = ["KiB", "MiB", "GiB", "TiB"];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return n.toFixed(1) + " " + u[i];
}
