package e2e

// Attacks on root's path operations under HERMES_HOME (issue 9, items 1,
// 3, 5 and 6), each with the real binary: init as root with the hermes uid
// (10000) as its main command, and the CLI run as root with
// HERMES_DOCKER_EXEC_AS_ROOT=1 as docker exec does. The hermes uid owns
// HERMES_HOME and may plant a symlink, a hard link or a lock anywhere in it.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/sessions"
)

// rootOnly makes a directory only root can enter, holding files, for a
// planted symlink to point at.
func rootOnly(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// sameFiles fails t unless every file of want still has its content.
func sameFiles(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	for name, content := range want {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != content {
			t.Errorf("%s: %q, %v; want it untouched (%q)", filepath.Join(dir, name), b, err, content)
		}
	}
}

// TestPublishedSocketUnlinkThroughSymlink: the hermes uid swaps run/ for a
// symlink to a root-only directory while init runs; at shutdown root must
// not delete <that directory>/control.sock.
func TestPublishedSocketUnlinkThroughSymlink(t *testing.T) {
	t.Parallel()
	h := newNSHome(t)
	victim := rootOnly(t, filepath.Join(h.dir, "victim"), map[string]string{"control.sock": "root's file"})
	// The main command, as the hermes uid: wait for the published socket,
	// then swap run/ for a link to the victim directory, and exit.
	script := `cd "$HERMES_HOME" && while [ ! -S run/control.sock ]; do sleep 0.02; done && mv run run.old && ln -s ` + victim + ` run`
	r := h.runInit(t, subreaper, nil, "sh", "-c", script)
	if r.Code != 0 {
		t.Fatalf("init: %s", r)
	}
	sameFiles(t, victim, map[string]string{"control.sock": "root's file"})
	if _, err := os.Lstat(filepath.Join(h.home, "run.old", "control.sock")); !os.IsNotExist(err) {
		t.Errorf("the published socket was not removed from the directory it was bound in: %v", err)
	}
}

// TestSymlinkedProfilesNotReconciled: profiles/ swapped for a link to a
// root-only directory must not make root read an outside
// gateway_state.json, copy its state into the boot log, and start it.
func TestSymlinkedProfilesNotReconciled(t *testing.T) {
	t.Parallel()
	h := newNSHome(t)
	files := map[string]string{"foo/SOUL.md": "outside", "foo/gateway_state.json": `{"desired_state": "running", "secret": "s3"}`}
	outside := rootOnly(t, filepath.Join(h.dir, "outside"), files)
	if err := os.Symlink(outside, filepath.Join(h.home, "profiles")); err != nil {
		t.Fatal(err)
	}
	r := h.runInit(t, subreaper, nil, "true")
	if r.Code != 0 {
		t.Fatalf("init: %s", r)
	}
	if strings.Contains(r.Stdout, "profile=foo") || strings.Contains(h.bootLog(t), "foo") {
		t.Errorf("root reconciled a profile behind a symlinked profiles/:\n%s\nboot log:\n%s", r, h.bootLog(t))
	}
	if !hasLine(r.Stderr, "refusing", filepath.Join(h.home, "profiles"), "symbolic link") {
		t.Errorf("no refusing line naming profiles/ and the symlink:\n%s", r)
	}
	sameFiles(t, outside, files)
}

// hasLine reports whether one line of s contains every one of words.
func hasLine(s string, words ...string) bool {
	for _, l := range strings.Split(s, "\n") {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			return true
		}
	}
	return false
}

// holdLocks locks each file (created for the hermes uid when missing) from
// this process until the test ends.
func holdLocks(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		os.Chown(p, 10000, 10000)
		if err := safefs.Lock(context.Background(), f, safefs.Exclusive, safefs.Wait{}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLockedFilesDoNotHangBoot: a process holding the boot log's and a
// state file's locks forever costs the boot about a second each, never
// the boot itself, and each skipped write says so, naming the holder.
func TestLockedFilesDoNotHangBoot(t *testing.T) {
	t.Parallel()
	h := newNSHome(t)
	logs := filepath.Join(h.home, "logs")
	os.MkdirAll(logs, 0o755)
	os.Chown(logs, 10000, 10000)
	state := filepath.Join(h.home, "gateway_state.json")
	os.WriteFile(state, []byte(`{"gateway_state": "running"}`), 0o644)
	bootLog := filepath.Join(logs, "container-boot.log")
	holdLocks(t, bootLog, state)
	marker := filepath.Join(h.dir, "main-ran")
	os.Chmod(h.dir, 0o777)
	// The gateway it starts waits for the state file's lock as the hermes
	// uid does (10 s): a short shutdown budget ends it sooner.
	r := h.runInit(t, subreaper, []string{"HERMES_STOP_GRACE=1s"}, "sh", "-c", "hermes svc ready --json && touch "+marker)
	os.Chmod(h.dir, 0o755)
	if r.Code != 0 {
		t.Fatalf("init: %s", r)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the main command never ran: %s", r)
	}
	holder := "locked by pid " + strconv.Itoa(os.Getpid())
	for _, f := range []string{bootLog, state} {
		if !hasLine(r.Stderr, "refusing", f, holder) {
			t.Errorf("no refusing line naming %s and its holder (%s):\n%s", f, holder, r)
		}
	}
	var health struct{ Counters map[string]uint64 }
	if err := json.Unmarshal([]byte(r.Stdout[strings.Index(r.Stdout, "{"):]), &health); err != nil {
		t.Fatalf("svc ready --json: %v\n%s", err, r)
	}
	// Both skips happened during the boot, before the main command asked.
	if health.Counters["locked_writes_skipped"] < 2 {
		t.Errorf("counters %v: want locked_writes_skipped >= 2", health.Counters)
	}
}

// watchedBuffer is a lockedBuffer that closes seen when a line holding
// every one of words is written: the event a test waits for, without
// polling.
type watchedBuffer struct {
	lockedBuffer
	words []string
	seen  chan struct{}
	once  sync.Once
}

func newWatchedBuffer(words ...string) *watchedBuffer {
	return &watchedBuffer{words: words, seen: make(chan struct{})}
}

func (w *watchedBuffer) Write(p []byte) (int, error) {
	n, err := w.lockedBuffer.Write(p)
	s := w.String()
	if i := strings.LastIndexByte(s, '\n'); i >= 0 && hasLine(s[:i], w.words...) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

// TestTermEndsLockWait: SIGTERM while the boot waits for a lock ends init
// at once with 143 (CONTRACT §3 step 7: a TERM during the boot cancels it),
// not when the wait runs out. Six gateway_state.json files (the default
// profile and five more, each recorded running so the boot locks it to
// record desired_state) and the boot log are held locked: the boot would
// wait 1 s for each until its 5 s budget is spent. The TERM comes right
// after the first skipped write, in the second wait; init must be gone
// within half a second of it, which it cannot be if the signal does not
// end the wait in progress (up to 1 s) or the ones after it (up to 4 s),
// nor if a gateway the boot started, waiting as the hermes uid to record
// "starting" in its locked state file, must be killed after its stop
// grace (6 s).
func TestTermEndsLockWait(t *testing.T) {
	t.Parallel()
	h := newNSHome(t)
	logs := filepath.Join(h.home, "logs")
	os.MkdirAll(logs, 0o755)
	os.Chown(logs, 10000, 10000)
	locked := []string{filepath.Join(logs, "container-boot.log")}
	for _, p := range []string{"", "p1", "p2", "p3", "p4", "p5"} {
		dir := h.home
		if p != "" {
			dir = filepath.Join(h.home, "profiles", p)
			os.MkdirAll(dir, 0o755)
			os.Chown(filepath.Dir(dir), 10000, 10000)
			os.Chown(dir, 10000, 10000)
		}
		for name, content := range map[string]string{"SOUL.md": "soul\n", "gateway_state.json": `{"gateway_state": "running"}`} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chown(filepath.Join(dir, name), 10000, 10000)
		}
		locked = append(locked, filepath.Join(dir, "gateway_state.json"))
	}
	holdLocks(t, locked...)
	cmd := h.initCmd(subreaper, nil, "sleep", "100000")
	out := newWatchedBuffer("refusing", "gateway_state.json", "locked by pid")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
	}()
	select {
	case <-out.seen:
	case <-done:
		t.Fatalf("init ended before a lock wait ran out:\n%s", out)
	case <-time.After(20 * time.Second):
		t.Fatalf("no refusing line for a locked gateway_state.json after 20 s:\n%s", out)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	sent := time.Now()
	const bound = 500 * time.Millisecond
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("init still runs 10 s after SIGTERM while the boot waits for locks:\n%s", out)
	}
	took := time.Since(sent)
	if code := cmd.ProcessState.ExitCode(); code != 143 {
		t.Errorf("exit code %d, want 143 (a TERM that cancelled the boot)\n%s", code, out)
	}
	if took > bound {
		t.Errorf("init exited %v after SIGTERM, want within %v: the signal did not end the lock wait\n%s", took.Round(time.Millisecond), bound, out)
	}
}

// TestRefusedManagedFilesSaySo: the reference's two container scenarios. A
// symlinked gateway_state.json with HERMES_GATEWAY_BOOTSTRAP_STATE=running
// and a symlinked auth.json with HERMES_AUTH_JSON_BOOTSTRAP: nothing is
// written through either link, and each refusal is one line naming the
// file, why, and what was not done; both are counted.
func TestRefusedManagedFilesSaySo(t *testing.T) {
	t.Parallel()
	h := newNSHome(t)
	files := map[string]string{"state.json": `{"desired_state": "stopped"}`, "auth.json": `{"version": 1, "providers": {}}`}
	outside := rootOnly(t, filepath.Join(h.dir, "outside"), files)
	for name, target := range map[string]string{"gateway_state.json": "state.json", "auth.json": "auth.json"} {
		if err := os.Symlink(filepath.Join(outside, target), filepath.Join(h.home, name)); err != nil {
			t.Fatal(err)
		}
		os.Lchown(filepath.Join(h.home, name), 10000, 10000)
	}
	r := h.runInit(t, subreaper, []string{
		"HERMES_GATEWAY_BOOTSTRAP_STATE=running",
		`HERMES_AUTH_JSON_BOOTSTRAP={"version": 1, "providers": {"x": {"api_key": "k"}}}`,
	}, "hermes", "svc", "ready", "--json")
	if r.Code != 0 {
		t.Fatalf("init: %s", r)
	}
	for _, name := range []string{"gateway_state.json", "auth.json"} {
		if !hasLine(r.Stderr, "refusing", filepath.Join(h.home, name), "symbolic link", "bootstrap skipped") {
			t.Errorf("no refusing line for %s (the file, a symbolic link, bootstrap skipped):\n%s", name, r)
		}
	}
	sameFiles(t, outside, files)
	var health struct{ Counters map[string]uint64 }
	if err := json.Unmarshal([]byte(r.Stdout[strings.Index(r.Stdout, "{"):]), &health); err != nil {
		t.Fatalf("svc ready --json: %v\n%s", err, r)
	}
	if health.Counters["managed_file_refusals"] < 2 {
		t.Errorf("counters %v: want managed_file_refusals >= 2", health.Counters)
	}
}

// sessionsDB writes a state.db at path holding two sessions, through
// internal/sessions as the gateway writes them, and returns their ids,
// the older one first. Its files are the hermes uid's.
func sessionsDB(t *testing.T, path string) []string {
	t.Helper()
	st, err := sessions.Open(path, sessions.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{sessions.NewSessionID(), sessions.NewSessionID()}
	now := time.Now()
	for i, id := range ids {
		err := st.AppendTurn(context.Background(), sessions.Turn{
			SessionID: id, Profile: "foo", Model: "test/model",
			Messages: []sessions.Message{
				{Role: sessions.RoleUser, Content: "a question " + strconv.Itoa(i)},
				{Role: sessions.RoleAssistant, Content: "an answer"},
			},
			At: now.Add(-time.Duration(len(ids)-i) * time.Hour),
		})
		if err != nil {
			st.Close()
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(path + "*")
	for _, m := range matches {
		os.Chown(m, 10000, 10000)
	}
	return ids
}

// snapshot returns every entry below dir: its mode, and a regular file's
// content or a symlink's target.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		v := fi.Mode().String()
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + string(b)
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			v += " -> " + target
		}
		out[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRootCLIRefusesSymlinks: every CLI command that writes under
// HERMES_HOME, run as root with HERMES_DOCKER_EXEC_AS_ROOT=1, refuses a
// symlink the hermes uid planted (profiles/<name>, profiles/, config.yaml,
// .env, auth.json, state.db, a seeds directory), with a message that names
// the link, exits non-zero, and writes nothing through it: the link's
// target, a root-only directory holding what the command would change
// (a variable, a key, a session), is byte for byte what it was.
func TestRootCLIRefusesSymlinks(t *testing.T) {
	t.Parallel()
	profile := map[string]string{
		"foo/SOUL.md":     "outside",
		"foo/config.yaml": "gateway:\n  port: 18642\n",
		"foo/.env":        "API_SERVER_KEY=k\n",
	}
	tests := []struct {
		name string
		// plant links home/<link> to outside/<target> ("" for outside).
		link, target string
		files        map[string]string
		args         []string
		stdin        string
		// setup, when set, adds to outside what the command would change
		// through the link, and returns the words of args to replace (a
		// session's id).
		setup func(t *testing.T, outside string) map[string]string
		// absent: paths below outside that the command must not create;
		// homeAbsent: paths below home.
		absent, homeAbsent []string
		// code is the exit code of the refusal.
		code int
	}{
		{name: "config set, profiles/foo a symlink", link: "profiles/foo", target: "foo", files: profile,
			args: []string{"-p", "foo", "config", "set", "model.name", "x"}, code: 1},
		{name: "config set, config.yaml a symlink", link: "config.yaml", target: "config.yaml", files: map[string]string{"config.yaml": "secret: s3\n"},
			args: []string{"config", "set", "model.name", "x"}, code: 1},
		{name: "login, profiles a symlink", link: "profiles", files: profile,
			args: []string{"-p", "foo", "login", "--provider", "openrouter"}, stdin: "sk-1\n", absent: []string{"foo/auth.json", "foo/auth.lock"}, code: 1},
		{name: "login, auth.json a symlink", link: "auth.json", target: "auth.json", files: map[string]string{"auth.json": `{"version": 1, "providers": {}}`},
			args: []string{"login", "--provider", "openrouter"}, stdin: "sk-1\n", code: 1},
		{name: "profile create, profiles a symlink", link: "profiles", files: profile,
			args: []string{"profile", "create", "bar"}, absent: []string{"bar"}, code: 1},
		{name: "profile delete, profiles a symlink", link: "profiles", files: profile,
			args: []string{"profile", "delete", "foo", "-y"}, code: 1},
		{name: "profile use, profiles a symlink", link: "profiles", files: profile,
			args: []string{"profile", "use", "foo"}, code: 1},
		{name: "sessions list, profiles/foo a symlink", link: "profiles/foo", target: "foo", files: profile,
			args: []string{"-p", "foo", "sessions", "list"}, absent: []string{"foo/state.db-shm", "foo/state.db-wal"}, code: 1},
		{name: "gateway run, profiles a symlink", link: "profiles", files: profile,
			args: []string{"-p", "foo", "gateway", "run", "--no-supervise"}, absent: []string{"foo/gateway.pid", "foo/gateway_state.json", "foo/state.db"}, code: 78},
		{name: "seeds, the directory a symlink", link: "share", files: map[string]string{"keep": "x"},
			args: []string{"seeds", "--dir", "SHARE"}, absent: []string{"SOUL.md", "config.yaml", "env.example"}, code: 1},
		{name: "env set, .env a symlink", link: ".env", target: ".env", files: map[string]string{".env": "API_SERVER_KEY=k\nFOO=bar\n"},
			args: []string{"env", "set", "FOO", "x"}, code: 1},
		{name: "env unset, profiles/foo a symlink", link: "profiles/foo", target: "foo", files: profile,
			args: []string{"-p", "foo", "env", "unset", "API_SERVER_KEY"}, code: 1},
		{name: "env rotate, .env a symlink", link: ".env", target: ".env", files: map[string]string{".env": "API_SERVER_KEY=k\nFOO=bar\n"},
			args: []string{"env", "rotate", "API_SERVER_KEY"}, code: 1},
		{name: "config unset, config.yaml a symlink", link: "config.yaml", target: "config.yaml", files: map[string]string{"config.yaml": "model:\n  name: m\nsecret: s3\n"},
			args: []string{"config", "unset", "secret"}, code: 1},
		{name: "sessions rename, state.db a symlink", link: "state.db", target: "state.db",
			setup: func(t *testing.T, outside string) map[string]string {
				return map[string]string{"ID": sessionsDB(t, filepath.Join(outside, "state.db"))[0]}
			},
			args: []string{"sessions", "rename", "ID", "a", "new", "title"}, absent: []string{"state.db-shm", "state.db-wal"}, code: 1},
		{name: "sessions delete, profiles/foo a symlink", link: "profiles/foo", target: "foo", files: profile,
			setup: func(t *testing.T, outside string) map[string]string {
				return map[string]string{"ID": sessionsDB(t, filepath.Join(outside, "foo", "state.db"))[0]}
			},
			args: []string{"-p", "foo", "sessions", "delete", "ID", "--yes"}, absent: []string{"foo/state.db-shm", "foo/state.db-wal"}, code: 1},
		{name: "sessions prune, state.db a symlink", link: "state.db", target: "state.db",
			setup: func(t *testing.T, outside string) map[string]string {
				sessionsDB(t, filepath.Join(outside, "state.db"))
				return nil
			},
			args: []string{"sessions", "prune", "--keep", "1"}, absent: []string{"state.db-shm", "state.db-wal"}, code: 1},
		// The source's files (its .env holds its key) must not be read
		// into a new profile the hermes uid can read, nor the profile made.
		{name: "profile create --clone-from, profiles/foo a symlink", link: "profiles/foo", target: "foo", files: profile,
			args: []string{"profile", "create", "bar", "--clone-from", "foo"}, homeAbsent: []string{"profiles/bar"}, code: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newNSHome(t)
			outside := rootOnly(t, filepath.Join(h.dir, "outside"), tt.files)
			var words map[string]string
			if tt.setup != nil {
				words = tt.setup(t, outside)
			}
			before := snapshot(t, outside)
			link := filepath.Join(h.home, tt.link)
			os.MkdirAll(filepath.Dir(link), 0o755)
			os.Chown(filepath.Dir(link), 10000, 10000)
			if err := os.Symlink(filepath.Join(outside, tt.target), link); err != nil {
				t.Fatal(err)
			}
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = strings.ReplaceAll(a, "SHARE", filepath.Join(h.home, "share"))
				if w, ok := words[a]; ok {
					args[i] = w
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, hermesBin, args...)
			cmd.Env = append(os.Environ(), "HERMES_HOME="+h.home, "HERMES_CONTROL_SOCKET="+filepath.Join(h.dir, "none.sock"),
				"HERMES_DOCKER_EXEC_AS_ROOT=1")
			cmd.Dir = h.dir
			cmd.Stdin = strings.NewReader(tt.stdin)
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != tt.code || !hasLine(string(out), "refusing", link, "symbolic link") {
				t.Errorf("hermes %s as root: exit %d, want %d and a refusal naming the symbolic link %s:\n%s", strings.Join(args, " "), code, tt.code, link, out)
			}
			sameFiles(t, outside, tt.files)
			after := snapshot(t, outside)
			for p, v := range before {
				if after[p] != v {
					t.Errorf("%s changed through the symlink: %.200q, was %.200q", p, after[p], v)
				}
			}
			for p := range after {
				if _, ok := before[p]; !ok {
					t.Errorf("%s was created through the symlink", p)
				}
			}
			for _, a := range tt.homeAbsent {
				if _, err := os.Lstat(filepath.Join(h.home, a)); !os.IsNotExist(err) {
					t.Errorf("%s was created: %v", filepath.Join(h.home, a), err)
				}
			}
			for _, a := range tt.absent {
				if _, err := os.Lstat(filepath.Join(outside, a)); !os.IsNotExist(err) {
					t.Errorf("%s was created through the symlink", filepath.Join(outside, a))
				}
			}
			if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("%s is no longer the planted symlink: %v", link, err)
			}
		})
	}
}
