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

refreshTimes();
if (modules[page]) {
  import(modules[page]).then(function (m) { m.init(page); }).catch(function (err) {
    const p = document.createElement("p");
    p.className = "banner bad";
    p.setAttribute("role", "alert");
    p.textContent = "This page's script failed to load: " + err.message;
    document.querySelector("main").prepend(p);
  });
}
