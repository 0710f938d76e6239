package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/privdrop"
)

// execAsRoot is the opt-out of the docker exec privilege drop.
const execAsRoot = "HERMES_DOCKER_EXEC_AS_ROOT"

// dropNeeded decides the `docker exec` privilege drop (CONTRACT §6): a CLI
// command (anything but init) started as root inside a hermes container (a
// supervisor's control socket exists, or the container predicate holds)
// re-executes itself as the hermes user, so that the files it writes stay
// usable by the services — unless HERMES_DOCKER_EXEC_AS_ROOT is true.
func dropNeeded(h hostenv.Env, euid int, args []string) bool {
	if euid != 0 || len(args) > 0 && args[0] == "init" {
		return false
	}
	if !h.InContainer() && !h.Exists(control.DefaultSocket) {
		return false
	}
	return !h.Bool(execAsRoot)
}

// dropRoot re-executes hermes as the hermes user with HOME=$HERMES_HOME. It
// returns only when that is impossible, with the exit code 126 after two
// lines saying why and what to do: it never silently runs as root.
func (e *Env) dropRoot(args []string) int {
	err := func() error {
		ids, err := e.Host.HermesIDs(os.Getgid)
		if err != nil {
			return err
		}
		home, err := e.Host.Home()
		if err != nil {
			return err
		}
		groups := privdrop.Groups(hostenv.UserName(ids.UID), ids.GID, privdrop.CurrentGroups())
		env := []string{}
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "HOME=") {
				env = append(env, kv)
			}
		}
		env = append(env, "HOME="+home)
		return privdrop.ExecAs(ids.UID, ids.GID, groups, e.Exe, append([]string{e.Exe}, args...), env)
	}()
	fmt.Fprintf(e.Stderr, "hermes: cannot drop root to the hermes user: %v; refusing to run as root.\n", err)
	fmt.Fprintf(e.Stderr, "hermes: re-run with --user hermes (docker exec -u 10000:10000), or set %s=1 to keep root on purpose.\n", execAsRoot)
	return 126
}
