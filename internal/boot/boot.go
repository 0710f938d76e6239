// Package boot is hermes init (CONTRACT §3): the value that wires the
// domain packages into PID 1 of a container, or into a child subreaper
// under hermes init on a host.
//
// An Init is given everything it touches of its process: the main
// command's arguments, the environment, stdio, who the process is (euid,
// gids, pid), the clock, its paths (HERMES_HOME, the hooks, the services,
// the control socket, the image's seeds), its signals and the reaper. Run
// boots (steps 2-5: the control socket and the supervisor, HERMES_HOME,
// the init.d hooks, the services, the dashboard slot, the owner lock and
// the gateways' reconciliation), runs the main command in the foreground
// and shuts down (initd.Init), and returns the main command's exit status
// as an *ExitError (nil for 0). A test in this package runs a whole init in
// its own process: a scoped reaper (initd.NewScopedReaper) waits only for
// what that init spawned, and a channel of its own stands for the signals.
//
// # Parts
//
// Besides the sequence, an init runs these parts, each until Run returns:
// the Reaper (stopped last), the two console writers (logpipe.Console),
// the supervisor's loop (supervise.Supervisor), the desired-state writer
// (gateway.DesiredQueue), one control server for every socket it listens
// on (control.Server), and, while another init owns HERMES_HOME, the
// take-over that waits for the owner lock (volume.WaitOwn) and then
// reconciles the gateways. Three short ones do during steps 2-5 what the
// critical path would otherwise wait for: the os package's one-time pidfd
// check before the first process start, the read of the services
// directory when no hook runs before it, and the fsync of a first boot's
// new names (the boot is ready only once it is done). A part's error is logged when it happens (a
// console's is not: it is about init's own output) and carried in
// ExitError.Err; it never changes the exit status.
package boot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/buildinfo"
	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/initd"
	"github.com/hermes-agent/hermes/internal/logpipe"
	"github.com/hermes-agent/hermes/internal/privdrop"
	"github.com/hermes-agent/hermes/internal/procmem"
	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/supervise"
	"github.com/hermes-agent/hermes/internal/volume"
)

// DefaultServicesDir holds the static services of an image.
const DefaultServicesDir = "/etc/hermes/services.d"

// EnvVerbose, when true, prints the boot's routine lines (the
// reconciler's action for each profile); without it a boot on an existing
// volume prints nothing of its own, while seeding, repairs, refusals,
// warnings and errors always print.
const EnvVerbose = "HERMES_INIT_VERBOSE"

// Init is one hermes init: what it is given of its process. Exe and Env
// are required; every other field has a default (see each).
type Init struct {
	// Args are the main command's arguments (CONTRACT §3 step 6), never
	// init's own flags.
	Args []string
	// Exe is the hermes binary: the main command when Args name a
	// subcommand or nothing, the dashboard and the gateways.
	Exe string
	// Env is the container's environment as hostenv reads it (HERMES_*).
	Env hostenv.Env
	// Environ is the environment handed on to the main command and the
	// hooks, and without the withheld secrets to the services; nil is
	// os.Environ().
	Environ []string
	// Stdin, Stdout and Stderr are init's: the main command and the hooks
	// inherit them, the services' console copies go to Stdout and Stderr,
	// and init's own lines to Stderr. nil is the process's own.
	Stdin, Stdout, Stderr *os.File
	// Process is who this process is (Self()).
	Process Process
	// Now is the clock of what init records (desired_updated_at, the boot
	// log, the seeds); nil is time.Now.
	Now func() time.Time
	// Paths are the files init uses; an empty one is found as CONTRACT §3
	// says.
	Paths Paths
	// Reaper is the one owner of wait(2) of this init; nil is the
	// process's (initd.NewReaper), and the process is then made a child
	// subreaper unless it is PID 1. A scoped reaper
	// (initd.NewScopedReaper) reaps only what this init spawns, and no
	// orphan.
	Reaper *initd.Reaper
	// Signals are init's signals; nil subscribes to the process's
	// (initd.Subscribe).
	Signals <-chan os.Signal
	// IsSubcommand reports whether the main command's first argument is a
	// hermes subcommand, which then runs hermes; nil means none is.
	IsSubcommand func(name string) bool
	// Logger prints init's own records; nil is a text handler on Stderr.
	Logger *slog.Logger
}

// Paths are the files and directories an init uses.
type Paths struct {
	// Home is HERMES_HOME; "" is Env.Home().
	Home string
	// Hooks holds the init.d hooks; "" is $HERMES_INIT_DIR, else
	// initd.DefaultHooksDir.
	Hooks string
	// Services holds the static services; "" is $HERMES_SERVICES_DIR,
	// else DefaultServicesDir.
	Services string
	// Socket is the control socket; "" is control.SocketPath(Env, EUID).
	Socket string
	// Share holds the image's first-boot seeds; "" is
	// volume.DefaultShareDir.
	Share string
	// Etc holds passwd and group, whose hermes lines a container's init
	// rewrites when the hermes uid or gid is remapped; "" is
	// DefaultEtcDir.
	Etc string
}

// Process is who the init process is.
type Process struct {
	EUID, EGID int
	// GID is the real gid (the hermes gid in host mode).
	GID int
	PID int
}

// Self is the calling process.
func Self() Process {
	return Process{EUID: os.Geteuid(), EGID: os.Getegid(), GID: os.Getgid(), PID: os.Getpid()}
}

// ExitError is how an init ends: the process exits with Code. Err says
// what ended it so (a bad configuration, a failed boot, a main command that
// could not run) or went wrong on the way (a part that failed); init has
// printed it already. The edge maps it to the exit code and prints
// nothing more.
type ExitError struct {
	Code int
	Err  error
}

// Error is the exit status and, when there is one, its cause.
func (e *ExitError) Error() string {
	if e.Err == nil {
		return "exit status " + strconv.Itoa(e.Code)
	}
	return fmt.Sprintf("exit status %d: %v", e.Code, e.Err)
}

// Unwrap returns Err.
func (e *ExitError) Unwrap() error { return e.Err }

// Run runs the init until the main command and every service are gone
// (CONTRACT §3) and returns nil when the main command exited 0 and every
// part ended cleanly, else an *ExitError: 1 for a configuration that
// cannot work (said on Stderr first), the failing hook's code or 1 for a
// failed boot, 143 or 130 for a boot cancelled by SIGTERM or SIGINT, else
// the main command's status (128+N for a death by signal N). The end of
// ctx is a SIGTERM; hermes init passes a context that never ends, since
// it takes its own signals.
func (in *Init) Run(ctx context.Context) error {
	// Step 1's signal intake is subscribed while the configuration is
	// resolved: os/signal enables each signal through a round trip to a
	// thread of its own (half a millisecond for init's eleven), and
	// newBoot neither needs it nor touches a signal. run waits for it
	// before anything else.
	var intake <-chan signalIntake
	if in.Signals == nil {
		c := make(chan signalIntake, 1)
		go func() {
			sigs, stop := initd.Subscribe()
			c <- signalIntake{sigs, stop}
		}()
		intake = c
	}
	b, err := newBoot(in)
	if err != nil {
		if intake != nil {
			(<-intake).stop()
		}
		fmt.Fprintf(b.stderr, "hermes init: %v\n", oneLine(err.Error()))
		return &ExitError{Code: 1, Err: err}
	}
	return b.run(ctx, intake)
}

// signalIntake is initd.Subscribe's result.
type signalIntake struct {
	sigs <-chan os.Signal
	stop func()
}

// boot is a running init: its configuration, resolved once, and what its
// steps build.
type boot struct {
	in                    *Init
	log                   *slog.Logger
	stdin, stdout, stderr *os.File
	environ               []string
	now                   func() time.Time
	proc                  Process

	home, hooksDir, svcDir, shareDir, socket string

	// verbose is HERMES_INIT_VERBOSE: the boot's routine lines print (see
	// routine).
	verbose bool
	// static names the services of svcDir, which win over saved ones.
	static map[string]bool

	ids       hostenv.IDs
	root      bool
	container bool
	groups    []int
	grace     time.Duration

	reaper   *initd.Reaper
	parts    *parts
	sup      *supervise.Supervisor
	desired  *gateway.DesiredQueue
	consoles [2]*logpipe.Console // stdout, stderr

	// stopDesired ends the desired-state queue's run when the shutdown
	// begins, so that a write waiting for a held lock ends at once (a
	// TERM ends every lock wait) and what is still queued is written
	// without waiting.
	stopDesired context.CancelFunc

	// volumeDone carries step 3's result when it runs while steps 1-2 do
	// (startVolume); volumeCancel ends its lock waits. Nil: step 3 runs in
	// turn.
	volumeDone   chan error
	volumeCancel context.CancelFunc

	// seedsDurable is closed once the names a first boot seeded are
	// durable (volume.Config.Durable); nil when nothing was seeded.
	seedsDurable chan struct{}

	// supRunning is set once step 2 has started the supervisor's loop
	// (the boot has returned before shutdown reads it).
	supRunning bool
	trim       *procmem.Trimmer // gives back what bursts of work left behind
	ctl        *control.Server  // serves every socket of this init
	state      atomic.Value     // control.BootStarting, BootReady or BootStopping
	owner      atomic.Bool      // this init owns HERMES_HOME (its gateways)
	// ownerLock is held for init's whole life once taken (ownerMu: the
	// take-over part sets it).
	ownerMu   sync.Mutex
	ownerLock *volume.Owner
	// locks bounds root's lock waits on hermes-writable files during the
	// boot (safefs.BootLockBudget in all); lockedSkipped counts the writes
	// skipped on a lock held too long, refusals the managed files root
	// refused to touch.
	locks                   *safefs.Budget
	lockedSkipped, refusals atomic.Uint64
	// started is when newBoot ran (the monotonic clock); booted how long
	// the boot took (steps 2-5), 0 until it is done.
	started time.Time
	booted  atomic.Int64
}

// newBoot resolves in's configuration; its error is a configuration that
// cannot work, for a person to fix. The returned boot is never nil, so
// that the caller can print on its stderr.
func newBoot(in *Init) (*boot, error) {
	b := &boot{in: in, proc: in.Process, environ: in.Environ, now: in.Now, started: time.Now(),
		stdin: orFile(in.Stdin, os.Stdin), stdout: orFile(in.Stdout, os.Stdout), stderr: orFile(in.Stderr, os.Stderr)}
	if b.environ == nil {
		b.environ = os.Environ()
	}
	if b.now == nil {
		b.now = time.Now
	}
	b.log = in.Logger
	if b.log == nil {
		b.log = slog.New(slog.NewTextHandler(b.stderr, nil))
	}
	h := in.Env
	b.root, b.container = b.proc.EUID == 0, h.InContainer()
	b.verbose = h.Bool(EnvVerbose)
	home := in.Paths.Home
	if home == "" {
		var err error
		if home, err = h.Home(); err != nil {
			return b, err
		}
	}
	b.home = home
	if err := b.resolveIDs(); err != nil {
		return b, err
	}
	if b.container {
		etc := in.Paths.Etc
		if etc == "" {
			etc = DefaultEtcDir
		}
		if err := b.remapUser(etc); err != nil {
			return b, err
		}
	}
	b.groups = privdrop.Groups(hostenv.UserName(b.ids.UID), b.ids.GID, privdrop.CurrentGroups())
	b.grace = initd.DefaultStopGrace
	if v, ok := h.Getenv("HERMES_STOP_GRACE"); ok && strings.TrimSpace(v) != "" {
		d, err := parseGrace(v)
		if err != nil {
			return b, fmt.Errorf("HERMES_STOP_GRACE=%q: want a duration such as 8s", v)
		}
		b.grace = d
	}
	b.svcDir = pathOr(in.Paths.Services, h, "HERMES_SERVICES_DIR", DefaultServicesDir)
	b.hooksDir = pathOr(in.Paths.Hooks, h, "HERMES_INIT_DIR", initd.DefaultHooksDir)
	b.shareDir = in.Paths.Share
	if b.shareDir == "" {
		b.shareDir = volume.DefaultShareDir
	}
	b.socket = in.Paths.Socket
	if b.socket == "" {
		b.socket = control.SocketPath(h, b.proc.EUID)
	}
	b.state.Store(control.BootStarting)
	b.locks = safefs.NewBudget(safefs.BootLockBudget)
	return b, nil
}

// resolveIDs decides the hermes user (CONTRACT §2), and refuses a root
// without the capabilities init needs, or a uid that cannot use the home.
func (b *boot) resolveIDs() error {
	ids, err := b.in.Env.HermesIDs(func() int { return b.proc.GID })
	if err != nil {
		return err
	}
	b.ids = ids
	euid := b.proc.EUID
	if b.root {
		// Root without the capabilities it needs (cap_drop: ALL) would fail
		// later with a bare "permission denied": say which ones, now.
		missing, err := privdrop.MissingInitCapabilities()
		if err != nil {
			return err
		}
		if len(missing) > 0 {
			adds := make([]string, len(missing))
			for i, c := range missing {
				adds[i] = "--cap-add " + strings.TrimPrefix(c, "CAP_")
			}
			return fmt.Errorf("running as root without %s, which init needs to run the main command and the services as the hermes user and to prepare %s: give them back (docker run %s, or remove cap_drop), or start the container as the hermes user (docker run --user %d:%d)",
				strings.Join(missing, ", "), b.home, strings.Join(adds, " "), ids.UID, ids.GID)
		}
		return nil
	}
	if euid == ids.UID {
		return nil
	}
	// docker run --user, OpenShift: run as that uid if it can write the
	// home, else explain (CONTRACT §2).
	if err := unix.Access(b.home, unix.W_OK|unix.X_OK); err != nil && b.container {
		return fmt.Errorf("running as uid %d, but the hermes uid is %d (%s) and %s is not writable by uid %d: start the container as root, or set HERMES_UID/PUID (and HERMES_GID/PGID) to %d",
			euid, ids.UID, ids.Source, b.home, euid, euid)
	}
	if b.container {
		fmt.Fprintf(b.stderr, "hermes init: warning: running as uid %d, not the hermes uid %d; services run as uid %d\n", euid, ids.UID, euid)
	}
	b.ids = hostenv.IDs{UID: euid, GID: b.proc.EGID, Source: "process uid"}
	return nil
}

func orFile(f, def *os.File) *os.File {
	if f != nil {
		return f
	}
	return def
}

// pathOr is set when not empty, else the variable name when set, else def.
func pathOr(set string, h hostenv.Env, name, def string) string {
	if set != "" {
		return set
	}
	if v, ok := h.Getenv(name); ok && v != "" {
		return v
	}
	return def
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

// run runs the init: its signal intake (Init.Signals, else intake's) and
// reaper first, the parts, the sequence (initd.Init), then the parts' end
// and the reaper's last.
func (b *boot) run(ctx context.Context, intake <-chan signalIntake) error {
	b.reaper = b.in.Reaper
	if b.reaper == nil {
		b.reaper = initd.NewReaper()
	}
	b.parts = newParts(b.log)
	b.consoles = [2]*logpipe.Console{logpipe.NewConsole(b.stdout), logpipe.NewConsole(b.stderr)}
	// Step 2's values are built while the signal intake is still being
	// subscribed; nothing of them runs, listens or writes before it is.
	b.prepareControl()
	b.startVolume()
	sigs := b.in.Signals
	if sigs == nil {
		in := <-intake
		defer in.stop()
		sigs = in.sigs
	}
	if b.in.Reaper == nil {
		if b.proc.PID != 1 {
			if err := initd.BecomeSubreaper(); err != nil {
				b.log.Warn("cannot become a child subreaper; orphans will not be reaped", "err", err)
			}
		}
	}
	reaping := newParts(b.log)
	reaping.start(b.reaper.Run, "reaper")
	b.parts.startUnlogged(b.consoles[0].Run, "stdout console")
	b.parts.startUnlogged(b.consoles[1].Run, "stderr console")

	in := &initd.Init{
		Reaper:    b.reaper,
		Signals:   sigs,
		Boot:      b.boot,
		Main:      b.mainCommand,
		Shutdown:  b.shutdown,
		StopGrace: b.grace,
		Stdio:     [3]*os.File{b.stdin, b.stdout, b.stderr},
		OnMain: func(running bool, c initd.Command) {
			// While the main command holds the terminal, services must not
			// scribble over the user's screen.
			if c.Terminal {
				b.consoles[0].SetMuted(running)
				b.consoles[1].SetMuted(running)
			}
		},
		Logger: b.log,
	}
	err := in.Run(ctx)
	partsErr := b.parts.stop()
	reapErr := reaping.stop()
	// The owner lock goes with the init (a process's exit would drop it;
	// an init run in a process that lives on must too).
	b.ownerMu.Lock()
	if b.ownerLock != nil {
		b.ownerLock.Release()
		b.ownerLock = nil
	}
	b.ownerMu.Unlock()
	code := 0
	var x *initd.ExitError
	if errors.As(err, &x) {
		code, err = x.Code, x.Err
	}
	if err = errors.Join(err, partsErr, reapErr); code == 0 && err == nil {
		return nil
	}
	return &ExitError{Code: code, Err: err}
}

// health is GET /v1/health.
func (b *boot) health() control.Health {
	return control.Health{
		Boot:    b.state.Load().(string),
		Owner:   b.owner.Load(),
		PID1:    b.proc.PID == 1,
		Version: buildinfo.Version(),
		Counters: map[string]uint64{
			"locked_writes_skipped": b.lockedSkipped.Load(),
			"managed_file_refusals": b.refusals.Load(),
		},
	}
}

// bootDuration is how long the boot took, 0 while it runs
// (hermes_boot_duration_seconds).
func (b *boot) bootDuration() time.Duration { return time.Duration(b.booted.Load()) }

// shutdown stops every service by ctx's deadline (initd.Init.Shutdown).
func (b *boot) shutdown(ctx context.Context) error {
	b.state.Store(control.BootStopping)
	if b.stopDesired != nil {
		b.stopDesired()
	}
	if !b.supRunning {
		return nil
	}
	return b.sup.Shutdown(ctx)
}

// refused prints a refusal of root's on init's stderr, as one line, and
// counts it for GET /v1/health (locked_writes_skipped,
// managed_file_refusals).
func (b *boot) refused(r safefs.Refusal) {
	if r.Locked {
		b.lockedSkipped.Add(1)
	} else {
		b.refusals.Add(1)
	}
	fmt.Fprintf(b.stderr, "hermes init: %s\n", oneLine(r.String()))
}

// routine is where the boot's routine lines go: stdout with
// HERMES_INIT_VERBOSE, else nowhere. The one decision of what is routine
// is the callers' choice of this writer over stdout or stderr.
func (b *boot) routine() io.Writer {
	if b.verbose {
		return b.stdout
	}
	return io.Discard
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
