package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/hermes-agent/hermes/internal/profiles"
)

// configEntry is one key of hermes config list --json.
type configEntry struct {
	Key     string `json:"key"`
	Value   any    `json:"value"`
	Default any    `json:"default"`
	Set     bool   `json:"set"`
	Effect  string `json:"effect"`
	Error   string `json:"error,omitempty"`
}

// configList is hermes config list [--json]: every key of the table with
// the value in use, its default, whether the file sets it and when a
// running gateway takes a change. A value the file holds that cannot work
// is shown as invalid, with its refusal on stderr, and exits 1.
func configList(e *Env, asJSON bool) error {
	_, name, path, err := configProfile(e)
	if err != nil {
		return err
	}
	c, err := profiles.LoadProfileConfig(name)
	if err != nil {
		return err
	}
	values := c.Values()
	bad := 0
	if asJSON {
		out := make([]configEntry, 0, len(values))
		for _, kv := range values {
			ent := configEntry{Key: kv.Key.Name, Value: orNil(kv.Value), Default: kv.Key.DefaultJSON(), Set: kv.Set, Effect: kv.Key.Effect.String()}
			if kv.Err != nil {
				ent.Value, ent.Error = nil, oneLine(kv.Err.Error())
				bad++
			}
			out = append(out, ent)
		}
		if err := printJSON(e.Stdout, map[string]any{"profile": name, "file": path, "keys": out}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.Stdout, "profile %s: %s\n", name, path)
		tw := tabwriter.NewWriter(e.Stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tVALUE\tDEFAULT\tSET\tA CHANGE IS USED")
		for _, kv := range values {
			val, set := orDash(shorten(kv.Value, 48)), "-"
			if kv.Set {
				set = "yes"
			}
			if kv.Err != nil {
				val = "✗ invalid"
				bad++
			}
			effect := "from the next request"
			if kv.Key.Restart() {
				effect = "after a gateway restart"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", kv.Key.Name, val, orDash(shorten(kv.Key.DefaultText(), 24)), set, effect)
		}
		tw.Flush()
	}
	for _, kv := range values {
		if kv.Err != nil {
			fmt.Fprintf(e.Stderr, "⚠ %s\n", oneLine(kv.Err.Error()))
		}
	}
	for _, k := range c.SecretKeys() {
		fmt.Fprintf(e.Stderr, "⚠ %s holds %s, a secret: move it into .env with hermes %senv set NAME, then hermes %sconfig unset %s\n",
			path, k, profileFlag(name), profileFlag(name), k)
	}
	if bad > 0 {
		return &ExitError{Code: 1}
	}
	return nil
}

// orNil is nil for "" (a key without a value), for JSON.
func orNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// profileFlag is "-p NAME " for a named profile, for the commands a message
// suggests.
func profileFlag(profile profiles.Ref) string {
	if profile.IsZero() || profile.IsDefault() {
		return ""
	}
	return "-p " + profile.Name() + " "
}

// configUnset is hermes config unset KEY: the key goes back to its
// default (the file is rewritten without it, every other key and comment
// kept); unsetting a key that is not set changes nothing and says so.
func configUnset(e *Env, key string) error {
	home, name, path, err := configProfile(e)
	if err != nil {
		return err
	}
	c, err := profiles.LoadProfileConfig(name)
	if err != nil {
		return err
	}
	found, err := c.Unset(key)
	if err != nil {
		return err
	}
	k, known := profiles.LookupKey(key)
	def := "it has no default: the key is simply not set"
	if !known {
		def = fmt.Sprintf("nothing read it there; a secret belongs in .env: hermes %senv set %s", profileFlag(name), profiles.EnvNameFor(key))
	}
	if known && k.Default != nil {
		def = "hermes uses its default, " + k.DefaultText()
		if k.DefaultNote != "" {
			def = "hermes uses its default, " + k.DefaultNote
		}
	}
	if !found {
		fmt.Fprintf(e.Stdout, "✓ %s was not set in %s: nothing changed (%s)\n", key, path, def)
		return nil
	}
	if err := profiles.WriteConfig(home, path, c); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "✓ %s unset in %s: %s\n", key, path, def)
	if known {
		fmt.Fprintf(e.Stdout, "  %s\n", effectLine(name, k))
	}
	return nil
}
