// Package dashboard is the web dashboard of a hermes container (CONTRACT
// §7): the one builder of the supervised "dashboard" slot's spec
// (ServiceSpec), and the server behind the login gate of package authgate
// that shows and acts on the services, the gateways of every profile and
// their sessions.
//
// # Routes
//
// Every route is in one table (Server.routes); New mounts each on the
// server's mux and declares each to the gate (Gate.Register), public or
// not, so that the gate's drift check and the tests see the whole
// surface. The gate serves its own login routes (/login, /auth/*,
// /api/auth/*, /api/auth/me) in front of them.
//
// Public (CONTRACT §7's table; GET and HEAD only; the same content in every
// mode except /api/status):
//
//	GET /api/status              liveness probe of an external portal (below)
//	GET /api/config/defaults     the defaults of the table of keys (profiles.Keys), and a new profile's config.yaml
//	GET /api/config/schema       the table of keys as JSON Schema (2020-12): types, defaults, ranges, restart, secret
//	GET /api/model/info          the default profile's model.name and the host of model.base_url
//	GET /api/dashboard/themes    the built-in themes (light, dark) and their CSS variables
//	GET /api/dashboard/plugins   {"schema_version": 1, "plugins": []}: this dashboard has none
//	GET /assets/{file}           the static files of assetList (anything else is 404)
//	GET /favicon.ico             the icon
//
// Behind the gate (a login session when gated; the per-process token on
// /api/* in open-local mode); every method but GET is also refused
// cross-site by the gate (CSRF):
//
//	GET  /api/events                      server-sent events: the whole overview ("state") at once and on every change
//	GET  /api/sessions                    every profile's sessions, newest activity first (?profile, ?q: search, ?offset, ?limit)
//	GET  /api/sessions/{profile}/{id}     one session and its messages (sessions.Detail)
//	PATCH /api/sessions/{profile}/{id}    {"title"}: rename (sessions.CheckTitle's rule)
//	DELETE /api/sessions/{profile}/{id}   delete it, its messages and responses
//	GET  /api/sessions/{profile}/{id}/export   ?format=json|markdown, as an attachment (sessions.Export)
//	GET  /api/services                    the supervisor's services (control socket)
//	POST /api/services/{name}/start       start, stop, restart through the control socket; a gateway's
//	POST /api/services/{name}/stop        desired_state is recorded by the supervisor, as for the CLI;
//	POST /api/services/{name}/restart     the answer is the service's row (with its enabled actions)
//	GET  /api/profiles                    each profile: port, model, gateway, active sessions, and what could not be read
//	POST /api/profiles                    create a profile (its gateway registered down)
//	DELETE /api/profiles/{name}           delete one, {"confirm": NAME}; 409 while its gateway runs
//	GET  /api/config                      ?profile=NAME: every key of the table with its value, and the file's version (ETag)
//	PUT  /api/config                      {"config": {KEY: VALUE|null}}: config set's validation, all or nothing, If-Match → 412
//	GET  /api/env                         ?profile=NAME: the .env's variables (is_set, redacted_value, description, category, is_password), never a value
//	PUT  /api/env                         {"key","value"}: set one (profiles.EnvSet: 0600, the hermes uid, comments kept)
//	DELETE /api/env                       {"key"}: remove one
//	POST /api/env/reveal                  {"key"}: its value (5 a minute per person, 30 in all)
//	GET  /api/logs/{service}/stream       server-sent events: the log's tail, then every new line
//	GET  /api/logs/{service}/download     the whole log file, archives first, as an attachment
//	GET  /api/logs/boot                   logs/container-boot.log (?download=1: as an attachment)
//	GET  /                                overview page, kept live from /api/events
//	GET  /profiles, /config, /secrets     profiles page; config page generated from the table of keys; the .env
//	GET  /sessions, /sessions/{profile}/{id}   sessions pages (a transcript as Markdown, built from text only)
//	GET  /logs                            log page: a service picker (and the boot log), levels, filter, pause, download
//
// Any other path is the 404 page (a method a route does not take, 405),
// as JSON under /api/; a panic is the 500 page. Changing model.* or a
// secret of .env (and revealing one) from the browser needs a login less
// than 5 minutes old (gated; refused in open-insecure, where only the list
// of .env stays) and is audited (a dashboard.audit line: event, who, what,
// never a value). No route registers a command line.
//
// The pages are html/template files embedded in the binary; every URL in
// them goes through Gate.URL, so that they work under the path prefix of
// HERMES_DASHBOARD_PUBLIC_URL. They load nothing from elsewhere: every
// answer carries Content-Security-Policy default-src 'self', and the pages
// have no inline script or style (the scripts are plain JavaScript modules
// under web/assets, started by app.js from <body data-page>). In open-local mode the page carries the
// per-process token in a meta element, and its script sends it as
// X-Hermes-Session-Token (EventSource cannot send a header, so the log tail
// is then read with fetch); in gated mode the session cookie does, and the
// pages show a "Sign out" button that POSTs to the gate's /auth/logout.
//
// # Where the numbers come from
//
// The gateways are read from each profile's own directory
// (the Dir of every profile of profiles.List), never through a
// "current" or sticky profile: the reference showed a running gateway as
// STOPPED that way (its #23457). A gateway's state is gateway.Observe's,
// the one rule every reader applies: its gateway_state.json corrected by
// its pid lock. A live gateway holds gateway.pid's flock, which the kernel
// drops when it dies, so a recorded live state without a holder (SIGKILL,
// a restarted container) shows "stopped", and running means state
// "running" with the lock held. A state this hermes does not know shows
// "unknown". Active sessions are sessions.CountActive on each
// profile's state.db (not ended, active in the last 5 minutes), summed; a
// store that cannot be read (foreign, newer, corrupt, unreadable) counts 0,
// is logged once per change, and is named in /api/profiles and on the
// pages, never in the public probe. Services come from the supervisor's
// control socket (Config.Control: the home owner's when one answers).
//
// # /api/status
//
// 200 in every mode (the gate lets any Host through for it when gated),
// Cache-Control no-store, never a cookie from this handler. In every mode:
// version, auth_required (true iff gated), auth_providers (names), mode,
// gateway_state and gateway_running (the default profile's), gateways (one
// {profile, state, running} per profile, default first) and
// active_sessions. Under the gate that is all: no path, pid, session id,
// exit reason or anything else user-specific. In the open modes each
// gateway entry adds dir, pid, recorded_state, desired_state and pid_lock,
// and the body adds hermes_home, config_path, env_path, gateway_pid,
// gateway_exit_reason and gateway_updated_at, as the reference did on
// loopback; open-local also gives session_token.
//
// # Live state
//
// /api/events does not relay the control socket's event stream: a
// gateway's state is read from its profile's files and profiles change on
// disk, so one poller (started by Run) builds the whole overview when the
// supervisor reports a change (it follows GET /v1/events), when a page
// subscribes, and every 2 seconds while anyone watches, and sends each one
// that differs from the last to every watcher (the latest replaces one not
// yet taken). Nothing is read while nobody watches.
//
// # Run
//
// Server.Run serves Gate.Handler(Handler()) on a listener and runs
// Gate.Run beside it until its context is done; then it stops accepting,
// ends every log stream at once, lets other requests finish for up to 5
// seconds (http.Server.Shutdown), closes what is left, and returns nil. It
// returns an error when the listener fails or the gate's Run does. It keeps
// at most 64 connections per client address (a trusted proxy's excepted)
// and 1,024 in all (netcap.TCP), closing the rest at accept, and reports
// its counters (Server.Counters: connections refused, and Config.Counters)
// to its supervisor (Config.Report, PUT /v1/counters/dashboard) when they
// change, at most once a second.
package dashboard
