package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
)

func init() {
	register(command{name: "config", summary: "get or set a key of a profile's config.yaml", run: runConfig})
}

const configUsageHead = `usage: hermes [-p PROFILE] config <command> [arguments]

commands:
  list [--json]       every key hermes reads: its value, its default, whether it is set
  get KEY [--json]    print the value of a dotted key, such as gateway.port
  set KEY VALUE       set a key hermes reads, keeping every other key and comment
  unset KEY           return a key to its default

Secrets (API keys, tokens) belong in the profile's .env: hermes env set NAME.

`

// configUsage is the help of hermes config: its commands, and the keys.
func configUsage() string { return configUsageHead + configKeysHelp() }

// configKeysHelp lists the table of keys (profiles.Keys) with their
// summaries and defaults, and when a running gateway takes a change (one
// effect per section: profiles' TestKeyTable).
func configKeysHelp() string {
	var b strings.Builder
	b.WriteString("Keys hermes reads (checked when set; secrets belong in .env):\n")
	width := 0
	for _, k := range profiles.Keys() {
		width = max(width, len(k.Name))
	}
	bySection := map[string]profiles.Effect{}
	for _, k := range profiles.Keys() {
		line := k.Summary
		if d := k.DefaultText(); d != "" {
			line += "; default " + d
		}
		fmt.Fprintf(&b, "  %-*s  %s\n", width, k.Name, line)
		bySection[k.Section()] = k.Effect
	}
	byEffect := map[profiles.Effect][]string{}
	for _, sec := range profiles.KeySections() {
		e := bySection[sec.Name]
		byEffect[e] = append(byEffect[e], sec.Name+".*")
	}
	fmt.Fprintf(&b, "A change of %s is used from the gateway's next request; of %s, from its next start\n"+
		"(hermes gateway restart). Other keys are refused; those already in config.yaml are kept.\n",
		strings.Join(byEffect[profiles.NextRequest], ", "), strings.Join(byEffect[profiles.Restart], ", "))
	return b.String()
}

// runConfig is hermes config get|set on the config.yaml of the profile
// chosen by -p, else the active profile, else default.
func runConfig(ctx context.Context, e *Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.Stdout, configUsage())
		return nil
	}
	var err error
	switch args[0] {
	case "get":
		err = configGet(e, args[1:])
	case "set":
		err = configSet(e, args[1:])
	case "list", "ls":
		err = configListArgs(e, args[1:])
	case "unset":
		err = configUnsetArgs(e, args[1:])
	default:
		return usageError("unknown config command %q (see hermes config help)", args[0])
	}
	if errors.Is(err, errSvcHelp) {
		fmt.Fprint(e.Stdout, configUsage())
		return nil
	}
	return err
}

// configProfile resolves HERMES_HOME, the profile and the path of its
// config.yaml; a named profile must exist.
func configProfile(e *Env) (home, name, path string, err error) {
	if home, err = e.Host.Home(); err != nil {
		return "", "", "", err
	}
	if name, err = profiles.Resolve(home, e.Profile); err != nil {
		return "", "", "", err
	}
	if ok, err := profiles.Lookup(home, name); err != nil {
		return "", "", "", err
	} else if name != profiles.Default && !ok {
		return "", "", "", fmt.Errorf("profile %s does not exist: create it with hermes profile create %s", name, name)
	}
	return home, name, profiles.ConfigPath(home, name), nil
}

// configValue is hermes config get --json.
type configValue struct {
	Profile string `json:"profile"`
	Key     string `json:"key"`
	Value   any    `json:"value"`
	File    string `json:"file"`
}

func configGet(e *Env, args []string) error {
	fs := newCmdFlags("hermes config get")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, _, err := parseSvcArgs(fs, args, false)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("usage: hermes config get KEY [--json]")
	}
	key := pos[0]
	home, name, path, err := configProfile(e)
	if err != nil {
		return err
	}
	c, err := profiles.LoadProfileConfig(home, name)
	if err != nil {
		return err
	}
	v, ok := c.Get(key)
	if !ok {
		if k, known := profiles.LookupKey(key); known && k.Default != nil {
			def := k.DefaultText()
			if k.DefaultNote != "" {
				def = k.DefaultNote
			}
			return fmt.Errorf("%s is not set in %s: hermes uses its default, %s", key, path, def)
		}
		return fmt.Errorf("%s is not set in %s", key, path)
	}
	if *asJSON {
		return printJSON(e.Stdout, configValue{Profile: name, Key: key, Value: jsonable(v), File: path})
	}
	fmt.Fprint(e.Stdout, formatValue(v))
	return nil
}

// formatValue prints a scalar as it is and a list or a section as YAML;
// the result ends with a newline.
func formatValue(v any) string {
	switch v.(type) {
	case []any, map[string]any:
		var b strings.Builder
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if enc.Encode(v) == nil && enc.Close() == nil {
			return b.String()
		}
	case nil:
		return "null\n"
	}
	return fmt.Sprintf("%v\n", v)
}

// inlineValue prints a value on one line: a list as [a, b].
func inlineValue(v any) string {
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = inlineValue(x)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return oneLine(strings.TrimSuffix(formatValue(v), "\n"))
}

// jsonable turns what YAML decodes (map[any]any under odd keys) into
// values encoding/json accepts.
func jsonable(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = jsonable(x)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[fmt.Sprint(k)] = jsonable(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = jsonable(x)
		}
		return out
	}
	return v
}

func configSet(e *Env, args []string) error {
	const usage = "usage: hermes config set KEY VALUE"
	// VALUE is taken as it is, even when it starts with a dash (a
	// negative number is refused by the key's check, not by the flag
	// parser); "--" before KEY is allowed.
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		return errSvcHelp
	}
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) != 2 || strings.HasPrefix(args[0], "-") {
		return usageError("%s", usage)
	}
	key, value := args[0], args[1]
	home, name, path, err := configProfile(e)
	if err != nil {
		return err
	}
	c, err := profiles.LoadProfileConfig(home, name)
	if err != nil {
		return err
	}
	if err := c.Set(key, value); err != nil {
		return err
	}
	if err := profiles.WriteConfig(home, path, c); err != nil {
		return err
	}
	shown := value
	if v, ok := c.Get(key); ok {
		shown = inlineValue(v)
	}
	fmt.Fprintf(e.Stdout, "✓ %s = %s (%s)\n", key, shown, path)
	if key == profiles.KeyGatewayPort {
		warnPortShared(e, home, name, c)
	}
	k, _ := profiles.LookupKey(key) // Set refuses any other
	fmt.Fprintf(e.Stdout, "  %s\n", effectLine(home, name, k))
	return nil
}

// effectLine says when the gateway of profile takes a change of k: from
// its next request, or for a key read at start, after a restart, which is
// named only when the gateway runs.
func effectLine(home, profile string, k profiles.Key) string {
	if k.Restart() && !gateway.Observe(home, profile, nil).Running {
		return fmt.Sprintf("the gateway of profile %s is not running: it uses it when it starts (hermes %sgateway start)", profile, pflag(profile))
	}
	return k.Effect.Say(profile)
}

// configListArgs parses hermes config list [--json].
func configListArgs(e *Env, args []string) error {
	fs := newCmdFlags("hermes config list")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, _, err := parseSvcArgs(fs, args, false)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("usage: hermes config list [--json]")
	}
	return configList(e, *asJSON)
}

// configUnsetArgs parses hermes config unset KEY.
func configUnsetArgs(e *Env, args []string) error {
	pos, _, err := parseSvcArgs(newCmdFlags("hermes config unset"), args, false)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("usage: hermes config unset KEY")
	}
	return configUnset(e, pos[0])
}

// warnPortShared warns when another profile has the gateway port just set.
func warnPortShared(e *Env, home, name string, c *profiles.Config) {
	g, err := c.Gateway()
	if err != nil || g.Port == 0 {
		return
	}
	names, _ := profiles.List(home)
	for _, other := range names {
		if other == name {
			continue
		}
		if p, err := profiles.Port(home, other); err == nil && p == g.Port {
			fmt.Fprintf(e.Stderr, "⚠ port %d is also the gateway port of profile %s: only one of them can run\n", p, other)
		}
	}
}
