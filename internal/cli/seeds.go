package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hermes-agent/hermes/internal/profiles"
)

func init() {
	register(command{name: "seeds", summary: "write the built-in first-boot seeds: seeds --dir DIR (image builds)", run: runSeeds, hidden: true})
}

// runSeeds is `hermes seeds --dir DIR`: it writes the built-in seeds of a
// first boot (SOUL.md, config.yaml, env.example) into DIR, so that an image
// ships them under /opt/hermes/share/ from the very binary it runs, and a
// derived image can replace them. env.example carries no key: the first
// boot appends a fresh API_SERVER_KEY to the .env it makes from it.
func runSeeds(_ context.Context, e *Env, args []string) error {
	flags := flag.NewFlagSet("seeds", flag.ContinueOnError)
	dir := flags.String("dir", "", "the `DIR` to write the seeds into")
	if help, err := e.parseFlags(flags, "usage: hermes seeds --dir DIR\n\nWrites the built-in first-boot seeds (for an image's /opt/hermes/share).\n\n", args); help || err != nil {
		return err
	}
	if *dir == "" || flags.NArg() > 0 {
		return usageError("usage: hermes seeds --dir DIR")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
	}{
		{"SOUL.md", profiles.DefaultSOUL(profiles.Default)},
		{"config.yaml", profiles.DefaultConfig(profiles.DefaultGatewayPort)},
		{"env.example", []byte("# secrets of the default profile (mode 0600), added to its gateway's environment;\n# the first boot appends a fresh API_SERVER_KEY\n")},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(*dir, f.name), f.data, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "✓ %s\n", filepath.Join(*dir, f.name))
	}
	return nil
}
