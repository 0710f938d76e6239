package cli

import (
	"context"
	"fmt"

	"github.com/hermes-agent/hermes/internal/buildinfo"
)

func init() {
	register(command{name: "version", summary: "print the version", run: runVersion})
}

func runVersion(ctx context.Context, e *Env, args []string) error {
	fmt.Fprintf(e.Stdout, "hermes %s\n", buildinfo.Version())
	return nil
}
