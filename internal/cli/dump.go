package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/buildinfo"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
)

func newDumpCmd(e *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "dump",
		Short: "print a support summary (no secrets)",
		Long:  "A support summary to paste into a support request (no secrets); its version:\nline ends with the commit in brackets.",
		RunE:  func(c *cobra.Command, _ []string) error { return runDump(c.Context(), e) },
	}
}

// runDump is `hermes dump` (CONTRACT §8): what a person filing a support
// request pastes. Its "version:" line ends with the commit in brackets,
// "[<8-hex sha>]" or "[(unknown)]". Nothing secret is printed.
func runDump(ctx context.Context, e *Env) error {
	w := e.Stdout
	sha, source := buildinfo.Commit()
	fmt.Fprintf(w, "version: hermes %s [%s]\n", buildinfo.Version(), buildinfo.Short())
	if sha != "" {
		fmt.Fprintf(w, "commit: %s (from %s)\n", sha, source)
	}
	fmt.Fprintf(w, "go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "container: %v\n", e.Host.InContainer())
	fmt.Fprintf(w, "user: uid %d gid %d\n", os.Getuid(), os.Getgid())
	if ids, err := e.Host.HermesIDs(os.Getgid); err == nil {
		fmt.Fprintf(w, "hermes user: %d:%d (%s)\n", ids.UID, ids.GID, ids.Source)
	} else {
		fmt.Fprintf(w, "hermes user: %v\n", err)
	}
	home, err := e.Host.Home()
	if err != nil {
		fmt.Fprintf(w, "home: %v\n", err)
		return nil
	}
	fmt.Fprintf(w, "home: %s%s\n", home, describePath(home))
	dumpSupervisor(ctx, e, w)
	names, err := profiles.List(home)
	if err != nil {
		fmt.Fprintf(w, "profiles: %v\n", err)
	}
	for _, p := range names {
		port := "?"
		if n, err := profiles.Port(home, p); err == nil {
			port = fmt.Sprint(n)
		}
		fmt.Fprintf(w, "profile %s: port %s, gateway %s\n", p, port, describeGateway(gateway.Observe(home, p, nil)))
	}
	var fsst unix.Statfs_t
	if unix.Statfs(home, &fsst) == nil {
		free := float64(fsst.Bavail) * float64(fsst.Bsize)
		total := float64(fsst.Blocks) * float64(fsst.Bsize)
		fmt.Fprintf(w, "disk: %.1f GiB free of %.1f GiB\n", free/(1<<30), total/(1<<30))
	}
	return nil
}

// describeGateway is a gateway's state as dump prints it: the state every
// reader shows, then the pid lock, and what the file records when it says
// otherwise.
func describeGateway(o gateway.Observation) string {
	s := o.State + " (pid lock " + o.Lock
	if r := o.File.GatewayState; r != "" && r != o.State {
		s += ", recorded " + r
	}
	if d := o.File.DesiredState; d != "" {
		s += ", desired " + d
	}
	return s + ")"
}

func dumpSupervisor(ctx context.Context, e *Env, w io.Writer) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c := e.gatewayClient(ctx)
	h, err := c.Health(ctx)
	if err != nil {
		fmt.Fprintf(w, "supervisor: none answering on %s\n", c.Path())
		return
	}
	fmt.Fprintf(w, "supervisor: %s (boot %s, owner %v, pid1 %v, %s)\n", c.Path(), h.Boot, h.Owner, h.PID1, h.Version)
	list, err := c.List(ctx)
	if err != nil {
		fmt.Fprintf(w, "services: %v\n", err)
		return
	}
	for _, st := range list {
		fmt.Fprintf(w, "service %s: want %s, %s, pid %d, restarts %d, logs %d lines %d dropped %d write errors\n",
			st.Name, st.Want, st.State, st.PID, st.Restarts, st.Logs.Lines, st.Logs.Dropped, st.Logs.WriteErrors)
	}
}

// describePath is " (owner uid:gid, mode 0755)" or " (missing)".
func describePath(p string) string {
	fi, err := os.Stat(p)
	if err != nil {
		return " (" + err.Error() + ")"
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf(" (owner %d:%d, mode %04o)", st.Uid, st.Gid, fi.Mode().Perm())
}
