package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/control/controltest"
	"github.com/hermes-agent/hermes/internal/dashboard"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/logpipe"
	"github.com/hermes-agent/hermes/internal/supervise"
)

const svcHome = "/opt/data"

// svcUID is the hermes uid of the fixtures: the caller itself when it is
// not root, so that the fixture's rules let it do what the transcript does.
func svcUID() int {
	if os.Getuid() == 0 {
		return 10000
	}
	return os.Getuid()
}

// runSvcCLI runs "hermes svc args..." against the socket and returns what
// it printed and its exit code.
func runSvcCLI(socket string, args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	e := &Env{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Host: hostenv.Env{
			Getenv: func(k string) (string, bool) {
				if k == "HERMES_CONTROL_SOCKET" {
					return socket, true
				}
				return "", false
			},
			Exists: func(string) bool { return false },
			Getuid: os.Getuid,
		},
	}
	code = e.Main(append([]string{"svc"}, args...))
	return out.String(), errb.String(), code
}

func seedSvc(t *testing.T, sup *controltest.Supervisor, uid int) {
	t.Helper()
	ctx := context.Background()
	if _, err := sup.Register(ctx, supervise.Spec{Name: "web", Argv: []string{"/bin/web"}}, true); err != nil {
		t.Fatal(err)
	}
	one := 1
	epoch := controltest.Epoch()
	sup.Put(supervise.Status{Name: "idle", Want: supervise.WantUp, State: supervise.Failed, Since: epoch, Restarts: 4, UID: uid,
		LastExit: &supervise.Exit{Code: &one},
		Reason:   "exited with status 1 (no restart):\nError: config.yaml: unknown key \"gatway\"\nhint: see the docs for the list of keys",
		Logs:     logpipe.Counters{Lines: 30, Bytes: 900, Dropped: 2, WriteErrors: 1}})
	sup.Put(supervise.Status{Name: "rootsvc", Want: supervise.WantUp, State: supervise.Backoff, Since: epoch, Restarts: 12, UID: 0,
		LastExit: &supervise.Exit{Signal: "SIGKILL"}, Reason: "killed by SIGKILL"})
	sup.Put(supervise.Status{Name: "dormant", Want: supervise.WantDown, State: supervise.Stopped, UID: uid})
	t0 := epoch.Add(time.Second)
	sup.AppendLog("web",
		logpipe.Entry{Time: t0, Stream: logpipe.Stdout, Line: "listening on :8080"},
		logpipe.Entry{Time: t0, Stream: logpipe.Stderr, Line: "warning: <no config>"},
		logpipe.Entry{Time: t0, Stream: logpipe.Stdout, Line: "GET / 200"})
}

// runtimeNames are the names init reserves, from their owners.
func runtimeNames(name string) bool {
	return name == dashboard.ServiceName || gateway.InNamespace(name)
}

// TestSvcTranscript runs a sequence of svc commands against a fake
// supervisor and compares what they print and their exit codes with
// testdata/svc.golden.
func TestSvcTranscript(t *testing.T) {
	uid := svcUID()
	sup := controltest.NewSupervisor(svcHome, uid, uid).Reserve(runtimeNames)
	seedSvc(t, sup, uid)
	socket := controltest.Serve(t, sup, svcHome, controltest.Options{HermesUID: uid, HermesGID: uid})

	steps := []struct {
		args []string
		code int
	}{
		{[]string{}, 0},
		{[]string{"status"}, 0},
		{[]string{"status", "--json"}, 0},
		{[]string{"status", "web"}, 0},
		{[]string{"status", "web", "--json"}, 0},
		{[]string{"status", "nope"}, 1},
		{[]string{"status", "a", "b"}, 1},
		{[]string{"start", "dormant"}, 0},
		{[]string{"stop", "web"}, 0},
		{[]string{"restart", "web"}, 0},
		{[]string{"restart", "--json", "web"}, 0},
		{[]string{"start", "nope"}, 1},
		{[]string{"start"}, 1},
		{[]string{"add", "api", "--env", "A=1", "--env", "B=x=y", "--restart", "always", "--", "/bin/api", "-v", "--port", "8080"}, 0},
		{[]string{"add", "--down", "worker", "--", "/bin/worker"}, 0},
		{[]string{"add", "api", "--", "/bin/api2"}, 0},
		{[]string{"add", "api"}, 1},
		{[]string{"add", "api", "/bin/api"}, 1},
		{[]string{"add", "gateway-x", "--", "/bin/x"}, 1},
		{[]string{"add", "x", "--env", "NOEQUALS", "--", "/bin/x"}, 1},
		{[]string{"add", "x", "--restart", "sometimes", "--", "/bin/x"}, 1},
		{[]string{"add", "x", "--bogus", "--", "/bin/x"}, 1},
		{[]string{"rm", "worker"}, 0},
		{[]string{"rm", "worker"}, 0},
		{[]string{"rm", "dashboard"}, 1},
		{[]string{"logs", "web"}, 0},
		{[]string{"logs", "web", "-n", "1"}, 0},
		{[]string{"logs", "--json", "web"}, 0},
		{[]string{"logs", "nope"}, 1},
		{[]string{"signal", "web", "hup"}, 0},
		{[]string{"signal", "web", "12"}, 0},
		{[]string{"signal", "web", "NOPE"}, 1},
		{[]string{"signal", "idle", "HUP"}, 1},
		{[]string{"ready"}, 0},
		{[]string{"ready", "--json"}, 0},
		{[]string{"bogus"}, 1},
		{[]string{"status"}, 0},
	}
	var transcript strings.Builder
	for _, s := range steps {
		stdout, stderr, code := runSvcCLI(socket, s.args...)
		fmt.Fprintf(&transcript, "$ hermes svc %s\n%s", strings.Join(s.args, " "), stdout)
		if stderr != "" {
			fmt.Fprintf(&transcript, "[stderr]\n%s", stderr)
		}
		fmt.Fprintf(&transcript, "[exit %d]\n\n", code)
		if code != s.code {
			t.Errorf("hermes svc %s: exit %d, want %d\n%s%s", strings.Join(s.args, " "), code, s.code, stdout, stderr)
		}
		if strings.Contains(stdout+stderr, "goroutine ") {
			t.Errorf("hermes svc %s printed a stack trace", strings.Join(s.args, " "))
		}
	}
	testenv.Golden(t, "svc.golden", strings.ReplaceAll(transcript.String(), fmt.Sprintf(`"uid": %d`, uid), `"uid": HERMES_UID`))

	// What add sent: argv after --, env, and no working directory (the
	// supervisor put HERMES_HOME there).
	spec, ok := sup.Spec("api")
	if !ok {
		t.Fatal("api is not registered")
	}
	if want := []string{"/bin/api2"}; !reflect.DeepEqual(spec.Argv, want) || spec.Dir != svcHome {
		t.Errorf("api spec = argv %q dir %q, want %q in %s", spec.Argv, spec.Dir, want, svcHome)
	}
	if got := sup.Signals(); !reflect.DeepEqual(got, []string{"web:SIGHUP", "web:SIGUSR2"}) {
		t.Errorf("signals = %v, want [web:SIGHUP web:SIGUSR2]", got)
	}
}

func TestSvcAddSpec(t *testing.T) {
	uid := svcUID()
	sup := controltest.NewSupervisor(svcHome, uid, uid)
	socket := controltest.Serve(t, sup, svcHome, controltest.Options{HermesUID: uid, HermesGID: uid})
	wd, _ := os.Getwd()
	_, _, code := runSvcCLI(socket, "add", "api", "--env", "A=1", "--env", "B=x=y", "--restart", "always",
		"--log-file", "logs/api.log", "--", "/bin/api", "-v", "--env", "C=3")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	spec, _ := sup.Spec("api")
	if !reflect.DeepEqual(spec.Argv, []string{"/bin/api", "-v", "--env", "C=3"}) {
		t.Errorf("argv = %q; the arguments after -- must reach the service untouched", spec.Argv)
	}
	if !reflect.DeepEqual(spec.Env, map[string]string{"A": "1", "B": "x=y"}) {
		t.Errorf("env = %v, want A=1 B=x=y", spec.Env)
	}
	if spec.Restart != supervise.RestartAlways || spec.LogFile != svcHome+"/logs/api.log" {
		t.Errorf("restart %q log_file %q", spec.Restart, spec.LogFile)
	}
	if spec.Dir != svcHome || spec.Dir == wd {
		t.Errorf("dir = %q, want HERMES_HOME (%s), never the CLI's cwd", spec.Dir, svcHome)
	}
}

func TestSvcLogsFollow(t *testing.T) {
	uid := svcUID()
	sup := controltest.NewSupervisor(svcHome, uid, uid)
	seedSvc(t, sup, uid)
	socket := controltest.Serve(t, sup, svcHome, controltest.Options{HermesUID: uid, HermesGID: uid})
	out := &testenv.Buffer{}
	e := &Env{Stdout: out, Stderr: out, Host: hostenv.Env{
		Getenv: func(k string) (string, bool) { return socket, k == "HERMES_CONTROL_SOCKET" },
		Exists: func(string) bool { return false },
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.dispatch(ctx, []string{"svc", "logs", "web", "-f", "-n", "1"}) }()
	testenv.Eventually(t, 10*time.Second, "the followed line", func() bool { return out.String() == "GET / 200\n" })
	sup.AppendLog("web", logpipe.Entry{Time: controltest.Epoch(), Stream: logpipe.Stdout, Line: "new line"})
	testenv.Eventually(t, 10*time.Second, "the appended line", func() bool { return out.String() == "GET / 200\nnew line\n" })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("svc logs -f after interrupt = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("svc logs -f did not end when interrupted")
	}
}

func TestSvcNoSupervisor(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "control.sock")
	for _, args := range [][]string{{"status"}, {"start", "web"}, {"logs", "web"}, {"add", "x", "--", "/bin/x"}} {
		stdout, _, code := runSvcCLI(socket, args...)
		if code != 3 || !strings.HasPrefix(stdout, "✗ no supervisor is answering on "+socket) {
			t.Errorf("hermes svc %s without a supervisor: exit %d %q, want 3 and a ✗ line naming the socket", strings.Join(args, " "), code, stdout)
		}
	}
}

func TestSvcReady(t *testing.T) {
	uid := svcUID()
	t.Run("not ready", func(t *testing.T) {
		sup := controltest.NewSupervisor(svcHome, uid, uid)
		socket := controltest.Serve(t, sup, svcHome, controltest.Options{HermesUID: uid, HermesGID: uid,
			Health: func() control.Health { return control.Health{Boot: control.BootStarting} }})
		start := time.Now()
		stdout, _, code := runSvcCLI(socket, "ready", "--timeout", "300ms")
		if want := "✗ supervisor not ready after 300ms (boot: starting)\n"; code != 1 || stdout != want {
			t.Errorf("ready = exit %d %q, want 1 %q", code, stdout, want)
		}
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Errorf("ready gave up after %s, before its timeout", d)
		}
	})
	t.Run("becomes ready", func(t *testing.T) {
		var ready atomic.Bool
		sup := controltest.NewSupervisor(svcHome, uid, uid)
		socket := controltest.Serve(t, sup, svcHome, controltest.Options{HermesUID: uid, HermesGID: uid,
			Health: func() control.Health {
				if ready.Load() {
					return control.Health{Boot: control.BootReady}
				}
				return control.Health{Boot: control.BootStarting}
			}})
		time.AfterFunc(300*time.Millisecond, func() { ready.Store(true) })
		stdout, _, code := runSvcCLI(socket, "ready", "--timeout", "10s")
		if code != 0 || stdout != "✓ supervisor ready\n" {
			t.Errorf("ready = exit %d %q, want 0 ✓", code, stdout)
		}
	})
	t.Run("never answers", func(t *testing.T) {
		socket := filepath.Join(t.TempDir(), "control.sock")
		stdout, _, code := runSvcCLI(socket, "ready", "--timeout", "300ms")
		want := "✗ no supervisor is answering on " + socket + " after 300ms\n"
		if code != 3 || stdout != want {
			t.Errorf("ready = exit %d %q, want 3 %q", code, stdout, want)
		}
	})
	t.Run("socket appears", func(t *testing.T) {
		dir := t.TempDir()
		socket := filepath.Join(dir, "control.sock")
		sup := controltest.NewSupervisor(svcHome, uid, uid)
		srv := control.NewServer(control.Config{Sup: sup, Home: svcHome, HermesUID: uid, HermesGID: uid,
			Health: func() control.Health { return control.Health{Boot: control.BootReady} }})
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		time.AfterFunc(300*time.Millisecond, func() {
			ln, err := control.Listen(socket, -1)
			if err != nil {
				ran <- err
				return
			}
			ran <- srv.Run(ctx, ln)
		})
		stdout, _, code := runSvcCLI(socket, "ready", "--timeout", "10s")
		cancel()
		if err := <-ran; err != nil {
			t.Error(err)
		}
		if code != 0 || stdout != "✓ supervisor ready\n" {
			t.Errorf("ready = exit %d %q, want 0 ✓", code, stdout)
		}
	})
}

func TestAge(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		since time.Time
		want  string
	}{
		{time.Time{}, "-"},
		{now, "0s"},
		{now.Add(time.Second), "0s"},
		{now.Add(-42*time.Second - 900*time.Millisecond), "42s"},
		{now.Add(-3*time.Minute - 12*time.Second), "3m12s"},
		{now.Add(-5*time.Hour - 3*time.Minute - 59*time.Second), "5h3m"},
		{now.Add(-2*24*time.Hour - 4*time.Hour), "2d4h"},
		{now.Add(-7 * 24 * time.Hour), "2026-03-03"},
	}
	for _, tt := range tests {
		if got := age(tt.since, now); got != tt.want {
			t.Errorf("age(%v) = %q, want %q", now.Sub(tt.since), got, tt.want)
		}
	}
}
