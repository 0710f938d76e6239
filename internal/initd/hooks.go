package initd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultHooksDir holds the extension hooks of an image (CONTRACT §3 step 4).
const DefaultHooksDir = "/etc/hermes/init.d"

// hookTermGrace is how long a cancelled hook's process group has between
// SIGTERM and SIGKILL, and hookKillWait how long RunHooks then waits for
// the SIGKILLed hook's exit before it returns anyway: a cancelled boot must
// end well inside Docker's stop timeout.
const (
	hookTermGrace = 2 * time.Second
	hookKillWait  = time.Second
)

// HookError is the error of a hook that failed: it exited non-zero, died of
// a signal, or could not be started. It implements ExitCoder, so that init
// exits with the hook's own code.
type HookError struct {
	Path string
	// Code is the hook's exit status, 128+N for a death by signal N, 126
	// when it could not be executed and 127 when it (or its interpreter)
	// does not exist.
	Code int
	// Signal is the signal that killed the hook, 0 when it exited.
	Signal syscall.Signal
	// Err is the error of a hook that could not be started.
	Err error
}

// Error names the hook and says how it failed.
func (e *HookError) Error() string {
	switch {
	case e.Err != nil:
		return fmt.Sprintf("init hook %s could not be started (exit %d): %v", e.Path, e.Code, e.Err)
	case e.Signal != 0:
		return fmt.Sprintf("init hook %s was killed by %s (exit %d); boot stopped", e.Path, unix.SignalName(e.Signal), e.Code)
	}
	return fmt.Sprintf("init hook %s exited with status %d; boot stopped", e.Path, e.Code)
}

// ExitCode returns the hook's exit code (see Code).
func (e *HookError) ExitCode() int { return e.Code }

// Unwrap returns the start error, if any.
func (e *HookError) Unwrap() error { return e.Err }

// RunHooks runs the extension hooks of CONTRACT §3 step 4: every executable
// regular file in dir (a symlink to one counts), one at a time in lexical
// order of their names, each as the caller's user (root, in a container)
// with args (the main command's arguments) as its arguments, env as its
// environment, stdin /dev/null and the given stdout and stderr, in a
// process group of its own.
//
// Hooks are started with r.Spawn, never with os/exec: the Reaper owns
// wait(2), and r.Run must be running. A missing dir means no hooks; a file
// that is not executable is skipped with a warning on stderr. The first
// hook that fails stops the run with a *HookError (an ExitCoder carrying
// the hook's code). When ctx is cancelled (SIGTERM during boot), the running
// hook's process group gets SIGTERM, then SIGKILL after a short grace, and
// RunHooks returns an error wrapping ctx.Err() without waiting longer.
func RunHooks(ctx context.Context, r *Reaper, dir string, args []string, env []string, stdout, stderr *os.File) error {
	hooks, err := listHooks(dir, stderr)
	if err != nil {
		return err
	}
	if len(hooks) == 0 {
		return nil
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return fmt.Errorf("init hooks: opening %s for their stdin: %w", os.DevNull, err)
	}
	defer null.Close()
	for _, path := range hooks {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("init hooks cancelled before %s: %w", path, err)
		}
		if err := runHook(ctx, r, path, args, env, [3]*os.File{null, stdout, stderr}); err != nil {
			return err
		}
	}
	return nil
}

// listHooks returns the paths of the hooks in dir, in lexical order.
func listHooks(dir string, warn *os.File) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("init hooks: reading %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		fi, err := os.Stat(path) // a symlink in the image's hook dir is followed
		switch {
		case err != nil:
			warnf(warn, "skipping init hook %s: %v", path, err)
		case !fi.Mode().IsRegular():
			warnf(warn, "skipping %s in %s: not a regular file", e.Name(), dir)
		case fi.Mode().Perm()&0o111 == 0:
			warnf(warn, "skipping init hook %s: not executable (mode %s); chmod +x it to run it at boot", path, fi.Mode().Perm())
		default:
			out = append(out, path)
		}
	}
	return out, nil
}

// HasHooks reports whether dir may hold a hook for RunHooks: false only
// when it is missing or empty, so that the caller knows nothing can run
// between what it does before step 4 and after it.
func HasHooks(dir string) bool {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		return true
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	return len(names) > 0 || err != nil && !errors.Is(err, io.EOF)
}

func warnf(w *os.File, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, "hermes init: warning: "+format+"\n", args...)
	}
}

// runHook runs one hook to completion (or cancellation).
func runHook(ctx context.Context, r *Reaper, path string, args, env []string, files [3]*os.File) error {
	done := make(chan unix.WaitStatus, 1)
	argv := append([]string{path}, args...)
	pid, err := r.Spawn(path, argv, &os.ProcAttr{
		Env:   env,
		Files: files[:],
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	}, func(ws unix.WaitStatus) { done <- ws })
	if err != nil {
		code := 126
		if errors.Is(err, unix.ENOENT) {
			code = 127
		}
		return &HookError{Path: path, Code: code, Err: err}
	}
	select {
	case ws := <-done:
		return hookResult(path, ws)
	case <-ctx.Done():
	}
	// Cancelled: the hook and whatever it started go first politely, then
	// not.
	_ = unix.Kill(-pid, unix.SIGTERM)
	t := time.NewTimer(hookTermGrace)
	defer t.Stop()
	select {
	case <-done:
		return fmt.Errorf("init hook %s stopped: %w", path, ctx.Err())
	case <-t.C:
	}
	_ = unix.Kill(-pid, unix.SIGKILL)
	t.Reset(hookKillWait)
	select {
	case <-done:
	case <-t.C:
	}
	return fmt.Errorf("init hook %s killed after ignoring SIGTERM for %s: %w", path, hookTermGrace, ctx.Err())
}

func hookResult(path string, ws unix.WaitStatus) error {
	code := exitCode(ws)
	if code == 0 {
		return nil
	}
	e := &HookError{Path: path, Code: code}
	if ws.Signaled() {
		e.Signal = ws.Signal()
	}
	return e
}
