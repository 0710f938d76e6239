package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/buildinfo"
	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/initd"
	"github.com/hermes-agent/hermes/internal/logpipe"
	"github.com/hermes-agent/hermes/internal/privdrop"
	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/supervise"
	"github.com/hermes-agent/hermes/internal/volume"
)

func init() {
	register(command{name: "init", summary: "run as the container's init: hermes init [--] CMD...", run: runInit, hidden: true})
}

// DefaultServicesDir holds the static services of an image.
const DefaultServicesDir = "/etc/hermes/services.d"

// runInit is `hermes init [--] CMD...` (CONTRACT §3). It never returns an
// error for the edge to print: init prints its own diagnostics and exits
// with the main command's code.
func runInit(_ context.Context, e *Env, args []string) error {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	// The main command's arguments are never init's flags.
	b, err := newBoot(e, args)
	if err != nil {
		fmt.Fprintf(e.Stderr, "hermes init: %v\n", oneLine(err.Error()))
		return &ExitError{Code: 1}
	}
	return &ExitError{Code: b.run()}
}

// boot holds what hermes init wires together.
type boot struct {
	env  *Env
	log  *slog.Logger
	args []string

	home      string
	ids       hostenv.IDs
	root      bool
	container bool
	groups    []int
	grace     time.Duration
	svcDir    string

	reaper *initd.Reaper
	sup    *supervise.Supervisor
	stdout *logpipe.Console
	stderr *logpipe.Console

	socket   string
	ctlOnce  sync.Once
	ctl      *control.Server // serves every socket of this init
	hooksDir string
	state    atomic.Value // control.BootStarting, BootReady or BootStopping
	owner    atomic.Bool  // this init owns HERMES_HOME (its gateways)
	// ownerLock is held for init's whole life once taken.
	ownerLock *volume.Owner
	// desired queues the supervisor's desired_state records.
	desired desiredQueue
	// locks bounds root's lock waits on hermes-writable files during the
	// boot (safefs.BootLockBudget in all); lockedSkipped counts the writes
	// skipped on a lock held too long, refusals the managed files root
	// refused to touch.
	locks                   *safefs.Budget
	lockedSkipped, refusals atomic.Uint64

	// cancel stops the long-running parts (supervisor loop, control
	// server, consoles) once init is done.
	cancel context.CancelFunc
	parts  []chan struct{}
}

func newBoot(e *Env, args []string) (*boot, error) {
	h := e.Host
	b := &boot{env: e, args: args, root: os.Geteuid() == 0, container: h.InContainer()}
	b.log = slog.New(newLineHandler(e.Stderr, "hermes init: "))
	home, err := h.Home()
	if err != nil {
		return nil, err
	}
	b.home = home
	ids, err := h.HermesIDs(os.Getgid)
	if err != nil {
		return nil, err
	}
	b.ids = ids
	if b.root {
		// Root without the capabilities it needs (cap_drop: ALL) would fail
		// later with a bare "permission denied": say which ones, now.
		missing, err := privdrop.MissingInitCapabilities()
		if err != nil {
			return nil, err
		}
		if len(missing) > 0 {
			adds := make([]string, len(missing))
			for i, c := range missing {
				adds[i] = "--cap-add " + strings.TrimPrefix(c, "CAP_")
			}
			return nil, fmt.Errorf("running as root without %s, which init needs to run the main command and the services as the hermes user and to prepare %s: give them back (docker run %s, or remove cap_drop), or start the container as the hermes user (docker run --user %d:%d)",
				strings.Join(missing, ", "), home, strings.Join(adds, " "), ids.UID, ids.GID)
		}
	}
	if !b.root && os.Geteuid() != ids.UID {
		// docker run --user, OpenShift: run as that uid if it can write
		// the home, else explain (CONTRACT §2).
		if err := unix.Access(home, unix.W_OK|unix.X_OK); err != nil && b.container {
			return nil, fmt.Errorf("running as uid %d, but the hermes uid is %d (%s) and %s is not writable by uid %d: start the container as root, or set HERMES_UID/PUID (and HERMES_GID/PGID) to %d",
				os.Geteuid(), ids.UID, ids.Source, home, os.Geteuid(), os.Geteuid())
		}
		if b.container {
			fmt.Fprintf(e.Stderr, "hermes init: warning: running as uid %d, not the hermes uid %d; services run as uid %d\n", os.Geteuid(), ids.UID, os.Geteuid())
		}
		b.ids = hostenv.IDs{UID: os.Geteuid(), GID: os.Getegid(), Source: "process uid"}
	}
	b.groups = privdrop.Groups(hermesUserName(b.ids.UID), b.ids.GID, privdrop.CurrentGroups())
	b.grace = initd.DefaultStopGrace
	if v, ok := h.Getenv("HERMES_STOP_GRACE"); ok && strings.TrimSpace(v) != "" {
		d, err := parseGrace(v)
		if err != nil {
			return nil, fmt.Errorf("HERMES_STOP_GRACE=%q: want a duration such as 8s", v)
		}
		b.grace = d
	}
	b.svcDir = DefaultServicesDir
	if v, ok := h.Getenv("HERMES_SERVICES_DIR"); ok && v != "" {
		b.svcDir = v
	}
	b.hooksDir = initd.DefaultHooksDir
	if v, ok := h.Getenv("HERMES_INIT_DIR"); ok && v != "" {
		b.hooksDir = v
	}
	b.state.Store(control.BootStarting)
	b.desired.wake = make(chan struct{}, 1)
	b.locks = safefs.NewBudget(safefs.BootLockBudget)
	return b, nil
}

func parseGrace(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errors.New("bad duration")
	}
	return d, nil
}

// hermesUserName is the name under which /etc/group lists the hermes user.
func hermesUserName(uid int) string {
	if uid == hostenv.ImageUID {
		return "hermes"
	}
	return ""
}

func (b *boot) run() int {
	b.reaper = initd.NewReaper()
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	b.stdout = logpipe.NewConsole(os.Stdout)
	b.stderr = logpipe.NewConsole(os.Stderr)
	b.start(ctx, func(ctx context.Context) { _ = b.stdout.Run(ctx) })
	b.start(ctx, func(ctx context.Context) { _ = b.stderr.Run(ctx) })

	in := &initd.Init{
		Reaper:    b.reaper,
		Boot:      func(bootCtx context.Context) error { return b.boot(ctx, bootCtx) },
		Main:      b.mainCommand,
		Shutdown:  b.shutdown,
		StopGrace: b.grace,
		OnMain: func(running bool, c initd.Command) {
			// While the main command holds the terminal, services must not
			// scribble over the user's screen.
			if c.Terminal {
				b.stdout.SetMuted(running)
				b.stderr.SetMuted(running)
			}
		},
		Logger: b.log,
	}
	code := in.Run(context.Background())
	b.cancel()
	for _, done := range b.parts {
		<-done
	}
	return code
}

// start runs a long-running part until init's context ends.
func (b *boot) start(ctx context.Context, run func(context.Context)) {
	done := make(chan struct{})
	b.parts = append(b.parts, done)
	go func() {
		defer close(done)
		run(ctx)
	}()
}

// childEnv is the environment of the main command and of the boot hooks:
// the container's, with HERMES_HOME and the control socket exported, and
// HOME=$HERMES_HOME in a container (left alone in host mode). Hooks keep
// the secrets: they run as root, which can read init's own environment.
func (b *boot) childEnv() []string {
	env := os.Environ()
	set := map[string]string{"HERMES_HOME": b.home, "HERMES_CONTROL_SOCKET": b.socket}
	if b.container {
		set["HOME"] = b.home
	}
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; ok {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range set {
		out = append(out, k+"="+v)
	}
	return out
}

// serviceEnv is the base environment of every service: childEnv without
// the secrets that only their readers get (hostenv.Withheld); the
// dashboard's spec hands it the gate's own (dashboard.ServiceSpec).
func (b *boot) serviceEnv() []string { return hostenv.ServiceEnv(b.childEnv()) }

func (b *boot) health() control.Health {
	return control.Health{
		Boot:    b.state.Load().(string),
		Owner:   b.owner.Load(),
		PID1:    os.Getpid() == 1,
		Version: buildinfo.Version(),
		Counters: map[string]uint64{
			"locked_writes_skipped": b.lockedSkipped.Load(),
			"managed_file_refusals": b.refusals.Load(),
		},
	}
}

func (b *boot) shutdown(ctx context.Context) {
	b.state.Store(control.BootStopping)
	if b.sup != nil {
		_ = b.sup.Shutdown(ctx)
	}
}

// mainCommand routes and prepares the main command (CONTRACT §3 step 6).
func (b *boot) mainCommand() (initd.Command, error) {
	env := b.childEnv()
	argv := route(b.args, env, b.env.Exe)
	c := initd.Command{Argv: argv, Env: env}
	path, err := supervise.LookPath(argv[0], env)
	if err != nil {
		return c, err
	}
	c.Path = path
	cwd, err := os.Getwd()
	if err != nil {
		cwd = b.home
	}
	c.Dir = cwd
	if b.root {
		c.Cred = &syscall.Credential{Uid: uint32(b.ids.UID), Gid: uint32(b.ids.GID), Groups: toU32(b.groups)}
		if !privdrop.CanEnter(cwd, b.ids.UID, b.ids.GID, b.groups) {
			fmt.Fprintf(b.env.Stderr, "hermes init: warning: uid %d cannot enter the working directory %s; using %s\n", b.ids.UID, cwd, b.home)
			c.Dir = b.home
		}
	}
	c.Terminal = hasTerminal()
	return c, nil
}

// route maps the container's arguments to the main command: a hermes
// subcommand (or a leading dash) runs hermes; else a program on PATH runs
// directly; else hermes gets the arguments.
func route(args, env []string, exe string) []string {
	if len(args) == 0 {
		return []string{exe}
	}
	if strings.HasPrefix(args[0], "-") || IsSubcommand(args[0]) {
		return append([]string{exe}, args...)
	}
	if _, err := supervise.LookPath(args[0], env); err == nil {
		return args
	}
	return append([]string{exe}, args...)
}

// hasTerminal reports whether stdin is a terminal that is the controlling
// terminal of our session, so the main command can be made its foreground
// process group.
func hasTerminal() bool {
	if _, err := unix.IoctlGetTermios(0, unix.TCGETS); err != nil {
		return false
	}
	_, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	return err == nil
}

func toU32(ids []int) []uint32 {
	out := make([]uint32, len(ids))
	for i, v := range ids {
		out[i] = uint32(v)
	}
	return out
}
