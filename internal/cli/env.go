package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/profiles"
)

func init() {
	register(command{name: "env", summary: "list, get, set, unset or rotate the secrets in a profile's .env", run: runEnv})
}

const envUsage = `usage: hermes [-p PROFILE] env <command> [arguments]

commands:
  list [--json]            the variables of the profile's .env, values masked
  get NAME [--reveal]      print one value (only on a terminal, or with --reveal)
  set NAME [VALUE]         set a variable; without VALUE it is read from stdin (paste it)
  unset NAME               remove a variable
  rotate API_SERVER_KEY    write a fresh gateway key and print it once

The .env of a profile holds its secrets (mode 0600, owned by the hermes user):
API_SERVER_KEY, the key clients call its gateway with, and the upstream's key
that model.api_key_env names. Names: upper-case letters, digits and '_'.
A running gateway reads .env again on its next request: no restart needed.
`

// runEnv is hermes env on the .env of the profile chosen by -p, else the
// active profile, else default.
func runEnv(ctx context.Context, e *Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.Stdout, envUsage)
		return nil
	}
	if args[0] == "set" {
		// VALUE is taken as it is, even when it starts with a dash; "--"
		// before NAME is allowed.
		rest := args[1:]
		if len(rest) > 0 && (rest[0] == "-h" || rest[0] == "--help") {
			fmt.Fprint(e.Stdout, envUsage)
			return nil
		}
		if len(rest) > 0 && rest[0] == "--" {
			rest = rest[1:]
		}
		switch {
		case len(rest) == 1 && !strings.HasPrefix(rest[0], "-"):
			return envSet(ctx, e, rest[0], nil)
		case len(rest) == 2 && !strings.HasPrefix(rest[0], "-"):
			return envSet(ctx, e, rest[0], &rest[1])
		}
		return usageError("usage: hermes env set NAME [VALUE] (without VALUE, it is read from stdin)")
	}
	fs := newCmdFlags("hermes env " + args[0])
	asJSON := fs.Bool("json", false, "print JSON")
	reveal := fs.Bool("reveal", false, "print the value even when stdout is not a terminal")
	pos, _, err := parseSvcArgs(fs, args[1:], false)
	if errors.Is(err, errSvcHelp) {
		fmt.Fprint(e.Stdout, envUsage)
		return nil
	}
	if err != nil {
		return err
	}
	one := func(usage string) (string, error) {
		if len(pos) != 1 {
			return "", usageError("usage: hermes env %s", usage)
		}
		return pos[0], nil
	}
	switch args[0] {
	case "list", "ls":
		if len(pos) != 0 {
			return usageError("usage: hermes env list [--json]")
		}
		return envList(e, *asJSON)
	case "get":
		name, err := one("get NAME [--reveal]")
		if err != nil {
			return err
		}
		return envGet(e, name, *reveal)
	case "unset", "rm":
		name, err := one("unset NAME")
		if err != nil {
			return err
		}
		return envUnset(e, name)
	case "rotate":
		name, err := one("rotate API_SERVER_KEY")
		if err != nil {
			return err
		}
		return envRotate(e, name)
	}
	return usageError("unknown env command %q (see hermes env help)", args[0])
}

// envProfile resolves HERMES_HOME and the profile; a named profile must
// exist.
func envProfile(e *Env) (home, name string, err error) {
	home, name, _, err = configProfile(e)
	return home, name, err
}

// envList is hermes env list [--json]: every variable, masked.
func envList(e *Env, asJSON bool) error {
	home, name, err := envProfile(e)
	if err != nil {
		return err
	}
	vars, err := profiles.EnvVars(home, name)
	if err != nil {
		return err
	}
	path := profiles.EnvPath(home, name)
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
	home, profile, err := envProfile(e)
	if err != nil {
		return err
	}
	d, err := profiles.LoadEnvDoc(home, profile)
	if err != nil {
		return err
	}
	v, ok := d.Get(name)
	if !ok {
		return fmt.Errorf("%s is not set in %s (hermes %senv list shows what is; set it with hermes %senv set %s)", name, d.Path, pflag(profile), pflag(profile), name)
	}
	if !reveal && !terminalWriter(e.Stdout) {
		return fmt.Errorf("%s is set (%s); its value is printed only on a terminal or with --reveal: hermes %senv get %s --reveal", name, orDash(profiles.Mask(v)), pflag(profile), name)
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
	home, profile, err := envProfile(e)
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
			return fmt.Errorf("%s: %w (or let hermes write one: hermes %senv rotate %s)", name, err, pflag(profile), name)
		}
	}
	if err := profiles.EnvSet(home, profile, name, v); err != nil {
		return err
	}
	path := profiles.EnvPath(home, profile)
	fmt.Fprintf(e.Stdout, "✓ %s set in %s (%s)\n", name, path, orDash(profiles.Mask(v)))
	fmt.Fprintf(e.Stdout, "  %s\n", envEffect(name))
	if m := modelOf(home, profile); name != profiles.APIKeyVar && profiles.IsSecretKey(name) && m.APIKeyEnv != name {
		fmt.Fprintf(e.Stdout, "  the gateway sends it upstream once model.api_key_env names it: hermes %sconfig set %s %s\n", pflag(profile), profiles.KeyModelAPIKeyEnv, name)
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
func modelOf(home, profile string) profiles.ModelConfig {
	c, err := profiles.LoadProfileConfig(home, profile)
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
	home, profile, err := envProfile(e)
	if err != nil {
		return err
	}
	if err := profiles.EnvUnset(home, profile, name); err != nil {
		if errors.Is(err, profiles.ErrEnvNotSet) {
			return fmt.Errorf("%w (hermes %senv list shows what is set)", err, pflag(profile))
		}
		return err
	}
	fmt.Fprintf(e.Stdout, "✓ %s removed from %s\n", name, profiles.EnvPath(home, profile))
	switch name {
	case profiles.APIKeyVar:
		fmt.Fprintf(e.Stdout, "  from its next request the gateway takes the environment's %s, or refuses every request without one: hermes %senv rotate %s writes a fresh one\n",
			profiles.APIKeyVar, pflag(profile), profiles.APIKeyVar)
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
	home, profile, err := envProfile(e)
	if err != nil {
		return err
	}
	key, err := profiles.EnvRotateAPIKey(home, profile)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "✓ %s of profile %s rotated in %s (fingerprint %s); the new key, shown this once:\n", name, profile, profiles.EnvPath(home, profile), profiles.Fingerprint(key))
	fmt.Fprintln(e.Stdout, key)
	fmt.Fprintf(e.Stdout, "  the running gateway takes it from its next request: the old key stops working then; give the new one to its clients\n")
	return nil
}
