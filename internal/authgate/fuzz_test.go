package authgate

import (
	"bufio"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
)

// FuzzCanonicalPath: the public-path decision. No request target that is
// not byte for byte a public pattern's path is public, and whatever is
// public is routed by a ServeMux to that same pattern.
func FuzzCanonicalPath(f *testing.F) {
	for _, s := range []string{"/api/status", "/api/status/../sessions", "/api/./status", "/api/status;/../sessions",
		"/api/status%2f..%2fsessions", "//api/sessions", "/API/STATUS", "/api/status/", "/api/statusX", "/api/status%00",
		"*", "/api/status?x=/api/sessions", "/api/sessions#/api/status", "/api/sessions/{id}", "/assets/app.js",
		"/assets/../x", "/assets/%2e%2e", "http://h/api/status", "/login", "/auth/logout", "/favicon.ico"} {
		f.Add("GET", s)
		f.Add("POST", s)
	}
	pub := http.NewServeMux()
	sentinel := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, p := range publicPatterns() {
		pub.Handle(p, sentinel)
	}
	f.Fuzz(func(t *testing.T, method, target string) {
		pat, ok := matchPublic(method, target)
		if !ok {
			return
		}
		m, pp := splitPattern(pat)
		p, _, _ := strings.Cut(target, "?")
		switch {
		case method != m && !(m == "GET" && method == "HEAD"):
			t.Fatalf("%s %q matched %q", method, target, pat)
		case pp == "/assets/{file}":
			name, found := strings.CutPrefix(p, "/assets/")
			if !found || !validAssetName(name) {
				t.Fatalf("%q matched the assets pattern", target)
			}
		case p != pp:
			t.Fatalf("%q is public as %q", target, pat)
		}
		// What the server would parse from that request line routes to the
		// same pattern, with the same path.
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(method + " " + target + " HTTP/1.1\r\nHost: h\r\n\r\n")))
		if err != nil {
			return
		}
		if req.URL.Path != p {
			t.Fatalf("%q: the router sees path %q", target, req.URL.Path)
		}
		if h, got := pub.Handler(req); got != pat || h == nil {
			t.Fatalf("%q: the mux routes to %q, the gate decided %q", target, got, pat)
		}
	})
}

// FuzzSafeNext: an accepted next is always a local canonical path: it
// starts with one slash, has no backslash or control byte, no scheme or
// host, no dot segment, is not a login, auth or API route, and is stable.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "/sessions?x=1", "//evil.com", "/\\evil.com", "/\t/evil.com", "%2f%2fevil.com",
		"https://evil.com", "/login", "/auth/callback", "/api/sessions", "/a/../b", "/%2e%2e/", "/sessions#x", "/%5c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := safeNext(in)
		if out == "" {
			return
		}
		if out[0] != '/' || strings.HasPrefix(out, "//") || strings.ContainsAny(out, "\\#") {
			t.Fatalf("safeNext(%q) = %q", in, out)
		}
		for i := 0; i < len(out); i++ {
			if out[i] <= 0x20 || out[i] >= 0x7f {
				t.Fatalf("safeNext(%q) = %q has byte %#x", in, out, out[i])
			}
		}
		u, err := url.Parse(out)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
			t.Fatalf("safeNext(%q) = %q parses as %#v", in, out, u)
		}
		p := u.Path
		clean := path.Clean(p)
		if strings.HasSuffix(p, "/") && clean != "/" {
			clean += "/"
		}
		if clean != p || strings.Contains(p, "//") || strings.ContainsAny(p, "\\") {
			t.Fatalf("safeNext(%q) = %q: path %q is not canonical", in, out, p)
		}
		lp := strings.ToLower(p)
		if strings.HasPrefix(lp, "/login") || strings.HasPrefix(lp, "/auth/") || lp == "/auth" || lp == "/api" || strings.HasPrefix(lp, "/api/") {
			t.Fatalf("safeNext(%q) = %q is a login, auth or API route", in, out)
		}
		if again := safeNext(out); again != out {
			t.Fatalf("safeNext is not stable: %q → %q → %q", in, out, again)
		}
	})
}

// FuzzSessionCookie: decoding any Cookie header never panics and yields a
// session only when the header carries exactly the issued id under the
// session cookie's name.
func FuzzSessionCookie(f *testing.F) {
	cfg, err := FromEnv(passwordEnv.env(), "0.0.0.0", 9119, false)
	if err != nil {
		f.Fatal(err)
	}
	g, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	issued := g.sessions.create(Identity{UserID: "u"}, g.now())
	for _, s := range []string{"hermes_session=" + issued, "hermes_session=" + issued + "; hermes_session=" + issued,
		"hermes_session=" + strings.Repeat("A", 43), "hermes_session=", "hermes_session=" + issued[:42] + "B",
		"__Host-hermes_session=" + issued, "hermes_session=\"" + issued + "\"", "a=b; hermes_session=" + issued + ";c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r, _ := http.NewRequest("GET", "http://h/api/sessions", nil)
		r.Header.Set("Cookie", header)
		ident, why := g.sessionFromRequest(r)
		if why != "" {
			return
		}
		cs := r.CookiesNamed(SessionCookie)
		if ident.UserID != "u" || len(cs) != 1 || cs[0].Value != issued {
			t.Fatalf("Cookie %q gave a session (%+v)", header, ident)
		}
	})
}
