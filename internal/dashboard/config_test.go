package dashboard

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/profiles"
)

// TestConfigFromTheTable: /api/config/defaults is the table's defaults,
// key by key, and /api/config/schema the table's schema; the dashboard
// keeps no copy of either.
func TestConfigFromTheTable(t *testing.T) {
	f := newFixture(t, authgate.Gated, nil)
	h := f.handler()
	rec := do(h, http.MethodGet, "/api/config/defaults", statusHeaders)
	if rec.Code != http.StatusOK {
		t.Fatalf("/api/config/defaults = %d: %s", rec.Code, rec.Body)
	}
	defs := decode(t, rec.Body.Bytes())["config"].(map[string]any)
	n := 0
	for _, k := range profiles.Keys() {
		sec, _ := defs[k.Section()].(map[string]any)
		got, ok := sec[k.Leaf()]
		want, _ := json.Marshal(k.DefaultJSON())
		if g, _ := json.Marshal(got); !ok || string(g) != string(want) {
			t.Errorf("/api/config/defaults %s = %s (present %v), the table says %s", k.Name, g, ok, want)
		}
		n++
	}
	total := 0
	for _, sec := range defs {
		total += len(sec.(map[string]any))
	}
	if total != n {
		t.Errorf("/api/config/defaults has %d keys, the table %d", total, n)
	}

	rec = do(h, http.MethodGet, "/api/config/schema", statusHeaders)
	want, _ := json.Marshal(profiles.KeySchema())
	var got, wantV any
	json.Unmarshal(rec.Body.Bytes(), &got)
	json.Unmarshal(want, &wantV)
	if rec.Code != http.StatusOK || !reflect.DeepEqual(got, wantV) {
		t.Errorf("/api/config/schema = %d %s, want the table's schema", rec.Code, rec.Body)
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
	if port["type"] != "integer" || port["minimum"] != 1.0 || port["maximum"] != 65535.0 || port["default"] != 8642.0 || port["description"] == "" ||
		port["restart"] != true || port["secret"] != false || port["section"] != "gateway" {
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
	writeFile(t, profiles.ConfigPath(profiles.MustParse(f.home, profiles.Default)), "model: [unclosed\n")
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
	writeFile(t, profiles.ConfigPath(profiles.MustParse(f.home, profiles.Default)), big)
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
