// hermes dashboard: the one script every page loads (a module); it starts
// the page's own module, named by <body data-page>. No framework, no build
// step: each file is served as it is, from the binary.
import { refreshTimes } from "./api.js";

const page = document.body.dataset.page;
const modules = {
  overview: "./overview.js",
  logs: "./logs.js",
  config: "./config.js",
  profiles: "./profiles.js",
  secrets: "./secrets.js",
  sessions: "./sessions.js",
  session: "./sessions.js",
};

// <body data-ready> says the page's script has started (its buttons and
// forms now act); "failed" when it could not load.
function ready(state) { document.body.dataset.ready = state; }

refreshTimes();
if (modules[page]) {
  import(modules[page]).then(function (m) { m.init(page); ready("yes"); }).catch(function (err) {
    const p = document.createElement("p");
    p.className = "banner bad";
    p.setAttribute("role", "alert");
    p.textContent = "This page's script failed to load: " + err.message;
    document.querySelector("main").prepend(p);
    ready("failed");
  });
} else {
  ready("yes");
}
