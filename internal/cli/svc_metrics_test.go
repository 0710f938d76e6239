package cli

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"

	"github.com/hermes-agent/hermes/internal/control/controltest"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// TestSvcMetricsAndResources: hermes svc metrics prints init's series;
// svc status shows a running service's resources in its columns and
// --json as "resources".
func TestSvcMetricsAndResources(t *testing.T) {
	uid := svcUID()
	sup := controltest.NewSupervisor(svcHome, uid, uid)
	// The test's own process group: real figures from /proc.
	sup.Put(supervise.Status{Name: "web", Want: supervise.WantUp, State: supervise.Running, PID: syscall.Getpgrp(), Since: controltest.Epoch(), UID: uid})
	sup.Put(supervise.Status{Name: "idle", Want: supervise.WantDown, State: supervise.Stopped, UID: uid})
	socket := controltest.Serve(t, sup, svcHome, controltest.Options{HermesUID: uid, HermesGID: uid})

	out, errOut, code := runSvcCLI(socket, "metrics")
	if code != 0 || !strings.Contains(out, `hermes_service_up{service="web"} 1`) || !strings.Contains(out, `go_goroutines{component="init"}`) {
		t.Errorf("svc metrics: exit %d, stderr %q, out %.400q", code, errOut, out)
	}
	if o, errOut, code := runSvcCLI(socket, "metrics", "extra"); code == 0 || !strings.Contains(o+errOut, "✗ unexpected argument") {
		t.Errorf("svc metrics extra: exit %d, out %q, stderr %q; want a ✗ line", code, o, errOut)
	}

	out, _, code = runSvcCLI(socket, "status")
	lines := strings.Split(out, "\n")
	if code != 0 || strings.Join(strings.Fields(lines[0])[6:11], " ") != "CPU RSS PSS FDS THREADS" {
		t.Fatalf("svc status: exit %d, header %q", code, lines[0])
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		switch {
		case len(f) > 0 && f[0] == "web" && (!strings.HasSuffix(f[6], "s") || f[7] == "-" || f[8] == "-" || f[9] == "-"):
			t.Errorf("web's row %q lacks its resources", l)
		case len(f) > 0 && f[0] == "idle" && f[6] != "-":
			t.Errorf("idle's row %q shows resources", l)
		}
	}
	out, _, _ = runSvcCLI(socket, "status", "--json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	for _, st := range list {
		res, ok := st["resources"].(map[string]any)
		switch st["name"] {
		case "web":
			for _, k := range []string{"processes", "cpu_seconds", "rss_bytes", "pss_bytes", "open_fds", "threads"} {
				if _, has := res[k]; !ok || !has {
					t.Errorf("web's --json resources %v lack %q", st["resources"], k)
				}
			}
		case "idle":
			if ok {
				t.Errorf("idle's --json has resources %v", res)
			}
		}
	}
}

func TestBytesIEC(t *testing.T) {
	for n, want := range map[uint64]string{0: "0B", 1023: "1023B", 1024: "1.0K", 1536: "1.5K", 12 << 20: "12.0M", 3 << 30: "3.0G"} {
		if got := bytesIEC(n); got != want {
			t.Errorf("bytesIEC(%d) = %q, want %q", n, got, want)
		}
	}
}
