package control_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/hermes-agent/hermes/internal/control/controltest"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// TestPeerCredentials re-executes the test binary as other uids against a
// real socket: the hermes uid (23456) gets the answers the rules give it
// (golden), and an unrelated uid (12345) gets 403 on every route, reads and
// health included.
func TestPeerCredentials(t *testing.T) {
	testenv.NeedRoot(t, "re-executes the test binary under other uids")
	const hermesUID, otherUID = 23456, 12345

	dir, err := os.MkdirTemp("", "hermes-peercred-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := testenv.Executable(t)

	for _, tc := range []struct {
		uid    int
		golden string
		want   func(probe) int
	}{
		{hermesUID, "wire_hermes.golden", func(p probe) int { return p.hermes }},
		{otherUID, "wire_other.golden", func(probe) int { return 403 }},
	} {
		t.Run(filepathBase(tc.golden), func(t *testing.T) {
			sup := controltest.NewSupervisor(home, hermesUID, hermesUID)
			seed(t, sup, hermesUID)
			sockDir := filepath.Join(dir, "sock-"+filepathBase(tc.golden))
			path := filepath.Join(sockDir, "control.sock")
			serve(t, sup, hermesUID, path, nil)

			cmd := exec.Command(bin, "-test.run=^$")
			cmd.Env = testenv.ChildEnv("HERMES_CONTROL_TEST_HELPER=probe", "HERMES_CONTROL_SOCKET="+path,
				"HERMES_CONTROL_TEST_UID="+strconv.Itoa(hermesUID), "PATH=/usr/bin:/bin")
			cmd.Dir = "/"
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
				Uid: uint32(tc.uid), Gid: uint32(tc.uid), Groups: []uint32{},
			}}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("helper as uid %d: %v\n%s", tc.uid, err, stderr.Bytes())
			}
			testenv.Golden(t, tc.golden, normalize(string(out), hermesUID))
			got := transcriptStatuses(t, string(out))
			for _, p := range probes(hermesUID) {
				if got[p.name] != tc.want(p) {
					t.Errorf("%s %s as uid %d = %d, want %d", p.method, p.path, tc.uid, got[p.name], tc.want(p))
				}
			}
			if tc.uid == otherUID {
				if n := len(sup.List()); n != 7 {
					t.Errorf("after uid %d's probes the table has %d services, want the 7 seeded", tc.uid, n)
				}
				if sig := sup.Signals(); len(sig) != 0 {
					t.Errorf("uid %d managed to send signals: %v", tc.uid, sig)
				}
			}
		})
	}
}

func filepathBase(golden string) string {
	return golden[:len(golden)-len(filepath.Ext(golden))]
}
