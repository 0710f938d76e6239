package cli

import (
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/hermes-agent/hermes/internal/hostenv"
)

// newRoot builds the whole command line of hermes for one run.
//
// This is the one place that lists every command. To add one: write
// newXCmd(e *Env) *cobra.Command in the file of its group (see command.go
// for how a command is declared: Use, Short, RunE, flags), and add it to
// the AddCommand list below (a subcommand to its group's constructor
// instead). finish then gives it the help text, the argument checks from
// its Use line, the refusal of a flag given twice and the typo
// suggestions; nothing else needs registering.
func newRoot(e *Env) *cobra.Command {
	// Commands are listed in the order they are added (a group's in the
	// order a person uses them), not sorted.
	keepOrder.Do(func() { cobra.EnableCommandSorting = false })
	var showVersion bool
	root := &cobra.Command{
		Use:   "hermes",
		Short: "the whole runtime of an agent container",
		Long: `hermes is the whole runtime of an agent container: its init and supervisor,
one gateway per profile, the dashboard and this command line. On a terminal,
hermes alone opens the chat; otherwise it prints this help.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			switch {
			case showVersion:
				return runVersion(e, false)
			case len(args) > 0:
				return unknownCommand(c, args[0])
			}
			return c.Help()
		},
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	root.PersistentFlags().StringVarP(&e.Profile, "profile", "p", e.Profile, "the profile `NAME` to act on, before or after the command\n(default: the active one)")
	root.Flags().BoolVarP(&showVersion, "version", "V", false, "print the version")
	root.AddCommand(
		newChatCmd(e),
		newCompletionCmd(e),
		newConfigCmd(e),
		newDashboardCmd(e),
		newDoctorCmd(e),
		newDumpCmd(e),
		newEnvCmd(e),
		newGatewayCmd(e),
		newInitCmd(e),
		newLoginCmd(e),
		newLogsCmd(e),
		newProfileCmd(e),
		newSeedsCmd(e),
		newSessionsCmd(e),
		newSvcCmd(e),
		newVersionCmd(e),
	)
	root.SetHelpCommand(newHelpCmd())
	root.InitDefaultHelpCmd()
	completeProfiles(e, root)
	finish(e, root)
	return root
}

var keepOrder sync.Once

// IsSubcommand reports whether name is a hermes subcommand. hermes init uses
// it to route the main command (CONTRACT §3 step 6).
func IsSubcommand(name string) bool {
	subcommands.once.Do(func() {
		subcommands.names = map[string]bool{}
		for _, c := range newRoot(&Env{Host: hostenv.OS()}).Commands() {
			subcommands.names[c.Name()] = true
			for _, a := range c.Aliases {
				subcommands.names[a] = true
			}
		}
	})
	return subcommands.names[name]
}

// subcommands are the names and aliases of the commands, from the command
// table, built once.
var subcommands struct {
	once  sync.Once
	names map[string]bool
}

// newHelpCmd is hermes help [COMMAND...]: the help of hermes or of a
// command.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND...]",
		Short: "show the help of hermes or of a command",
		Args:  cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			target := c.Root()
			for _, word := range args {
				next := findSub(target, word)
				if next == nil {
					return unknownCommand(target, word)
				}
				target = next
			}
			return target.Help()
		},
		ValidArgsFunction: func(c *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
			target := c.Root()
			for _, word := range args {
				if target = findSub(target, word); target == nil {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
			}
			var names []cobra.Completion
			for _, sub := range target.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), prefix) {
					names = append(names, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
	}
}

// findSub is the subcommand of c named (or aliased) word, or nil.
func findSub(c *cobra.Command, word string) *cobra.Command {
	for _, sub := range c.Commands() {
		if sub.Name() == word || sub.HasAlias(word) {
			return sub
		}
	}
	return nil
}
