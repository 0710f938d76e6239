package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/profiles"
)

// newEnvCmd is hermes env on the .env of the profile chosen by -p, else
// the active profile, else default.
func newEnvCmd(e *Env) *cobra.Command {
	c := profiled(&cobra.Command{
		Use:   "env",
		Short: "list, get, set, unset or rotate the secrets in a profile's .env",
		Long: `The .env of a profile holds its secrets (mode 0600, owned by the hermes user):
API_SERVER_KEY, the key clients call its gateway with, and the upstream's key
that model.api_key_env names. Names: upper-case letters, digits and '_', not
starting with a digit. Comments and the order of the lines are kept; a line
that is not NAME=VALUE is named and the file left alone. A running gateway
reads .env again on its next request: no restart needed.`,
	})
	var listJSON bool
	list := &cobra.Command{
		Use:     "list [--json]",
		Aliases: []string{"ls"},
		Short:   "the variables of the profile's .env, values masked",
		RunE:    func(_ *cobra.Command, _ []string) error { return envList(e, listJSON) },
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON: key, is_set, redacted_value, description, category, is_password")
	var reveal bool
	get := &cobra.Command{
		Use:   "get NAME [--reveal]",
		Short: "print one value (only on a terminal, or with --reveal)",
		RunE:  func(_ *cobra.Command, args []string) error { return envGet(e, args[0], reveal) },
	}
	get.Flags().BoolVar(&reveal, "reveal", false, "print the value even when stdout is not a terminal")
	set := &cobra.Command{
		Use:   "set NAME [VALUE]",
		Short: "set a variable; without VALUE it is read from stdin (paste it)",
		Long: `Sets a variable of the profile's .env, written atomically as the hermes user.
Without VALUE (which would stay in the shell's history) it is read from stdin:
typed or pasted without echo on a terminal, or piped in (its final newline
dropped). VALUE is taken as it is, even when it starts with a dash.`,
		// VALUE may start with a dash: only -p/--profile and -h/--help are
		// flags here (configArgs).
		DisableFlagParsing: true,
		Args:               cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			args, err := configArgs(c, args)
			if err != nil {
				return err
			}
			if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
				return c.Help()
			}
			if len(args) > 0 && args[0] == "--" {
				args = args[1:]
			}
			if err := argsFromUse(c.Use)(c, args); err != nil {
				return err
			}
			if strings.HasPrefix(args[0], "-") {
				return usageError("%q is not a variable name: usage: %s", args[0], usageLine(c))
			}
			if len(args) == 2 {
				return envSet(c.Context(), e, args[0], &args[1])
			}
			return envSet(c.Context(), e, args[0], nil)
		},
	}
	unset := &cobra.Command{
		Use:     "unset NAME",
		Aliases: []string{"rm"},
		Short:   "remove a variable",
		RunE:    func(_ *cobra.Command, args []string) error { return envUnset(e, args[0]) },
	}
	rotate := &cobra.Command{
		Use:   "rotate API_SERVER_KEY",
		Short: "write a fresh gateway key and print it once",
		Long: `Writes a fresh API_SERVER_KEY into the profile's .env and prints it once. The
running gateway takes it from its next request: the old key stops working then.`,
		RunE: func(_ *cobra.Command, args []string) error { return envRotate(e, args[0]) },
	}
	c.AddCommand(list, get, set, unset, rotate)
	return c
}

// envProfile resolves HERMES_HOME and the profile; a named profile must
// exist.
func envProfile(e *Env) (name profiles.Ref, err error) {
	_, name, _, err = configProfile(e)
	return name, err
}

// envList is hermes env list [--json]: every variable, masked.
func envList(e *Env, asJSON bool) error {
	name, err := envProfile(e)
	if err != nil {
		return err
	}
	vars, err := profiles.EnvVars(name)
	if err != nil {
		return err
	}
	path := profiles.EnvPath(name)
	if asJSON {
		return printJSON(e.Stdout, map[string]any{"profile": name, "file": path, "env": vars})
	}
	fmt.Fprintf(e.Stdout, "profile %s: %s\n", name, path)
	tw := tabwriter.NewWriter(e.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVALUE\tFOR\tWHAT")
	for _, v := range vars {
		val := v.RedactedValue
		switch {
		case !v.IsSet:
			val = "(not set)"
		case val == "":
			val = `""`
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Name, val, v.Category, v.Description)
	}
	return tw.Flush()
}

// envGet is hermes env get NAME [--reveal]: the value, only to a terminal
// or with --reveal (never into a log or a pipe by accident).
func envGet(e *Env, name string, reveal bool) error {
	if err := profiles.CheckEnvName(name); err != nil {
		return err
	}
	profile, err := envProfile(e)
	if err != nil {
		return err
	}
	d, err := profiles.LoadEnvDoc(profile)
	if err != nil {
		return err
	}
	v, ok := d.Get(name)
	if !ok {
		return fmt.Errorf("%s is not set in %s (hermes %senv list shows what is; set it with hermes %senv set %s)", name, d.Path, profileFlag(profile), profileFlag(profile), name)
	}
	if !reveal && !terminalWriter(e.Stdout) {
		return fmt.Errorf("%s is set (%s); its value is printed only on a terminal or with --reveal: hermes %senv get %s --reveal", name, orDash(profiles.Mask(v)), profileFlag(profile), name)
	}
	fmt.Fprintln(e.Stdout, v)
	return nil
}

// terminalWriter reports whether w is a terminal (a writer may say so
// itself, as tests do).
func terminalWriter(w io.Writer) bool {
	if t, ok := w.(interface{ IsTerminal() bool }); ok {
		return t.IsTerminal()
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// envSet is hermes env set NAME [VALUE]; without a value on the command
// line (where it would stay in the shell's history) it is read from stdin:
// hidden from a terminal, or all of a pipe but its final newline.
func envSet(ctx context.Context, e *Env, name string, value *string) error {
	if err := profiles.CheckEnvName(name); err != nil {
		return err
	}
	profile, err := envProfile(e)
	if err != nil {
		return err
	}
	var v string
	if value != nil {
		v = *value
	} else if v, err = readSecret(ctx, e, name); err != nil {
		return err
	}
	if name == profiles.APIKeyVar {
		if err := profiles.CheckAPIKey(v); err != nil {
			return fmt.Errorf("%s: %w (or let hermes write one: hermes %senv rotate %s)", name, err, profileFlag(profile), name)
		}
	}
	if err := profiles.EnvSet(profile, name, v); err != nil {
		return err
	}
	path := profiles.EnvPath(profile)
	fmt.Fprintf(e.Stdout, "✓ %s set in %s (%s)\n", name, path, orDash(profiles.Mask(v)))
	fmt.Fprintf(e.Stdout, "  %s\n", envEffect(name))
	if m := modelOf(profile); name != profiles.APIKeyVar && profiles.IsSecretKey(name) && m.APIKeyEnv != name {
		fmt.Fprintf(e.Stdout, "  the gateway sends it upstream once model.api_key_env names it: hermes %sconfig set %s %s\n", profileFlag(profile), profiles.KeyModelAPIKeyEnv, name)
	}
	return nil
}

// envEffect says when a running gateway takes a change of a variable.
func envEffect(name string) string {
	switch name {
	case profiles.APIKeyVar:
		return "the running gateway takes it from its next request: the old key stops working then"
	case "API_SERVER_PORT":
		return "the gateway reads its port when it starts (hermes gateway restart); gateway.port in config.yaml wins over it"
	}
	return "the running gateway reads .env again on its next request: no restart needed"
}

// modelOf is the profile's model section (zero when it cannot be read).
func modelOf(profile profiles.Ref) profiles.ModelConfig {
	c, err := profiles.LoadProfileConfig(profile)
	if err != nil {
		return profiles.ModelConfig{}
	}
	m, _ := c.Model()
	return m
}

// maxSecretInput bounds what env set reads from stdin.
const maxSecretInput = 64<<10 + 2

// readSecret reads a value from stdin: on a terminal, one line with echo
// off after a prompt on stderr; from a pipe, everything but one final
// newline. An empty value is refused (set "" on the command line for one).
func readSecret(ctx context.Context, e *Env, name string) (string, error) {
	var v string
	if terminal(e.Stdin) {
		fmt.Fprintf(e.Stderr, "value of %s (input hidden; end with Enter): ", name)
		line, err := readHidden(ctx, e.Stdin)
		fmt.Fprintln(e.Stderr)
		if err != nil {
			return "", fmt.Errorf("reading the value of %s: %w", name, err)
		}
		v = strings.TrimRight(line, "\r\n")
	} else {
		b, err := io.ReadAll(io.LimitReader(e.Stdin, maxSecretInput))
		if err != nil {
			return "", fmt.Errorf("reading the value of %s from stdin: %w", name, err)
		}
		v = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	}
	if v == "" {
		return "", fmt.Errorf("no value for %s on stdin: paste it after hermes env set %s, or pipe it in (printf %%s \"$KEY\" | hermes env set %s)", name, name, name)
	}
	return v, nil
}

// envUnset is hermes env unset NAME.
func envUnset(e *Env, name string) error {
	profile, err := envProfile(e)
	if err != nil {
		return err
	}
	if err := profiles.EnvUnset(profile, name); err != nil {
		if errors.Is(err, profiles.ErrEnvNotSet) {
			return fmt.Errorf("%w (hermes %senv list shows what is set)", err, profileFlag(profile))
		}
		return err
	}
	fmt.Fprintf(e.Stdout, "✓ %s removed from %s\n", name, profiles.EnvPath(profile))
	switch name {
	case profiles.APIKeyVar:
		fmt.Fprintf(e.Stdout, "  from its next request the gateway takes the environment's %s, or refuses every request without one: hermes %senv rotate %s writes a fresh one\n",
			profiles.APIKeyVar, profileFlag(profile), profiles.APIKeyVar)
	default:
		fmt.Fprintf(e.Stdout, "  %s\n", envEffect(name))
	}
	return nil
}

// envRotate is hermes env rotate API_SERVER_KEY: a fresh key, printed
// once, used by the running gateway from its next request.
func envRotate(e *Env, name string) error {
	if name != profiles.APIKeyVar {
		if err := profiles.CheckEnvName(name); err != nil {
			return err
		}
		return fmt.Errorf("hermes rotates only %s (it makes that key itself); set %s with hermes env set %s", profiles.APIKeyVar, name, name)
	}
	profile, err := envProfile(e)
	if err != nil {
		return err
	}
	key, err := profiles.EnvRotateAPIKey(profile)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "✓ %s of profile %s rotated in %s (fingerprint %s); the new key, shown this once:\n", name, profile, profiles.EnvPath(profile), profiles.Fingerprint(key))
	fmt.Fprintln(e.Stdout, key)
	fmt.Fprintf(e.Stdout, "  the running gateway takes it from its next request: the old key stops working then; give the new one to its clients\n")
	return nil
}
