package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
)

// newConfigCmd is hermes config get|set on the config.yaml of the profile
// chosen by -p, else the active profile, else default. Its help lists the
// keys (configKeysHelp).
func newConfigCmd(e *Env) *cobra.Command {
	c := profiled(&cobra.Command{
		Use:   "config",
		Short: "list, get, set or unset the keys of a profile's config.yaml",
		Long: "Reads and writes the profile's config.yaml (the keys below). Secrets (API keys,\n" +
			"tokens) belong in the profile's .env: hermes env set NAME.",
		Annotations: map[string]string{annotFooter: configKeysHelp()},
	})
	var asJSON bool
	get := &cobra.Command{
		Use:   "get KEY [--json]",
		Short: "print the value of a dotted key, such as gateway.port",
		RunE:  func(_ *cobra.Command, args []string) error { return configGet(e, args[0], asJSON) },
	}
	get.Flags().BoolVar(&asJSON, "json", false, "print the profile, the key, its value and the file as JSON")
	set := &cobra.Command{
		Use:   "set KEY VALUE",
		Short: "set a key hermes reads, keeping every other key and comment",
		Long: `Sets a key hermes reads in the profile's config.yaml, keeping every other key
and comment; the value is checked against the key's type and range. VALUE is
taken as it is, even when it starts with a dash (a negative number is refused
by the key's check, not as a flag).`,
		Annotations: map[string]string{annotFooter: configKeysHelp()},
		// VALUE may start with a dash: only -p/--profile and -h/--help are
		// flags here (configArgs).
		DisableFlagParsing: true,
		Args:               cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			args, err := configArgs(c, args)
			if err != nil {
				return err
			}
			if help := len(args) > 0 && (args[0] == "-h" || args[0] == "--help"); !help {
				pos := args
				if len(pos) > 0 && pos[0] == "--" {
					pos = pos[1:]
				}
				if err := argsFromUse(c.Use)(c, pos); err != nil {
					return err
				}
			}
			err = configSet(e, args)
			if errors.Is(err, errHelp) {
				return c.Help()
			}
			return err
		},
	}
	var listJSON bool
	list := &cobra.Command{
		Use:     "list [--json]",
		Aliases: []string{"ls"},
		Short:   "every key hermes reads: its value, its default, whether it is set",
		Long: `Lists every key hermes reads with the value in use, its default, whether
config.yaml sets it, and when a running gateway takes a change. A value in the
file that cannot work is shown as invalid (exit 1); a secret in config.yaml is
named with the command that moves it into .env.`,
		RunE: func(_ *cobra.Command, _ []string) error { return configList(e, listJSON) },
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print the profile, the file and every key as JSON")
	unset := &cobra.Command{
		Use:   "unset KEY",
		Short: "return a key to its default",
		Long: `Removes a key from the profile's config.yaml, so that hermes uses its default
again; every other key and comment is kept. A secret that does not belong in
config.yaml (such as OPENROUTER_API_KEY) may be removed too.`,
		RunE: func(_ *cobra.Command, args []string) error { return configUnset(e, args[0]) },
	}
	c.AddCommand(list, get, set, unset)
	return c
}

// errHelp is configSet's answer to -h or --help.
var errHelp = errors.New("help requested")

// configArgs takes the global -p/--profile out of config set's arguments
// (before any "--"), leaving the rest, dashes and all, to configSet.
func configArgs(c *cobra.Command, args []string) ([]string, error) {
	profile := c.InheritedFlags().Lookup("profile")
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		value, isProfile := "", true
		switch {
		case a == "--":
			return append(rest, args[i:]...), nil
		case a == "-p" || a == "--profile":
			if i+1 >= len(args) {
				return nil, usageError("%s needs a value: usage: %s", flagName(profile), usageLine(c))
			}
			i++
			value = args[i]
		case strings.HasPrefix(a, "--profile="):
			value = strings.TrimPrefix(a, "--profile=")
		default:
			isProfile = false
		}
		if !isProfile {
			rest = append(rest, a)
			continue
		}
		if err := profile.Value.Set(value); err != nil {
			return nil, flagError(c, err)
		}
	}
	return rest, nil
}

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

// configProfile resolves HERMES_HOME, the profile and the path of its
// config.yaml; a named profile must exist.
func configProfile(e *Env) (home string, name profiles.Ref, path string, err error) {
	if home, err = e.Host.Home(); err != nil {
		return "", profiles.Ref{}, "", err
	}
	if name, err = profiles.Resolve(home, e.Profile); err != nil {
		return "", profiles.Ref{}, "", err
	}
	if ok, err := profiles.Lookup(name); err != nil {
		return "", profiles.Ref{}, "", err
	} else if !name.IsDefault() && !ok {
		return "", profiles.Ref{}, "", fmt.Errorf("profile %s does not exist: create it with hermes profile create %s", name, name)
	}
	return home, name, profiles.ConfigPath(name), nil
}

// configValue is hermes config get --json.
type configValue struct {
	Profile string `json:"profile"`
	Key     string `json:"key"`
	Value   any    `json:"value"`
	File    string `json:"file"`
}

func configGet(e *Env, key string, asJSON bool) error {
	_, name, path, err := configProfile(e)
	if err != nil {
		return err
	}
	c, err := profiles.LoadProfileConfig(name)
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
	if asJSON {
		return printJSON(e.Stdout, configValue{Profile: name.Name(), Key: key, Value: jsonable(v), File: path})
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
		return errHelp
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
	c, err := profiles.LoadProfileConfig(name)
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
		warnPortShared(e, name, c)
	}
	k, _ := profiles.LookupKey(key) // Set refuses any other
	fmt.Fprintf(e.Stdout, "  %s\n", effectLine(name, k))
	return nil
}

// effectLine says when the gateway of profile takes a change of k: from
// its next request, or for a key read at start, after a restart, which is
// named only when the gateway runs.
func effectLine(profile profiles.Ref, k profiles.Key) string {
	if k.Restart() && !gateway.Observe(profile, nil).Running {
		return fmt.Sprintf("the gateway of profile %s is not running: it uses it when it starts (hermes %sgateway start)", profile, profileFlag(profile))
	}
	return k.Effect.Say(profile.Name())
}

// warnPortShared warns when another profile has the gateway port just set.
func warnPortShared(e *Env, name profiles.Ref, c *profiles.Config) {
	g, err := c.Gateway()
	if err != nil || g.Port == 0 {
		return
	}
	others, _ := profiles.List(name.Home())
	for _, other := range others {
		if other == name {
			continue
		}
		if p, err := profiles.Port(other); err == nil && p == g.Port {
			fmt.Fprintf(e.Stderr, "⚠ port %d is also the gateway port of profile %s: only one of them can run\n", p, other)
		}
	}
}
