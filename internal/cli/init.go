package cli

import (
	"context"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/hermes-agent/hermes/internal/boot"
)

// initCommand is the name of hermes init (dispatch runs the ENTRYPOINT's
// form, init --, without the command table).
const initCommand = "init"

// newInitCmd is hermes init. Its arguments are the main command's, never
// its own flags: only a first -h or --help asks for its help (hermes init
// -- --help runs the main command --help).
func newInitCmd(e *Env) *cobra.Command {
	return &cobra.Command{
		Use:   initCommand + " [--] [CMD [ARGS...]]",
		Short: "run as the container's init (PID 1): supervisor, then the main command",
		Long: `Runs as the container's init (the image's ENTRYPOINT is hermes init --): it
prepares HERMES_HOME, starts the supervisor (gateways, dashboard, services) and
then the main command CMD: a hermes subcommand (hermes gateway run) or a
program on PATH, as the hermes user; without one, hermes alone. Signals are
forwarded to it and its exit code is the container's. Nothing after init is
read as init's flag: hermes init -- --help runs the main command with --help.`,
		DisableFlagParsing: true,
		Args:               cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
				return c.Help()
			}
			return runInit(c.Context(), e, args)
		},
	}
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
