package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/dashboard"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/initd"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/reconcile"
	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/supervise"
	"github.com/hermes-agent/hermes/internal/volume"
)

// ownerRetry is how often a non-owner tries to take over the home.
const ownerRetry = 2 * time.Second

// boot runs steps 2-5 of CONTRACT §3; bootCtx is cancelled by SIGTERM or
// SIGINT during boot, ctx lives as long as init.
func (b *boot) boot(ctx, bootCtx context.Context) error {
	// Step 2: the control socket, so that later steps and hooks can use it.
	b.socket = control.SocketPath(b.env.Host, os.Geteuid())
	ln, err := control.Listen(b.socket, os.Geteuid())
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	b.sup = supervise.New(supervise.Config{
		Spawner:    b.reaper,
		Home:       b.home,
		HermesUID:  b.ids.UID,
		HermesGID:  b.ids.GID,
		Groups:     b.groups,
		Env:        b.serviceEnv(),
		Stdout:     b.stdout,
		Stderr:     b.stderr,
		Logger:     b.log.With("component", "supervise"),
		OnOperator: b.recordDesired,
	})
	b.start(ctx, func(ctx context.Context) { _ = b.sup.Run(ctx) })
	b.start(ctx, func(ctx context.Context) {
		b.desired.run(ctx, func(c desiredChange) { b.writeDesired(ctx, c) })
	})
	b.serve(ctx, ln)

	// Step 3: HERMES_HOME.
	vcfg := volume.Config{
		Home: b.home, UID: b.ids.UID, GID: b.ids.GID, Groups: b.groups, Root: b.root, ShareDir: volume.DefaultShareDir,
		Env: b.env.Host, Now: time.Now,
		Log:     func(format string, args ...any) { fmt.Fprintf(b.env.Stderr, "hermes init: "+format+"\n", args...) },
		Refused: b.refused, Locks: b.locks,
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
	if err := volume.Seed(bootCtx, vcfg); err != nil {
		return err
	}

	// Step 4: extension hooks, with the main command's arguments.
	if err := initd.RunHooks(bootCtx, b.reaper, b.hooksDir, b.args, b.childEnv(), os.Stdout, os.Stderr); err != nil {
		return err
	}

	// Step 5: static services, the dashboard slot, the gateways.
	specs, err := supervise.LoadDir(b.svcDir)
	if err != nil {
		return fmt.Errorf("services in %s: %w", b.svcDir, err)
	}
	for _, sp := range specs {
		if _, err := b.sup.Register(bootCtx, sp, true); err != nil {
			return fmt.Errorf("service %s (%s): %w", sp.Name, b.svcDir, err)
		}
	}
	// The dashboard slot always exists, so that a disabled dashboard shows
	// as down (never as up); it is wanted up iff HERMES_DASHBOARD is true
	// and the main command is not itself the dashboard.
	dashUp := b.env.Host.Bool("HERMES_DASHBOARD") && !b.dashboardMain()
	if _, err := b.sup.Register(bootCtx, dashboard.ServiceSpec(b.env.Exe, b.home, b.env.Host), dashUp); err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	if err := b.gateways(ctx, bootCtx); err != nil {
		return err
	}
	if err := bootCtx.Err(); err != nil {
		return err
	}
	b.state.Store(control.BootReady)
	// PID 1 lives as long as the container: the pages of its executable
	// that only start-up touched are given back (they stay in the page
	// cache for whoever needs them).
	if _, err := initd.ReleaseStartupPages(); err != nil {
		b.log.Warn("cannot release start-up pages", "err", err)
	}
	return nil
}

// serve runs the control server on ln for as long as init lives. One
// Server serves every socket of this init (the local one and the published
// one), so that its connection bounds and counters are the process's.
func (b *boot) serve(ctx context.Context, ln net.Listener) {
	b.ctlOnce.Do(func() {
		b.ctl = control.NewServer(control.Config{
			Sup:       b.sup,
			Gateways:  b.slots(),
			Home:      b.home,
			HermesUID: b.ids.UID,
			HermesGID: b.ids.GID,
			Health:    b.health,
			Logger:    b.log.With("component", "control"),
		})
	})
	srv := b.ctl
	b.start(ctx, func(ctx context.Context) {
		if err := srv.Run(ctx, ln); err != nil {
			b.log.Error("control server", "socket", ln.Addr().String(), "err", err)
		}
	})
}

func (b *boot) slots() gateway.Slots {
	return gateway.Slots{Sup: b.sup, Home: b.home, Exe: b.env.Exe}
}

// dashboardMain reports whether the main command is the dashboard (a
// dashboard-only container sharing the volume): it never owns the home.
func (b *boot) dashboardMain() bool {
	for _, a := range b.args {
		if a == "--" {
			continue
		}
		return a == "dashboard"
	}
	return false
}

// gateways takes the home's owner lock (unless this is a dashboard
// container), publishes the control socket in the home and reconciles the
// gateways; a non-owner skips them and keeps trying to take over.
func (b *boot) gateways(ctx, bootCtx context.Context) error {
	rc := reconcile.Config{
		Home: b.home, Slots: b.slots(), Owner: safefs.Owner{UID: b.ids.UID, GID: b.ids.GID},
		Log: os.Stdout, Warn: os.Stderr, Refused: b.refused, Locks: b.locks,
	}
	if !b.root {
		rc.Owner = safefs.Keep
	}
	if b.dashboardMain() {
		rc.SkipReason = "dashboard container: the gateways belong to the home's owner"
		_, err := reconcile.Run(bootCtx, rc)
		return err
	}
	own, err := volume.TryOwn(b.home)
	switch {
	case err == nil:
		b.becomeOwner(ctx, own)
	case errors.Is(err, volume.ErrNotOwner):
		rc.SkipReason = err.Error()
		fmt.Fprintf(b.env.Stderr, "hermes init: %v: not starting gateways; their operations go to the owner's socket %s\n", err, control.PublishedSocketPath(b.home))
		if _, err := reconcile.Run(bootCtx, rc); err != nil {
			return err
		}
		b.start(ctx, func(ctx context.Context) {
			own, err := volume.WaitOwn(ctx, b.home, ownerRetry)
			if err != nil {
				return
			}
			fmt.Fprintf(b.env.Stderr, "hermes init: the previous owner of %s is gone: taking over its gateways\n", b.home)
			b.becomeOwner(ctx, own)
			rc.SkipReason = ""
			// Taking over is a boot of the gateways: a budget of its own.
			rc.Locks = safefs.NewBudget(safefs.BootLockBudget)
			_, _ = reconcile.Run(ctx, rc)
		})
		return nil
	case volume.Unsupported(err):
		fmt.Fprintf(b.env.Stderr, "hermes init: warning: %v; acting as the owner of %s without a lock\n", err, b.home)
		b.owner.Store(true)
	default:
		return fmt.Errorf("owner lock: %w", err)
	}
	_, err = reconcile.Run(bootCtx, rc)
	return err
}

// becomeOwner keeps the owner lock and publishes the control socket in the
// home (a warning, not a failed boot, where sockets are not supported).
func (b *boot) becomeOwner(ctx context.Context, own *volume.Owner) {
	b.ownerLock = own
	b.owner.Store(true)
	path := control.PublishedSocketPath(b.home)
	ln, err := control.ListenPublished(b.home)
	if err != nil {
		fmt.Fprintf(b.env.Stderr, "hermes init: warning: cannot publish the control socket at %s: %v; other containers on this volume cannot reach this supervisor\n", path, err)
		return
	}
	b.serve(ctx, ln)
}

// recordDesired is the supervisor's OnOperator hook: an operator's start or
// stop of a gateway (CLI, dashboard, control API, svc included) is recorded
// as desired_state in the profile's gateway_state.json, so that docker
// restart brings back exactly the gateways that were running. It runs on the
// supervisor's loop, so it only queues the change; b.desired writes the
// queue in order, off the loop (a write can wait for the file's lock).
func (b *boot) recordDesired(name string, want supervise.Want) {
	p, ok := gateway.ProfileOf(name)
	if !ok {
		return
	}
	desired := "stopped"
	if want == supervise.WantUp {
		desired = "running"
	}
	b.desired.push(desiredChange{profile: p, state: desired, at: time.Now()})
}

// desiredChange is one queued desired_state write.
type desiredChange struct {
	profile, state string
	at             time.Time
}

// desiredQueue keeps the desired_state writes in the order the supervisor
// made the changes; run writes them.
type desiredQueue struct {
	mu      sync.Mutex
	pending []desiredChange
	wake    chan struct{}
}

func (q *desiredQueue) push(c desiredChange) {
	q.mu.Lock()
	q.pending = append(q.pending, c)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run writes queued changes until ctx is done, then writes what is left:
// a change made just before shutdown is not lost.
func (q *desiredQueue) run(ctx context.Context, write func(desiredChange)) {
	for {
		q.mu.Lock()
		batch := q.pending
		q.pending = nil
		q.mu.Unlock()
		for _, c := range batch {
			write(c)
		}
		select {
		case <-q.wake:
		case <-ctx.Done():
			q.mu.Lock()
			batch := q.pending
			q.pending = nil
			q.mu.Unlock()
			for _, c := range batch {
				write(c)
			}
			return
		}
	}
}

// writeDesired records one change. The state file's lock is waited for at
// most safefs.RootLockWait, and not at all once ctx is done (shutdown): a
// lock held longer skips the write with a refusing line.
func (b *boot) writeDesired(ctx context.Context, c desiredChange) {
	owner := safefs.Keep
	if b.root {
		owner = safefs.Owner{UID: b.ids.UID, GID: b.ids.GID}
	}
	err := gateway.RecordDesired(ctx, gateway.Desired{
		Home: b.home, Profile: c.profile, State: c.state, At: c.at,
		Owner: owner, Wait: safefs.RootWait(nil),
	})
	path := filepath.Join(profiles.Dir(b.home, c.profile), gateway.StateFile)
	if r, ok := safefs.Refuse(path, err, "desired_state "+c.state+" not recorded"); ok {
		b.refused(r)
	} else if err != nil {
		b.log.Warn("cannot record the desired state", "gateway", gateway.ServiceName(c.profile), "err", err)
	}
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
	fmt.Fprintf(b.env.Stderr, "hermes init: %s\n", oneLine(r.String()))
}
