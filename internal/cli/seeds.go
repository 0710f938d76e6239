package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
)

func newSeedsCmd(e *Env) *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "seeds --dir DIR",
		Short: "write the built-in first-boot seeds into DIR (for image builds)",
		Long: `Writes the built-in first-boot seeds (SOUL.md, config.yaml, env.example) into
DIR, so that an image ships them under /opt/hermes/share from the very binary
it runs, and a derived image can replace them.`,
		RunE: func(c *cobra.Command, _ []string) error {
			if dir == "" {
				return usageError("missing --dir DIR: usage: %s", usageLine(c))
			}
			return runSeeds(e, dir)
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "the `DIR` to write the seeds into")
	return c
}

// runSeeds is `hermes seeds --dir DIR`: it writes the built-in seeds of a
// first boot (SOUL.md, config.yaml, env.example) into DIR, so that an image
// ships them under /opt/hermes/share/ from the very binary it runs, and a
// derived image can replace them. env.example carries no key: the first
// boot appends a fresh API_SERVER_KEY to the .env it makes from it.
func runSeeds(e *Env, dir string) error {
	d, err := seedsDir(e, dir)
	if err != nil {
		return err
	}
	defer d.Close()
	files := []struct {
		name string
		data []byte
	}{
		{profiles.FileSOUL, profiles.DefaultSOUL(profiles.Default)},
		{profiles.FileConfig, profiles.DefaultConfig(profiles.DefaultGatewayPort)},
		{"env.example", []byte("# secrets of the default profile (mode 0600), added to its gateway's environment;\n# the first boot appends a fresh API_SERVER_KEY\n")},
	}
	for _, f := range files {
		// Replaced (temporary file and rename), never written through a
		// symlink or into a hard link at the name.
		if err := d.WriteFileAtomic(f.name, f.data, 0o644, safefs.Keep); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "✓ %s\n", filepath.Join(dir, f.name))
	}
	return nil
}

// seedsDir creates and opens the seeds' directory. Below HERMES_HOME as
// root, every component below the home is made and opened through safefs
// (never a symlink the hermes uid planted there); anywhere else the
// directory is the operator's path, as given.
func seedsDir(e *Env, dir string) (*safefs.Dir, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if home, herr := e.Host.Home(); herr == nil && os.Geteuid() == 0 {
		if parent, name, serr := safefs.Split(home, dir); serr == nil {
			base, err := safefs.OpenBase(home)
			if err != nil {
				return nil, err
			}
			defer base.Close()
			return base.MkdirAll(filepath.Join(parent, name), 0o755, safefs.Keep)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return safefs.OpenBase(dir)
}
