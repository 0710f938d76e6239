package authgate

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
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

// FuzzParsePasswordHash: the hand-written PHC parser of
// HERMES_DASHBOARD_BASIC_AUTH_PASSWORD_HASH. Whatever it accepts is
// usable: argon2id parameters within the bounds (so that no hash makes
// every login allocate or spin without bound), canonical when written
// back, and a bcrypt hash well formed with a bounded cost (a malformed
// one would be taken and then refuse every password).
func FuzzParsePasswordHash(f *testing.F) {
	b64 := base64.RawStdEncoding.EncodeToString
	salt, key := b64([]byte("0123456789abcdef")), b64(make([]byte, 32))
	for _, s := range []string{
		argon2idOf("pw"), bcryptOfF(f, "pw"),
		"$argon2id$v=19$m=65536,t=3,p=4$" + salt + "$" + key,
		"$argon2id$v=19$m=8,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$t=1,m=8,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=8,t=1,p=1,m=8$" + salt + "$" + key,
		"$argon2id$v=19$m=08,t=01,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=8,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=8,t=1,p=2$" + salt + "$" + key,
		"$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=8,t=1,p=1$" + salt + "==$" + key,
		"$argon2i$v=19$m=8,t=1,p=1$" + salt + "$" + key,
		"$2a$04$" + strings.Repeat(".", 53), "$2b$31$" + strings.Repeat("a", 53), "$2y$10$short",
		"$2a$04$" + strings.Repeat("!", 53), "$2a$04$" + strings.Repeat("a", 60),
		"", "$", "$$$$$$", "plain",
	} {
		f.Add(s)
	}
	// The fixed texts of the parser's errors, one per refusal: an error
	// may contain the hash only where the hash is part of those.
	var fixed strings.Builder
	for _, h := range []string{"", "$2a$04$x", "$2b$31$" + strings.Repeat("a", 53), "$argon2id$", "$argon2id$v=19$m=8,t=99,p=1$" + salt + "$" + key} {
		if _, err := parsePasswordHash(h); err != nil {
			fixed.WriteString(err.Error() + "\n")
		}
	}
	f.Fuzz(func(t *testing.T, h string) {
		v, err := parsePasswordHash(h)
		if err != nil {
			if v != nil {
				t.Fatalf("%q: an error and a verifier", h)
			}
			if strings.Contains(err.Error(), h) && len(h) > 8 && !strings.Contains(fixed.String(), h) {
				t.Fatalf("%q: the error repeats the hash: %v", h, err)
			}
			return
		}
		switch v := v.(type) {
		case argon2idVerifier:
			if v.memory > maxArgonMemoryKiB || v.time < 1 || v.time > maxArgonTime || v.threads < 1 || v.memory < 8*uint32(v.threads) {
				t.Fatalf("%q: parameters m=%d t=%d p=%d out of bounds", h, v.memory, v.time, v.threads)
			}
			if len(v.salt) < 8 || len(v.salt) > maxPHCBytes || len(v.hash) < 16 || len(v.hash) > maxPHCBytes {
				t.Fatalf("%q: salt of %d bytes, hash of %d", h, len(v.salt), len(v.hash))
			}
			canon := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", v.memory, v.time, v.threads, b64(v.salt), b64(v.hash))
			again, err := parsePasswordHash(canon)
			if err != nil || !reflect.DeepEqual(again, v) {
				t.Fatalf("%q: written back as %q, which parses as %v, %v", h, canon, again, err)
			}
			if v.memory <= 64 && v.time <= 2 && v.verify([]byte("not the password")) && h != argon2idOf("not the password") {
				t.Fatalf("%q: verifies a wrong password", h)
			}
		case bcryptVerifier:
			cost, err := bcrypt.Cost(v.hash)
			if err != nil || cost < bcrypt.MinCost || cost > maxBcryptCost || len(v.hash) != bcryptLen {
				t.Fatalf("%q: bcrypt hash accepted with cost %d (%v), %d bytes", h, cost, err, len(v.hash))
			}
			if cost == bcrypt.MinCost {
				if err := bcrypt.CompareHashAndPassword(v.hash, []byte("not the password")); err != nil && !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
					t.Fatalf("%q: accepted, but every password would be refused: %v", h, err)
				}
			}
		default:
			t.Fatalf("%q: verifier %T", h, v)
		}
	})
}

func bcryptOfF(f *testing.F, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		f.Fatal(err)
	}
	return string(h)
}
