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
// N).
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

// Init runs a boot, a main command and a shutdown. All fields but Logger and
// OnMain are required.
type Init struct {
	Reaper *Reaper
	// Boot runs boot steps 2-5. It must return promptly, with an error,
	// when ctx is cancelled (a SIGTERM or SIGINT during boot).
	Boot func(ctx context.Context) error
	// Main returns the main command; it is called once boot is done.
	Main func() (Command, error)
	// Shutdown stops every service; it must return by ctx's deadline.
	Shutdown func(ctx context.Context)
	// StopGrace is the shutdown budget; 0 means DefaultStopGrace.
	StopGrace time.Duration
	// OnMain is called when the main command starts (running=true) and
	// when it has exited (running=false).
	OnMain func(running bool, c Command)
	Logger *slog.Logger
}

// ExitCoder is implemented by boot errors that carry an exit code (a
// failing hook's own code).
type ExitCoder interface{ ExitCode() int }

// forwarded are the signals init subscribes to.
var forwarded = []os.Signal{
	unix.SIGTERM, unix.SIGINT, unix.SIGQUIT, unix.SIGHUP,
	unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH, unix.SIGTTIN, unix.SIGTTOU,
}

func terminating(sig os.Signal) bool {
	return sig == unix.SIGTERM || sig == unix.SIGINT || sig == unix.SIGQUIT
}

// Run runs the init sequence and returns the process exit code. It returns
// once the main command and every service are gone (see the package doc).
func (in *Init) Run(ctx context.Context) int {
	log := in.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	resetIgnoredSignals()
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	if os.Getpid() != 1 {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			log.Warn("cannot become a child subreaper; orphans will not be reaped", "err", err)
		}
	}
	reapCtx, stopReaper := context.WithCancel(context.Background())
	reaped := make(chan struct{})
	go func() {
		_ = in.Reaper.Run(reapCtx)
		close(reaped)
	}()
	defer func() {
		stopReaper()
		<-reaped
	}()
	grace := in.StopGrace
	if grace <= 0 {
		grace = DefaultStopGrace
	}

	// Boot, cancellable by SIGTERM/SIGINT.
	bootCtx, cancelBoot := context.WithCancel(ctx)
	defer cancelBoot()
	bootDone := make(chan error, 1)
	go func() { bootDone <- in.Boot(bootCtx) }()
	var bootSig os.Signal
	var bootErr error
boot:
	for {
		select {
		case sig := <-sigs:
			if sig == unix.SIGTERM || sig == unix.SIGINT {
				log.Info("boot cancelled", "signal", sig)
				bootSig = sig
				cancelBoot()
			}
		case bootErr = <-bootDone:
			break boot
		}
	}
	if bootSig != nil || bootErr != nil {
		code := 1
		switch {
		case bootSig != nil:
			code = 128 + int(bootSig.(syscall.Signal))
		default:
			var ec ExitCoder
			if errors.As(bootErr, &ec) {
				code = ec.ExitCode()
			}
			log.Error("boot failed", "err", bootErr)
		}
		in.stopServices(grace)
		return code
	}

	cmd, err := in.Main()
	if err != nil {
		log.Error("cannot prepare the main command", "err", err)
		in.stopServices(grace)
		return 1
	}
	mainDone := make(chan unix.WaitStatus, 1)
	pid, err := in.Reaper.Spawn(cmd.Path, cmd.Argv, &os.ProcAttr{
		Dir:   cmd.Dir,
		Env:   cmd.Env,
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys: &syscall.SysProcAttr{
			Setpgid:    true,
			Foreground: cmd.Terminal,
			Ctty:       0,
			Credential: cmd.Cred,
		},
	}, func(ws unix.WaitStatus) { mainDone <- ws })
	if err != nil {
		code := 126
		if errors.Is(err, unix.ENOENT) {
			code = 127
		}
		fmt.Fprintf(os.Stderr, "hermes: cannot run %s: %v\n", cmd.Argv[0], err)
		in.stopServices(grace)
		return code
	}
	if in.OnMain != nil {
		in.OnMain(true, cmd)
	}

	var (
		code         = -1
		shutting     bool
		servicesDone chan struct{} // nil until the shutdown begins, and again once it is over
		stopped      bool
		deadline     <-chan time.Time
	)
	beginShutdown := func() {
		if shutting {
			return
		}
		shutting = true
		servicesDone = make(chan struct{})
		done := servicesDone
		t := time.NewTimer(grace)
		deadline = t.C
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), grace)
			defer cancel()
			in.Shutdown(ctx)
			close(done)
		}()
	}
	for code < 0 || !stopped {
		select {
		case sig := <-sigs:
			if sig == unix.SIGTTIN || sig == unix.SIGTTOU || code >= 0 {
				continue
			}
			if err := unix.Kill(pid, sig.(syscall.Signal)); err != nil && !errors.Is(err, unix.ESRCH) {
				log.Warn("cannot forward signal", "signal", sig, "err", err)
			}
			if terminating(sig) {
				beginShutdown()
			}
		case ws := <-mainDone:
			code = exitCode(ws)
			if in.OnMain != nil {
				in.OnMain(false, cmd)
			}
			beginShutdown()
		case <-servicesDone:
			servicesDone, stopped = nil, true
		case <-deadline:
			deadline = nil
			if code < 0 {
				log.Warn("main command outlived the stop budget; killing it", "pid", pid, "budget", grace)
				_ = unix.Kill(-pid, unix.SIGKILL)
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
	in.Reaper.Reap()
	return code
}

func (in *Init) stopServices(grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	in.Shutdown(ctx)
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
