package authgate

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/testenv"
)

func TestDecideMode(t *testing.T) {
	for _, c := range []struct {
		bind, public string
		insecure     bool
		want         Mode
	}{
		{"127.0.0.1", "", false, OpenLocal},
		{"127.0.0.2", "", false, OpenLocal},
		{"127.255.255.254", "", false, OpenLocal},
		{"::1", "", false, OpenLocal},
		{"[::1]", "", false, OpenLocal},
		{"::ffff:127.0.0.1", "", false, OpenLocal},
		{"localhost", "", false, OpenLocal},
		{"LOCALHOST", "", false, OpenLocal},
		{"localhost.", "", false, OpenLocal},
		{"127.0.0.1", "", true, OpenLocal}, // --insecure on loopback changes nothing
		{"0.0.0.0", "", false, Gated},
		{"::", "", false, Gated},
		{"", "", false, Gated},
		{"192.168.1.10", "", false, Gated},
		{"100.64.0.1", "", false, Gated},
		{"fly-app.fly.dev", "", false, Gated},
		{"localhost.evil.com", "", false, Gated},
		{"128.0.0.1", "", false, Gated},
		{"0.0.0.0", "", true, OpenInsecure},
		{"10.0.0.5", "", true, OpenInsecure},
		{"127.0.0.1", "https://dash.example.com", false, Gated},
		{"127.0.0.1", "https://dash.example.com", true, OpenInsecure},
		{"127.0.0.1", "   ", false, OpenLocal},
	} {
		if got := DecideMode(c.bind, c.public, c.insecure); got != c.want {
			t.Errorf("DecideMode(%q, %q, %v) = %s, want %s", c.bind, c.public, c.insecure, got, c.want)
		}
	}
}

// TestFromEnvReadsOnlyItsVariables: the gate reads only the CONTRACT §7
// variables.
func TestFromEnvReadsOnlyItsVariables(t *testing.T) {
	allowed := []string{EnvPublicURL, EnvTrustedProxies, EnvOAuthClientID, EnvPortalURL, EnvUsername, EnvPassword,
		EnvPasswordHash, EnvOIDCIssuer, EnvOIDCClientID, EnvOIDCSecret, EnvOIDCEmails, EnvOIDCDomains}
	var read []string
	env := passwordEnv.env()
	inner := env.Getenv
	env.Getenv = func(k string) (string, bool) { read = append(read, k); return inner(k) }
	if _, err := FromEnv(env, "0.0.0.0", 9119, false); err != nil {
		t.Fatal(err)
	}
	for _, k := range read {
		if !slices.Contains(allowed, k) {
			t.Errorf("FromEnv read %s, which is not a gate variable", k)
		}
	}
}

func TestFromEnv(t *testing.T) {
	type want struct {
		providers []string
		skipped   []string // provider names
		reason    string   // a substring of the first skip reason
		err       string
	}
	for _, c := range []struct {
		name string
		env  envMap
		bind string
		want want
	}{
		{"nothing", envMap{}, "0.0.0.0", want{}},
		{"password", passwordEnv, "0.0.0.0", want{providers: []string{"password"}}},
		{"password hash bcrypt", envMap{EnvUsername: "a", EnvPasswordHash: bcryptOf(t, "pw")}, "0.0.0.0", want{providers: []string{"password"}}},
		{"password hash argon2id", envMap{EnvUsername: "a", EnvPasswordHash: argon2idOf("pw")}, "0.0.0.0", want{providers: []string{"password"}}},
		{"username without password", envMap{EnvUsername: "a"}, "0.0.0.0", want{skipped: []string{"password"}, reason: "neither"}},
		{"username with empty password", envMap{EnvUsername: "a", EnvPassword: ""}, "0.0.0.0", want{skipped: []string{"password"}, reason: "neither"}},
		{"password without username", envMap{EnvPassword: "pw"}, "0.0.0.0", want{skipped: []string{"password"}, reason: EnvUsername}},
		{"password and hash", envMap{EnvUsername: "a", EnvPassword: "pw", EnvPasswordHash: bcryptOf(t, "pw")}, "0.0.0.0", want{skipped: []string{"password"}, reason: "only one"}},
		{"malformed hash", envMap{EnvUsername: "a", EnvPasswordHash: "$1$abc$def"}, "0.0.0.0", want{skipped: []string{"password"}, reason: "not a bcrypt"}},
		{"argon2i hash", envMap{EnvUsername: "a", EnvPasswordHash: "$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}, "0.0.0.0", want{skipped: []string{"password"}, reason: "not a bcrypt"}},
		{"argon2id huge memory", envMap{EnvUsername: "a", EnvPasswordHash: "$argon2id$v=19$m=4194304,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}, "0.0.0.0", want{skipped: []string{"password"}, reason: "out of range"}},
		{"nous", envMap{EnvOAuthClientID: "agent:abc123", EnvPublicURL: "https://a.example.com"}, "0.0.0.0", want{providers: []string{"nous"}}},
		{"nous on a named bind", envMap{EnvOAuthClientID: "agent:abc123"}, "fly-app.internal", want{providers: []string{"nous"}}},
		{"nous client id whitespace is unset", envMap{EnvOAuthClientID: "   "}, "0.0.0.0", want{}},
		{"nous client id without agent:", envMap{EnvOAuthClientID: "abc123", EnvPublicURL: "https://a.example.com"}, "0.0.0.0", want{skipped: []string{"nous"}, reason: "agent:<instance_id>"}},
		{"nous client id agent: alone", envMap{EnvOAuthClientID: "agent:", EnvPublicURL: "https://a.example.com"}, "0.0.0.0", want{skipped: []string{"nous"}, reason: "agent:<instance_id>"}},
		{"nous plain http portal", envMap{EnvOAuthClientID: "agent:x", EnvPortalURL: "http://portal.example.com", EnvPublicURL: "https://a.example.com"}, "0.0.0.0", want{skipped: []string{"nous"}, reason: "https"}},
		{"nous on a wildcard bind without public URL (CONTRACT §7 container scenario)", envMap{EnvOAuthClientID: "agent:x"}, "0.0.0.0", want{providers: []string{"nous"}}},
		{"oidc", envMap{EnvOIDCIssuer: "https://idp.example.com", EnvOIDCClientID: "c", EnvOIDCDomains: "example.com", EnvPublicURL: "https://a.example.com"}, "0.0.0.0", want{providers: []string{"oidc"}}},
		{"oidc without allowlist", envMap{EnvOIDCIssuer: "https://idp.example.com", EnvOIDCClientID: "c", EnvPublicURL: "https://a.example.com"}, "0.0.0.0", want{skipped: []string{"oidc"}, reason: "every account"}},
		{"oidc bad email", envMap{EnvOIDCIssuer: "https://idp.example.com", EnvOIDCClientID: "c", EnvOIDCEmails: "Bob <bob@example.com>", EnvPublicURL: "https://a.example.com"}, "0.0.0.0", want{skipped: []string{"oidc"}, reason: "not a plain email"}},
		{"oidc two @", envMap{EnvOIDCIssuer: "https://idp.example.com", EnvOIDCClientID: "c", EnvOIDCEmails: "a@b@example.com", EnvPublicURL: "https://a.example.com"}, "0.0.0.0", want{skipped: []string{"oidc"}, reason: "not a plain email"}},
		{"oidc without client id", envMap{EnvOIDCIssuer: "https://idp.example.com"}, "0.0.0.0", want{skipped: []string{"oidc"}, reason: EnvOIDCClientID}},
		{"all three", passwordEnv.with(EnvOAuthClientID, "agent:x", EnvOIDCIssuer, "https://idp.example.com", EnvOIDCClientID, "c", EnvOIDCEmails, "a@example.com", EnvPublicURL, "https://a.example.com"), "0.0.0.0", want{providers: []string{"password", "nous", "oidc"}}},
		{"public URL with a query", envMap{EnvPublicURL: "https://a.example.com/?x=1"}, "0.0.0.0", want{err: "query"}},
		{"public URL relative", envMap{EnvPublicURL: "/hermes"}, "0.0.0.0", want{err: "scheme"}},
		{"public URL ftp", envMap{EnvPublicURL: "ftp://a.example.com"}, "0.0.0.0", want{err: "scheme"}},
		{"public URL dot segment", envMap{EnvPublicURL: "https://a.example.com/a/../b"}, "0.0.0.0", want{err: "canonical"}},
		{"public URL user info", envMap{EnvPublicURL: "https://u:p@a.example.com"}, "0.0.0.0", want{err: "user info"}},
		{"trusted proxies malformed", envMap{EnvTrustedProxies: "10.0.0.0/8, banana"}, "0.0.0.0", want{err: "banana"}},
		{"trusted proxies bad CIDR", envMap{EnvTrustedProxies: "10.0.0.0/33"}, "0.0.0.0", want{err: "10.0.0.0/33"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := FromEnv(c.env.env(), c.bind, 9119, false)
			if c.want.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.want.err) {
					t.Fatalf("err = %v, want one containing %q", err, c.want.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range cfg.Providers {
				got = append(got, p.Info().Name)
			}
			if !slices.Equal(got, c.want.providers) {
				t.Errorf("providers = %v, want %v", got, c.want.providers)
			}
			var skipped []string
			for _, s := range cfg.Skipped {
				skipped = append(skipped, s.Provider)
				if strings.Contains(s.Reason, "pw") && c.env[EnvPassword] == "pw" {
					t.Errorf("skip reason leaks the password: %q", s.Reason)
				}
			}
			if !slices.Equal(skipped, c.want.skipped) {
				t.Errorf("skipped = %v, want %v", skipped, c.want.skipped)
			}
			if c.want.reason != "" && (len(cfg.Skipped) == 0 || !strings.Contains(cfg.Skipped[0].Reason, c.want.reason)) {
				t.Errorf("skipped = %+v, want a reason containing %q", cfg.Skipped, c.want.reason)
			}
		})
	}
}

func TestParsePublicURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://dash.example.com", "https://dash.example.com"},
		{"https://dash.example.com/", "https://dash.example.com"},
		{"https://Dash.Example.com:8443/hermes/", "https://dash.example.com:8443/hermes"},
		{"http://10.0.0.5:9119/a/b", "http://10.0.0.5:9119/a/b"},
	} {
		u, err := ParsePublicURL(c.in)
		if err != nil {
			t.Errorf("ParsePublicURL(%q): %v", c.in, err)
			continue
		}
		if got := u.String(); got != c.want {
			t.Errorf("ParsePublicURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, bad := range []string{"", "dash.example.com", "https://", "https://a.example.com/x%2fy", "https://a.example.com//x",
		"https://a.example.com/x#f", "https://a.example.com:99999", "https://a.example.com/ x", "javascript:alert(1)"} {
		if _, err := ParsePublicURL(bad); err == nil {
			t.Errorf("ParsePublicURL(%q) accepted", bad)
		}
	}
}

// TestRefusal: gated with no usable provider → *RefuseError, with the
// CONTRACT §7 message (golden).
func TestRefusal(t *testing.T) {
	for _, c := range []struct {
		name, golden string
		env          envMap
		bind         string
	}{
		{"no provider at all", "refuse_none.golden", envMap{}, "0.0.0.0"},
		{"client id without agent:", "refuse_client_id.golden", envMap{EnvOAuthClientID: "abc123"}, "0.0.0.0"},
		{"username without password", "refuse_username.golden", envMap{EnvUsername: "admin"}, "0.0.0.0"},
		{"loopback with public URL", "refuse_public_url.golden", envMap{EnvPublicURL: "https://dash.example.com/hermes"}, "127.0.0.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := FromEnv(c.env.env(), c.bind, 9119, false)
			if err != nil {
				t.Fatal(err)
			}
			logs := &logBuf{}
			cfg.Logger = slogJSON(logs)
			g, err := New(cfg)
			var re *RefuseError
			if !errors.As(err, &re) || g != nil {
				t.Fatalf("New = %v, %v; want a *RefuseError", g, err)
			}
			msg := re.Error()
			if !strings.HasPrefix(msg, "Refusing to bind dashboard to "+c.bind) || !strings.Contains(msg, "--insecure") {
				t.Errorf("message does not start with the bind or lacks --insecure:\n%s", msg)
			}
			for _, s := range cfg.Skipped {
				if !strings.Contains(msg, s.Provider+": "+s.Reason) {
					t.Errorf("message does not name skipped %s: %s", s.Provider, s.Reason)
				}
			}
			testenv.Golden(t, c.golden, msg+"\n")
			if len(logs.events("auth.mode.refused")) != 1 {
				t.Errorf("no auth.mode.refused line: %s", logs)
			}
			// The same configuration with --insecure starts, open.
			cfg.Insecure = true
			if g, err := New(cfg); err != nil || g.Mode() != OpenInsecure {
				t.Errorf("with --insecure: %v, %v", g, err)
			}
		})
	}
}
