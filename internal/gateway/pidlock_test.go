package gateway

import (
	"encoding/json"
	"errors"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// readPID returns the pid file's content.
func readPID(t *testing.T, dir string) PIDInfo {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, PIDFile))
	if err != nil {
		t.Fatal(err)
	}
	var info PIDInfo
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatalf("pid file %q: %v", b, err)
	}
	return info
}

// startSleeper starts a process that is not a gateway and returns its
// pid; it is killed when the test ends.
func startSleeper(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(testenv.NeedProgram(t, "sleep", "play a process that is not a gateway"), "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}

// TestLockPIDTakesOverStaleFiles: a free lock is taken whatever the file
// says, and the process the file names is left alone (equal pid is not
// the same process: it may be from another PID namespace).
func TestLockPIDTakesOverStaleFiles(t *testing.T) {
	sleeper := startSleeper(t)
	for _, content := range []string{
		`{"pid": ` + strconv.Itoa(sleeper) + `, "host": "old-container"}`,
		`{"pid": 1, "host": "other"}`,
		strconv.Itoa(sleeper),
		"garbage",
		"",
	} {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, PIDFile), content)
		l, err := LockPID(dir, false)
		if err != nil {
			t.Fatalf("LockPID over a stale %q = %v", content, err)
		}
		info := readPID(t, dir)
		host, _ := os.Hostname()
		if info.PID != os.Getpid() || info.Host != host || info.StartTime == "" || info.ProcStart == 0 {
			t.Errorf("pid file after LockPID over %q = %+v, want this process", content, info)
		}
		if !alive(sleeper) {
			t.Fatalf("the process named in a stale pid file was killed")
		}
		if err := l.Release(); err != nil {
			t.Errorf("Release = %v", err)
		}
		if _, err := os.Lstat(filepath.Join(dir, PIDFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("gateway.pid is still there after Release: %v", err)
		}
		if err := l.Release(); err != nil {
			t.Errorf("second Release = %v, want nil", err)
		}
	}
}

func TestLockPIDRefusesALiveHolder(t *testing.T) {
	dir := t.TempDir()
	holder := holdLock(t, "hold", dir, time.Second, "gateway", "run")
	_, err := LockPID(dir, false)
	if !errors.Is(err, ErrRunning) {
		t.Fatalf("LockPID with a live holder = %v, want ErrRunning", err)
	}
	host, _ := os.Hostname()
	for _, want := range []string{"pid " + strconv.Itoa(holder.Process.Pid), "host " + host, "--replace"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if !alive(holder.Process.Pid) {
		t.Errorf("the holder was killed without --replace")
	}
	// In-process too: a second lock of the same file is refused.
	other := t.TempDir()
	l, err := LockPID(other, false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if _, err := LockPID(other, false); !errors.Is(err, ErrRunning) {
		t.Errorf("second LockPID in the same process = %v, want ErrRunning", err)
	}
}

// TestLockPIDReplace: --replace stops a verified holder of this PID
// namespace with SIGTERM, and kills one that outlives its drain time.
func TestLockPIDReplace(t *testing.T) {
	for _, tt := range []struct {
		role   string
		drain  time.Duration
		signal string
	}{
		{"hold", 5 * time.Second, "terminated"},
		{"hold-ignore-term", 200 * time.Millisecond, "killed"},
	} {
		t.Run(tt.role, func(t *testing.T) {
			dir := t.TempDir()
			holder := holdLock(t, tt.role, dir, tt.drain, "-p", "default", "gateway", "run", "--replace")
			exited := make(chan error, 1)
			go func() { exited <- holder.Wait() }()
			start := time.Now()
			l, err := LockPID(dir, true)
			if err != nil {
				t.Fatalf("LockPID(replace) = %v", err)
			}
			defer l.Release()
			if got := readPID(t, dir).PID; got != os.Getpid() {
				t.Errorf("pid file names %d after the takeover, want %d", got, os.Getpid())
			}
			select {
			case err := <-exited:
				var ee *exec.ExitError
				switch {
				case tt.signal == "terminated" && err != nil:
					t.Errorf("holder exited with %v, want a clean exit after SIGTERM", err)
				case tt.signal == "killed" && !(errors.As(err, &ee) && strings.Contains(ee.String(), "killed")):
					t.Errorf("holder exited with %v, want killed", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the holder still runs after LockPID(replace) returned")
			}
			if tt.signal == "killed" && time.Since(start) < tt.drain {
				t.Errorf("the holder was killed after %s, before its drain time %s", time.Since(start), tt.drain)
			}
		})
	}
}

// TestLockPIDReplaceRefusesAnUnverifiedHolder: when the lock is held and
// the pid file names a process that is not the holder (a pid of another
// PID namespace that exists here as something else), --replace signals
// nobody and says another container runs the gateway.
func TestLockPIDReplaceRefusesAnUnverifiedHolder(t *testing.T) {
	sleeper := startSleeper(t)
	tests := []struct {
		name    string
		role    string
		args    []string
		rewrite func(PIDInfo) string
	}{
		{"pid of another process", "hold", []string{"gateway", "run"}, func(PIDInfo) string {
			return `{"pid": ` + strconv.Itoa(sleeper) + `, "host": "other-container"}`
		}},
		{"bare pid of another process", "hold", []string{"gateway", "run"}, func(PIDInfo) string { return strconv.Itoa(sleeper) }},
		{"start time differs", "hold", []string{"gateway", "run"}, func(i PIDInfo) string {
			i.ProcStart++
			b, _ := json.Marshal(i)
			return string(b)
		}},
		{"holder is not a gateway", "hold", []string{"something", "else"}, nil},
		{"no pid", "hold", []string{"gateway", "run"}, func(PIDInfo) string { return `{"host": "x"}` }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			holder := holdLock(t, tt.role, dir, time.Second, tt.args...)
			if tt.rewrite != nil {
				// Rewrite in place: the holder's lock stays on the inode.
				content := tt.rewrite(readPID(t, dir))
				f, err := os.OpenFile(filepath.Join(dir, PIDFile), os.O_WRONLY|os.O_TRUNC, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString(content)
				f.Close()
			}
			_, err := LockPID(dir, true)
			if !errors.Is(err, ErrRunning) || !strings.Contains(err.Error(), "another container") {
				t.Errorf("LockPID(replace) = %v, want ErrRunning saying another container runs it", err)
			}
			if !alive(sleeper) {
				t.Fatal("the process named in the pid file was signalled")
			}
			if !alive(holder.Process.Pid) {
				t.Error("the unverified holder was signalled")
			}
		})
	}
}

func TestSweepStale(t *testing.T) {
	t.Run("stale files", func(t *testing.T) {
		home := t.TempDir()
		writeFile(t, filepath.Join(home, PIDFile), `{"pid": 1}`)
		writeFile(t, filepath.Join(home, ProcessesFile), `[]`)
		got, err := SweepStale(profiles.MustParse(home, "default"))
		want := []string{filepath.Join(home, PIDFile), filepath.Join(home, ProcessesFile)}
		if err != nil || strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("SweepStale = %v, %v; want %v", got, err, want)
		}
		for _, name := range []string{PIDFile, ProcessesFile} {
			if _, err := os.Lstat(filepath.Join(home, name)); err == nil {
				t.Errorf("%s is still there", name)
			}
		}
	})
	t.Run("named profile, processes.json alone", func(t *testing.T) {
		home := t.TempDir()
		dir := filepath.Join(home, "profiles", "coder")
		writeFile(t, filepath.Join(dir, ProcessesFile), `[]`)
		got, err := SweepStale(profiles.MustParse(home, "coder"))
		if err != nil || len(got) != 1 || got[0] != filepath.Join(dir, ProcessesFile) {
			t.Errorf("SweepStale = %v, %v; want processes.json removed", got, err)
		}
	})
	t.Run("temporaries of an interrupted write", func(t *testing.T) {
		// The fault suite's abrupt stop: every kill of init during a
		// write of gateway_state.json left a temporary file behind.
		home := t.TempDir()
		old := filepath.Join(home, safefs.TempPrefix(StateFile)+"1.0758a139")
		oldConfig := filepath.Join(home, safefs.TempPrefix(profiles.FileConfig)+"77.5ec4505e")
		fresh := filepath.Join(home, safefs.TempPrefix(StateFile)+"1.3f00eab5")
		writeFile(t, old, `{"gateway_state":"run`)
		writeFile(t, fresh, `{}`)
		writeFile(t, oldConfig, "model:\n")
		before := processStart.Add(-time.Minute)
		for _, p := range []string{old, oldConfig} {
			if err := os.Chtimes(p, before, before); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chtimes(fresh, time.Now().Add(time.Minute), time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		got, err := SweepStale(profiles.MustParse(home, "default"))
		slices.Sort(got)
		if want := []string{oldConfig, old}; err != nil || !slices.Equal(got, want) {
			t.Errorf("SweepStale = %v, %v; want only %v removed", got, err, want)
		}
		if _, err := os.Lstat(fresh); err != nil {
			t.Errorf("the temporary file of a writer of this process was removed: %v", err)
		}
	})
	t.Run("nothing to sweep", func(t *testing.T) {
		got, err := SweepStale(profiles.MustParse(t.TempDir(), "default"))
		if err != nil || len(got) != 0 {
			t.Errorf("SweepStale = %v, %v; want nothing", got, err)
		}
	})
	t.Run("live holder", func(t *testing.T) {
		home := t.TempDir()
		holder := holdLock(t, "hold", home, time.Second, "gateway", "run")
		writeFile(t, filepath.Join(home, ProcessesFile), `[]`)
		got, err := SweepStale(profiles.MustParse(home, "default"))
		if err != nil || len(got) != 0 {
			t.Errorf("SweepStale with a live holder = %v, %v; want nothing removed", got, err)
		}
		if readPID(t, home).PID != holder.Process.Pid {
			t.Errorf("the live holder's pid file changed")
		}
		if _, err := os.Lstat(filepath.Join(home, ProcessesFile)); err != nil {
			t.Errorf("processes.json of a live gateway was removed: %v", err)
		}
	})
	t.Run("symlinks are removed, not followed", func(t *testing.T) {
		home, outside := t.TempDir(), t.TempDir()
		target := filepath.Join(outside, "precious")
		writeFile(t, target, "keep me")
		for _, name := range []string{PIDFile, ProcessesFile} {
			if err := os.Symlink(target, filepath.Join(home, name)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := SweepStale(profiles.MustParse(home, "default")); err != nil {
			t.Errorf("SweepStale = %v", err)
		}
		if b, err := os.ReadFile(target); err != nil || string(b) != "keep me" {
			t.Errorf("the symlinks' target = %q, %v; want it untouched", b, err)
		}
	})
	t.Run("symlinked profile directory", func(t *testing.T) {
		home, outside := t.TempDir(), t.TempDir()
		writeFile(t, filepath.Join(outside, PIDFile), `{"pid": 1}`)
		if err := os.MkdirAll(filepath.Join(home, "profiles"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(home, "profiles", "evil")); err != nil {
			t.Fatal(err)
		}
		if _, err := SweepStale(profiles.MustParse(home, "evil")); err == nil {
			t.Errorf("SweepStale through a symlinked profile directory = nil, want an error")
		}
		if _, err := os.Lstat(filepath.Join(outside, PIDFile)); err != nil {
			t.Errorf("a file behind the symlink was removed")
		}
	})
}
