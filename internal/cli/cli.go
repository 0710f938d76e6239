// Package cli is the edge of hermes: it parses the command line, wires the
// domain packages together for the chosen subcommand, and maps every error
// to an exit code and a one-line message in exactly one place (exitCode).
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
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"

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

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *Env, args []string) error
	// hidden commands are not listed in help.
	hidden bool
	// ownsInterrupt: the command handles SIGINT itself (chat: Ctrl-C ends a
	// reply, not the program); its context ends on SIGTERM only.
	ownsInterrupt bool
}

// commands is the table of subcommands, filled by the init functions of the
// files that implement them (one file per subcommand).
var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("cli: duplicate command " + c.name)
	}
	commands[c.name] = c
}

// IsSubcommand reports whether name is a hermes subcommand. hermes init uses
// it to route the main command (CONTRACT §3 step 6).
func IsSubcommand(name string) bool {
	_, ok := commands[name]
	return ok
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

// dispatch parses the global flags and runs the subcommand with a context
// derived from parent that ends on SIGTERM, and on SIGINT unless the
// command owns it.
func (e *Env) dispatch(parent context.Context, args []string) error {
	// Global flags come before the subcommand.
	for len(args) > 0 {
		a := args[0]
		switch {
		case a == "-p" || a == "--profile":
			if len(args) < 2 {
				return usageError("%s needs a profile name", a)
			}
			e.Profile, args = args[1], args[2:]
		case strings.HasPrefix(a, "--profile="):
			e.Profile, args = strings.TrimPrefix(a, "--profile="), args[1:]
		case a == "-h" || a == "--help" || a == "help":
			e.help()
			return nil
		case a == "--version" || a == "-V":
			args = []string{"version"}
		default:
			goto dispatch
		}
	}
dispatch:
	if len(args) == 0 {
		// On a terminal, hermes alone opens the chat; otherwise, help.
		if e.terminal() {
			args = []string{"chat"}
		} else {
			e.help()
			return nil
		}
	}
	c, ok := commands[args[0]]
	if !ok {
		return usageError("unknown command %q (see hermes help)", args[0])
	}
	sigs := []os.Signal{unix.SIGTERM}
	if !c.ownsInterrupt {
		sigs = append(sigs, unix.SIGINT)
	}
	ctx, stop := signal.NotifyContext(parent, sigs...)
	defer stop()
	return c.run(ctx, e, args[1:])
}

// terminal reports whether stdin is a terminal: a person is typing.
func (e *Env) terminal() bool { return terminal(e.Stdin) }

func (e *Env) help() {
	fmt.Fprintln(e.Stdout, "usage: hermes [-p PROFILE] <command> [arguments]")
	fmt.Fprintln(e.Stdout)
	fmt.Fprintln(e.Stdout, "commands:")
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(e.Stdout, "  %-10s %s\n", n, commands[n].summary)
	}
}

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
	fmt.Fprintf(e.Stdout, "✗ %s\n", oneLine(msg))
	if errors.Is(err, ErrNoSupervisor) {
		return 3
	}
	return 1
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// parseFlags parses a subcommand's flags. -h or --help prints usage and the
// flags on stdout and returns help=true (the command then exits 0); any
// other problem is a usage error on the ✗ line.
func (e *Env) parseFlags(fs *flag.FlagSet, usage string, args []string) (help bool, err error) {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(e.Stdout, usage)
			fs.SetOutput(e.Stdout)
			fs.PrintDefaults()
			return true, nil
		}
		return false, usageError("%s: %v (see hermes %s --help)", fs.Name(), err, fs.Name())
	}
	return false, nil
}
