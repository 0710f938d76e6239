package profiles

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// TestConfigUnset: a key goes back to its default, its empty section with
// it, the comments and the other keys stay; an unknown key is refused.
func TestConfigUnset(t *testing.T) {
	for _, tc := range []struct {
		name, in, key string
		found         bool
		want, errSays string
	}{
		{"leaf and empty section", "# top\nmodel:\n  # the model\n  name: x\nother: 1\n", KeyModelName, true, "# top\nother: 1\n", ""},
		{"section kept", "gateway:\n  port: 8643\n  # why\n  host: 0.0.0.0\n", KeyGatewayPort, true, "gateway:\n  # why\n  host: 0.0.0.0\n", ""},
		{"not set", "gateway:\n  port: 8643\n", KeyGatewayHost, false, "gateway:\n  port: 8643\n", ""},
		{"a secret may be removed", "OPENROUTER_API_KEY: sk-or-test\nmodel:\n  name: x\n", "OPENROUTER_API_KEY", true, "model:\n  name: x\n", ""},
		{"unknown", "a: 1\n", "model.temprature", false, "", "unknown key"},
	} {
		c, err := ParseConfig([]byte(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		found, err := c.Unset(tc.key)
		if tc.errSays != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errSays) {
				t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.errSays)
			}
			continue
		}
		b, _ := c.Bytes()
		if err != nil || found != tc.found || string(b) != tc.want {
			t.Errorf("%s: found %v err %v\n got %q\nwant %q", tc.name, found, err, b, tc.want)
		}
	}
}

// TestConfigValues: every key of the table, what the file sets, its
// default otherwise, and an invalid value named (golden: the list a
// person reads is built from this).
func TestConfigValues(t *testing.T) {
	c, err := ParseConfig([]byte("model:\n  name: openai/gpt-4o-mini\n  aliases: {fast: a/b}\ngateway:\n  port: 8643\n  max_concurrent: zero\n"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, kv := range c.Values() {
		fmt.Fprintf(&b, "%s set=%v value=%q default=%q", kv.Key.Name, kv.Set, kv.Value, kv.Key.DefaultText())
		if kv.Err != nil {
			fmt.Fprintf(&b, " err=%q", kv.Err.Error())
		}
		b.WriteByte('\n')
	}
	testenv.Golden(t, "config_values.golden", b.String())
}

func TestSecretKeys(t *testing.T) {
	c, err := ParseConfig([]byte("OPENROUTER_API_KEY: x\nmodel:\n  api_key_env: OPENROUTER_API_KEY\n  api_key: y\ntelegram:\n  bot_token: z\n  name: n\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := c.SecretKeys()
	want := []string{"OPENROUTER_API_KEY", "model.api_key", "telegram.bot_token"}
	if !slices.Equal(got, want) {
		t.Errorf("SecretKeys = %q, want %q", got, want)
	}
}
