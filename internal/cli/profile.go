package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/supervise"
)

func newProfileCmd(e *Env) *cobra.Command {
	c := &cobra.Command{
		Use:   "profile",
		Short: "create, delete, list, select and show profiles",
		Long: `Profiles are agents of their own: a directory with its config.yaml, .env,
sessions and gateway port. Profile names: lower-case letters, digits, '-' and
'_', starting with a letter or a digit, at most 64 characters; "default" is
the root profile ($HERMES_HOME).`,
	}
	// home runs fn with HERMES_HOME.
	home := func(fn func(home string) error) error {
		h, err := e.Host.Home()
		if err != nil {
			return err
		}
		return fn(h)
	}
	var o createOpts
	create := profiled(&cobra.Command{
		Use:   "create NAME [--clone | --clone-from SRC] [--clone-all] [--description TEXT]",
		Short: "create a profile (its own directory, config.yaml, .env and gateway port)",
		Long: `Creates a profile: its directory, a config.yaml with a gateway port no other
profile has, a .env with a fresh API_SERVER_KEY, and SOUL.md. --clone copies
config.yaml, SOUL.md and .env from the active profile (or -p PROFILE),
--clone-from SRC from SRC, and --clone-all everything else too (sessions,
memories, skills, workspace); a clone always gets its own port and a fresh
API_SERVER_KEY.`,
		RunE: func(c *cobra.Command, args []string) error {
			return home(func(h string) error { return profileCreate(c.Context(), e, h, args[0], o) })
		},
	})
	create.Flags().BoolVar(&o.clone, "clone", false, "copy config.yaml, SOUL.md and .env from the active profile")
	create.Flags().StringVar(&o.cloneFrom, "clone-from", "", "copy them from profile `SRC`")
	create.Flags().BoolVar(&o.cloneAll, "clone-all", false, "copy everything too: sessions, memories, skills, workspace")
	create.Flags().StringVar(&o.description, "description", "", "one line that says what the profile is for")
	var yes bool
	del := &cobra.Command{
		Use:     "delete NAME [-y]",
		Aliases: []string{"rm"},
		Short:   "stop and remove its gateway, then delete the profile's directory",
		RunE: func(c *cobra.Command, args []string) error {
			return home(func(h string) error { return profileDelete(c.Context(), e, h, args[0], yes) })
		},
	}
	del.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	var listJSON bool
	list := &cobra.Command{
		Use:     "list [--json]",
		Aliases: []string{"ls"},
		Short:   "list the profiles, the active one, their ports and gateways",
		RunE: func(c *cobra.Command, _ []string) error {
			return home(func(h string) error { return profileList(c.Context(), e, h, listJSON) })
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")
	use := &cobra.Command{
		Use:   "use NAME",
		Short: "make NAME the active profile (use default to go back to the root profile)",
		RunE: func(_ *cobra.Command, args []string) error {
			return home(func(h string) error { return profileUse(e, h, args[0]) })
		},
	}
	var showJSON bool
	show := profiled(&cobra.Command{
		Use:   "show [NAME] [--json]",
		Short: "show a profile (default: -p, else the active profile)",
		RunE: func(c *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return home(func(h string) error { return profileShow(c.Context(), e, h, name, showJSON) })
		},
	})
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")
	c.AddCommand(create, del, list, use, show)
	return c
}

// supervisorTimeout bounds every request the profile and config commands
// make to a supervisor: they must not hang on one that does not answer.
const supervisorTimeout = 15 * time.Second

// createOpts are the options of hermes profile create.
type createOpts struct {
	clone       bool   // --clone: from the active profile
	cloneFrom   string // --clone-from SRC
	cloneAll    bool   // --clone-all: everything, sessions too
	description string // --description TEXT
}

func profileCreate(ctx context.Context, e *Env, home, name string, o createOpts) error {
	opts := profiles.CreateOptions{From: o.cloneFrom, All: o.cloneAll, Description: o.description}
	if opts.From == "" && (o.clone || o.cloneAll) {
		active, err := profiles.Resolve(home, e.Profile)
		if err != nil {
			return err
		}
		opts.From = active.Name()
	}
	ref, err := profiles.ParseNamed(home, name)
	if err != nil {
		return err
	}
	if err := profiles.Clone(ref, opts); err != nil {
		return err
	}
	port, err := profiles.Port(ref)
	if err != nil {
		return err
	}
	// Registered down: a new gateway must not start by itself (it could
	// collide with another one's bot token). Creation never fails because
	// of the supervisor (CONTRACT §5).
	err = withSupervisor(ctx, e, func(ctx context.Context, c *control.Client) error {
		_, err := c.RegisterGateway(ctx, name, false)
		return err
	})
	if err != nil && !errors.Is(err, control.ErrUnavailable) {
		fmt.Fprintf(e.Stderr, "⚠ could not register the gateway of profile %s: %s\n", name, oneLine(err.Error()))
	}
	fmt.Fprintf(e.Stdout, "✓ created profile %s (gateway port %d)\n", name, port)
	switch {
	case opts.From != "" && opts.All:
		fmt.Fprintf(e.Stdout, "  cloned from %s: everything (config.yaml, SOUL.md, .env, sessions, memories, skills, workspace), with its own port and a fresh %s\n", opts.From, profiles.APIKeyVar)
	case opts.From != "":
		fmt.Fprintf(e.Stdout, "  cloned from %s: config.yaml, SOUL.md and .env, with its own port and a fresh %s\n", opts.From, profiles.APIKeyVar)
	}
	fmt.Fprintf(e.Stdout, "  start it with: hermes -p %s gateway start\n", name)
	return nil
}

// withSupervisor runs fn with the client for gateway and profile
// operations, bounded by supervisorTimeout.
func withSupervisor(ctx context.Context, e *Env, fn func(context.Context, *control.Client) error) error {
	ctx, cancel := context.WithTimeout(ctx, supervisorTimeout)
	defer cancel()
	return fn(ctx, e.gatewayClient(ctx))
}

// terminal reports whether r (a reader or a writer) is a terminal. It may
// say so itself (IsTerminal() bool), as tests do; otherwise only an
// *os.File on a tty is.
func terminal(r any) bool {
	if t, ok := r.(interface{ IsTerminal() bool }); ok {
		return t.IsTerminal()
	}
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func profileDelete(ctx context.Context, e *Env, home, name string, yes bool) error {
	ref, err := profiles.ParseDeletable(home, name)
	if err != nil {
		return err
	}
	if ok, err := profiles.Lookup(ref); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("profile %s does not exist (no %s); see hermes profile list", name, profiles.SOULPath(ref))
	}
	if !yes {
		if !terminal(e.Stdin) {
			return fmt.Errorf("refusing to delete profile %s without a confirmation: pass -y (hermes profile delete %s -y)", name, name)
		}
		fmt.Fprintf(e.Stderr, "This deletes profile %s: its gateway, and everything in %s\n(SOUL.md, config.yaml, .env, sessions, memories, skills, workspace).\nType the profile's name to confirm: ",
			name, ref.Dir())
		line, _ := bufio.NewReader(e.Stdin).ReadString('\n')
		if strings.TrimSpace(line) != name {
			return fmt.Errorf("profile %s not deleted: the name typed did not match", name)
		}
	}
	err = withSupervisor(ctx, e, func(ctx context.Context, c *control.Client) error {
		return c.RemoveGateway(ctx, name)
	})
	if err != nil && !errors.Is(err, control.ErrUnavailable) {
		fmt.Fprintf(e.Stderr, "⚠ could not unregister the gateway of profile %s: %s\n", name, oneLine(err.Error()))
	}
	if err := profiles.Delete(ref); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "✓ deleted profile %s\n", name)
	return nil
}

// gatewayStates returns the status of every gateway-<profile> service;
// ok is false when no supervisor answers (a warning is printed when one
// answers with an error).
func gatewayStates(ctx context.Context, e *Env) (map[string]supervise.Status, bool) {
	var list []supervise.Status
	err := withSupervisor(ctx, e, func(ctx context.Context, c *control.Client) error {
		var err error
		list, err = c.List(ctx)
		return err
	})
	if err != nil {
		if !errors.Is(err, control.ErrUnavailable) {
			fmt.Fprintf(e.Stderr, "⚠ could not read the gateways' states: %s\n", oneLine(err.Error()))
		}
		return nil, false
	}
	states := map[string]supervise.Status{}
	for _, st := range list {
		if p, ok := gateway.ProfileOf("", st.Name); ok { // by name: no home needed
			states[p.Name()] = st
		}
	}
	return states, true
}

// gatewayWord says what state a profile's gateway is in, for a table.
func gatewayWord(states map[string]supervise.Status, answered bool, name string) string {
	if !answered {
		return "-"
	}
	st, ok := states[name]
	if !ok {
		return "not registered"
	}
	if st.State == supervise.Running {
		return fmt.Sprintf("running (pid %d)", st.PID)
	}
	return string(st.State)
}

// activeProfile is the sticky profile, or "" (with a warning) when it
// cannot be read.
func activeProfile(e *Env, home string) string {
	active, err := profiles.Resolve(home, "")
	if err != nil {
		fmt.Fprintf(e.Stderr, "⚠ %s\n", oneLine(err.Error()))
		return ""
	}
	return active.Name()
}

// profileEntry is one profile of hermes profile list --json.
type profileEntry struct {
	Name      string            `json:"name"`
	Active    bool              `json:"active"`
	Dir       string            `json:"dir"`
	Port      int               `json:"port,omitempty"`
	PortError string            `json:"port_error,omitempty"`
	Gateway   *supervise.Status `json:"gateway"`
}

func profileList(ctx context.Context, e *Env, home string, asJSON bool) error {
	names, err := profiles.List(home)
	if err != nil {
		return err
	}
	active := activeProfile(e, home)
	states, answered := gatewayStates(ctx, e)
	entries := make([]profileEntry, 0, len(names))
	for _, ref := range names {
		n := ref.Name()
		ent := profileEntry{Name: n, Active: n == active, Dir: ref.Dir()}
		if p, err := profiles.Port(ref); err == nil {
			ent.Port = p
		} else {
			ent.PortError = oneLine(err.Error())
		}
		if st, ok := states[n]; ok {
			ent.Gateway = &st
		}
		entries = append(entries, ent)
	}
	if asJSON {
		return printJSON(e.Stdout, entries)
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tACTIVE\tPORT\tGATEWAY")
	for _, ent := range entries {
		mark, port := "", "?"
		if ent.Active {
			mark = "*"
		}
		if ent.Port != 0 {
			port = strconv.Itoa(ent.Port)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ent.Name, mark, port, gatewayWord(states, answered, ent.Name))
	}
	tw.Flush()
	for _, ent := range entries {
		if ent.PortError != "" {
			fmt.Fprintf(e.Stderr, "⚠ %s: %s\n", ent.Name, ent.PortError)
		}
	}
	return nil
}

func profileUse(e *Env, home, name string) error {
	ref, err := profiles.Parse(home, name)
	if err != nil {
		return err
	}
	if err := profiles.SetActive(ref); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "✓ active profile is now %s\n", name)
	return nil
}

// profileInfo is hermes profile show --json. It names where secrets are,
// never a secret.
type profileInfo struct {
	Name   string `json:"name"`
	Active bool   `json:"active"`
	Dir    string `json:"dir"`
	Config string `json:"config"`
	LogDir string `json:"log_dir"`
	Port   int    `json:"port,omitempty"`
	Host   string `json:"host,omitempty"`
	Model  struct {
		Name      string `json:"name,omitempty"`
		BaseURL   string `json:"base_url,omitempty"`
		APIKeyEnv string `json:"api_key_env,omitempty"`
		Provider  string `json:"provider,omitempty"`
	} `json:"model"`
	Description string `json:"description,omitempty"`
	// KeyFingerprint identifies the gateway's API_SERVER_KEY
	// (profiles.Fingerprint), never the key; KeyFrom says where it is.
	KeyFingerprint string `json:"api_key_fingerprint,omitempty"`
	KeyFrom        string `json:"api_key_from,omitempty"`
	// GatewayState is the gateway's own state (gateway.Observe).
	GatewayState string            `json:"gateway_state"`
	Gateway      *supervise.Status `json:"gateway"`
	Problems     []string          `json:"problems,omitempty"`
}

func profileShow(ctx context.Context, e *Env, home, name string, asJSON bool) error {
	var ref profiles.Ref
	var err error
	if name == "" {
		ref, err = profiles.Resolve(home, e.Profile)
	} else {
		ref, err = profiles.Parse(home, name)
	}
	if err != nil {
		return err
	}
	name = ref.Name()
	if !ref.IsDefault() && !profiles.Exists(ref) {
		return fmt.Errorf("profile %s does not exist: create it with hermes profile create %s", name, name)
	}
	info := profileInfo{
		Name: name, Active: activeProfile(e, home) == name, Dir: ref.Dir(),
		Config: profiles.ConfigPath(ref), LogDir: profiles.LogDir(ref),
	}
	problem := func(err error) { info.Problems = append(info.Problems, oneLine(err.Error())) }
	if p, err := profiles.Port(ref); err == nil {
		info.Port = p
	} else {
		problem(err)
	}
	if h, err := profiles.Host(ref, e.Host); err == nil {
		info.Host = h
	} else if info.Port != 0 { // a broken config.yaml is said once
		problem(err)
	}
	if c, err := profiles.LoadProfileConfig(ref); err == nil {
		m, err := c.Model()
		if err != nil {
			problem(err)
		}
		info.Model.Name, info.Model.BaseURL, info.Model.APIKeyEnv, info.Model.Provider = m.Name, m.BaseURL, m.APIKeyEnv, m.Provider
	}
	states, answered := gatewayStates(ctx, e)
	if st, ok := states[name]; ok {
		info.Gateway = &st
	}
	info.GatewayState = gateway.Observe(ref, info.Gateway).State
	info.Description = profiles.Description(ref)
	if d, err := profiles.LoadEnvDoc(ref); err != nil {
		problem(err)
	} else if k, ok := d.Get(profiles.APIKeyVar); ok && k != "" {
		info.KeyFingerprint, info.KeyFrom = profiles.Fingerprint(k), profiles.FileEnv
	} else if k, from, ok, _ := profiles.EnvAPIKey(e.Host.Getenv, home); ok {
		info.KeyFingerprint, info.KeyFrom = profiles.Fingerprint(k), from
	}
	if asJSON {
		return printJSON(e.Stdout, info)
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 8, 2, ' ', 0)
	active := ""
	if info.Active {
		active = " (active)"
	}
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, orDash(v)) }
	row("profile", name+active)
	if info.Description != "" {
		row("description", info.Description)
	}
	row("dir", info.Dir)
	row("config", info.Config)
	row("logs", info.LogDir)
	if info.Port != 0 {
		row("port", strconv.Itoa(info.Port))
	} else {
		row("port", "?")
	}
	row("host", info.Host)
	row("model", info.Model.Name)
	row("base_url", info.Model.BaseURL)
	switch {
	case info.Model.APIKeyEnv != "":
		row("upstream key", "from $"+info.Model.APIKeyEnv)
	case info.Model.Provider != "":
		row("upstream key", "from provider "+info.Model.Provider+" (auth.json)")
	default:
		row("upstream key", "")
	}
	gw := info.GatewayState
	if w := gatewayWord(states, answered, name); w != "-" {
		gw += "; service " + w
	}
	row("gateway", gw)
	if info.KeyFingerprint != "" {
		row("gateway key", fmt.Sprintf("%s %s (in %s)", profiles.APIKeyVar, info.KeyFingerprint, info.KeyFrom))
	} else {
		row("gateway key", "none: hermes "+profileFlag(ref)+"env rotate "+profiles.APIKeyVar+" writes one")
	}
	tw.Flush()
	for _, p := range info.Problems {
		fmt.Fprintf(e.Stderr, "⚠ %s\n", p)
	}
	return nil
}
