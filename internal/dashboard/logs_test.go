package dashboard

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
)

// TestLogDownload: a service's whole log, archives first then current, as
// an attachment; the boot log as text or as a file; a bad name is 400 and
// a service without a log 404.
func TestLogDownload(t *testing.T) {
	f := newFixture(t, authgate.OpenLocal, nil)
	h := f.handler()
	hdr := f.localHeaders()
	current := gateway.LogFile(f.home, "worker")
	writeFile(t, filepath.Join(filepath.Dir(current), "@20250601T110000.000000Z.s"), "2025-06-01T11:00:00.000000Z old line\n")
	writeFile(t, current, "2025-06-01T12:00:00.000000Z new line\n")
	rec := do(h, "GET", "/api/logs/worker/download", hdr)
	if rec.Code != 200 || rec.Body.String() != "2025-06-01T11:00:00.000000Z old line\n2025-06-01T12:00:00.000000Z new line\n" {
		t.Errorf("download = %d %q", rec.Code, rec.Body)
	}
	if cd := rec.Header().Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, "worker.log") {
		t.Errorf("Content-Disposition = %q", cd)
	}
	for target, code := range map[string]int{"/api/logs/Bad%20Name/download": 400, "/api/logs/nothing/download": 404, "/api/logs/boot": 404} {
		if rec := do(h, "GET", target, hdr); rec.Code != code {
			t.Errorf("GET %s = %d, want %d", target, rec.Code, code)
		}
	}
	boot := filepath.Join(f.home, profiles.FileBootLog)
	writeFile(t, boot, "2025-06-01T12:00:00Z profile=default prior_state=running action=started\n")
	rec = do(h, "GET", "/api/logs/boot", hdr)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "profile=default") || rec.Header().Get("Content-Disposition") != "" {
		t.Errorf("boot log = %d %q %v", rec.Code, rec.Body, rec.Header())
	}
	if rec := do(h, "GET", "/api/logs/boot?download=1", hdr); !strings.Contains(rec.Header().Get("Content-Disposition"), "container-boot.log") {
		t.Errorf("boot log download: %v", rec.Header())
	}
	// Behind the gate.
	if rec := do(h, "GET", "/api/logs/boot", map[string]string{"Host": "127.0.0.1:9119"}); rec.Code != 401 {
		t.Errorf("boot log without the token = %d", rec.Code)
	}
	// A symlink planted as the boot log is not followed.
	os.Remove(boot)
	if err := os.Symlink("/etc/passwd", boot); err != nil {
		t.Fatal(err)
	}
	if rec := do(h, "GET", "/api/logs/boot", hdr); rec.Code == 200 && strings.Contains(rec.Body.String(), "root:") {
		t.Errorf("the boot log followed a symlink to /etc/passwd")
	}
}
