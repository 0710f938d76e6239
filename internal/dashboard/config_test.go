package dashboard

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/profiles"
)

// TestConfigKeysMatchProfiles holds the schema's table to the validation of
// package profiles: every key is one hermes config set validates (a value
// of the wrong type is refused), every integer's bounds are accepted and
// one past them refused, and the keys are exactly those a new profile's
// config.yaml documents.
func TestConfigKeysMatchProfiles(t *testing.T) {
	set := func(key, value string) error {
		c, err := profiles.ParseConfig(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Set(key, value)
	}
	var keys []string
	for _, k := range configKeys() {
		keys = append(keys, k.key)
		switch k.typ {
		case "integer":
			for _, tt := range []struct {
				v  int64
				ok bool
			}{{k.min, true}, {k.max, true}, {k.min - 1, false}, {k.max + 1, false}} {
				if err := set(k.key, strconv.FormatInt(tt.v, 10)); (err == nil) != tt.ok {
					t.Errorf("set %s %d: err = %v, want accepted %v", k.key, tt.v, err, tt.ok)
				}
			}
			if err := set(k.key, "many"); err == nil {
				t.Errorf("set %s many: accepted, so it is not a key profiles validates", k.key)
			}
		case "array":
			if err := set(k.key, "not an origin"); err == nil {
				t.Errorf("set %s: a bad element is accepted, so it is not a key profiles validates", k.key)
			}
		}
	}
	// drain_timeout: the range the description states.
	max := profiles.GatewayStopGrace - time.Millisecond
	if err := set("gateway.drain_timeout", max.String()); err != nil {
		t.Errorf("set drain_timeout %s: %v", max, err)
	}
	if err := set("gateway.drain_timeout", profiles.GatewayStopGrace.String()); err == nil {
		t.Errorf("set drain_timeout %s: accepted", profiles.GatewayStopGrace)
	}
	// The documented keys of a new profile's config.yaml, commented or not.
	var documented []string
	section := ""
	for _, line := range strings.Split(string(profiles.DefaultConfig(8643)), "\n") {
		if m := regexp.MustCompile(`^#? ?([a-z_]+):`).FindStringSubmatch(line); m != nil && !strings.HasPrefix(line, "#  ") {
			section = m[1]
			continue
		}
		if m := regexp.MustCompile(`^(?:#  | )\s*#?\s*([a-z_]+): `).FindStringSubmatch(line); m != nil && section != "" {
			documented = append(documented, section+"."+m[1])
		}
	}
	slices.Sort(documented)
	sorted := slices.Sorted(slices.Values(keys))
	if !slices.Equal(sorted, documented) {
		t.Errorf("schema keys %q, config.yaml documents %q", sorted, documented)
	}
}

func TestConfigEndpoints(t *testing.T) {
	f := newFixture(t, authgate.Gated, nil)
	h := f.handler()

	rec := do(h, http.MethodGet, "/api/config/schema", statusHeaders)
	if rec.Code != http.StatusOK {
		t.Fatalf("/api/config/schema = %d: %s", rec.Code, rec.Body)
	}
	schema := decode(t, rec.Body.Bytes())
	port := schema["properties"].(map[string]any)["gateway"].(map[string]any)["properties"].(map[string]any)["port"].(map[string]any)
	if port["type"] != "integer" || port["minimum"] != 1.0 || port["maximum"] != 65535.0 || port["default"] != 8642.0 || port["description"] == "" {
		t.Errorf("gateway.port schema = %v", port)
	}

	rec = do(h, http.MethodGet, "/api/config/defaults", statusHeaders)
	if rec.Code != http.StatusOK {
		t.Fatalf("/api/config/defaults = %d: %s", rec.Code, rec.Body)
	}
	defs := decode(t, rec.Body.Bytes())
	gw := defs["config"].(map[string]any)["gateway"].(map[string]any)
	for k, want := range map[string]any{"port": 8642.0, "host": "127.0.0.1", "drain_timeout": "5s", "max_concurrent": 32.0, "max_body_bytes": 1048576.0} {
		if gw[k] != want {
			t.Errorf("default gateway.%s = %v, want %v", k, gw[k], want)
		}
	}
	if tmpl, _ := defs["template"].(string); !strings.Contains(tmpl, "hermes config set KEY VALUE") {
		t.Errorf("template = %q", tmpl)
	}

	rec = do(h, http.MethodGet, "/api/model/info", statusHeaders)
	if got, want := strings.TrimSpace(rec.Body.String()), `{"profile":"default","model":"anthropic/claude-sonnet-4","base_url_host":"openrouter.ai"}`; got != want {
		t.Errorf("/api/model/info = %s, want %s", got, want)
	}
	if strings.Contains(rec.Body.String(), "OPENROUTER_API_KEY") {
		t.Errorf("/api/model/info names the key's variable: %s", rec.Body)
	}

	rec = do(h, http.MethodGet, "/api/dashboard/plugins", statusHeaders)
	if got, want := strings.TrimSpace(rec.Body.String()), `{"plugins":[],"schema_version":1}`; got != want {
		t.Errorf("/api/dashboard/plugins = %s, want %s", got, want)
	}
}

func TestModelInfoUnreadable(t *testing.T) {
	f := newFixture(t, authgate.Gated, nil)
	writeFile(t, profiles.ConfigPath(f.home, profiles.Default), "model: [unclosed\n")
	rec := do(f.handler(), http.MethodGet, "/api/model/info", statusHeaders)
	if got, want := strings.TrimSpace(rec.Body.String()), `{"profile":"default","model":null,"base_url_host":null}`; rec.Code != http.StatusOK || got != want {
		t.Errorf("/api/model/info = %d %s, want 200 %s", rec.Code, got, want)
	}
}

// TestModelInfoOversized: issue 9's attack. The public /api/model/info
// parsed config.yaml on every request, and a 22 MB file took 169 s: past
// profiles.MaxConfigBytes the file is not read, and the probe answers at
// once with nulls.
func TestModelInfoOversized(t *testing.T) {
	f := newFixture(t, authgate.Gated, nil)
	big := "model:\n  name: m\n  base_url: https://x.example/v1\n#" + strings.Repeat("x", 22<<20) + "\n"
	writeFile(t, profiles.ConfigPath(f.home, profiles.Default), big)
	for i := 0; i < 2; i++ {
		rec := do(f.handler(), http.MethodGet, "/api/model/info", statusHeaders)
		if got, want := strings.TrimSpace(rec.Body.String()), `{"profile":"default","model":null,"base_url_host":null}`; rec.Code != http.StatusOK || got != want {
			t.Errorf("/api/model/info = %d %s, want 200 %s", rec.Code, got, want)
		}
	}
}

func TestThemes(t *testing.T) {
	f := newFixture(t, authgate.Gated, nil)
	rec := do(f.handler(), http.MethodGet, "/api/dashboard/themes", statusHeaders)
	if rec.Code != http.StatusOK {
		t.Fatalf("/api/dashboard/themes = %d: %s", rec.Code, rec.Body)
	}
	body := decode(t, rec.Body.Bytes())
	var names []string
	css := string(themeCSS())
	for _, th := range body["themes"].([]any) {
		m := th.(map[string]any)
		names = append(names, m["name"].(string))
		for k, v := range m["variables"].(map[string]any) {
			if !strings.Contains(css, k+": "+v.(string)+";") {
				t.Errorf("theme %s: %s: %s is not in theme.css", m["name"], k, v)
			}
		}
	}
	if !slices.Equal(names, []string{"light", "dark"}) || body["default"] != "light" {
		t.Errorf("themes = %q, default %v", names, body["default"])
	}
	// Every variable app.css uses is defined by every theme.
	app, err := webFS.ReadFile("web/assets/app.css")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`var\((--[a-z-]+)\)`).FindAllStringSubmatch(string(app), -1) {
		for _, th := range themes() {
			if !slices.ContainsFunc(th.Vars, func(v themeVar) bool { return v.name == m[1] }) {
				t.Errorf("app.css uses %s, which theme %s does not define", m[1], th.Name)
			}
		}
	}
}
