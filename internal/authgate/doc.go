// Package authgate is the login gate of the dashboard (CONTRACT §7): the one
// mode decision, the one public table, the login routes and their providers,
// the server-side sessions, and the request pipeline that wraps the
// dashboard's app.
//
// # Modes
//
// DecideMode is the one mode function, called once at start-up by New (and
// by `hermes doctor`): Gated iff the bind host is not loopback (127.0.0.0/8,
// ::1, localhost) or HERMES_DASHBOARD_PUBLIC_URL is set, and --insecure is
// not given; OpenInsecure when it is given on such a bind (a loud warning);
// OpenLocal otherwise. Gated with no usable provider is refused by New with
// a *RefuseError (the dashboard exits 78, binding nothing). Only
// configuration refuses: an identity provider that cannot be reached gives
// 503 and a retry page at login time.
//
// # Pipeline
//
// Gate.Handler wraps the app, outermost first: the request audit (client
// address, believed from X-Forwarded-For/Forwarded only when the peer is in
// HERMES_DASHBOARD_TRUSTED_PROXIES), the Host check (open-local: loopback
// names only, every route; with a public URL: page and login routes keep to
// its host, the public API answers any Host), the cross-origin check on
// every state-changing request (an Origin must have the dashboard's own
// scheme and port: the public URL's, else the request's; then net/http's
// CrossOriginProtection), the gate (the
// public table first; nothing, not even a CORS preflight, answers before
// it), the login routes the gate mounts, then the app. Forwarded headers
// never decide routing, the Host check or what is public; the public URL
// builds redirect_uri and absolute URLs (without one, on a wildcard bind,
// the redirect_uri of a login follows the request's Host, validated as a
// plain host[:port], kept in the login's flow and repeated verbatim at the
// code exchange; the provider checks it against its registered URIs).
// Deployments
// behind a reverse proxy under a path prefix strip the prefix before
// forwarding and keep the Host header.
//
// # The public table
//
// publicTable (PublicPatterns) is the only list of routes reachable without
// a session: the public API of CONTRACT §7 (GET and HEAD only), the login
// bootstrap and the static assets (/favicon.ico and one-segment
// /assets/{file}). A request is public only when its method is the
// pattern's and its raw request path is byte for byte the pattern's path:
// dot segments, doubled or encoded slashes, case changes, trailing slashes,
// NULs, the query and the fragment never make a path public. Register
// refuses (panics) a route declared public that is not in the table.
// Without a session, /api/* answers 401 with the JSON envelope
// {"error","detail","reason","login_url"}, page GET/HEAD requests 302 to
// <prefix>/login?next=<path>, any other method 401. Open-local protects
// /api/* outside the table with the per-process LocalToken, carried by the
// page in X-Hermes-Session-Token (or Authorization: Bearer).
//
// # Sessions and cookies
//
// A session is an opaque 32-byte random id (base64url) in the cookie; the
// identity stays server side, in memory, so a restart of the dashboard logs
// everyone out. The cookie is __Host-hermes_session (Path=/) over HTTPS at
// the root, __Secure-hermes_session (Path=<prefix>/) over HTTPS under a
// path prefix and hermes_session over plain HTTP; always HttpOnly and
// SameSite=Lax. "Over HTTPS" is the public URL's scheme, or without one the
// request's (TLS, or a trusted proxy's X-Forwarded-Proto). Every login
// issues a new id (a cookie value is never adopted) and ends the session the
// browser carried; a session ends after IdleTimeout without a request
// (default 1 h) or AbsoluteTimeout after the login (default 12 h). Logout is
// POST /auth/logout (GET is 405); cookies are cleared with the attributes
// they were set with. Two cookies of the same name are refused. A login in
// progress (provider, state, nonce, PKCE verifier, next) is kept server side
// for 10 minutes under the opaque flow cookie (__Host-hermes_flow with
// Path=/ over HTTPS, with or without a prefix; hermes_flow with
// Path=<prefix>/auth/ over HTTP) and deleted at its first use; the state is
// compared in constant time before any network call. The post-login target
// (next) is only ever a local path (safeNext), checked when it comes in and
// again before the redirect.
//
// # Providers
//
// password: HERMES_DASHBOARD_BASIC_AUTH_USERNAME with _PASSWORD (compared
// through keyed digests in constant time) or _PASSWORD_HASH (bcrypt, or
// argon2id in PHC form), through the login form (never an HTTP Basic
// prompt); a wrong username and a wrong password take the same time and get
// the same answer. nous: HERMES_DASHBOARD_OAUTH_CLIENT_ID=agent:<id>,
// authorization code + PKCE S256 against HERMES_DASHBOARD_PORTAL_URL, the
// RS256 access token verified against the portal's JWKS (issuer = portal
// URL, audience = client id, expiry, agent_instance_id,
// oauth_contract_version). oidc: HERMES_DASHBOARD_OIDC_ISSUER, _CLIENT_ID,
// _CLIENT_SECRET with _ALLOWED_EMAILS and/or _ALLOWED_DOMAINS; discovery on
// first use, state, nonce, PKCE, and only verified, strictly parsed emails
// that are listed (or whose domain is) get in, others 403. The OAuth
// redirect_uri is under the public URL, else the bind when it names one
// host, else the request's Host (see above).
//
// # Login limits
//
// The login routes share a limit per client network (an IPv4 address, an
// IPv6 /64): 10 requests at once, then one every 6 s; past it, 429 with
// Retry-After. Failed password logins are charged to the account they name
// (the configured username, or one bucket for every other name): past 20,
// each attempt on that account waits until the budget has room again (one
// failure forgiven every 3 s), at most 10 s, and is then checked; it is
// never refused. Both tables are bounded (65,536 networks, 1,024 accounts)
// by forgetting the entry used least recently, never by refusing a client.
// Gate.Counters reports what the gate counted.
//
// # What is logged
//
// One slog line per start (auth.mode), per skipped provider, per login start,
// success and failure, per logout and per refusal (auth.denied), each with a
// reason from a fixed enum, the client address, the method and the path.
// Never a password or hash, a code, a token, a cookie value, a query string
// or a Referer. A debug line per request (http.request) has the same shape.
package authgate
