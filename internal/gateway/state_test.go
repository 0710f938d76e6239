package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/testenv"
)

func TestReadState(t *testing.T) {
	tests := []struct {
		name    string
		content string // "" with missing: no file
		missing bool
		want    State // Raw is not compared
		err     error // nil, fs.ErrNotExist or ErrCorrupt
	}{
		{name: "missing", missing: true, err: fs.ErrNotExist},
		{name: "full", content: `{"gateway_state":"running","desired_state":"stopped","pid":42,"start_time":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:06Z","desired_updated_at":"2026-01-02T03:04:07Z","exit_reason":"x","platforms":{"telegram":{}}}`,
			want: State{GatewayState: "running", DesiredState: "stopped", PID: 42, StartTime: "2026-01-02T03:04:05Z", UpdatedAt: "2026-01-02T03:04:06Z", DesiredUpdatedAt: "2026-01-02T03:04:07Z", ExitReason: "x"}},
		{name: "bom", content: "\xEF\xBB\xBF{\"gateway_state\": \"running\"}", want: State{GatewayState: "running"}},
		{name: "legacy seed", content: `{"gateway_state": "running", "timestamp": 1700000000}`, want: State{GatewayState: "running"}},
		{name: "reference epoch times", content: `{"desired_state": "running", "updated_at": 1700000000, "desired_updated_at": 1700000000.5}`,
			want: State{DesiredState: "running", UpdatedAt: "2023-11-14T22:13:20Z", DesiredUpdatedAt: "2023-11-14T22:13:20.5Z"}},
		{name: "nulls", content: `{"gateway_state": null, "pid": null, "exit_reason": null, "updated_at": null}`},
		{name: "empty object", content: `{}`},
		{name: "empty file", content: ``, err: ErrCorrupt},
		{name: "whitespace", content: " \n", err: ErrCorrupt},
		{name: "not json", content: `running`, err: ErrCorrupt},
		{name: "truncated", content: `{"gateway_state": "runn`, err: ErrCorrupt},
		{name: "array", content: `["running"]`, err: ErrCorrupt},
		{name: "string", content: `"running"`, err: ErrCorrupt},
		{name: "null", content: `null`, err: ErrCorrupt},
		{name: "trailing garbage", content: `{"gateway_state":"running"} x`, err: ErrCorrupt},
		{name: "state is a number", content: `{"gateway_state": 1}`, err: ErrCorrupt},
		{name: "desired is a bool", content: `{"desired_state": true}`, err: ErrCorrupt},
		{name: "pid is a string", content: `{"pid": "42"}`, err: ErrCorrupt},
		{name: "pid is negative", content: `{"pid": -1}`, err: ErrCorrupt},
		{name: "pid is fractional", content: `{"pid": 1.5}`, err: ErrCorrupt},
		{name: "pid is huge", content: `{"pid": 1e30}`, err: ErrCorrupt},
		{name: "time is an object", content: `{"updated_at": {}}`, err: ErrCorrupt},
		{name: "bom twice", content: "\xEF\xBB\xBF\xEF\xBB\xBF{}", err: ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if !tt.missing {
				writeFile(t, filepath.Join(dir, StateFile), tt.content)
			}
			got, err := ReadState(dir)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("ReadState = %+v, %v; want an error wrapping %v", got, err, tt.err)
				}
				if tt.err == ErrCorrupt && errors.Is(err, fs.ErrNotExist) || tt.err == fs.ErrNotExist && errors.Is(err, ErrCorrupt) {
					t.Errorf("ReadState error %v wraps both ErrCorrupt and fs.ErrNotExist", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadState = %v", err)
			}
			got.Raw = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ReadState =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestReadStateNotARegularFile(t *testing.T) {
	t.Run("fifo", func(t *testing.T) {
		dir := t.TempDir()
		if err := unix.Mkfifo(filepath.Join(dir, StateFile), 0o644); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := ReadState(dir); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("ReadState of a FIFO = %v, want ErrCorrupt", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("ReadState blocked on a FIFO")
		}
	})
	t.Run("symlink", func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "target.json")
		writeFile(t, target, `{"gateway_state":"running"}`)
		if err := os.Symlink(target, filepath.Join(dir, StateFile)); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadState(dir); !errors.Is(err, ErrCorrupt) {
			t.Errorf("ReadState of a symlink = %v, want ErrCorrupt (not followed)", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, StateFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadState(dir); !errors.Is(err, ErrCorrupt) {
			t.Errorf("ReadState of a directory = %v, want ErrCorrupt", err)
		}
	})
}

func TestRecorded(t *testing.T) {
	tests := []struct {
		st   State
		want string
	}{
		{State{}, ""},
		{State{GatewayState: "running"}, "running"},
		{State{GatewayState: "startup_failed"}, "startup_failed"},
		{State{GatewayState: "running", DesiredState: "stopped"}, "stopped"},
		{State{GatewayState: "stopped", DesiredState: "running"}, "running"},
	}
	for _, tt := range tests {
		if got := tt.st.Recorded(); got != tt.want {
			t.Errorf("%+v.Recorded() = %q, want %q", tt.st, got, tt.want)
		}
	}
}

// readRaw returns the keys of dir's state file.
func readRaw(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("state file is not JSON: %v\n%s", err, b)
	}
	return m
}

// selfOwner is an owner the test may give files to.
func selfOwner() safefs.Owner { return safefs.Owner{UID: os.Getuid(), GID: os.Getgid()} }

func TestWritersKeepOtherKeys(t *testing.T) {
	home := t.TempDir()
	writeFile(t, filepath.Join(home, StateFile), "\xEF\xBB\xBF"+`{"platforms": {"telegram": {"state": "ok"}}, "restart_requested": false, "gateway_state": "running", "custom": [1, 2]}`)
	now := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	if err := RecordDesired(context.Background(), Desired{Profile: profiles.MustParse(home, "default"), State: DesiredStopped, Owner: selfOwner(), At: now, Wait: testWait}); err != nil {
		t.Fatal(err)
	}
	m := readRaw(t, home)
	want := map[string]any{
		"platforms": map[string]any{"telegram": map[string]any{"state": "ok"}}, "restart_requested": false,
		"gateway_state": "running", "custom": []any{1.0, 2.0},
		"desired_state": "stopped", "desired_updated_at": "2026-11-26T08:00:00Z",
	}
	if got, _ := json.Marshal(m); string(got) != string(mustJSON(want)) {
		t.Errorf("after RecordDesired:\n got %s\nwant %s", got, mustJSON(want))
	}

	start := now.Add(-time.Hour)
	err := UpdateRuntime(home, func(r *Runtime) {
		if r.State != "running" {
			t.Errorf("UpdateRuntime saw state %q, want the file's running", r.State)
		}
		r.State, r.PID, r.StartTime, r.UpdatedAt, r.ExitReason = StateStopped, 77, start, now, "stopped on request"
	})
	if err != nil {
		t.Fatal(err)
	}
	m = readRaw(t, home)
	want["gateway_state"], want["pid"], want["start_time"], want["updated_at"], want["exit_reason"] =
		"stopped", 77.0, "2026-11-26T07:00:00Z", "2026-11-26T08:00:00Z", "stopped on request"
	if got, _ := json.Marshal(m); string(got) != string(mustJSON(want)) {
		t.Errorf("after UpdateRuntime:\n got %s\nwant %s", got, mustJSON(want))
	}
	st, err := ReadState(home)
	if err != nil || st.Recorded() != "stopped" || st.PID != 77 {
		t.Errorf("ReadState = %+v, %v", st, err)
	}
}

// TestWriterKeys checks that each writer writes exactly its own keys.
func TestWriterKeys(t *testing.T) {
	home := t.TempDir()
	if err := RecordDesired(context.Background(), Desired{Profile: profiles.MustParse(home, "default"), State: DesiredRunning, Owner: selfOwner(), At: time.Now(), Wait: testWait}); err != nil {
		t.Fatal(err)
	}
	if got := keys(readRaw(t, home)); got != "desired_state desired_updated_at" {
		t.Errorf("RecordDesired wrote %s", got)
	}
	other := t.TempDir()
	if err := UpdateRuntime(other, func(r *Runtime) {
		r.State, r.PID, r.StartTime, r.ExitReason = StateStartupFailed, 1, time.Now(), "x"
	}); err != nil {
		t.Fatal(err)
	}
	if got := keys(readRaw(t, other)); got != "exit_reason gateway_state pid start_time updated_at" {
		t.Errorf("UpdateRuntime wrote %s", got)
	}
	// An empty exit reason removes the key.
	if err := UpdateRuntime(other, func(r *Runtime) { r.State, r.ExitReason = StateRunning, "" }); err != nil {
		t.Fatal(err)
	}
	if got := keys(readRaw(t, other)); got != "gateway_state pid start_time updated_at" {
		t.Errorf("UpdateRuntime with no exit reason wrote %s", got)
	}
}

func keys(m map[string]any) string {
	return strings.Join(slices.Sorted(maps.Keys(m)), " ")
}

func TestWritersReplaceCorruptFile(t *testing.T) {
	home := t.TempDir()
	writeFile(t, filepath.Join(home, StateFile), `{"gateway_state": "runn`)
	if err := RecordDesired(context.Background(), Desired{Profile: profiles.MustParse(home, "default"), State: DesiredRunning, Owner: selfOwner(), At: time.Now(), Wait: testWait}); err != nil {
		t.Fatalf("RecordDesired over a corrupt file = %v", err)
	}
	if st, err := ReadState(home); err != nil || st.Recorded() != DesiredRunning {
		t.Errorf("ReadState = %+v, %v", st, err)
	}
}

func TestRecordDesiredRefuses(t *testing.T) {
	home := t.TempDir()
	for _, tt := range []struct {
		profile profiles.Ref
		desired string
	}{
		{profiles.MustParse(home, "default"), "up"},
		{profiles.MustParse(home, "default"), ""},
		{profiles.Ref{}, DesiredRunning}, // no profile: an invalid name never is one
	} {
		if err := RecordDesired(context.Background(), Desired{Profile: tt.profile, State: tt.desired, Owner: selfOwner(), At: time.Now(), Wait: testWait}); err == nil {
			t.Errorf("RecordDesired(%q, %q) = nil, want an error", tt.profile, tt.desired)
		}
	}
	for _, bad := range []string{"../etc", "Bad"} {
		if _, err := profiles.Parse(home, bad); err == nil {
			t.Errorf("profiles.Parse(%q) = nil error: RecordDesired would write outside a profile", bad)
		}
	}
	if err := RecordDesired(context.Background(), Desired{Profile: profiles.MustParse(home, "ghost"), State: DesiredRunning, Owner: selfOwner(), At: time.Now(), Wait: testWait}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("RecordDesired for a profile without a directory = %v, want ErrNotExist", err)
	}
}

// TestRecordDesiredAsRoot: the supervisor's writer, as root, never follows
// a symlink under the home and leaves the file to the hermes uid.
func TestRecordDesiredAsRoot(t *testing.T) {
	testenv.NeedRoot(t, "write the state file as root and give it to another uid")
	const uid, gid = 23456, 23457
	own := safefs.Owner{UID: uid, GID: gid}

	t.Run("owner and mode", func(t *testing.T) {
		home := hermesHome(t, uid, gid)
		if err := RecordDesired(context.Background(), Desired{Profile: profiles.MustParse(home, "default"), State: DesiredRunning, Owner: own, At: time.Now(), Wait: testWait}); err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(home, StateFile), &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != uid || st.Gid != gid || st.Mode&0o7777 != 0o644 {
			t.Errorf("state file is %d:%d %o, want %d:%d 644", st.Uid, st.Gid, st.Mode&0o7777, uid, gid)
		}
		// A gateway (the hermes uid) can then rewrite it.
		if err := runAs(t, uid, gid, func() error {
			return UpdateRuntime(home, func(r *Runtime) { r.State = StateRunning })
		}); err != nil {
			t.Errorf("UpdateRuntime as the hermes uid = %v", err)
		}
	})

	t.Run("symlink at the state file", func(t *testing.T) {
		home, outside := t.TempDir(), t.TempDir()
		target := filepath.Join(outside, "passwd")
		writeFile(t, target, "root:x:0:0\n")
		if err := os.Symlink(target, filepath.Join(home, StateFile)); err != nil {
			t.Fatal(err)
		}
		err := RecordDesired(context.Background(), Desired{Profile: profiles.MustParse(home, "default"), State: DesiredStopped, Owner: own, At: time.Now(), Wait: testWait})
		if !errors.Is(err, safefs.ErrSymlink) {
			t.Errorf("RecordDesired through a symlink = %v, want ErrSymlink", err)
		}
		if b, _ := os.ReadFile(target); string(b) != "root:x:0:0\n" {
			t.Errorf("the symlink's target was written: %q", b)
		}
		var st unix.Stat_t
		if unix.Stat(target, &st) == nil && st.Uid != 0 {
			t.Errorf("the symlink's target was chowned to %d", st.Uid)
		}
	})

	t.Run("symlinked profile directory", func(t *testing.T) {
		home, outside := t.TempDir(), t.TempDir()
		if err := os.MkdirAll(filepath.Join(home, "profiles"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(home, "profiles", "evil")); err != nil {
			t.Fatal(err)
		}
		err := RecordDesired(context.Background(), Desired{Profile: profiles.MustParse(home, "evil"), State: DesiredRunning, Owner: own, At: time.Now(), Wait: testWait})
		if !errors.Is(err, safefs.ErrSymlink) {
			t.Errorf("RecordDesired in a symlinked profile directory = %v, want ErrSymlink", err)
		}
		if _, err := os.Lstat(filepath.Join(outside, StateFile)); err == nil {
			t.Errorf("a state file was created through the symlinked directory")
		}
	})
}

// hermesHome returns a fresh home owned by uid:gid that uid can reach (the
// test's own temporary directory is private to root).
func hermesHome(t *testing.T, uid, gid int) string {
	t.Helper()
	home, err := os.MkdirTemp("", "hermes-gateway-home-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	if err := os.Chmod(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, uid, gid); err != nil {
		t.Fatal(err)
	}
	return home
}

// runAs runs fn in a goroutine locked to an OS thread whose uid and gid
// are switched (threads have their own credentials under Linux's raw
// setresuid), then switches back.
func runAs(t *testing.T, uid, gid int, fn func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		// The thread is not unlocked: it dies with the goroutine, so its
		// changed credentials never serve another goroutine.
		runtime.LockOSThread()
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), ^uintptr(0)); e != 0 {
			errc <- e
			return
		}
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), ^uintptr(0)); e != 0 {
			errc <- e
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// TestConcurrentWriters: the two writers interleave, from goroutines and
// from processes, and neither ever loses the other's last value nor a key
// it does not know.
func TestConcurrentWriters(t *testing.T) {
	const n = 80
	home := t.TempDir()
	writeFile(t, filepath.Join(home, StateFile), `{"custom": "kept"}`)

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range n {
			if err := RecordDesired(context.Background(), Desired{Profile: profiles.MustParse(home, "default"), State: []string{DesiredRunning, DesiredStopped}[i%2], Owner: selfOwner(), At: time.Unix(int64(i), 0), Wait: testWait}); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := range n {
			if err := UpdateRuntime(home, func(r *Runtime) { r.State, r.PID = StateRunning, i }); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	check := func(wantDesired time.Time, wantPID int) {
		t.Helper()
		st, err := ReadState(home)
		if err != nil {
			t.Fatal(err)
		}
		if st.DesiredUpdatedAt != timestamp(wantDesired) || st.PID != wantPID || string(st.Raw["custom"]) != `"kept"` {
			t.Errorf("after the writers: desired_updated_at %s, pid %d, custom %s; want %s, %d, \"kept\"",
				st.DesiredUpdatedAt, st.PID, st.Raw["custom"], timestamp(wantDesired), wantPID)
		}
	}
	check(time.Unix(n-1, 0), n-1)

	// The same across processes: one of each writer, plus one of each in
	// this process.
	env := map[string]string{"HERMES_GATEWAY_TEST_N": strconv.Itoa(n)}
	desired := startHelper(t, "desired", home, env)
	rt := startHelper(t, "runtime", home, env)
	for _, c := range []*exec.Cmd{desired, rt} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			RecordDesired(context.Background(), Desired{Profile: profiles.MustParse(home, "default"), State: DesiredRunning, Owner: selfOwner(), At: time.Unix(int64(i), 0), Wait: testWait})
			UpdateRuntime(home, func(r *Runtime) { r.PID = i })
		}
	}()
	wg.Wait()
	if err := desired.Wait(); err != nil {
		t.Fatalf("desired writer: %v", err)
	}
	if err := rt.Wait(); err != nil {
		t.Fatalf("runtime writer: %v", err)
	}
	// Every writer wrote i = n-1 last, whoever was last.
	check(time.Unix(n-1, 0), n-1)
	entries, _ := os.ReadDir(home)
	for _, e := range entries {
		if e.Name() != StateFile {
			t.Errorf("leftover %s in the profile directory", e.Name())
		}
	}
}
