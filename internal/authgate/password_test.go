package authgate

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const thePassword = "correct horse battery staple"

func TestPasswordLogin(t *testing.T) {
	hashB := bcryptOf(t, thePassword)
	hashA := argon2idOf(thePassword)
	for _, c := range []struct {
		name string
		env  envMap
	}{
		{"plain", passwordEnv},
		{"bcrypt", envMap{EnvUsername: "admin", EnvPasswordHash: hashB}},
		{"bcrypt $2y$", envMap{EnvUsername: "admin", EnvPasswordHash: "$2y$" + hashB[4:]}},
		{"argon2id", envMap{EnvUsername: "admin", EnvPasswordHash: hashA}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := startGate(t, c.env, serverOpts{})
			r, sc := s.loginPassword(t, "admin", thePassword, "/sessions?x=1")
			if sc == nil || r.status != 303 || r.header.Get("Location") != "/sessions?x=1" {
				t.Fatalf("right password: %s", r)
			}
			if m := decodeJSON(t, s.get(t, "/api/auth/me", cookieHeader(sc))); m["user_id"] != "admin" || m["provider"] != "password" {
				t.Errorf("me: %v", m)
			}
			wrongPass, c1 := s.loginPassword(t, "admin", thePassword+"x", "/sessions")
			wrongUser, c2 := s.loginPassword(t, "root", thePassword, "/sessions")
			both, c3 := s.loginPassword(t, "", "", "/sessions")
			for _, w := range []*rawResp{wrongPass, wrongUser, both} {
				if w.status != 401 || w.header.Get("WWW-Authenticate") != "" || !strings.Contains(w.body, "Invalid username or password.") {
					t.Errorf("wrong credentials: %s", w)
				}
			}
			if wrongPass.body != wrongUser.body || wrongUser.body != both.body {
				t.Errorf("a wrong user and a wrong password get different answers:\n%s\n%s", wrongPass.body, wrongUser.body)
			}
			if c1 != nil || c2 != nil || c3 != nil {
				t.Errorf("a refused login set a session cookie")
			}
			// The username is case-sensitive and not trimmed.
			if _, c := s.loginPassword(t, "Admin", thePassword, ""); c != nil {
				t.Error("Admin logged in")
			}
			if _, c := s.loginPassword(t, "admin ", thePassword, ""); c != nil {
				t.Error("'admin ' logged in")
			}
			logs := s.logs.String()
			for _, secret := range []string{thePassword, hashB, hashA, "horse", sc.Value} {
				if strings.Contains(logs, secret) {
					t.Errorf("the log contains %q:\n%s", secret, logs)
				}
			}
			for _, w := range []*rawResp{r, wrongPass, wrongUser} {
				if strings.Contains(w.body, "horse") || strings.Contains(w.body, hashB) {
					t.Errorf("a response contains the password: %s", w)
				}
			}
			if n := len(s.logs.events("auth.login.failure")); n < 3 {
				t.Errorf("%d failure lines", n)
			}
			if e := s.logs.events("auth.login.success"); len(e) != 1 || e[0]["provider"] != "password" {
				t.Errorf("success lines: %v", e)
			}
		})
	}
}

func TestPasswordForm(t *testing.T) {
	s := startGate(t, passwordEnv, serverOpts{})
	// The login page shows the form with the (safe) next.
	r := s.get(t, "/login?next=/sessions")
	if !strings.Contains(r.body, `action="/auth/password-login"`) || !strings.Contains(r.body, `name="next" value="/sessions"`) {
		t.Errorf("login page: %s", r)
	}
	r = s.get(t, "/login?next=//evil.com")
	if strings.Contains(r.body, "evil") {
		t.Errorf("login page carries an unsafe next: %s", r)
	}
	for _, c := range []struct {
		name    string
		headers []string
		body    string
		want    int
	}{
		{"json", []string{"Content-Type: application/json"}, `{"username":"admin","password":"x"}`, 400},
		{"multipart", []string{"Content-Type: multipart/form-data; boundary=x"}, "--x--", 400},
		{"no content type", nil, "username=admin&password=x", 400},
		{"too large", []string{"Content-Type: application/x-www-form-urlencoded"}, "username=admin&password=" + strings.Repeat("a", maxForm), 400},
		{"password in the query", []string{"Content-Type: application/x-www-form-urlencoded"}, "", 401},
	} {
		target := "/auth/password-login"
		if c.name == "password in the query" {
			target += "?username=admin&password=" + urlQ(thePassword)
		}
		if r := s.do(t, "POST", target, c.headers, c.body); r.status != c.want || sessionOf(r) != nil {
			t.Errorf("%s: %s", c.name, r)
		}
	}
	// Open redirects through next are refused on the way out too.
	for _, next := range []string{"//evil.com", "/\\evil.com", "/\t/evil.com", "%2f%2fevil.com", "https://evil.com", "/login", "/auth/logout", "/api/sessions", "javascript:alert(1)"} {
		r, c := s.loginPassword(t, "admin", thePassword, next)
		if c == nil || r.header.Get("Location") != "/" {
			t.Errorf("next %q: %s", next, r)
		}
	}
}

// TestPasswordTiming: a wrong username costs the same work as a wrong
// password (the hash is always computed).
func TestPasswordTiming(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte(thePassword), 8)
	if err != nil {
		t.Fatal(err)
	}
	p, skip := passwordFromEnv("admin", "", string(h))
	if skip != nil {
		t.Fatal(skip)
	}
	pp := p.(*passwordProvider)
	ctx := context.Background()
	var user, pass []time.Duration
	for i := 0; i < 9; i++ {
		start := time.Now()
		pp.check(ctx, "nobody", thePassword)
		user = append(user, time.Since(start))
		start = time.Now()
		pp.check(ctx, "admin", "wrong")
		pass = append(pass, time.Since(start))
	}
	slices.Sort(user)
	slices.Sort(pass)
	mu, mp := user[len(user)/2], pass[len(pass)/2]
	if ratio := float64(mu) / float64(mp); ratio < 0.5 || ratio > 2 {
		t.Errorf("median wrong-user %v vs wrong-password %v (ratio %.2f)", mu, mp, ratio)
	}
	if !pp.check(ctx, "admin", thePassword) || pp.check(ctx, "admin", "") {
		t.Error("check is wrong")
	}
}

// TestLoginRateLimit: the login routes share a per-client bucket; past it,
// 429 JSON. Forwarded headers from an untrusted peer do not buy a new
// bucket; from a trusted proxy they name the client.
func TestLoginRateLimit(t *testing.T) {
	form := "username=admin&password=wrong"
	ct := "Content-Type: application/x-www-form-urlencoded"
	t.Run("untrusted", func(t *testing.T) {
		s := startGate(t, passwordEnv, serverOpts{strictLimit: true})
		for i := 0; i < loginBurst; i++ {
			if r := s.do(t, "POST", "/auth/password-login", []string{ct, fmt.Sprintf("X-Forwarded-For: 10.0.0.%d", i)}, form); r.status != 401 {
				t.Fatalf("attempt %d: %s", i, r)
			}
		}
		r := s.do(t, "POST", "/auth/password-login", []string{ct, "X-Forwarded-For: 10.9.9.9"}, form)
		if r.status != http.StatusTooManyRequests || decodeJSON(t, r)["error"] != "rate_limited" || r.header.Get("Retry-After") == "" {
			t.Fatalf("past the burst: %s", r)
		}
		// Even the right password waits; the OAuth routes share the bucket.
		if _, c := s.loginPassword(t, "admin", thePassword, ""); c != nil {
			t.Error("logged in while rate limited")
		}
		if r := s.get(t, "/auth/login?provider=password"); r.status != 429 {
			t.Errorf("auth/login while limited: %s", r)
		}
		// The gated API and the public table are not rate limited.
		if r := s.get(t, "/api/status"); r.status != 200 {
			t.Errorf("status while limited: %s", r)
		}
		s.clock.Advance(loginEvery)
		if _, c := s.loginPassword(t, "admin", thePassword, ""); c == nil {
			t.Error("no login after the bucket refilled")
		}
		if e := s.logs.events("auth.login.failure"); !slices.ContainsFunc(e, func(m map[string]any) bool { return m["reason"] == "rate_limited" && m["ip"] == "127.0.0.1" }) {
			t.Errorf("no rate_limited audit line for 127.0.0.1")
		}
	})
	t.Run("trusted proxy", func(t *testing.T) {
		s := startGate(t, passwordEnv, serverOpts{strictLimit: true, tweak: trust("127.0.0.1")})
		for i := 0; i < 3*loginBurst; i++ {
			// Each client behind the proxy has its own bucket; a spoofed
			// left-most hop is not believed.
			xff := fmt.Sprintf("X-Forwarded-For: 6.6.6.6, 203.0.113.%d", i)
			if r := s.do(t, "POST", "/auth/password-login", []string{ct, xff}, form); r.status != 401 {
				t.Fatalf("client %d: %s", i, r)
			}
		}
		lines := s.logs.events("auth.login.failure")
		if len(lines) == 0 || lines[0]["ip"] != "203.0.113.0" {
			t.Errorf("client address in the log: %v", lines)
		}
	})
}
