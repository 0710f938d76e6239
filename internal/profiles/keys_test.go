package profiles

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// keyCases are, for every key of the table, values config set stores and
// values it refuses; TestKeyValues writes what happens to each into
// testdata/keys.golden, for a person to read.
var keyCases = map[string]struct{ ok, refused []string }{
	KeyModelBaseURL: {
		ok: []string{"https://openrouter.ai/api/v1", "http://127.0.0.1:9998/v1", "http://[::1]:8080/v1", "https://api.example.com/openai/", "http://fake_upstream:8080"},
		refused: []string{"http://:9998/v1", "openrouter.ai/api/v1", "ftp://x.example/v1", "file:///etc/passwd", "http:///v1", "http:x.example",
			"https://user:pw@x.example/v1", "https://x.example/v1?key=1", "https://x.example/v1#top", "https://x.example:99999/v1", "http://exa mple.com/v1", "http://a!b/v1", "http://0/\xaf", ""},
	},
	KeyModelName: {
		ok:      []string{"anthropic/claude-sonnet-4", "gpt-4o", "42"},
		refused: []string{"", "a\nb", "tab\there"},
	},
	KeyModelAPIKeyEnv: {
		ok:      []string{"OPENROUTER_API_KEY", "_KEY", "KEY_2", "HERMESX_KEY"},
		refused: []string{"sk-or-v1-0123456789", "openrouter_api_key", "2KEY", "HERMES_DASHBOARD_BASIC_AUTH_PASSWORD", "HERMES_AUTH_JSON_BOOTSTRAP", "API_SERVER_KEY", ""},
	},
	KeyModelProvider: {
		ok:      []string{"openrouter", "my-provider.v2"},
		refused: []string{"Open Router", "-x", ""},
	},
	KeyModelAliases: {
		ok:      []string{"gpt-4o=openai/gpt-4o, fast = openai/gpt-4o-mini", "{gpt-4.1: openai/gpt-4.1, 4o: 'x'}", ""},
		refused: []string{"gpt-4o", "gpt-4o=", "=x", "a=x,a=y", "{a: [x]}", "{unclosed"},
	},
	KeyGatewayHost: {
		ok:      []string{"127.0.0.1", "0.0.0.0", "::", "::1", "my-host.internal"},
		refused: []string{"http://0.0.0.0", "host:8080", "[::1]", "a b", "-x.example", ""},
	},
	KeyGatewayPort: {
		ok:      []string{"8643", " 1 ", "65535"},
		refused: []string{"abc", "0", "65536", "-1", "8643.5", ""},
	},
	KeyGatewayCORSOrigins: {
		ok:      []string{"https://app.example.com, http://localhost:3000", "*", "[https://a.example, 'http://b.example:8080']", ""},
		refused: []string{"example.com", "https://a.example/path", "https://a.example?x=1", "[unclosed"},
	},
	KeyGatewayMaxConcurrent: {
		ok:      []string{"1", "32", "100000"},
		refused: []string{"0", "100001", "many", "1.5"},
	},
	KeyGatewayMaxBodyBytes: {
		ok:      []string{"1", "1048576", "1073741824"},
		refused: []string{"0", "1073741825", "2GB"},
	},
	KeyGatewayDrainTimeout: {
		ok:      []string{"0", "2.5", "1500ms", "5999ms"},
		refused: []string{"6s", "-1s", "soon", "1h"},
	},
	KeySessionsIdleTimeout: {
		ok:      []string{"1s", "30m", "90m", "8760h", "3600"},
		refused: []string{"999ms", "8761h", "0", "forever"},
	},
	KeySessionsMaxBytes: {
		ok:      []string{"1048576", "1073741824", "1099511627776"},
		refused: []string{"1048575", "1099511627777", "1GiB", "-1"},
	},
}

// keyNameCases are keys that are not in the table, each refused by Set
// with what to do instead.
var keyNameCases = []string{
	"OPENROUTER_API_KEY", "openrouter.api_key", "telegram.bot_token", "model.api-key", "gateway.session_secret", "dashboard.password",
	"model.temperature", "gateway.prot", "Gateway.Port", "port", "idle_timeout", "custom.flag",
	"model", "gateway", "sessions", "gateway.port.x", "model.aliases.gpt-4o",
	"", "a..b", ".a", "a. b",
}

// oneLine shows a YAML document on one line.
func oneLine(b string) string {
	return strings.ReplaceAll(strings.TrimSuffix(b, "\n"), "\n", "⏎")
}

// TestKeyValues sets every value of keyCases on an empty config.yaml and
// on one that sets the key already, and writes the stored file or the
// refusal into testdata/keys.golden. A stored value reads back through the
// readers; a refused one leaves the file byte for byte as it was.
func TestKeyValues(t *testing.T) {
	var out strings.Builder
	for _, k := range Keys() {
		cases, ok := keyCases[k.Name]
		if !ok || len(cases.ok) == 0 || len(cases.refused) == 0 {
			t.Errorf("keyCases has no valid and refused values of %s", k.Name)
			continue
		}
		fmt.Fprintf(&out, "== %s (%s, %s)\n", k.Name, k.Kind, k.Effect)
		for _, v := range cases.ok {
			c := mustParse(t, "")
			if err := c.Set(k.Name, v); err != nil {
				t.Errorf("Set(%s, %q) = %v, want it stored", k.Name, v, err)
				continue
			}
			b := mustBytes(t, c)
			fmt.Fprintf(&out, "stored  %q → %s\n", v, oneLine(b))
			if err := readAll(mustParse(t, b)); err != nil {
				t.Errorf("Set(%s, %q) stored %q, which the readers refuse: %v", k.Name, v, b, err)
			}
		}
		for _, v := range cases.refused {
			const in = "# a comment\nother: {kept: true}\n"
			c := mustParse(t, in)
			err := c.Set(k.Name, v)
			if err == nil {
				t.Errorf("Set(%s, %q) = nil, want it refused", k.Name, v)
				continue
			}
			if !strings.Contains(err.Error(), k.Name) {
				t.Errorf("Set(%s, %q) = %q, which does not name the key", k.Name, v, err)
			}
			if got := mustBytes(t, c); got != in {
				t.Errorf("Set(%s, %q) was refused but changed the file to %q", k.Name, v, got)
			}
			fmt.Fprintf(&out, "refused %q → %v\n", v, err)
		}
	}
	fmt.Fprintf(&out, "== keys that are not in the table\n")
	for _, name := range keyNameCases {
		err := mustParse(t, "").Set(name, "1")
		if err == nil {
			t.Errorf("Set(%q, 1) = nil, want it refused", name)
			continue
		}
		fmt.Fprintf(&out, "refused %q → %v\n", name, err)
	}
	testenv.Golden(t, "keys.golden", out.String())
}

// readAll runs every reader of the table.
func readAll(c *Config) error {
	_, gerr := c.Gateway()
	_, merr := c.Model()
	_, serr := c.Sessions()
	return errors.Join(gerr, merr, serr)
}

// readers returns what the readers give for c, for comparisons.
func readers(t *testing.T, c *Config) [3]any {
	t.Helper()
	g, err := c.Gateway()
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Model()
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Sessions()
	if err != nil {
		t.Fatal(err)
	}
	return [3]any{g, m, s}
}

// TestKeyTable holds the table to its own rules: names unique and in a
// known section, every text filled in, ranges that hold the default, a
// default and an example that config set takes, no key a secret, one
// effect per section, and every key read by its section's reader (a value
// set changes what the reader returns).
func TestKeyTable(t *testing.T) {
	seen := map[string]bool{}
	effects := map[string]Effect{}
	for _, k := range Keys() {
		if seen[k.Name] {
			t.Errorf("%s is in the table twice", k.Name)
		}
		seen[k.Name] = true
		if _, ok := section(k.Section()); !ok || k.Leaf() == "" || strings.Contains(k.Leaf(), ".") {
			t.Errorf("%s: not section.key of a known section", k.Name)
		}
		if got, ok := LookupKey(k.Name); !ok || got.Name != k.Name {
			t.Errorf("LookupKey(%s) = %v, %v", k.Name, got.Name, ok)
		}
		if k.Summary == "" || k.Description == "" || k.Want == "" {
			t.Errorf("%s: a summary, a description and what it wants are required", k.Name)
		}
		if k.Effect != Restart && k.Effect != NextRequest {
			t.Errorf("%s: no effect", k.Name)
		}
		if e, ok := effects[k.Section()]; ok && e != k.Effect {
			t.Errorf("%s: the keys of section %s differ in effect; DefaultConfig says one per section", k.Name, k.Section())
		}
		effects[k.Section()] = k.Effect
		if k.Secret() {
			t.Errorf("%s is named like a secret, which belongs in .env", k.Name)
		}
		if (k.Kind == KindInt || k.Kind == KindDuration) && k.Min > k.Max {
			t.Errorf("%s: min %d > max %d", k.Name, k.Min, k.Max)
		}
		if k.Default == nil && k.Example == "" {
			t.Errorf("%s: neither a default nor an example", k.Name)
		}
		for what, text := range map[string]string{"default": k.DefaultText(), "example": k.Example} {
			if text == "" {
				continue
			}
			c := mustParse(t, "")
			if err := c.Set(k.Name, text); err != nil {
				t.Errorf("%s: the %s %q is refused: %v", k.Name, what, text, err)
			}
		}
		// The default, set explicitly, reads back as an unset key does.
		if k.Default != nil {
			c := mustParse(t, "")
			if err := c.Set(k.Name, k.DefaultText()); err == nil && k.Name != KeyGatewayPort && k.Name != KeyGatewayHost {
				if got, want := readers(t, c), readers(t, mustParse(t, "")); !reflect.DeepEqual(got, want) {
					t.Errorf("%s set to its default %s reads %v, unset %v", k.Name, k.DefaultText(), got, want)
				}
			}
		}
		// A valid value other than the default changes what the readers
		// give: the key is read.
		cases := keyCases[k.Name]
		changed := false
		for _, v := range cases.ok {
			c := mustParse(t, "")
			if c.Set(k.Name, v) == nil && !reflect.DeepEqual(readers(t, c), readers(t, mustParse(t, ""))) {
				changed = true
			}
		}
		if !changed {
			t.Errorf("%s: no value of keyCases changes what Gateway, Model or Sessions return: nothing reads it", k.Name)
		}
	}
	// The sections' examples are keys of the section.
	for _, s := range KeySections() {
		if k, ok := LookupKey(s.Example); !ok || k.Section() != s.Name {
			t.Errorf("section %s: example %s is not one of its keys", s.Name, s.Example)
		}
	}
	// Keys returns a copy.
	ks := Keys()
	ks[0].Name = "changed"
	if Keys()[0].Name == "changed" {
		t.Error("Keys returns the table itself")
	}
}

// The seeded config.yaml, as a person reads it, and the truth of its
// comments: with every commented key line uncommented the file parses,
// and the readers give each key's default (and its example where it has
// none).
func TestDefaultConfig(t *testing.T) {
	for _, port := range []int{8643, 0} {
		seed := string(DefaultConfig(port))
		testenv.Golden(t, fmt.Sprintf("config_seed_%d.golden", port), seed)

		c := mustParse(t, seed)
		if g, err := c.Gateway(); err != nil || g.Port != port {
			t.Errorf("DefaultConfig(%d): Gateway() = %+v, %v", port, g, err)
		}
		// Uncomment: "# model:" → "model:", "#   name: x  # ..." → "  name: x",
		// "  # host: y  # ..." → "  host: y".
		var lines []string
		keyLine := regexp.MustCompile(`^(#\s{3}|\s{2}#\s)([a-z_]+): (.*?)\s+# .*$`)
		sectionLine := regexp.MustCompile(`^# ([a-z]+):$`)
		uncommented := 0
		for _, l := range strings.Split(seed, "\n") {
			if m := sectionLine.FindStringSubmatch(l); m != nil {
				l = m[1] + ":"
			} else if m := keyLine.FindStringSubmatch(l); m != nil {
				l, uncommented = "  "+m[2]+": "+m[3], uncommented+1
			}
			lines = append(lines, l)
		}
		live := mustParse(t, strings.Join(lines, "\n"))
		want := len(Keys())
		if port > 0 {
			want-- // gateway.port is not a comment
		}
		if uncommented != want {
			t.Errorf("DefaultConfig(%d) comments %d key lines, want %d:\n%s", port, uncommented, want, strings.Join(lines, "\n"))
		}
		for _, k := range Keys() {
			if k.Name == KeyGatewayPort && port > 0 {
				continue
			}
			v, ok, err := live.read(k.Name)
			if err != nil || !ok {
				t.Errorf("DefaultConfig(%d), uncommented: %s = %v, %v", port, k.Name, ok, err)
				continue
			}
			if got, want := typedOf(k, v), k.Default; want != nil && !reflect.DeepEqual(got, want) {
				t.Errorf("DefaultConfig(%d) comments %s as %v, the default is %v", port, k.Name, got, want)
			}
		}
		if _, err := live.Model(); err != nil {
			t.Errorf("DefaultConfig(%d), uncommented: the examples are refused: %v", port, err)
		}
	}
}

// typedOf is v as Key.Default holds it.
func typedOf(k Key, v typed) any {
	switch k.Kind {
	case KindInt:
		return v.i
	case KindDuration:
		return v.d
	case KindList:
		return v.list
	case KindMap:
		return v.m
	}
	return v.s
}

// TestKeySchema: the schema the dashboard serves, as JSON (a wire shape,
// golden), and it agrees with the table key by key.
func TestKeySchema(t *testing.T) {
	b, err := json.MarshalIndent(KeySchema(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, "key_schema.json", string(b)+"\n")
	var schema struct {
		Properties map[string]struct {
			Properties map[string]map[string]any
		}
		Keys []map[string]any
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	keys := Keys()
	if len(schema.Keys) != len(keys) {
		t.Fatalf("schema lists %d keys, the table has %d", len(schema.Keys), len(keys))
	}
	for i, k := range keys {
		flat := schema.Keys[i]
		nested := schema.Properties[k.Section()].Properties[k.Leaf()]
		if !reflect.DeepEqual(flat, nested) {
			t.Errorf("%s: keys[%d] %v differs from properties %v", k.Name, i, flat, nested)
		}
		if flat["key"] != k.Name || flat["section"] != k.Section() || flat["restart"] != k.Restart() || flat["secret"] != false ||
			flat["effect"] != k.Effect.String() || flat["description"] != k.Description {
			t.Errorf("%s: schema %v", k.Name, flat)
		}
		def, _ := json.Marshal(k.DefaultJSON())
		got, _ := json.Marshal(flat["default"])
		if string(def) != string(got) {
			t.Errorf("%s: schema default %s, table %s", k.Name, got, def)
		}
	}
	defs, _ := json.Marshal(KeyDefaults())
	want := map[string]map[string]any{}
	for _, k := range keys {
		if want[k.Section()] == nil {
			want[k.Section()] = map[string]any{}
		}
		want[k.Section()][k.Leaf()] = k.DefaultJSON()
	}
	if w, _ := json.Marshal(want); string(w) != string(defs) {
		t.Errorf("KeyDefaults() = %s, want %s", defs, w)
	}
}

func TestNearestKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"gateway.prot", "gateway.port"},
		{"Gateway.Port", "gateway.port"},
		{"port", "gateway.port"},
		{"idle_timeout", "sessions.idle_timeout"},
		{"model.alias", "model.aliases"},
		{"model.base-url", "model.base_url"},
		{"gateway.max_body", "gateway.max_body_bytes"},
		{"session.max_bytes", "sessions.max_bytes"},
	} {
		if got := nearestKey(tc.in); got != tc.want {
			t.Errorf("nearestKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestIsSecretKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"OPENROUTER_API_KEY", true},
		{"openrouter.api_key", true},
		{"model.api-key", true},
		{"telegram.bot_token", true},
		{"token", true},
		{"gateway.client_secret", true},
		{"dashboard.PASSWORD", true},
		{"model.api_key_env", false},
		{"telegram.token_file", false},
		{"gateway.port", false},
		{"api_key.name", false},
		{"passwords", false},
	} {
		if got := IsSecretKey(tc.name); got != tc.want {
			t.Errorf("IsSecretKey(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestEffectSay(t *testing.T) {
	if got, want := Restart.Say("coder"), "the gateway uses it from its next start: hermes -p coder gateway restart"; got != want {
		t.Errorf("Restart.Say = %q, want %q", got, want)
	}
	if got := NextRequest.Say("coder"); !strings.Contains(got, "next request") || strings.Contains(got, "restart:") {
		t.Errorf("NextRequest.Say = %q", got)
	}
}

// TestChoices: a key with choices takes only those, in config set and in
// the file; the schema lists them. No key of the table has choices yet,
// so the test makes one.
func TestChoices(t *testing.T) {
	k := Key{Name: "x.level", Kind: KindString, Choices: []string{"info", "debug"}, check: checkOneLine, Want: "info or debug"}
	if _, err := k.fromText("debug"); err != nil {
		t.Errorf("debug: %v", err)
	}
	if _, err := k.fromText("trace"); err == nil || !strings.Contains(err.Error(), "not one of info, debug") {
		t.Errorf("trace: %v", err)
	}
	if _, err := k.fromNode(mustParse(t, "v: trace\n").root().Content[1]); err == nil {
		t.Error("trace in the file is accepted")
	}
	if got := k.schema()["enum"]; !slices.Equal(got.([]string), k.Choices) {
		t.Errorf("schema enum = %v", got)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Minute: "30m", time.Hour: "1h", 90 * time.Minute: "1h30m", 5 * time.Second: "5s",
		1500 * time.Millisecond: "1.5s", 0: "0s", 8760 * time.Hour: "8760h", time.Hour + time.Second: "1h0m1s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// FuzzKeyText: whatever text config set takes for a key, the readers take
// from the file; whatever it refuses is a message naming the key, and the
// file is untouched.
func FuzzKeyText(f *testing.F) {
	keys := Keys()
	for i, k := range keys {
		for _, v := range append(keyCases[k.Name].ok, keyCases[k.Name].refused...) {
			f.Add(i, v)
		}
	}
	f.Fuzz(func(t *testing.T, which int, text string) {
		if which < 0 {
			which = -which
		}
		k := keys[which%len(keys)]
		c := mustParse(t, "")
		if err := c.Set(k.Name, text); err != nil {
			if !strings.Contains(err.Error(), k.Name) {
				t.Fatalf("Set(%s, %q) = %v, which does not name the key", k.Name, text, err)
			}
			if b := mustBytes(t, c); b != "" {
				t.Fatalf("Set(%s, %q) refused, and wrote %q", k.Name, text, b)
			}
			return
		}
		b := mustBytes(t, c)
		again, err := ParseConfig([]byte(b))
		if err != nil {
			t.Fatalf("Set(%s, %q) wrote %q, which does not parse: %v", k.Name, text, b, err)
		}
		if err := readAll(again); err != nil {
			t.Fatalf("Set(%s, %q) wrote %q, which the readers refuse: %v", k.Name, text, b, err)
		}
		if _, ok, err := again.read(k.Name); !ok || err != nil {
			t.Fatalf("Set(%s, %q) wrote %q, read back %v, %v", k.Name, text, b, ok, err)
		}
	})
}
