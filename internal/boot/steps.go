package boot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/dashboard"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/initd"
	"github.com/hermes-agent/hermes/internal/procmem"
	"github.com/hermes-agent/hermes/internal/reconcile"
	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/supervise"
	"github.com/hermes-agent/hermes/internal/volume"
)

// ownerRetry is how often a non-owner tries to take over the home.
const ownerRetry = 2 * time.Second

// boot runs steps 2-5 of CONTRACT §3 (initd.Init.Boot); ctx is cancelled
// by SIGTERM or SIGINT during boot. What outlives the boot runs as a part.
func (b *boot) boot(ctx context.Context) error {
	b.parts.start(warmProcessStart, "warming the process start")
	early := b.readServicesEarly()
	if err := b.control(); err != nil {
		b.abandonVolume()
		return err
	}
	if err := b.awaitVolume(ctx); err != nil {
		return err
	}
	// Step 4: extension hooks, with the main command's arguments.
	if err := initd.RunHooks(ctx, b.reaper, b.hooksDir, b.in.Args, b.childEnv(), b.stdout, b.stderr); err != nil {
		return err
	}
	if early != nil && initd.HasHooks(b.hooksDir) {
		// A hook appeared meanwhile, and ran: what it may have written to
		// the services directory is read after it.
		<-early
		early = nil
	}
	if err := b.services(ctx, early); err != nil {
		return err
	}
	if err := b.gateways(ctx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.seedsDurable != nil {
		<-b.seedsDurable
	}
	b.booted.Store(int64(max(time.Since(b.started), time.Nanosecond)))
	b.state.Store(control.BootReady)
	// PID 1 lives as long as the container: the pages of its executable
	// that only start-up touched go back (they stay in the page cache for
	// whoever needs them) with the trimmer's first trim, once the boot and
	// the service starts it set off have been quiet for a while; not here,
	// where the madvise and its TLB shootdown would take the CPU from the
	// services just started and hold back the main command.
	if b.trim != nil {
		b.trim.Touch()
	}
	return nil
}

// prepareControl builds step 2's values: the desired-state queue, the
// supervisor, the memory trimmer and the control server. Nothing of them
// runs, listens or writes until control starts them.
func (b *boot) prepareControl() {
	owner := safefs.Keep
	if b.root {
		owner = safefs.Owner{UID: b.ids.UID, GID: b.ids.GID}
	}
	b.desired = gateway.NewDesiredQueue(gateway.DesiredConfig{
		Home: b.home, Owner: owner, Now: b.now, Refused: b.refused, Logger: b.log,
	})
	b.sup = supervise.New(supervise.Config{
		Spawner:    b.reaper,
		Home:       b.home,
		HermesUID:  b.ids.UID,
		HermesGID:  b.ids.GID,
		Groups:     b.groups,
		Env:        b.serviceEnv(),
		Stdout:     b.consoles[0],
		Stderr:     b.consoles[1],
		Logger:     b.log.With("component", "supervise"),
		OnOperator: b.desired.OnOperator,
		Reserved:   runtimeService,
	})
	// What a burst of requests faulted in (code) and allocated (heap) is
	// given back once it is over: PID 1 idles for hours between bursts.
	b.trim = procmem.NewTrimmer(0)
	b.ctl = control.NewServer(control.Config{
		Sup:       b.sup,
		Gateways:  b.slots(),
		Home:      b.home,
		HermesUID: b.ids.UID,
		HermesGID: b.ids.GID,
		Health:    b.health,
		Recorded:  b.desired.Flush,
		Logger:    b.log.With("component", "control"),
		Served:    b.trim.Touch,

		BootDuration: b.bootDuration,
	})
}

// control is step 2: the control socket and the supervisor behind it
// (prepareControl), so that later steps and the hooks can use it.
func (b *boot) control() error {
	ln, err := control.Listen(b.socket, b.proc.EUID)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	b.supRunning = b.parts.start(b.sup.Run, "supervisor")
	stopping, stop := context.WithCancel(context.Background())
	b.stopDesired = stop
	b.parts.start(func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(stopping, cancel)()
		return b.desired.Run(ctx)
	}, "desired state")
	b.parts.start(b.trim.Run, "memory trimmer")
	b.serve(ln)
	return nil
}

// volume is step 3: HERMES_HOME checked, repaired (as root) and seeded.
func (b *boot) volume(ctx context.Context) error {
	vcfg := volume.Config{
		Home: b.home, UID: b.ids.UID, GID: b.ids.GID, Groups: b.groups, Root: b.root, ShareDir: b.shareDir,
		Env: b.in.Env, Now: b.now,
		Log:     func(format string, args ...any) { fmt.Fprintf(b.stderr, "hermes init: "+format+"\n", args...) },
		Refused: b.refused, Locks: b.locks,
		// The fsync that makes the new names durable runs while the hooks
		// and the services start; the boot is ready only once it is done.
		Durable: func(sync func()) {
			done := make(chan struct{})
			b.seedsDurable = done
			if !b.parts.start(func(context.Context) error { defer close(done); sync(); return nil }, "seeds made durable") {
				sync()
				close(done)
			}
		},
	}
	if err := volume.Preflight(vcfg); err != nil {
		return err
	}
	if b.root {
		rep, err := volume.Repair(vcfg)
		if err != nil {
			vcfg.Log("ownership repair: %v", err)
		}
		if rep.Changed > 0 || rep.Failed > 0 {
			vcfg.Log("ownership repair: %s", rep)
		}
	}
	return volume.Seed(ctx, vcfg)
}

// startVolume starts step 3 on a goroutine of its own, so that the home is
// prepared while the signal intake is subscribed and step 2 brings the
// control socket up: neither needs the other, and init's first boot spends
// most of its time in step 3 (the seeds' directories and fsyncs). It does
// not when the socket's directory is in the home: step 2 may create that
// directory, and step 3's repair must see what it made. Every outcome is
// as in turn: the boot waits for both before step 4 (awaitVolume), says
// step 2's error first, and never leaves step 3 running (abandonVolume):
// boot joins it on every path, so nothing else has to. The end of the
// boot's context ends step 3's lock waits, as it does in turn.
func (b *boot) startVolume() {
	if b.socketInHome() {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.volumeDone, b.volumeCancel = make(chan error, 1), cancel
	go func() { b.volumeDone <- b.volume(ctx) }()
}

// awaitVolume is step 3: its result when startVolume started it (the end
// of ctx ends its lock waits), else step 3 run now.
func (b *boot) awaitVolume(ctx context.Context) error {
	if b.volumeDone == nil {
		return b.volume(ctx)
	}
	defer context.AfterFunc(ctx, b.volumeCancel)()
	err := <-b.volumeDone
	b.volumeDone = nil
	b.volumeCancel()
	return err
}

// abandonVolume ends step 3 when startVolume started it and the boot will
// not wait for it (step 2 failed): it is cancelled, and waited for.
func (b *boot) abandonVolume() {
	if b.volumeDone != nil {
		b.volumeCancel()
		_ = b.awaitVolume(context.Background())
	}
}

// socketInHome reports whether the control socket's directory is the home
// or below it, as written (both made absolute; when either cannot be, it
// counts as in it, and the steps run in turn).
func (b *boot) socketInHome() bool {
	home, err1 := filepath.Abs(b.home)
	dir, err2 := filepath.Abs(filepath.Dir(b.socket))
	return err1 != nil || err2 != nil || safefs.Inside(dir, home)
}

// warmProcessStart makes the os package's one-time check of pidfd support
// (pidfd_open, waitid, pidfd_send_signal and a clone of its own), which the
// first process start would otherwise pay, while steps 2-3 run: looking up
// this process makes it.
func warmProcessStart(context.Context) error {
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Release()
	}
	return nil
}

// staticSpecs is what supervise.LoadDir read of the services directory.
type staticSpecs struct {
	specs []supervise.Spec
	err   error
}

// readServicesEarly reads step 5's services directory on a part of its own
// while steps 2-3 run, when no hook can run before step 5 (step 4 has none,
// initd.HasHooks): the same read, made while step 3 waits for the disk
// rather than between the hooks and the first service's start. Nil: the
// services are read in step 5.
func (b *boot) readServicesEarly() <-chan staticSpecs {
	if initd.HasHooks(b.hooksDir) {
		return nil
	}
	c := make(chan staticSpecs, 1)
	read := func(context.Context) error {
		specs, err := supervise.LoadDir(b.svcDir)
		c <- staticSpecs{specs, err}
		return nil
	}
	if !b.parts.start(read, "reading the services") {
		return nil
	}
	return c
}

// services is step 5's first half: the static services (read now, unless
// early has them) and the dashboard slot.
func (b *boot) services(ctx context.Context, early <-chan staticSpecs) error {
	var read staticSpecs
	if early != nil {
		read = <-early
	} else {
		read.specs, read.err = supervise.LoadDir(b.svcDir)
	}
	specs, err := read.specs, read.err
	if err != nil {
		return fmt.Errorf("services in %s: %w", b.svcDir, err)
	}
	b.static = map[string]bool{}
	for _, sp := range specs {
		if _, err := b.sup.Register(ctx, sp, true); err != nil {
			return fmt.Errorf("service %s (%s): %w", sp.Name, b.svcDir, err)
		}
		b.static[sp.Name] = true
	}
	// The dashboard slot always exists, so that a disabled dashboard shows
	// as down (never as up); it is wanted up iff HERMES_DASHBOARD is true
	// and the main command is not itself the dashboard.
	dashUp := b.in.Env.Bool("HERMES_DASHBOARD") && !b.dashboardMain()
	if _, err := b.sup.Register(ctx, dashboard.ServiceSpec(b.in.Exe, b.home, b.in.Env), dashUp); err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	return nil
}

// serve runs the control server on ln for as long as init lives. One
// Server serves every socket of this init (the local one and the published
// one), so that its connection bounds and counters are the process's.
func (b *boot) serve(ln net.Listener) {
	srv := b.ctl
	run := func(ctx context.Context) error { return srv.Run(ctx, ln) }
	if !b.parts.start(run, "control server", "socket", ln.Addr().String()) {
		ln.Close() // init is ending
	}
}

// runtimeService reports whether name belongs to the runtime, which builds
// its spec itself: the dashboard's slot and every name in the gateways'
// namespace. The supervisor gets it, and the control API asks it.
func runtimeService(name string) bool {
	return name == dashboard.ServiceName || gateway.InNamespace(name)
}

func (b *boot) slots() gateway.Slots {
	return gateway.Slots{Sup: b.sup, Home: b.home, Exe: b.in.Exe, Env: hostenv.MetricsTokenEnv(b.in.Env)}
}

// dashboardMain reports whether the main command is the dashboard (a
// dashboard-only container sharing the volume): it never owns the home.
func (b *boot) dashboardMain() bool {
	for _, a := range b.in.Args {
		if a == "--" {
			continue
		}
		return a == "dashboard"
	}
	return false
}

// gateways is step 5's second half: it takes the home's owner lock (unless
// this is a dashboard container), publishes the control socket in the
// home and reconciles the gateways; a non-owner skips them and keeps
// trying to take over.
func (b *boot) gateways(ctx context.Context) error {
	rc := reconcile.Config{
		Home: b.home, Slots: b.slots(), Owner: safefs.Owner{UID: b.ids.UID, GID: b.ids.GID},
		Now: b.now, Log: b.routine(), Notice: b.stdout, Warn: b.stderr, Refused: b.refused, Locks: b.locks,
	}
	if !b.root {
		rc.Owner = safefs.Keep
	}
	if b.dashboardMain() {
		rc.SkipReason = "dashboard container: the gateways belong to the home's owner"
		_, err := reconcile.Run(ctx, rc)
		return err
	}
	own, err := volume.TryOwn(b.home)
	switch {
	case err == nil:
		b.becomeOwner(own)
	case errors.Is(err, volume.ErrNotOwner):
		rc.SkipReason = err.Error()
		fmt.Fprintf(b.stderr, "hermes init: %v: not starting gateways; their operations go to the owner's socket %s\n", err, control.PublishedSocketPath(b.home))
		if _, err := reconcile.Run(ctx, rc); err != nil {
			return err
		}
		b.parts.start(func(ctx context.Context) error { return b.takeOver(ctx, rc) }, "taking over the gateways", "home", b.home)
		return nil
	case volume.Unsupported(err):
		fmt.Fprintf(b.stderr, "hermes init: warning: %v; acting as the owner of %s without a lock\n", err, b.home)
		b.owner.Store(true)
	default:
		return fmt.Errorf("owner lock: %w", err)
	}
	b.savedServices(ctx)
	_, err = reconcile.Run(ctx, rc)
	return err
}

// savedServices registers, up, the services saved in the home
// (control.LoadSaved: the hermes uid's rights and nothing more, a static
// service of the same name winning); only the init that owns the home
// does, after the static services. A refused file is one refusing line,
// and the boot goes on.
func (b *boot) savedServices(ctx context.Context) {
	specs, refused := control.LoadSaved(control.SavedConfig{
		Home: b.home, HermesUID: b.ids.UID, HermesGID: b.ids.GID,
		Reserved: runtimeService, Static: func(name string) bool { return b.static[name] },
	})
	for _, r := range refused {
		b.refused(r)
	}
	for _, sp := range specs {
		if _, err := b.sup.Register(ctx, sp, true); err != nil {
			b.refused(safefs.Refusal{Path: control.SavedFile(b.home, sp.Name), Why: oneLine(err.Error()), Skipped: "that saved service is not loaded"})
		}
	}
}

// takeOver waits for the owner lock of the home while another init holds
// it, then becomes the owner and reconciles the gateways; it returns nil
// when ctx ends first.
func (b *boot) takeOver(ctx context.Context, rc reconcile.Config) error {
	own, err := volume.WaitOwn(ctx, b.home, ownerRetry)
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(b.stderr, "hermes init: the previous owner of %s is gone: taking over its gateways\n", b.home)
	b.becomeOwner(own)
	b.savedServices(ctx)
	rc.SkipReason = ""
	// Taking over is a boot of the gateways: a budget of its own.
	rc.Locks = safefs.NewBudget(safefs.BootLockBudget)
	_, err = reconcile.Run(ctx, rc)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// becomeOwner keeps the owner lock and publishes the control socket in the
// home (a warning, not a failed boot, where sockets are not supported).
func (b *boot) becomeOwner(own *volume.Owner) {
	b.ownerMu.Lock()
	b.ownerLock = own
	b.ownerMu.Unlock()
	b.owner.Store(true)
	path := control.PublishedSocketPath(b.home)
	ln, err := control.ListenPublished(b.home)
	if err != nil {
		fmt.Fprintf(b.stderr, "hermes init: warning: cannot publish the control socket at %s: %v; other containers on this volume cannot reach this supervisor\n", path, err)
		return
	}
	b.serve(ln)
}
