package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/hermes-agent/hermes/internal/profiles"
)

// newCompletionCmd is hermes completion bash|zsh|fish: the script that
// completes hermes' commands, flags and profile names in that shell.
func newCompletionCmd(e *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "print the shell completion script for bash, zsh or fish",
		Long: `Prints a script that completes hermes' commands, flags and profile names.

  bash:  source <(hermes completion bash)        (or save it in
         /etc/bash_completion.d/hermes; needs the bash-completion package)
  zsh:   source <(hermes completion zsh)         (or save it as _hermes in a
         directory of $fpath; compinit must be loaded)
  fish:  hermes completion fish | source         (or save it in
         ~/.config/fish/completions/hermes.fish)`,
		ValidArgs: []cobra.Completion{"bash", "zsh", "fish"},
		Args: func(c *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return usageError("missing the shell: usage: %s", usageLine(c))
			case len(args) > 1:
				return usageError("unexpected argument %q: usage: %s", args[1], usageLine(c))
			}
			switch args[0] {
			case "bash", "zsh", "fish":
				return nil
			}
			return usageError("unknown shell %q%s (usage: %s)", args[0], didYouMean(args[0], []string{"bash", "zsh", "fish"}, ""), usageLine(c))
		},
		RunE: func(c *cobra.Command, args []string) error {
			root := c.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(e.Stdout, true)
			case "zsh":
				return root.GenZshCompletion(e.Stdout)
			}
			return root.GenFishCompletion(e.Stdout, true)
		},
	}
}

// completeProfiles completes -p/--profile, and the NAME of the profile
// commands, with the profiles of HERMES_HOME.
func completeProfiles(e *Env, root *cobra.Command) {
	names := func(c *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var out []cobra.Completion
		if e.Host.Getenv == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		home, err := e.Host.Home()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		list, _ := profiles.List(home)
		for _, r := range list {
			if n := r.Name(); strings.HasPrefix(n, prefix) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	_ = root.RegisterFlagCompletionFunc("profile", names)
	profile := findSub(root, "profile")
	for _, sub := range []string{"delete", "use", "show"} {
		if c := findSub(profile, sub); c != nil {
			c.ValidArgsFunction = func(c *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
				if len(args) > 0 {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
				return names(c, args, prefix)
			}
		}
	}
}
