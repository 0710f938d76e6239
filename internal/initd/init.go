// Package initd does the duties of PID 1 (CONTRACT §3, steps 1, 6 and 7):
// signal intake, reaping, the main command in the foreground, and the
// shutdown sequence whose exit code is the main command's.
//
// # Who owns wait(2)
//
// One component reaps: the Reaper. As PID 1 (or as a child subreaper when
// not PID 1) we must reap orphans with wait4(-1), and a wait4(-1) loop would
// steal the statuses that os/exec's Cmd.Wait expects. So nothing in the
// init process waits for its own children: every process (the main
// command, services, hooks) is started with Reaper.Spawn, which registers a
// callback for the pid while holding the reaper's lock across the fork; the
// reaper delivers each status to the callback of its pid and silently reaps
// everything else. A child that exits before Spawn returns is still
// delivered, because the reaper cannot look its pid up until Spawn has
// registered it.
//
// # Signals
//
// Init subscribes to SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2,
// SIGWINCH, SIGTTIN and SIGTTOU before anything else, and the Reaper to
// SIGCHLD. Catching (rather than ignoring) is deliberate: the kernel resets
// caught signals to their defaults at exec, so the main command and the
// services start with default dispositions and an empty signal mask, while
// ignored signals would be inherited. SIGURG (the Go runtime's preemption
// signal) is never forwarded.
//
// During boot, SIGTERM or SIGINT cancels the boot; the services that were
// started are stopped and init exits 143 or 130. Once the main command runs,
// SIGTERM, SIGINT and SIGQUIT are forwarded to it and begin the shutdown;
// SIGHUP, SIGUSR1, SIGUSR2 and SIGWINCH are only forwarded.
//
// # Shutdown
//
// When the main command exits or a terminating signal arrives, the services
// are stopped in parallel with the main command, all within StopGrace (8 s
// by default, inside Docker's 10 s): the main command is SIGKILLed if it
// outlives the budget. Shutdown ends as soon as the processes are gone, and
// Run returns the main command's exit status (128+N for a death by signal
// N) as an *ExitError (nil for 0).
//
// # Parts
//
// Init.Run is the sequence; the parts it runs, and their contracts:
//
//   - Reaper.Run reaps until its ctx is done, then once more. The caller
//     runs it for the whole life of the init, and stops it last.
//   - Init.Boot (steps 2-5) returns nil once the boot is done, and an error
//     promptly once its ctx is cancelled (SIGTERM or SIGINT during boot).
//   - the main command (Init.Main, spawned through the Reaper) runs until
//     it exits; Run forwards signals to it, and SIGKILLs it at the end of
//     the stop budget.
//   - Init.Shutdown stops every service and returns by its ctx's deadline
//     (the stop budget), with an error when it could not.
//
// Every error of a part is logged and carried in the *ExitError that Run
// returns (ExitError.Err); none changes the exit status, which is the main
// command's (or, when the boot fails, the hook's own code or 1, and 128+N
// when signal N cancels it).
package initd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultStopGrace is the whole shutdown budget (HERMES_STOP_GRACE).
const DefaultStopGrace = 8 * time.Second

// Command is the main command.
type Command struct {
	Path string // resolved program path
	Argv []string
	Env  []string
	Dir  string
	// Cred, when set, is the user the command runs as (init is root).
	Cred *syscall.Credential
	// Terminal gives the command the terminal on stdin as its foreground
	// process group (the container was started with -t).
	Terminal bool
}

// Init runs a boot, a main command and a shutdown (see the package doc).
// Reaper, Signals, Boot, Main and Shutdown are required; Reaper.Run must be
// running for as long as Run is.
type Init struct {
	Reaper *Reaper
	// Signals are init's signals (Subscribe, or a test's channel).
	Signals <-chan os.Signal
	// Boot runs boot steps 2-5. It must return promptly, with an error,
	// when ctx is cancelled (a SIGTERM or SIGINT during boot).
	Boot func(ctx context.Context) error
	// Main returns the main command; it is called once boot is done.
	Main func() (Command, error)
	// Shutdown stops every service; it must return by ctx's deadline, with
	// an error when it could not stop them all.
	Shutdown func(ctx context.Context) error
	// StopGrace is the shutdown budget; 0 means DefaultStopGrace.
	StopGrace time.Duration
	// Stdio are the main command's stdin, stdout and stderr; a nil entry is
	// the process's own.
	Stdio [3]*os.File
	// OnMain is called when the main command starts (running=true) and
	// when it has exited (running=false).
	OnMain func(running bool, c Command)
	Logger *slog.Logger
}

// ExitError is how an init ends: Code is the process's exit status, and Err
// what ended it so (a failed boot, a main command that could not start)
// or went wrong on the way (a shutdown that outlived its budget), already
// logged; Err is nil for a plain exit status.
type ExitError struct {
	Code int
	Err  error
}

// Error is the exit status and, when there is one, its cause.
func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return fmt.Sprintf("exit status %d: %v", e.Code, e.Err)
}

// ExitCode returns Code.
func (e *ExitError) ExitCode() int { return e.Code }

// Unwrap returns Err.
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCoder is implemented by errors that carry an exit code (a failing
// hook's own code, an ExitError).
type ExitCoder interface{ ExitCode() int }

// forwarded are the signals init subscribes to.
var forwarded = []os.Signal{
	unix.SIGTERM, unix.SIGINT, unix.SIGQUIT, unix.SIGHUP,
	unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH, unix.SIGTTIN, unix.SIGTTOU,
}

func terminating(sig os.Signal) bool {
	return sig == unix.SIGTERM || sig == unix.SIGINT || sig == unix.SIGQUIT
}

// Subscribe is init's signal intake (CONTRACT §3 step 1): it gives back
// the default disposition to every signal the process inherited as
// ignored, then subscribes to the signals init forwards. stop
// unsubscribes.
func Subscribe() (sigs <-chan os.Signal, stop func()) {
	resetIgnoredSignals()
	c := make(chan os.Signal, 32)
	signal.Notify(c, forwarded...)
	return c, func() { signal.Stop(c) }
}

// BecomeSubreaper makes the process the reaper of its orphaned
// descendants, as PID 1 is: for an init that is not PID 1.
func BecomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// Run runs the boot, then the main command in the foreground, then the
// shutdown, and returns once the main command and every service are gone
// (see the package doc): nil when the main command exited 0 and every part
// ended cleanly, else an *ExitError with the exit status. The end of ctx
// is a SIGTERM.
func (in *Init) Run(ctx context.Context) error {
	if err := in.boot(ctx); err != nil {
		return in.abort(err)
	}
	m, err := in.startMain()
	if err != nil {
		return in.abort(err)
	}
	return in.wait(ctx, m)
}

func (in *Init) log() *slog.Logger {
	if in.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return in.Logger
}

func (in *Init) grace() time.Duration {
	if in.StopGrace <= 0 {
		return DefaultStopGrace
	}
	return in.StopGrace
}

// boot runs Boot, cancelling it on SIGTERM or SIGINT (or ctx's end). Its
// error is nil, or the exit status of a failed boot: 128+N for the signal
// N that cancelled it, a hook's own code, else 1.
func (in *Init) boot(ctx context.Context) *ExitError {
	bootCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- in.Boot(bootCtx) }()
	var sig os.Signal
	ended := ctx.Done()
	for {
		select {
		case s := <-in.Signals:
			if s == unix.SIGTERM || s == unix.SIGINT {
				in.log().Info("boot cancelled", "signal", s)
				sig = s
				cancel()
			}
		case <-ended:
			ended = nil
			in.log().Info("boot cancelled", "signal", unix.SIGTERM)
			sig = unix.SIGTERM
			cancel()
		case err := <-done:
			switch {
			case sig != nil:
				return &ExitError{Code: 128 + int(sig.(syscall.Signal)), Err: err}
			case err == nil:
				return nil
			}
			in.log().Error("boot failed", "err", err)
			code := 1
			var ec ExitCoder
			if errors.As(err, &ec) {
				code = ec.ExitCode()
			}
			return &ExitError{Code: code, Err: err}
		}
	}
}

// abort stops the services after a boot or a main command that failed,
// and returns its exit status with the shutdown's error.
func (in *Init) abort(x *ExitError) error {
	ctx, cancel := context.WithTimeout(context.Background(), in.grace())
	defer cancel()
	if err := in.stopServices(ctx); err != nil {
		x.Err = errors.Join(x.Err, err)
	}
	return x
}

// stopServices runs Shutdown, logging its error.
func (in *Init) stopServices(ctx context.Context) error {
	err := in.Shutdown(ctx)
	if err != nil {
		in.log().Warn("services still running at the end of the stop budget", "budget", in.grace(), "err", err)
	}
	return err
}

// mainProc is the running main command.
type mainProc struct {
	cmd    Command
	pid    int
	exited chan unix.WaitStatus
}

// startMain prepares and spawns the main command (CONTRACT §3 step 6).
// Its error is the exit status of a command that cannot run: 1 when it
// cannot be prepared, 127 when it does not exist, else 126.
func (in *Init) startMain() (*mainProc, *ExitError) {
	cmd, err := in.Main()
	if err != nil {
		in.log().Error("cannot prepare the main command", "err", err)
		return nil, &ExitError{Code: 1, Err: err}
	}
	files := []*os.File{os.Stdin, os.Stdout, os.Stderr}
	for i, f := range in.Stdio {
		if f != nil {
			files[i] = f
		}
	}
	m := &mainProc{cmd: cmd, exited: make(chan unix.WaitStatus, 1)}
	m.pid, err = in.Reaper.Spawn(cmd.Path, cmd.Argv, &os.ProcAttr{
		Dir:   cmd.Dir,
		Env:   cmd.Env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			Setpgid:    true,
			Foreground: cmd.Terminal,
			Ctty:       0,
			Credential: cmd.Cred,
		},
	}, func(ws unix.WaitStatus) { m.exited <- ws })
	if err != nil {
		code := 126
		if errors.Is(err, unix.ENOENT) {
			code = 127
		}
		fmt.Fprintf(files[2], "hermes: cannot run %s: %v\n", cmd.Argv[0], err)
		return nil, &ExitError{Code: code, Err: err}
	}
	if in.OnMain != nil {
		in.OnMain(true, cmd)
	}
	return m, nil
}

// wait forwards signals to the running main command (CONTRACT §3 step 7)
// and runs the shutdown once the command has exited or a terminating
// signal arrives: the services stop in parallel with the command, and the
// command is SIGKILLed if it outlives the stop budget. It returns once
// both are over.
func (in *Init) wait(ctx context.Context, m *mainProc) error {
	code, ended := -1, ctx.Done()
	var sd *shutdown // nil until the shutdown begins
	begin := func() {
		if sd == nil {
			sd = in.beginShutdown()
		}
	}
	defer func() { sd.stopTimer() }()
	forward := func(sig os.Signal) {
		if code < 0 && m.forward(sig, in.log()) && terminating(sig) {
			begin()
		}
	}
	for code < 0 || sd == nil || !sd.over {
		select {
		case sig := <-in.Signals:
			forward(sig)
		case <-ended:
			ended = nil
			forward(unix.SIGTERM)
		case ws := <-m.exited:
			code = exitCode(ws)
			if in.OnMain != nil {
				in.OnMain(false, m.cmd)
			}
			begin()
		case sd.err = <-sd.stopped():
			sd.over = true
		case <-sd.deadline():
			sd.timer = nil
			if code < 0 {
				in.log().Warn("main command outlived the stop budget; killing it", "pid", m.pid, "budget", in.grace())
				m.kill()
			}
		}
	}
	in.Reaper.Reap()
	if code == 0 && sd.err == nil {
		return nil
	}
	return &ExitError{Code: code, Err: sd.err}
}

// forward sends sig to the main command, except the terminal's job
// control signals (SIGTTIN, SIGTTOU), which are init's own; it reports
// whether sig was forwarded.
func (m *mainProc) forward(sig os.Signal, log *slog.Logger) bool {
	if sig == unix.SIGTTIN || sig == unix.SIGTTOU {
		return false
	}
	if err := unix.Kill(m.pid, sig.(syscall.Signal)); err != nil && !errors.Is(err, unix.ESRCH) {
		log.Warn("cannot forward signal", "signal", sig, "err", err)
	}
	return true
}

// kill SIGKILLs the main command and its process group.
func (m *mainProc) kill() {
	_ = unix.Kill(-m.pid, unix.SIGKILL)
	_ = unix.Kill(m.pid, unix.SIGKILL)
}

// shutdown is a shutdown under way: Shutdown running within the stop
// budget, and the budget's timer for the main command. Its methods are
// safe on nil (no shutdown yet): their channels are then nil.
type shutdown struct {
	done  chan error
	timer *time.Timer // nil once it has fired
	over  bool        // Shutdown has returned
	err   error       // its error
}

// beginShutdown starts Shutdown and the stop budget's timer.
func (in *Init) beginShutdown() *shutdown {
	sd := &shutdown{done: make(chan error, 1), timer: time.NewTimer(in.grace())}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), in.grace())
		defer cancel()
		sd.done <- in.stopServices(ctx)
	}()
	return sd
}

func (sd *shutdown) stopped() <-chan error {
	if sd == nil || sd.over {
		return nil
	}
	return sd.done
}

func (sd *shutdown) deadline() <-chan time.Time {
	if sd == nil || sd.timer == nil {
		return nil
	}
	return sd.timer.C
}

func (sd *shutdown) stopTimer() {
	if sd != nil && sd.timer != nil {
		sd.timer.Stop()
	}
}

// exitCode is the shell's convention: the exit status, or 128+N for a death
// by signal N.
func exitCode(ws unix.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 1
}
