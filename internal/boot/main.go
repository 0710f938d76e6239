package boot

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/initd"
	"github.com/hermes-agent/hermes/internal/privdrop"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// childEnv is the environment of the main command and of the boot hooks:
// the container's, with HERMES_HOME and the control socket exported, and
// HOME=$HERMES_HOME in a container (left alone in host mode). Hooks keep
// the secrets: they run as root, which can read init's own environment.
func (b *boot) childEnv() []string {
	set := map[string]string{"HERMES_HOME": b.home, "HERMES_CONTROL_SOCKET": b.socket}
	if b.container {
		set["HOME"] = b.home
	}
	out := b.environ[:0:0]
	for _, kv := range b.environ {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; ok {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range set {
		out = append(out, k+"="+v)
	}
	return out
}

// serviceEnv is the base environment of every service: childEnv without
// the secrets that only their readers get (hostenv.Withheld); the
// dashboard's spec hands it the gate's own (dashboard.ServiceSpec).
func (b *boot) serviceEnv() []string { return hostenv.ServiceEnv(b.childEnv()) }

// mainCommand routes and prepares the main command (CONTRACT §3 step 6).
func (b *boot) mainCommand() (initd.Command, error) {
	env := b.childEnv()
	argv := route(b.in.Args, env, b.in.Exe, b.in.IsSubcommand)
	c := initd.Command{Argv: argv, Env: env}
	path, err := supervise.LookPath(argv[0], env)
	if err != nil {
		return c, err
	}
	c.Path = path
	cwd, err := os.Getwd()
	if err != nil {
		cwd = b.home
	}
	c.Dir = cwd
	if b.root {
		c.Cred = &syscall.Credential{Uid: uint32(b.ids.UID), Gid: uint32(b.ids.GID), Groups: toU32(b.groups)}
		if !privdrop.CanEnter(cwd, b.ids.UID, b.ids.GID, b.groups) {
			fmt.Fprintf(b.stderr, "hermes init: warning: uid %d cannot enter the working directory %s; using %s\n", b.ids.UID, cwd, b.home)
			c.Dir = b.home
		}
	}
	c.Terminal = hasTerminal(b.stdin)
	return c, nil
}

// route maps the container's arguments to the main command: a hermes
// subcommand (or a leading dash) runs hermes; else a program on PATH runs
// directly; else hermes gets the arguments.
func route(args, env []string, exe string, isSubcommand func(string) bool) []string {
	if len(args) == 0 {
		return []string{exe}
	}
	if strings.HasPrefix(args[0], "-") || isSubcommand != nil && isSubcommand(args[0]) {
		return append([]string{exe}, args...)
	}
	if _, err := supervise.LookPath(args[0], env); err == nil {
		return args
	}
	return append([]string{exe}, args...)
}

// hasTerminal reports whether stdin is a terminal that is the controlling
// terminal of our session, so the main command can be made its foreground
// process group.
func hasTerminal(stdin *os.File) bool {
	fd := int(stdin.Fd())
	if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
		return false
	}
	_, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	return err == nil
}

func toU32(ids []int) []uint32 {
	out := make([]uint32, len(ids))
	for i, v := range ids {
		out[i] = uint32(v)
	}
	return out
}
