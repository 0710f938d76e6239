package cli

import (
	"context"
	"log/slog"
	"os"

	"github.com/hermes-agent/hermes/internal/boot"
)

func init() {
	register(command{name: "init", summary: "run as the container's init: hermes init [--] CMD...", run: runInit, hidden: true})
}

// runInit is `hermes init [--] CMD...` (CONTRACT §3): boot.Init with this
// process's stdio, identity and environment. Init prints its own
// diagnostics and ends with a *boot.ExitError, which exitCode maps. The
// main command's arguments are never init's flags. Init takes its own
// signals (and forwards them to the main command), so the dispatcher's
// signal context must not also end it.
func runInit(ctx context.Context, e *Env, args []string) error {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	in := &boot.Init{
		Args: args, Exe: e.Exe, Env: e.Host,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Process:      boot.Self(),
		IsSubcommand: IsSubcommand,
		Logger:       slog.New(newLineHandler(e.Stderr, "hermes init: ")),
	}
	return in.Run(context.WithoutCancel(ctx))
}
