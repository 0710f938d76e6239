// hermes dashboard: the service buttons and the live log tail.
// In open-local mode the page carries the per-process token that the API
// needs (X-Hermes-Session-Token); in gated mode the session cookie does.
"use strict";

(function () {
  const tokenMeta = document.querySelector('meta[name="hermes-session-token"]');
  const token = tokenMeta ? tokenMeta.content : "";

  function headers(extra) {
    const h = Object.assign({ "Accept": "application/json" }, extra || {});
    if (token) h["X-Hermes-Session-Token"] = token;
    return h;
  }

  function flash(text, bad) {
    const el = document.getElementById("flash");
    if (!el) return;
    el.textContent = text;
    el.className = bad ? "banner bad" : "banner";
    el.hidden = false;
  }

  // Service buttons: POST the action, then show the new state.
  document.addEventListener("click", async function (ev) {
    const btn = ev.target.closest("button[data-action]");
    if (!btn) return;
    if (btn.dataset.confirm && !window.confirm(btn.dataset.confirm)) return;
    const row = btn.closest("tr");
    row.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    try {
      const resp = await fetch(btn.dataset.action, {
        method: "POST", credentials: "same-origin", headers: headers(),
      });
      const body = await resp.json().catch(function () { return {}; });
      if (!resp.ok) {
        flash((body.detail || body.error || resp.statusText) + " (HTTP " + resp.status + ")", true);
      } else {
        flash(body.name + ": " + body.state + ", want " + body.want, false);
        window.setTimeout(function () { window.location.reload(); }, 600);
      }
    } catch (err) {
      flash("The request failed: " + err, true);
    } finally {
      row.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
    }
  });

  // Live log tail. EventSource sends the session cookie but no header, so
  // with a token (open-local) the stream is read with fetch instead; both
  // parse the same server-sent events.
  const select = document.getElementById("log-service");
  const out = document.getElementById("log");
  const state = document.getElementById("log-state");
  const follow = document.getElementById("log-follow");
  if (!select || !out) return;
  const maxLines = 5000;
  let stop = null;

  function say(text) { if (state) state.textContent = text; }

  function append(data) {
    let line;
    try { line = JSON.parse(data); } catch (e) { return; }
    const div = document.createElement("div");
    div.className = line.stream === "stderr" ? "stderr" : "stdout";
    const ts = document.createElement("span");
    ts.className = "ts";
    ts.textContent = line.time + (line.continued ? "+" : " ");
    div.appendChild(ts);
    div.appendChild(document.createTextNode(line.line));
    out.appendChild(div);
    while (out.childNodes.length > maxLines) out.removeChild(out.firstChild);
    if (!follow || follow.checked) out.scrollTop = out.scrollHeight;
  }

  function viaEventSource(url) {
    const es = new EventSource(url);
    es.addEventListener("open", function () { out.textContent = ""; say("following"); });
    es.addEventListener("line", function (ev) { append(ev.data); });
    es.addEventListener("end", function (ev) { say("stream ended: " + ev.data); es.close(); });
    es.addEventListener("error", function () { say("disconnected, retrying…"); });
    return function () { es.close(); };
  }

  function viaFetch(url) {
    const ctl = new AbortController();
    (async function () {
      const resp = await fetch(url, { headers: headers({ "Accept": "text/event-stream" }), credentials: "same-origin", signal: ctl.signal });
      if (!resp.ok) { say("cannot follow this log (HTTP " + resp.status + ")"); return; }
      out.textContent = "";
      say("following");
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
          if (event === "line") append(data.join("\n"));
          else if (event === "end") say("stream ended: " + data.join("\n"));
        }
      }
      say("stream ended");
    })().catch(function (err) { if (err.name !== "AbortError") say("disconnected: " + err); });
    return function () { ctl.abort(); };
  }

  function start() {
    if (stop) stop();
    const opt = select.options[select.selectedIndex];
    if (!opt) return;
    out.textContent = "";
    say("connecting…");
    stop = token ? viaFetch(opt.dataset.stream) : viaEventSource(opt.dataset.stream);
  }

  select.addEventListener("change", function () {
    const u = new URL(window.location.href);
    u.searchParams.set("service", select.value);
    window.history.replaceState(null, "", u);
    start();
  });
  start();
})();
