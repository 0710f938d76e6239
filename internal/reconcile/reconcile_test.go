package reconcile

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/supervise"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// The test binary also plays a live gateway holding gateway.pid's flock:
// with HERMES_TEST_CHILD=hold-flock it locks os.Args[1], says "locked" and
// waits until its stdin is closed.
func TestMain(m *testing.M) {
	switch os.Getenv("HERMES_TEST_CHILD") {
	case "":
		os.Exit(m.Run())
	case "hold-flock":
		f, err := os.OpenFile(os.Args[1], os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		if err := safefs.Lock(context.Background(), f, safefs.Exclusive, safefs.Wait{}); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("locked")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(0)
	}
	os.Exit(2)
}

type call struct {
	profile string
	start   bool
}

// fakeSlots records registrations and fails the profiles in fail.
type fakeSlots struct {
	mu    sync.Mutex
	calls []call
	fail  map[string]error
}

func (f *fakeSlots) RegisterGateway(_ context.Context, profile string, start bool) (supervise.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{profile, start})
	if err := f.fail[profile]; err != nil {
		return supervise.Status{}, err
	}
	return supervise.Status{Name: gateway.ServiceName(profile)}, nil
}

var fixedNow = time.Date(2026, 11, 26, 8, 51, 38, 0, time.UTC)

// newHome makes a HERMES_HOME holding the default profile's SOUL.md and,
// when state is not empty, its gateway_state.json.
func newHome(t *testing.T, state string) string {
	t.Helper()
	home := t.TempDir()
	write(t, filepath.Join(home, "SOUL.md"), "# default\n")
	if state != "" {
		write(t, filepath.Join(home, "gateway_state.json"), state)
	}
	return home
}

// addProfile makes profiles/<name>/ with SOUL.md (when soul) and state.
func addProfile(t *testing.T, home, name string, soul bool, state string) string {
	t.Helper()
	dir := filepath.Join(home, "profiles", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if soul {
		write(t, filepath.Join(dir, "SOUL.md"), "# "+name+"\n")
	}
	if state != "" {
		write(t, filepath.Join(dir, "gateway_state.json"), state)
	}
	return dir
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func state(s string) string { return fmt.Sprintf(`{"gateway_state": %q, "timestamp": 1700000000}`, s) }

// run runs a pass with a fake and returns the actions, the fake and what
// was logged.
func run(t *testing.T, cfg Config) ([]Action, *fakeSlots, string) {
	t.Helper()
	fake, _ := cfg.Slots.(*fakeSlots)
	if fake == nil && cfg.Slots == nil {
		fake = &fakeSlots{}
		cfg.Slots = fake
	}
	var log bytes.Buffer
	cfg.Log = &log
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return fixedNow }
	}
	if cfg.Owner == (safefs.Owner{}) {
		cfg.Owner = safefs.Keep
	}
	actions, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v\nlog:\n%s", err, log.String())
	}
	return actions, fake, log.String()
}

func summary(actions []Action) string {
	var s []string
	for _, a := range actions {
		s = append(s, a.Profile+":"+a.PriorState+":"+a.Action)
	}
	return strings.Join(s, " ")
}

// Reference 75: a running profile is started.
func TestRunningProfileIsStarted(t *testing.T) {
	home := newHome(t, "")
	addProfile(t, home, "coder", true, state("running"))
	actions, fake, log := run(t, Config{Home: home})
	if got, want := summary(actions), "default:none:registered coder:running:started"; got != want {
		t.Errorf("actions = %s, want %s", got, want)
	}
	if want := []call{{"default", false}, {"coder", true}}; !slices.Equal(fake.calls, want) {
		t.Errorf("registrations = %v, want %v", fake.calls, want)
	}
	if !strings.Contains(log, "reconcile: profile=coder prior_state=running action=started\n") {
		t.Errorf("log lacks the action line of coder:\n%s", log)
	}
}

// Reference 76 and pitfall 27: only "running" starts a gateway.
func TestOtherStatesAreRegisteredDown(t *testing.T) {
	for _, tt := range []struct{ state, prior string }{
		{state("stopped"), "stopped"},
		{state("starting"), "starting"},
		{state("startup_failed"), "startup_failed"},
		{state("draining"), "draining"},
		{`{"pid": 12}`, "none"},
		{"", "none"},
	} {
		t.Run(tt.prior+tt.state, func(t *testing.T) {
			home := newHome(t, "")
			addProfile(t, home, "coder", true, tt.state)
			actions, fake, _ := run(t, Config{Home: home})
			if got, want := summary(actions), "default:none:registered coder:"+tt.prior+":registered"; got != want {
				t.Errorf("actions = %s, want %s", got, want)
			}
			if want := []call{{"default", false}, {"coder", false}}; !slices.Equal(fake.calls, want) {
				t.Errorf("registrations = %v, want %v (down)", fake.calls, want)
			}
		})
	}
}

// Reference 77 (and pitfall 22): the marker is SOUL.md, not config.yaml.
func TestDirectoryWithoutSOULIsIgnored(t *testing.T) {
	home := newHome(t, "")
	dir := addProfile(t, home, "draft", false, state("running"))
	write(t, filepath.Join(dir, "config.yaml"), "gateway: {port: 9000}\n")
	write(t, filepath.Join(home, "profiles", "not-a-dir"), "x")
	actions, fake, _ := run(t, Config{Home: home})
	if got := summary(actions); got != "default:none:registered" {
		t.Errorf("actions = %s, want only the default profile", got)
	}
	if len(fake.calls) != 1 {
		t.Errorf("registrations = %v, want only gateway-default", fake.calls)
	}
}

// Reference 78 and pitfall 26: stale pid files of a dead PID namespace are
// removed for the root and the named profiles, and a live holder's are
// kept.
func TestStalePIDFilesAreSwept(t *testing.T) {
	home := newHome(t, "")
	coder := addProfile(t, home, "coder", true, "")
	live := addProfile(t, home, "live", true, "")
	for _, d := range []string{home, coder, live} {
		write(t, filepath.Join(d, "gateway.pid"), `{"pid": 1, "host": "gone"}`)
		write(t, filepath.Join(d, "processes.json"), `[]`)
	}
	stop := holdFlock(t, filepath.Join(live, "gateway.pid"))
	defer stop()
	// A repair prints on Notice, even where the routine lines of Log are
	// quieted (a boot without HERMES_INIT_VERBOSE).
	var notice bytes.Buffer
	_, _, routine := run(t, Config{Home: home, Notice: &notice})
	log := notice.String()
	if strings.Contains(routine, "removed the stale") {
		t.Errorf("a repair went to Log, which a quiet boot discards:\n%s", routine)
	}
	for _, d := range []string{home, coder} {
		for _, f := range []string{"gateway.pid", "processes.json"} {
			if _, err := os.Lstat(filepath.Join(d, f)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("stale %s not removed (%v)", filepath.Join(d, f), err)
			}
		}
	}
	for _, f := range []string{"gateway.pid", "processes.json"} {
		if _, err := os.Lstat(filepath.Join(live, f)); err != nil {
			t.Errorf("%s of a live gateway was removed: %v", f, err)
		}
	}
	if !strings.Contains(log, "profile=coder removed the stale") {
		t.Errorf("the sweep is not logged:\n%s", log)
	}
}

// holdFlock starts a helper process that holds path's flock until stop.
func holdFlock(t *testing.T, path string) (stop func()) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, path)
	cmd.Env = testenv.ChildEnv(append(os.Environ(), "HERMES_TEST_CHILD=hold-flock")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "locked\n" {
		stdin.Close()
		_ = cmd.Wait()
		t.Fatalf("helper: %q", line)
	}
	return func() {
		stdin.Close()
		_ = cmd.Wait()
	}
}

// Reference 79: the default slot always comes first, profiles/ or not.
func TestDefaultAlwaysFirst(t *testing.T) {
	home := newHome(t, state("running"))
	actions, fake, _ := run(t, Config{Home: home})
	if got := summary(actions); got != "default:running:started" {
		t.Errorf("without profiles/: actions = %s", got)
	}
	if want := []call{{"default", true}}; !slices.Equal(fake.calls, want) {
		t.Errorf("registrations = %v, want %v", fake.calls, want)
	}

	home = newHome(t, "")
	for _, n := range []string{"zeta", "alpha", "mid"} {
		addProfile(t, home, n, true, "")
	}
	actions, _, _ = run(t, Config{Home: home})
	if got, want := summary(actions), "default:none:registered alpha:none:registered mid:none:registered zeta:none:registered"; got != want {
		t.Errorf("actions = %s, want default first, then sorted", got)
	}
}

// Reference 80: profiles/default/ is not a second default.
func TestProfilesDefaultIsSkipped(t *testing.T) {
	home := newHome(t, "")
	addProfile(t, home, "default", true, state("running"))
	addProfile(t, home, "Bad Name", true, "")
	actions, fake, log := run(t, Config{Home: home})
	if got := summary(actions); got != "default:none:registered" {
		t.Errorf("actions = %s, want one default action", got)
	}
	if len(fake.calls) != 1 || fake.calls[0] != (call{"default", false}) {
		t.Errorf("registrations = %v, want one gateway-default, down", fake.calls)
	}
	if !strings.Contains(log, "warning") || !strings.Contains(log, "profiles/default/") {
		t.Errorf("no warning mentioning profiles/default/:\n%s", log)
	}
	if !strings.Contains(log, `skipping profiles/"Bad\x20Name"/`) {
		t.Errorf("no warning about the invalid name:\n%s", log)
	}
}

// Reference 81: a second pass is the same pass; a state change between
// passes changes the registration.
func TestSecondPassIsIdempotent(t *testing.T) {
	home := newHome(t, "")
	dir := addProfile(t, home, "coder", true, `{"desired_state": "running"}`)
	fake := &fakeSlots{}
	first, _, _ := run(t, Config{Home: home, Slots: fake})
	second, _, _ := run(t, Config{Home: home, Slots: fake})
	if summary(first) != summary(second) {
		t.Errorf("second pass %s differs from the first %s", summary(second), summary(first))
	}
	write(t, filepath.Join(dir, "gateway_state.json"), `{"desired_state": "stopped"}`)
	third, _, _ := run(t, Config{Home: home, Slots: fake})
	if got := summary(third); got != "default:none:registered coder:stopped:registered" {
		t.Errorf("after a stop: %s", got)
	}
	want := []call{{"default", false}, {"coder", true}, {"default", false}, {"coder", true}, {"default", false}, {"coder", false}}
	if !slices.Equal(fake.calls, want) {
		t.Errorf("registrations = %v, want %v", fake.calls, want)
	}
	b, _ := os.ReadFile(filepath.Join(home, BootLog))
	if n := strings.Count(string(b), "\n"); n != 6 {
		t.Errorf("boot log has %d lines after three passes of two profiles, want 6:\n%s", n, b)
	}
	_ = filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp") {
			t.Errorf("leftover %s", p)
		}
		return nil
	})
}

// Reference 83: corrupt state is no state; a byte order mark is fine.
func TestCorruptAndBOMState(t *testing.T) {
	home := newHome(t, "{not json")
	addProfile(t, home, "bom", true, "\ufeff"+`{"gateway_state": "running"}`)
	addProfile(t, home, "array", true, `["running"]`)
	addProfile(t, home, "empty", true, ``)
	write(t, filepath.Join(home, "profiles", "empty", "gateway_state.json"), "")
	actions, _, log := run(t, Config{Home: home})
	if got, want := summary(actions), "default:none:registered array:none:registered bom:running:started empty:none:registered"; got != want {
		t.Errorf("actions = %s, want %s", got, want)
	}
	if strings.Count(log, "treating it as no recorded state") != 3 {
		t.Errorf("want a warning for each of the three corrupt files:\n%s", log)
	}
}

// Reference 86: desired_state wins over gateway_state.
func TestDesiredStateWins(t *testing.T) {
	home := newHome(t, `{"gateway_state": "running", "desired_state": "stopped"}`)
	addProfile(t, home, "coder", true, `{"gateway_state": "stopped", "desired_state": "running"}`)
	actions, _, _ := run(t, Config{Home: home})
	if got, want := summary(actions), "default:stopped:registered coder:running:started"; got != want {
		t.Errorf("actions = %s, want %s", got, want)
	}
}

// A gateway started from a legacy gateway_state gets desired_state
// recorded, as every start by the reconciler does.
func TestLegacyRunningRecordsDesired(t *testing.T) {
	home := newHome(t, `{"gateway_state": "running", "timestamp": 1}`)
	run(t, Config{Home: home})
	st, err := gateway.ReadState(home)
	if err != nil {
		t.Fatal(err)
	}
	if st.DesiredState != "running" || st.GatewayState != "running" || st.Raw["timestamp"] == nil {
		t.Errorf("state after the start = %+v, want desired_state running and the other keys kept", st)
	}
}

// Reference 84: a dry run computes and writes nothing.
func TestDryRunWritesNothing(t *testing.T) {
	home := newHome(t, state("running"))
	write(t, filepath.Join(home, "gateway.pid"), "1")
	addProfile(t, home, "coder", true, state("stopped"))
	before := snapshot(t, home)
	actions, fake, log := run(t, Config{Home: home, DryRun: true, Slots: &fakeSlots{}})
	if got := summary(actions); got != "default:running:started coder:stopped:registered" {
		t.Errorf("actions = %s", got)
	}
	if len(fake.calls) != 0 {
		t.Errorf("a dry run registered %v", fake.calls)
	}
	if after := snapshot(t, home); after != before {
		t.Errorf("a dry run changed the home:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if !strings.Contains(log, "reconcile: profile=default prior_state=running action=started") {
		t.Errorf("a dry run still prints its actions:\n%s", log)
	}
}

// snapshot lists every path, mode and size under dir.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		fmt.Fprintf(&b, "%s %s %d\n", strings.TrimPrefix(p, dir), fi.Mode(), fi.Size())
		return nil
	})
	return b.String()
}

// A non-owner starts nothing, sweeps nothing and writes skipped lines.
func TestNonOwnerSkipsEverything(t *testing.T) {
	home := newHome(t, state("running"))
	write(t, filepath.Join(home, "gateway.pid"), "1")
	addProfile(t, home, "coder", true, state("running"))
	fake := &fakeSlots{}
	actions, _, log := run(t, Config{Home: home, Slots: fake, SkipReason: "pid 7 on host other owns it"})
	if got := summary(actions); got != "default:running:skipped coder:running:skipped" {
		t.Errorf("actions = %s", got)
	}
	if len(fake.calls) != 0 {
		t.Errorf("a non-owner registered %v", fake.calls)
	}
	if _, err := os.Lstat(filepath.Join(home, "gateway.pid")); err != nil {
		t.Errorf("a non-owner swept gateway.pid: %v", err)
	}
	if !strings.Contains(log, "pid 7 on host other owns it") {
		t.Errorf("the reason is not said:\n%s", log)
	}
	b, _ := os.ReadFile(filepath.Join(home, BootLog))
	if !strings.Contains(string(b), "profile=coder prior_state=running action=skipped\n") {
		t.Errorf("boot log:\n%s", b)
	}
}

// A registration error is reported on its line and does not stop the pass.
func TestRegistrationErrorDoesNotStopThePass(t *testing.T) {
	home := newHome(t, "")
	addProfile(t, home, "alpha", true, state("running"))
	addProfile(t, home, "beta", true, state("running"))
	fake := &fakeSlots{fail: map[string]error{"alpha": errors.New("supervisor is shutting down")}}
	actions, _, log := run(t, Config{Home: home, Slots: fake})
	if len(actions) != 3 || actions[1].Err == nil || actions[2].Err != nil {
		t.Fatalf("actions = %+v", actions)
	}
	if !slices.Contains(fake.calls, call{"beta", true}) {
		t.Errorf("beta was not started after alpha failed: %v", fake.calls)
	}
	if !strings.Contains(log, `profile=alpha prior_state=running action=started error="supervisor\x20is\x20shutting\x20down"`) {
		t.Errorf("the error is not on alpha's line:\n%s", log)
	}
}

// Reference 85: the boot log's format, one timestamp per pass.
func TestBootLogFormat(t *testing.T) {
	home := newHome(t, "")
	addProfile(t, home, "coder", true, state("running"))
	run(t, Config{Home: home})
	b, err := os.ReadFile(filepath.Join(home, BootLog))
	if err != nil {
		t.Fatal(err)
	}
	want := "2026-11-26T08:51:38Z profile=default prior_state=none action=registered\n" +
		"2026-11-26T08:51:38Z profile=coder prior_state=running action=started\n"
	if string(b) != want {
		t.Errorf("boot log =\n%s\nwant\n%s", b, want)
	}
	fi, _ := os.Stat(filepath.Join(home, BootLog))
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("boot log mode %s, want 0644", fi.Mode().Perm())
	}
}

// A state value crafted to forge a line or a field stays inside its field.
func TestBootLogEscapesStateValues(t *testing.T) {
	crafted := "running\n2026-01-01T00:00:00Z profile=evil prior_state=x action=started"
	home := newHome(t, fmt.Sprintf(`{"desired_state": %q}`, crafted))
	run(t, Config{Home: home})
	b, _ := os.ReadFile(filepath.Join(home, BootLog))
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("the crafted value made %d lines:\n%s", len(lines), b)
	}
	f := strings.Split(lines[0], " ")
	if len(f) != 4 || f[3] != "action=registered" {
		t.Errorf("the crafted value changed the fields: %q", f)
	}
	v, ok := strings.CutPrefix(f[2], "prior_state=")
	if got, err := strconv.Unquote(v); !ok || err != nil || got != crafted {
		t.Errorf("prior_state %q does not unquote to the value (%v)", v, err)
	}
}

// Reference 85: rotation at 256 KiB, replacing the previous .1.
func TestBootLogRotation(t *testing.T) {
	home := newHome(t, "")
	logs := filepath.Join(home, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(home, BootLog)
	write(t, path+".1", "older\n")
	small := strings.Repeat("x", RotateBytes-1) + "\n" // exactly RotateBytes
	write(t, path, small[:RotateBytes-100])
	run(t, Config{Home: home})
	if b, _ := os.ReadFile(path + ".1"); string(b) != "older\n" {
		t.Errorf("rotated below 256 KiB")
	}
	write(t, path, small)
	run(t, Config{Home: home})
	b, _ := os.ReadFile(path)
	if string(b) != "2026-11-26T08:51:38Z profile=default prior_state=none action=registered\n" {
		t.Errorf("after rotation the log holds %d bytes, want only the new pass", len(b))
	}
	if b, _ := os.ReadFile(path + ".1"); string(b) != small {
		t.Errorf("container-boot.log.1 holds %d bytes, want the rotated %d", len(b), len(small))
	}
}

// As root, the boot log never writes through a planted symlink or hard
// link, and is created owned by the hermes ids.
func TestBootLogAsRoot(t *testing.T) {
	testenv.NeedRoot(t, "create the boot log for another uid and plant links as the hermes user would")
	home := newHome(t, "")
	logs := filepath.Join(home, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	owner := safefs.Owner{UID: 4242, GID: 4343}
	run(t, Config{Home: home, Owner: owner})
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(home, BootLog), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 4242 || st.Gid != 4343 || st.Mode&0o777 != 0o644 {
		t.Errorf("boot log owned by %d:%d mode %o, want 4242:4343 0644", st.Uid, st.Gid, st.Mode&0o777)
	}

	victim := filepath.Join(t.TempDir(), "victim")
	write(t, victim, "precious\n")
	for _, plant := range []func(target, link string) error{os.Symlink, os.Link} {
		path := filepath.Join(home, BootLog)
		os.Remove(path)
		if err := plant(victim, path); err != nil {
			t.Fatal(err)
		}
		run(t, Config{Home: home, Owner: owner})
		if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
			t.Fatalf("the boot log wrote through a planted link: victim = %q", b)
		}
		if err := unix.Lstat(path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 {
			t.Errorf("the planted link was not replaced by a plain boot log (%v)", err)
		}
	}
}

var lineRE = regexp.MustCompile(`^\S+ profile=\S+ prior_state=\S+ action=\S+( error=\S+)?$`)

// FuzzBootLogEscape: no value, however crafted, puts a newline or an
// unescaped space into a boot log line, and every quoted value unquotes to
// what it was.
func FuzzBootLogEscape(f *testing.F) {
	for _, s := range []string{"running", "", "a b", "x\ny", "\"", `\x20`, "running action=started", "\xff\xfe", "\u2028", "é"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, prior, msg string) {
		a := Action{Profile: "default", PriorState: prior, Action: Registered}
		if msg != "" {
			a.Err = errors.New(msg)
		}
		line := string(bootLines(fixedNow, []Action{a}))
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") || strings.ContainsAny(line, "\r\t\v\f") {
			t.Fatalf("line %q is not one line", line)
		}
		body := strings.TrimSuffix(line, "\n")
		if !lineRE.MatchString(body) {
			t.Fatalf("line %q does not have the fields of a boot log line", body)
		}
		for _, r := range body {
			if r < 0x20 || r > 0x7e {
				t.Fatalf("line %q holds %U", body, r)
			}
		}
		v := strings.SplitN(strings.Split(body, " ")[2], "=", 2)[1]
		if got := unescape(t, v); got != prior {
			t.Fatalf("prior_state %q reads back as %q, want %q", v, got, prior)
		}
	})
}

func unescape(t *testing.T, v string) string {
	if !strings.HasPrefix(v, `"`) {
		return v
	}
	s, err := strconv.Unquote(v)
	if err != nil {
		t.Fatalf("%q does not unquote: %v", v, err)
	}
	return s
}

// TestLockedFilesSkipped: with the boot log's and a state file's locks
// held by another holder, the pass ends within its budget, writes neither
// without the lock, and reports each skip as a refusal naming the file.
func TestLockedFilesSkipped(t *testing.T) {
	home := newHome(t, state("running"))
	os.MkdirAll(filepath.Join(home, "logs"), 0o755)
	for _, p := range []string{filepath.Join(home, BootLog), filepath.Join(home, "gateway_state.json")} {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := safefs.Lock(context.Background(), f, safefs.Exclusive, safefs.Wait{}); err != nil {
			t.Fatal(err)
		}
	}
	var refusals []safefs.Refusal
	budget := safefs.NewBudget(300 * time.Millisecond)
	start := time.Now()
	actions, _, _ := run(t, Config{Home: home, Locks: budget, Refused: func(r safefs.Refusal) { refusals = append(refusals, r) }})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the pass took %s with a 300ms budget", d)
	}
	if got := summary(actions); got != "default:running:started" {
		t.Errorf("actions %s", got)
	}
	if len(refusals) != 2 || !refusals[0].Locked || !refusals[1].Locked ||
		!strings.HasSuffix(refusals[0].Path, "gateway_state.json") || !strings.HasSuffix(refusals[1].Path, "container-boot.log") {
		t.Fatalf("refusals %v, want the state file's and the boot log's skipped writes", refusals)
	}
	if b, _ := os.ReadFile(filepath.Join(home, BootLog)); len(b) != 0 {
		t.Errorf("the boot log was written without its lock: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(home, "gateway_state.json")); strings.Contains(string(b), "desired_state") {
		t.Errorf("the state file was written without its lock: %s", b)
	}
}

// TestSymlinkedStateRefused: as root, a gateway_state.json that is a
// symlink is refused (not read, so not started), with a refusal line.
func TestSymlinkedStateRefused(t *testing.T) {
	testenv.NeedRoot(t, "read state files as root does")
	home := newHome(t, "")
	outside := filepath.Join(t.TempDir(), "state.json")
	write(t, outside, state("running"))
	os.Symlink(outside, filepath.Join(home, "gateway_state.json"))
	var refusals []safefs.Refusal
	actions, fake, _ := run(t, Config{Home: home, Refused: func(r safefs.Refusal) { refusals = append(refusals, r) }})
	if got := summary(actions); got != "default:none:registered" || fake.calls[0].start {
		t.Errorf("actions %s, calls %v: want the default profile registered down", got, fake.calls)
	}
	if len(refusals) != 1 || refusals[0].Locked || !strings.Contains(refusals[0].String(), "symbolic link") {
		t.Errorf("refusals %v, want one naming the symbolic link", refusals)
	}
}

// TestBootLogAsUser: not root, the boot log is the process's own file: its
// directory is created (0755 whatever the umask), it is appended to and
// rotated, and a symlink a host user put at it is followed, as the user's
// own calls would.
func TestBootLogAsUser(t *testing.T) {
	if testenv.AsUser(t, 4242, 4242) {
		return
	}
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	home := t.TempDir()
	ctx := context.Background()
	if err := appendBootLog(ctx, home, safefs.Keep, safefs.Wait{}, []byte("one\n")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(home, BootLog)
	for p, want := range map[string]os.FileMode{filepath.Dir(path): 0o755, path: 0o644} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v, mode %v; want %04o", p, err, fi.Mode().Perm(), want)
		}
	}
	elsewhere := filepath.Join(t.TempDir(), "boot.log")
	write(t, elsewhere, "old\n")
	os.Remove(path)
	if err := os.Symlink(elsewhere, path); err != nil {
		t.Fatal(err)
	}
	if err := appendBootLog(ctx, home, safefs.Keep, safefs.Wait{}, []byte("two\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(elsewhere); string(b) != "old\ntwo\n" {
		t.Errorf("the symlink's target holds %q, want the line appended", b)
	}
	// At RotateBytes the next pass rotates the name (the link itself) and
	// starts a new file.
	write(t, elsewhere, strings.Repeat("x", RotateBytes))
	if err := appendBootLog(ctx, home, safefs.Keep, safefs.Wait{}, []byte("three\n")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "three\n" {
		t.Errorf("after rotation %s holds %d bytes (%v), want only the new line", path, len(b), err)
	}
	if fi, err := os.Lstat(path + ".1"); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("%s.1: %v, want the rotated symlink", path, err)
	}
}
