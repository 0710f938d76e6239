// Command hermes is the whole runtime of an agent container: PID 1 and
// supervisor (hermes init), the gateway, the dashboard and the operator's
// CLI, in one static binary. Everything happens in internal/cli.
package main

import (
	"os"

	"github.com/hermes-agent/hermes/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
