// Package cli is the edge of hermes: it parses the command line (the
// cobra command tree newRoot builds, one file per command group), wires
// the domain packages together for the chosen subcommand, and maps every
// error to an exit code and a one-line message in exactly one place
// (exitCode).
// hermes init is boot's (boot.Init): cli hands it the process and maps its
// *boot.ExitError, and imports none of the packages that only the boot
// uses (initd, reconcile, volume).
//
// Output conventions (CONTRACT §4): results and ✓/✗ lines go to stdout,
// diagnostics and warnings to stderr; exit 0 on success, 1 with a one-line
// "✗ <detail>" on failure, 3 when a command needs a supervisor and none
// answers; never a stack trace.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/boot"
	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/safefs"
)

// Env is what a subcommand may touch of its process: streams, environment
// and the global flags. Tests build one with buffers.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Host           hostenv.Env
	// Profile is the value of the global -p/--profile flag ("" when absent).
	Profile string
	// Exe is the path of the running hermes binary.
	Exe string
}

// Main runs hermes with args (without the program name) and returns the
// process exit code.
func Main(args []string) int {
	exe, err := os.Executable()
	if err != nil {
		exe = "/proc/self/exe"
	}
	e := &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Host: hostenv.OS(), Exe: exe}
	if dropNeeded(e.Host, os.Geteuid(), args) {
		return e.dropRoot(args)
	}
	return e.Main(args)
}

// Main is Main with an explicit environment.
func (e *Env) Main(args []string) int {
	return e.exitCode(e.dispatch(context.Background(), args))
}

// dispatch parses the command line (newRoot) and runs the command with a
// context derived from parent that ends on SIGTERM, and on SIGINT unless
// the command owns it.
func (e *Env) dispatch(parent context.Context, args []string) error {
	if len(args) >= 2 && args[0] == initCommand && args[1] == "--" {
		// The image's ENTRYPOINT (hermes init -- CMD…): everything after
		// "--" is the main command's, so there is nothing to parse, and
		// PID 1 does not build the whole command table before its boot.
		// init handles its own signals and ignores parent's end.
		return runInit(parent, e, args[1:])
	}
	if onlyProfile(args) && e.terminal() {
		// On a terminal, hermes alone (or hermes -p NAME) opens the chat;
		// otherwise, help.
		args = append(args, "chat")
	}
	if args == nil {
		// cobra reads os.Args for nil (a test binary's own flags: -update).
		args = []string{}
	}
	root := newRoot(e)
	root.SetArgs(args)
	c, rest, err := root.Find(args)
	if err == nil && c == root && len(args) > 0 && args[0] != cobra.ShellCompRequestCmd && args[0] != cobra.ShellCompNoDescRequestCmd {
		// A word that is no command, said before any flag after it is
		// taken for one of hermes' own.
		if w := firstWord(rest); w != "" {
			return unknownCommand(root, w)
		}
	}
	sigs := []os.Signal{unix.SIGTERM}
	if err != nil || !ownsInterrupt(c) {
		sigs = append(sigs, unix.SIGINT)
	}
	ctx, stop := signal.NotifyContext(parent, sigs...)
	defer stop()
	return root.ExecuteContext(ctx)
}

// onlyProfile reports whether args are nothing but -p/--profile NAME.
func onlyProfile(args []string) bool {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case (a == "-p" || a == "--profile") && i+1 < len(args):
			i++
		case strings.HasPrefix(a, "--profile=") || strings.HasPrefix(a, "-p") && len(a) > 2:
		default:
			return false
		}
	}
	return true
}

// firstWord is the first argument that is neither a global flag nor its
// value, before any "--".
func firstWord(args []string) string {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--":
			return ""
		case a == "-p" || a == "--profile":
			i++
		case strings.HasPrefix(a, "-"):
		default:
			return a
		}
	}
	return ""
}

// terminal reports whether stdin is a terminal: a person is typing.
func (e *Env) terminal() bool { return terminal(e.Stdin) }

// ExitError ends the process with Code after printing nothing more: the
// command has already said what it had to say.
type ExitError struct{ Code int }

func (x *ExitError) Error() string { return fmt.Sprintf("exit status %d", x.Code) }

// ErrNoSupervisor is wrapped when a command needs a supervisor and none
// answers on the control socket; it maps to exit code 3.
var ErrNoSupervisor = control.ErrUnavailable

// errUsage marks bad command lines (exit 2 would be conventional, but the
// contract has one failure code: 1).
var errUsage = errors.New("usage")

func usageError(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
}

// exitCode is the one place where errors become exit codes and messages.
func (e *Env) exitCode(err error) int {
	if err == nil {
		return 0
	}
	var x *ExitError
	if errors.As(err, &x) {
		return x.Code
	}
	var bx *boot.ExitError
	if errors.As(err, &bx) {
		return bx.Code // init has printed its own diagnostics
	}
	msg := err.Error()
	if errors.Is(err, errUsage) {
		msg = strings.TrimPrefix(msg, errUsage.Error()+": ")
	}
	if os.Geteuid() == 0 && (errors.Is(err, safefs.ErrSymlink) || errors.Is(err, safefs.ErrHardLink) || errors.Is(err, safefs.ErrNotRegular)) {
		msg += "; nothing was written: running as root, hermes never follows a symbolic link (nor writes a hard-linked or special file) below HERMES_HOME, which the hermes user can change; remove it, or run the command as the hermes user (without " + execAsRoot + ")"
	}
	fmt.Fprintf(e.Stdout, "%s %s\n", paint(e.colour(e.Stdout), colourRed, "✗"), oneLine(msg))
	if errors.Is(err, ErrNoSupervisor) {
		return 3
	}
	return 1
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
