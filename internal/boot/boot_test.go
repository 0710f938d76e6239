package boot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/initd"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// The test binary plays the main command and the services: TestMain runs
// the role named by its first argument when HERMES_TEST_CHILD is set.
func TestMain(m *testing.M) {
	if os.Getenv("HERMES_TEST_CHILD") != "" {
		os.Exit(child(os.Args[1], os.Args[2:]))
	}
	code := m.Run()
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

func child(role string, args []string) int {
	switch role {
	case "serve": // a service: up until SIGTERM, then exit 0
		c := make(chan os.Signal, 1)
		signal.Notify(c, unix.SIGTERM)
		fmt.Println("service up")
		<-c
		return 0
	case "main": // the main command: say where it runs, then exit args[0] on SIGTERM
		c := make(chan os.Signal, 1)
		signal.Notify(c, unix.SIGTERM)
		fmt.Printf("main up uid=%d home=%s socket=%s\n", os.Getuid(), os.Getenv("HERMES_HOME"), os.Getenv("HERMES_CONTROL_SOCKET"))
		<-c
		var code int
		fmt.Sscan(args[0], &code)
		return code
	case "exit":
		return 0
	}
	return 97
}

// sharedDir holds a copy of the test binary that the hermes uid can run
// (go test's own directory is root's, mode 0700).
var sharedDir string

// exe returns that copy, made once per test binary.
func exe(t *testing.T) string {
	t.Helper()
	if sharedDir == "" {
		dir, err := os.MkdirTemp("", "hermes-boot-")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(self)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "boot.test"), b, 0o755); err != nil {
			t.Fatal(err)
		}
		sharedDir = dir
	}
	return filepath.Join(sharedDir, "boot.test")
}

// fixture is one init's world: a home, hooks, services, a socket, stdio
// files, and the signals a test sends it.
type fixture struct {
	t                          *testing.T
	dir, home, hooks, services string
	socket                     string
	stdout, stderr             *os.File
	vars                       map[string]string
	sigs                       chan os.Signal
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir, err := os.MkdirTemp("", "hermes-boot-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755) // the hermes uid enters the home below it
	f := &fixture{
		t: t, dir: dir, home: filepath.Join(dir, "home"), hooks: filepath.Join(dir, "init.d"),
		services: filepath.Join(dir, "services.d"), socket: filepath.Join(dir, "run", "control.sock"),
		vars: map[string]string{}, sigs: make(chan os.Signal, 4),
	}
	for _, d := range []string{f.home, f.hooks, f.services} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []**os.File{&f.stdout, &f.stderr} {
		if *p, err = os.CreateTemp(dir, "stdio-"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { (*p).Close() })
	}
	return f
}

func (f *fixture) write(path, content string, mode os.FileMode) {
	f.t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) output() (stdout, stderr string) {
	o, _ := os.ReadFile(f.stdout.Name())
	e, _ := os.ReadFile(f.stderr.Name())
	return string(o), string(e)
}

// init returns an Init of the fixture whose main command is args.
func (f *fixture) init(args ...string) *Init {
	null, err := os.Open(os.DevNull)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { null.Close() })
	environ := append(os.Environ(), "HERMES_TEST_CHILD=1", "GORACE=atexit_sleep_ms=0")
	return &Init{
		Args: args, Exe: exe(f.t),
		Env: hostenv.Env{
			Getenv: func(k string) (string, bool) { v, ok := f.vars[k]; return v, ok },
			Exists: func(string) bool { return false },
			Getuid: os.Getuid, UserHome: os.UserHomeDir,
		},
		Environ: environ,
		Stdin:   null, Stdout: f.stdout, Stderr: f.stderr,
		Process: Self(),
		Paths:   Paths{Home: f.home, Hooks: f.hooks, Services: f.services, Socket: f.socket, Share: filepath.Join(f.dir, "share")},
		Reaper:  initd.NewScopedReaper(),
		Signals: f.sigs,
	}
}

// start runs in in the background; its result comes on the channel.
func start(in *Init) <-chan error {
	done := make(chan error, 1)
	go func() { done <- in.Run(context.Background()) }()
	return done
}

// until polls cond until it holds, failing the test after 30 s or when
// the init ends first.
func (f *fixture) until(done <-chan error, what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		select {
		case err := <-done:
			out, errs := f.output()
			f.t.Fatalf("init ended (%v) before %s\nstdout:\n%s\nstderr:\n%s", err, what, out, errs)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			out, errs := f.output()
			f.t.Fatalf("no %s within 30 s\nstdout:\n%s\nstderr:\n%s", what, out, errs)
		}
	}
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var x *ExitError
	if !errors.As(err, &x) {
		t.Fatalf("Run returned %T %v, want an *ExitError", err, err)
	}
	return x.Code
}

// TestInitInProcess boots a whole init in this process: the control
// socket, the home seeded, a hook with the main command's arguments, a
// static service, the dashboard slot, the owner lock and the gateways'
// reconciliation, the main command, then a SIGTERM forwarded to it and the
// shutdown, whose exit status is the main command's. The scoped reaper
// never reaps a child of the test's own.
func TestInitInProcess(t *testing.T) {
	f := newFixture(t)
	f.write(filepath.Join(f.hooks, "10-args"), "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$HERMES_HOME/hook.args\"\n", 0o755)
	f.write(filepath.Join(f.services, "echo.yaml"), "argv: ["+exe(t)+", serve]\nenv: {HERMES_TEST_CHILD: \"1\"}\n", 0o644)

	// A child of the test's own, exiting while init runs: its status stays
	// the test's.
	mine := exec.Command(exe(t), "exit")
	mine.Env = append(os.Environ(), "HERMES_TEST_CHILD=1", "GORACE=atexit_sleep_ms=0")
	if err := mine.Start(); err != nil {
		t.Fatal(err)
	}

	done := start(f.init(exe(t), "main", "3"))
	c := control.NewClient(f.socket)
	ctx := context.Background()
	var h control.Health
	f.until(done, "a ready boot on the control socket", func() bool {
		var err error
		h, err = c.Health(ctx)
		return err == nil && h.Boot == control.BootReady
	})
	if !h.Owner || h.PID1 {
		t.Errorf("health = %+v, want the owner, not PID 1", h)
	}
	list, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]supervise.Want{"echo": supervise.WantUp, "dashboard": supervise.WantDown, "gateway-default": supervise.WantDown}
	for _, st := range list {
		if w, ok := want[st.Name]; ok {
			if st.Want != w {
				t.Errorf("%s wanted %s, want %s", st.Name, st.Want, w)
			}
			delete(want, st.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("services %v missing from %v", want, list)
	}
	f.until(done, "the service and the main command up", func() bool {
		out, _ := f.output()
		return strings.Contains(out, "service up") && strings.Contains(out, "main up")
	})
	if b, err := os.ReadFile(filepath.Join(f.home, "hook.args")); err != nil || string(b) != exe(t)+"\nmain\n3\n" {
		t.Errorf("the hook's arguments = %q (%v), want the main command's", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(f.home, "logs", "container-boot.log")); err != nil || !strings.Contains(string(b), "profile=default prior_state=none action=registered") {
		t.Errorf("boot log = %q (%v), want the default profile registered", b, err)
	}
	if _, err := os.Stat(control.PublishedSocketPath(f.home)); err != nil {
		t.Errorf("the owner publishes no socket in the home: %v", err)
	}
	out, _ := f.output()
	if !strings.Contains(out, "home="+f.home+" socket="+f.socket) {
		t.Errorf("the main command's environment lacks HERMES_HOME or HERMES_CONTROL_SOCKET:\n%s", out)
	}

	f.sigs <- unix.SIGTERM
	select {
	case err := <-done:
		if got := exitCode(t, err); got != 3 || errors.Unwrap(err) != nil {
			t.Errorf("Run = %v, want exit status 3 (the main command's) and no error on the way", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("init did not end after SIGTERM")
	}
	if _, err := os.Stat(f.socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the control socket outlives init: %v", err)
	}
	if err := mine.Wait(); err != nil {
		t.Errorf("the test's own child: %v (reaped by init?)", err)
	}
}

// TestInitFailures: how an init that cannot boot ends, and what it says.
func TestInitFailures(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *fixture)
		// signal is sent once the boot has begun (0: none).
		signal   syscall.Signal
		wantCode int
		wantErr  string // on init's stderr
	}{
		{"bad stop grace", func(f *fixture) { f.vars["HERMES_STOP_GRACE"] = "soon" }, 0, 1, `HERMES_STOP_GRACE="soon": want a duration`},
		{"control socket under a file", func(f *fixture) {
			// Step 2 fails before the supervisor runs: the shutdown has
			// nothing to stop, and must not wait for it.
			file := filepath.Join(f.dir, "not-a-dir")
			f.write(file, "", 0o644)
			f.socket = filepath.Join(file, "control.sock")
		}, 0, 1, "control socket"},
		{"home is a file", func(f *fixture) {
			// Step 3 fails while step 2 runs beside it: the control socket
			// is still closed, and the home's error said.
			f.home = filepath.Join(f.dir, "home-file")
			f.write(f.home, "", 0o644)
		}, 0, 1, "is not a directory"},
		{"failing hook", func(f *fixture) {
			f.write(filepath.Join(f.hooks, "10-fail"), "#!/bin/sh\nexit 5\n", 0o755)
		}, 0, 5, "exited with status 5"},
		{"SIGTERM during a hook", func(f *fixture) {
			f.write(filepath.Join(f.hooks, "10-wait"), "#!/bin/sh\ntouch \"$HERMES_HOME/hook.started\"\nexec sleep 60\n", 0o755)
		}, unix.SIGTERM, 143, ""},
		{"bad service file", func(f *fixture) {
			f.write(filepath.Join(f.services, "bad.yaml"), "argv: [x]\nbogus: 1\n", 0o644)
		}, 0, 1, "services in"},
		{"main command exits 0", func(f *fixture) {}, 0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.setup(f)
			done := start(f.init(exe(t), "exit"))
			if tt.signal != 0 {
				f.until(done, "the hook running", func() bool {
					_, err := os.Stat(filepath.Join(f.home, "hook.started"))
					return err == nil
				})
				f.sigs <- tt.signal
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("init did not end")
			}
			_, stderr := f.output()
			if got := exitCode(t, err); got != tt.wantCode {
				t.Errorf("exit status %d, want %d (%v)\nstderr:\n%s", got, tt.wantCode, err, stderr)
			}
			if !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, stderr)
			}
			if _, err := os.Lstat(f.socket); err == nil {
				t.Error("the control socket outlives init")
			}
		})
	}
}

// TestHookWritesAService: the services directory is read after the hooks
// when there are hooks (without them it is read while the home is
// prepared): a service a hook writes there starts with the others.
func TestHookWritesAService(t *testing.T) {
	f := newFixture(t)
	spec := "argv: [" + exe(t) + ", serve]\nenv: {HERMES_TEST_CHILD: \"1\"}\n"
	f.write(filepath.Join(f.hooks, "10-service"), "#!/bin/sh\nprintf '%s' '"+spec+"' > '"+filepath.Join(f.services, "hooked.yaml")+"'\n", 0o755)
	done := start(f.init(exe(t), "main", "0"))
	c := control.NewClient(f.socket)
	ctx := context.Background()
	f.until(done, "a ready boot on the control socket", func() bool {
		h, err := c.Health(ctx)
		return err == nil && h.Boot == control.BootReady
	})
	list, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(list, func(st supervise.Status) bool { return st.Name == "hooked" && st.Want == supervise.WantUp }) {
		t.Errorf("the service the hook wrote is not wanted up: %+v", list)
	}
	f.sigs <- unix.SIGTERM
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("init did not end after SIGTERM")
	}
}

// TestInitOwnSignalIntake: without injected Signals, init subscribes to
// the process's own while it resolves its configuration: a SIGTERM to the
// process during a hook cancels the boot (143), and an init whose
// configuration cannot work still ends at once (1), its subscription
// given back.
func TestInitOwnSignalIntake(t *testing.T) {
	f := newFixture(t)
	f.vars["HERMES_STOP_GRACE"] = "soon"
	in := f.init(exe(t), "exit")
	in.Signals = nil
	if got := exitCode(t, in.Run(context.Background())); got != 1 {
		t.Fatalf("bad configuration: exit status %d, want 1", got)
	}

	f = newFixture(t)
	f.write(filepath.Join(f.hooks, "10-wait"), "#!/bin/sh\ntouch \"$HERMES_HOME/hook.started\"\nexec sleep 60\n", 0o755)
	in = f.init(exe(t), "exit")
	in.Signals = nil
	done := start(in)
	f.until(done, "the hook running", func() bool {
		_, err := os.Stat(filepath.Join(f.home, "hook.started"))
		return err == nil
	})
	// The hook runs in step 4, after run has waited for the intake: the
	// SIGTERM reaches init, never the test's default disposition.
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if got := exitCode(t, err); got != 143 {
			_, stderr := f.output()
			t.Errorf("SIGTERM during a hook: exit status %d, want 143 (%v)\nstderr:\n%s", got, err, stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("init did not end")
	}
}

// TestRuntimeService: the names the supervisor reserves are the
// dashboard's and the gateways' namespace, from their owners.
func TestRuntimeService(t *testing.T) {
	for _, tt := range []struct {
		name string
		want bool
	}{
		{"dashboard", true}, {"gateway-default", true}, {"gateway-evil", true},
		{"web", false}, {"dashboards", false}, {"gateway", false},
	} {
		if got := runtimeService(tt.name); got != tt.want {
			t.Errorf("runtimeService(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestInitSavedServices: the init that owns the home registers the
// services saved in its services.d after the static ones, up and marked
// saved; a static service of the same name wins and a bad file is one
// refusing line, the boot going on; an init that does not own the home
// loads none.
func TestInitSavedServices(t *testing.T) {
	f := newFixture(t)
	svc := "argv: [" + exe(t) + ", serve]\nenv: {HERMES_TEST_CHILD: \"1\"}\n"
	f.write(filepath.Join(f.services, "dup.yaml"), svc, 0o644)
	saved := filepath.Join(f.home, "services.d")
	if err := os.Mkdir(saved, 0o755); err != nil {
		t.Fatal(err)
	}
	f.write(filepath.Join(saved, "kept.yaml"), svc, 0o644)
	f.write(filepath.Join(saved, "dup.yaml"), svc, 0o644)
	f.write(filepath.Join(saved, "rooty.yaml"), svc+"user: root\n", 0o644)

	statuses := func(c *control.Client) map[string]supervise.Status {
		list, err := c.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]supervise.Status{}
		for _, st := range list {
			m[st.Name] = st
		}
		return m
	}
	done := start(f.init(exe(t), "main", "0"))
	c := control.NewClient(f.socket)
	f.until(done, "a ready boot", func() bool {
		h, err := c.Health(context.Background())
		return err == nil && h.Boot == control.BootReady
	})
	got := statuses(c)
	if st := got["kept"]; !st.Saved || st.Want != supervise.WantUp {
		t.Errorf("saved service kept = %+v, want it registered up and saved", st)
	}
	if st, ok := got["dup"]; !ok || st.Saved {
		t.Errorf("dup = %+v, want the static service (not saved)", st)
	}
	if _, ok := got["rooty"]; ok {
		t.Errorf("a saved file asking for user root was registered")
	}
	_, stderr := f.output()
	for _, want := range []string{
		"refusing " + filepath.Join(saved, "rooty.yaml") + ": service rooty would run as 0:0",
		"refusing " + filepath.Join(saved, "dup.yaml") + ": a static service named dup exists",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	// A second init on the same home does not own it: no saved service.
	g := newFixture(t)
	g.home = f.home
	done2 := start(g.init(exe(t), "main", "0"))
	c2 := control.NewClient(g.socket)
	g.until(done2, "the second init's ready boot", func() bool {
		h, err := c2.Health(context.Background())
		return err == nil && h.Boot == control.BootReady
	})
	if _, ok := statuses(c2)["kept"]; ok {
		t.Errorf("an init that does not own the home loaded its saved services")
	}
	for _, x := range []struct {
		sigs chan os.Signal
		done <-chan error
	}{{g.sigs, done2}, {f.sigs, done}} {
		x.sigs <- unix.SIGTERM
		select {
		case <-x.done:
		case <-time.After(30 * time.Second):
			t.Fatal("init did not end after SIGTERM")
		}
	}
}

// TestInitQuietBoot: on an existing home a boot prints nothing of its own
// (the main command's output alone), unless HERMES_INIT_VERBOSE is true,
// which adds the routine lines (the reconciler's action per profile); the
// first boot's seeding prints either way.
func TestInitQuietBoot(t *testing.T) {
	f := newFixture(t)
	boot := func(verbose string) (stdout, stderr string) {
		t.Helper()
		for _, p := range []*os.File{f.stdout, f.stderr} {
			if err := p.Truncate(0); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Seek(0, 0); err != nil {
				t.Fatal(err)
			}
		}
		delete(f.vars, EnvVerbose)
		if verbose != "" {
			f.vars[EnvVerbose] = verbose
		}
		select {
		case err := <-start(f.init(exe(t), "exit")):
			if err != nil {
				t.Fatalf("init: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("init did not end")
		}
		return f.output()
	}
	const routine = "reconcile: profile=default prior_state=none action=registered"
	if out, errs := boot(""); !strings.Contains(out+errs, "seeded") || strings.Contains(out, routine) {
		t.Errorf("first quiet boot: stdout %q, stderr %q; want the seeding and no routine line", out, errs)
	}
	if out, errs := boot(""); out != "" || errs != "" {
		t.Errorf("quiet boot on an existing home printed stdout %q, stderr %q; want nothing", out, errs)
	}
	if out, errs := boot("1"); !strings.Contains(out, routine) || errs != "" {
		t.Errorf("verbose boot: stdout %q, stderr %q; want the routine line %q on stdout", out, errs, routine)
	}
}

// TestSocketInHome: step 3 runs in turn when the control socket's directory
// is the home or below it, as written (relative paths made absolute first);
// safefs.Inside's own table covers the comparison.
func TestSocketInHome(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		home, socket string
		want         bool
	}{
		{"/opt/data", "/opt/data/control.sock", true},
		{"/opt/data", "/opt/data/run/control.sock", true},
		{"/opt/data/", "/opt/data/run/x/../control.sock", true},
		{"/opt/data", "/opt/database/run/control.sock", false},
		{"/opt/data", "/opt/control.sock", false},
		{"/opt/data", "/run/hermes/control.sock", false},
		{"/opt/data", "/opt/data/../other/control.sock", false},
		{"/opt/data", "/opt/data/..run/control.sock", true},
		{"home", filepath.Join(wd, "home", "run", "control.sock"), true},
		{wd, "control.sock", true},
		{"home", "control.sock", false},
	}
	for _, tt := range tests {
		b := &boot{home: tt.home, socket: tt.socket}
		if got := b.socketInHome(); got != tt.want {
			t.Errorf("home %q, socket %q: in the home = %v, want %v", tt.home, tt.socket, got, tt.want)
		}
	}
}

// TestAwaitVolume: step 3 started beside step 2 is waited for with the
// boot's context, whose end ends step 3's own (its lock waits), and when
// step 2 fails it is cancelled and waited for before the boot returns.
func TestAwaitVolume(t *testing.T) {
	// started is step 3 on a goroutine of its own that runs until its
	// context ends, as a lock wait does.
	started := func() (*boot, <-chan struct{}) {
		ctx, cancel := context.WithCancel(context.Background())
		b := &boot{volumeDone: make(chan error, 1), volumeCancel: cancel}
		ended := make(chan struct{})
		go func() {
			<-ctx.Done()
			close(ended)
			b.volumeDone <- fmt.Errorf("step 3: %w", ctx.Err())
		}()
		return b, ended
	}

	b, ended := started()
	bootCtx, stop := context.WithCancel(context.Background())
	stop() // a SIGTERM during the boot
	if err := b.awaitVolume(bootCtx); !errors.Is(err, context.Canceled) {
		t.Errorf("awaitVolume after the boot's end = %v, want step 3's own cancellation", err)
	}
	select {
	case <-ended:
	default:
		t.Error("awaitVolume returned before step 3 ended")
	}
	if b.volumeDone != nil {
		t.Error("awaitVolume left step 3 marked as running")
	}

	b, ended = started()
	b.abandonVolume()
	select {
	case <-ended:
	default:
		t.Error("abandonVolume returned before step 3 ended")
	}
	b.abandonVolume() // a second call has nothing left to do
}

// TestInitControlFailureWaitsForTheHome: when step 2 fails beside step 3,
// Run returns only once step 3 is over: the home is fully seeded and no
// staging file is left behind.
func TestInitControlFailureWaitsForTheHome(t *testing.T) {
	f := newFixture(t)
	file := filepath.Join(f.dir, "not-a-dir")
	f.write(file, "", 0o644)
	f.socket = filepath.Join(file, "control.sock")
	select {
	case err := <-start(f.init(exe(t), "exit")):
		if got := exitCode(t, err); got != 1 {
			t.Fatalf("exit status %d, want 1 (%v)", got, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("init did not end")
	}
	for _, name := range []string{"SOUL.md", "config.yaml", ".env", "logs", "run"} {
		if _, err := os.Lstat(filepath.Join(f.home, name)); err != nil {
			t.Errorf("%s: %v; want step 3 done before Run returned", name, err)
		}
	}
	entries, err := os.ReadDir(f.home)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".seed.") {
			t.Errorf("staging file %s left behind", e.Name())
		}
	}
}

// TestInitSocketInTheHome: with the control socket's directory in the
// home (step 2 makes run/ there, and step 3 runs after it rather than
// beside it), the boot comes up on that socket and run/ belongs to the
// hermes uid like the home's other directories (checked as root only:
// otherwise everything is the user's own).
func TestInitSocketInTheHome(t *testing.T) {
	f := newFixture(t)
	f.socket = filepath.Join(f.home, "run", "control.sock")
	done := start(f.init(exe(t), "main", "0"))
	c := control.NewClient(f.socket)
	f.until(done, "a ready boot on the control socket in the home", func() bool {
		h, err := c.Health(context.Background())
		return err == nil && h.Boot == control.BootReady
	})
	owner := func(rel string) string {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(f.home, rel), &st); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d:%d", st.Uid, st.Gid)
	}
	f.until(done, "the main command up", func() bool {
		out, _ := f.output()
		return strings.Contains(out, "main up")
	})
	if os.Geteuid() == 0 {
		if got, want := owner("run"), owner("logs"); got != want {
			t.Errorf("run/ (the socket's directory) is owned by %s, want %s like logs/", got, want)
		}
	}
	f.sigs <- unix.SIGTERM
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want the main command's 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("init did not end after SIGTERM")
	}
}
