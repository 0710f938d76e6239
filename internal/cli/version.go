package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/hermes-agent/hermes/internal/buildinfo"
)

func newVersionCmd(e *Env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version [--json]",
		Short: "print the version",
		RunE:  func(*cobra.Command, []string) error { return runVersion(e, asJSON) },
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the version, the commit and the Go release as JSON")
	return c
}

// versionJSON is hermes version --json.
type versionJSON struct {
	Version string `json:"version"`
	// Commit is the full sha, "" when unknown; Short is "(unknown)" then.
	Commit       string `json:"commit"`
	Short        string `json:"short"`
	CommitSource string `json:"commit_source,omitempty"`
	Go           string `json:"go"`
	Platform     string `json:"platform"`
}

func runVersion(e *Env, asJSON bool) error {
	if asJSON {
		sha, source := buildinfo.Commit()
		return printJSON(e.Stdout, versionJSON{
			Version: buildinfo.Version(), Commit: sha, Short: buildinfo.Short(), CommitSource: source,
			Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		})
	}
	fmt.Fprintf(e.Stdout, "hermes %s\n", buildinfo.Version())
	return nil
}
