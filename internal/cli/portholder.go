package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hermes-agent/hermes/internal/dashboard"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// portHolder says who listens on TCP port: the process found through
// /proc/net/tcp{,6} (the listening socket's inode) and /proc/*/fd (the
// process holding it), "pid N (COMMAND LINE)"; "" when none is found (the
// holder is another user's process, or in another network namespace).
func portHolder(port int) string {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		for _, ino := range listeningInodes(f, port) {
			inodes[ino] = true
		}
	}
	if len(inodes) == 0 {
		return ""
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		fds, err := os.ReadDir(filepath.Join(p, "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(p, "fd", fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			if inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
				return fmt.Sprintf("pid %s (%s)", filepath.Base(p), commandLine(p))
			}
		}
	}
	return ""
}

// listeningInodes returns the inodes of the sockets listening on port in
// a /proc/net/tcp table.
func listeningInodes(table string, port int) []string {
	f, err := os.Open(table)
	if err != nil {
		return nil
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", port)
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode
		if len(fields) < 10 || fields[3] != "0A" || !strings.HasSuffix(fields[1], want) {
			continue
		}
		out = append(out, fields[9])
	}
	return out
}

// commandLine is a process's command line, one line, at most 80 runes.
func commandLine(procDir string) string {
	b, err := os.ReadFile(filepath.Join(procDir, "cmdline"))
	if err != nil || len(b) == 0 {
		b, _ = os.ReadFile(filepath.Join(procDir, "comm"))
	}
	return shorten(strings.ReplaceAll(strings.TrimRight(string(b), "\x00\n"), "\x00", " "), 80)
}

// bindHolder explains a failed bind of the dashboard's port: who holds
// it, and whether it is the supervised dashboard (asked of the control
// socket), with what to do.
func bindHolder(e *Env, port int) string {
	var parts []string
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if st, err := e.localClient().Status(ctx, dashboard.ServiceName); err == nil && (st.State == supervise.Running || st.State == supervise.Starting) {
		parts = append(parts, fmt.Sprintf("the supervised dashboard is %s and serves it (open it, or stop it first: hermes svc stop %s)", describe(st), dashboard.ServiceName))
	}
	if h := portHolder(port); h != "" {
		parts = append(parts, "held by "+h)
	}
	if len(parts) == 0 {
		return "another process holds it; choose another port with --port or HERMES_DASHBOARD_PORT"
	}
	return strings.Join(parts, "; ") + "; or choose another port with --port or HERMES_DASHBOARD_PORT"
}
