// Package reconcile is the boot reconciler (CONTRACT §5, the reference's
// container_boot): at every boot, the init that owns HERMES_HOME registers
// one gateway slot per profile on its supervisor and starts the ones that
// were running, so that "docker restart" brings back every gateway that an
// operator left running and no other.
//
// # The pass
//
// Profiles are visited in this order: "default" (HERMES_HOME itself)
// always first, so that a bare "hermes gateway start" has a slot; then
// every profiles/<name>/ holding SOUL.md, sorted (profiles.List). A
// directory literally named profiles/default/ is skipped with a warning
// (the root profile is HERMES_HOME itself), and so is a name that fails
// profiles.Validate.
//
// For each profile the recorded state is read from its gateway_state.json
// (gateway.Observe, then Observation.Recorded: desired_state, else
// gateway_state). A missing, unreadable or corrupt file is "none" (with a
// warning for the last two), never fatal; a UTF-8 byte order mark is fine.
//
// # Decision table
//
//	this init            recorded state                      sweep  slot              action
//	owner                "running"                           yes    registered, up    started
//	owner                anything else (stopped, starting,   yes    registered, down  registered
//	                     startup_failed, draining, none)
//	not owner            any                                 no     none              skipped
//	dry run (owner)      as the owner's rows                 no     none              as the owner's rows
//
// Only exactly "running" starts a gateway: starting or startup_failed
// would crash-loop across restarts (the reference's pitfall 27), and a
// gateway that was draining was being stopped. The sweep removes the stale
// gateway.pid and processes.json that a dead PID namespace left behind, and
// only when no live process holds gateway.pid's flock (gateway.SweepStale;
// an equal pid is not the same process). A gateway started from a
// gateway_state of "running" without a desired_state gets desired_state
// "running" recorded (gateway.RecordDesired), as any start by the
// reconciler does in the contract. A registration error is logged and
// reported on the action's line, and the pass goes on with the next
// profile.
//
// # Output
//
// One line per profile goes to Config.Log, as the reference printed on
// stdout:
//
//	reconcile: profile=<p> prior_state=<s> action=<a>
//
// (warnings go to Config.Warn) and, unless DryRun, the same fields are appended to
// HERMES_HOME/logs/container-boot.log after one RFC 3339 timestamp per
// pass:
//
//	2026-11-26T08:51:38Z profile=default prior_state=none action=registered
//
// A failed registration adds " error=<message>". Every value is written as
// it is when it is a plain token ([A-Za-z0-9_.-]+), and otherwise quoted
// (strconv.QuoteToASCII, with spaces as \x20), so that a value copied from
// a hermes-writable file cannot start a line or add a field. The boot log
// is rotated to container-boot.log.1 (replacing it) when it has reached
// 256 KiB before a pass appends. As root it is written through safefs (no
// symlink followed; a file with more than one hard link or that is not a
// regular file is replaced, never written into), created owned by
// Config.Owner with mode 0644; concurrent passes (two inits on one volume)
// serialise on an flock of the file.
//
// # Bounded, and saying so
//
// The hermes uid can write every file the pass reads or writes, so nothing
// there may hang or steer root. As root the profiles and their state files
// are reached through safefs (profiles.List, gateway.Observe): a
// symlinked profiles/ or gateway_state.json, a hard-linked or special state
// file is refused, never followed or read. Every lock the pass takes on a
// hermes-writable file (gateway_state.json, the boot log) waits at most
// safefs.RootLockWait, within the boot's budget (Config.Locks), and ends at
// once when ctx is done; a lock still held then skips that write. Each
// refusal and each skipped write is one line containing "refusing" that
// names the file, why, and what was not done (Config.Refused).
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// The actions of a pass.
const (
	Started    = "started"
	Registered = "registered"
	Skipped    = "skipped"
)

// PriorNone is the prior state of a profile without a readable recorded
// state.
const PriorNone = "none"

// Action is what the pass did for one profile.
type Action struct {
	Profile string
	// PriorState is the recorded state, or PriorNone.
	PriorState string
	// Action is Started, Registered or Skipped.
	Action string
	// Err is the registration's error, when it failed.
	Err error
}

// Slots registers gateway slots: gateway.Slots, or a fake in tests.
type Slots interface {
	RegisterGateway(ctx context.Context, profile string, start bool) (supervise.Status, error)
}

// Config is a pass's input.
type Config struct {
	// Home is HERMES_HOME.
	Home string
	// Slots registers the gateways; it may be nil when DryRun or
	// SkipReason is set.
	Slots Slots
	// DryRun computes and prints the actions but sweeps, registers and
	// writes nothing.
	DryRun bool
	// SkipReason, when not empty, says why this init is not the owner of
	// the home: every profile gets action skipped and nothing is started
	// or swept.
	SkipReason string
	// Owner owns the boot log when root creates it (the hermes ids), and
	// the state file when a desired state is recorded.
	Owner safefs.Owner
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Log receives the action lines (stdout, as the reference printed
	// them); nil discards them.
	Log io.Writer
	// Warn receives the warnings (stderr); nil sends them to Log.
	Warn io.Writer
	// Notice receives the lines of Log's stream that always print, where
	// Log may be quieted (the boot's routine lines need
	// HERMES_INIT_VERBOSE): a repair (a stale pid file removed) and an
	// action that failed. nil sends them to Log.
	Notice io.Writer
	// Locks is the boot's budget of lock waits: each lock on a
	// hermes-writable file (gateway_state.json, the boot log) waits at most
	// safefs.RootLockWait and all of them together no more than what is
	// left of Locks (nil: no total), then the write is skipped, never done
	// without the lock.
	Locks *safefs.Budget
	// Refused is told of every managed file the pass refuses to touch (a
	// symlink, a hard link, a device) and every write it skips on a lock;
	// nil prints each as a "reconcile: refusing ..." line on Warn.
	Refused func(safefs.Refusal)
}

// refuse reports r.
func (cfg Config) refuse(r safefs.Refusal, warn io.Writer) {
	if cfg.Refused != nil {
		cfg.Refused(r)
		return
	}
	fmt.Fprintf(warn, "reconcile: %s\n", oneLine(r.String()))
}

// BootLog is the boot log, below HERMES_HOME.
const BootLog = profiles.FileBootLog

// Run runs one pass (see the package doc) and returns its actions in
// order. Its error is about the boot log, which the caller should warn
// about, or ctx's when it is done before the pass ends; the actions are
// returned either way.
func Run(ctx context.Context, cfg Config) ([]Action, error) {
	log := cfg.Log
	if log == nil {
		log = io.Discard
	}
	warn := cfg.Warn
	if warn == nil {
		warn = log
	}
	notice := cfg.Notice
	if notice == nil {
		notice = log
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	stamp := now()
	skip := strings.TrimSpace(cfg.SkipReason)
	if skip != "" {
		fmt.Fprintf(log, "reconcile: skipping, this init runs no gateways: %s\n", oneLine(skip))
	} else if cfg.Slots == nil && !cfg.DryRun {
		return nil, errors.New("reconcile: no supervisor to register the gateways on")
	}
	refs, err := profiles.List(cfg.Home)
	if r, ok := safefs.Refuse(filepath.Join(cfg.Home, profiles.DirProfiles), err, "only the default profile is reconciled"); ok {
		cfg.refuse(r, warn)
	} else if err != nil {
		fmt.Fprintf(warn, "reconcile: warning: %s; only the default profile is reconciled\n", oneLine(err.Error()))
	} else {
		warnStrays(cfg.Home, refs, warn)
	}

	var actions []Action
	for _, ref := range refs {
		if err := ctx.Err(); err != nil {
			return actions, err
		}
		p := ref.Name()
		st, prior := cfg.readPrior(ref, warn)
		a := Action{Profile: p, PriorState: prior, Action: Registered}
		start := prior == gateway.StateRunning
		switch {
		case skip != "":
			a.Action = Skipped
		case start:
			a.Action = Started
		}
		if skip == "" && !cfg.DryRun {
			sweep(ref, notice, warn)
			if _, err := cfg.Slots.RegisterGateway(ctx, p, start); err != nil {
				a.Err = err
			} else if start && st.DesiredState != gateway.DesiredRunning {
				err := gateway.RecordDesired(ctx, gateway.Desired{
					Profile: ref, State: gateway.DesiredRunning, At: stamp,
					Owner: cfg.Owner, Wait: safefs.RootWait(cfg.Locks),
				})
				if r, ok := safefs.Refuse(filepath.Join(ref.Dir(), gateway.StateFile), err, "desired_state running not recorded"); ok {
					cfg.refuse(r, warn)
				} else if err != nil {
					fmt.Fprintf(warn, "reconcile: warning: profile=%s: %s\n", p, oneLine(err.Error()))
				}
			}
		}
		actions = append(actions, a)
		if a.Err != nil {
			fmt.Fprintf(notice, "reconcile: %s\n", fields(a))
		} else {
			fmt.Fprintf(log, "reconcile: %s\n", fields(a))
		}
	}
	if cfg.DryRun {
		return actions, nil
	}
	err = appendBootLog(ctx, cfg.Home, cfg.Owner, safefs.RootWait(cfg.Locks), bootLines(stamp, actions))
	if r, ok := safefs.Refuse(filepath.Join(cfg.Home, BootLog), err, "this pass's lines were not written to it"); ok && r.Locked {
		cfg.refuse(r, warn)
		return actions, nil
	}
	if err != nil {
		return actions, fmt.Errorf("reconcile: writing %s: %w", filepath.Join(cfg.Home, BootLog), err)
	}
	return actions, nil
}

// warnStrays warns about the directories under profiles/ that hold SOUL.md
// but are not in refs (the profiles the pass visits). Nothing is followed:
// a symlinked entry is not a profile, and as root profiles/ is opened
// through safefs.
func warnStrays(home string, refs []profiles.Ref, warn io.Writer) {
	d, err := safefs.OpenDir(home, profiles.DirProfiles)
	if err != nil {
		return
	}
	defer d.Close()
	entries, err := d.Names()
	if err != nil {
		return
	}
	slices.Sort(entries)
	for _, n := range entries {
		if slices.ContainsFunc(refs[1:], func(r profiles.Ref) bool { return r.Name() == n }) {
			continue
		}
		sub, err := d.Sub(n)
		if err != nil {
			continue
		}
		_, err = sub.Lstat(profiles.FileSOUL)
		sub.Close()
		if err != nil {
			continue
		}
		if n == profiles.Default {
			fmt.Fprintf(warn, "reconcile: warning: skipping profiles/default/: the default profile is %s itself; move what you need out of profiles/default/ (or rename it)\n", home)
			continue
		}
		if err := profiles.Validate(n); err != nil {
			fmt.Fprintf(warn, "reconcile: warning: skipping profiles/%s/: %s\n", escape(n), oneLine(err.Error()))
		}
	}
}

// readPrior reads the recorded state of profile r (gateway.Observe, then
// Observation.Recorded): as root through safefs, so that a planted symlink
// never makes root read (and copy into the boot log, and act on) a file
// outside HERMES_HOME.
func (cfg Config) readPrior(ref profiles.Ref, warn io.Writer) (gateway.State, string) {
	p := ref.Name()
	o := gateway.Observe(ref, nil)
	err := o.FileErr
	r, refused := safefs.Refuse(filepath.Join(o.Dir, gateway.StateFile), err, "its recorded state is ignored (prior_state=none)")
	switch {
	case refused:
		cfg.refuse(r, warn)
		return gateway.State{}, PriorNone
	case err != nil:
		fmt.Fprintf(warn, "reconcile: warning: profile=%s: %s; treating it as no recorded state\n", p, oneLine(err.Error()))
		return gateway.State{}, PriorNone
	}
	if s := o.Recorded(); s != "" {
		return o.File, s
	}
	return o.File, PriorNone
}

// sweep removes the stale pid files of profile ref.
func sweep(ref profiles.Ref, log, warn io.Writer) {
	p := ref.Name()
	removed, err := gateway.SweepStale(ref)
	for _, r := range removed {
		fmt.Fprintf(log, "reconcile: profile=%s removed the stale %s\n", p, escape(r))
	}
	if err != nil {
		fmt.Fprintf(warn, "reconcile: warning: profile=%s: %s\n", p, oneLine(err.Error()))
	}
}

// fields renders an action's fields, escaped.
func fields(a Action) string {
	s := "profile=" + escape(a.Profile) + " prior_state=" + escape(a.PriorState) + " action=" + escape(a.Action)
	if a.Err != nil {
		s += " error=" + escape(a.Err.Error())
	}
	return s
}

// bootLines renders the boot log lines of a pass.
func bootLines(stamp time.Time, actions []Action) []byte {
	ts := stamp.Format(time.RFC3339)
	var b []byte
	for _, a := range actions {
		b = append(b, ts...)
		b = append(b, ' ')
		b = append(b, fields(a)...)
		b = append(b, '\n')
	}
	return b
}

// escape returns v as it is when it is a plain token, else quoted with
// every space, control character and non-ASCII rune escaped: the result
// never holds a space or a newline.
func escape(v string) string {
	if plain(v) {
		return v
	}
	return strings.ReplaceAll(strconv.QuoteToASCII(v), " ", `\x20`)
}

func plain(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// oneLine folds a message onto one line for a warning.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
