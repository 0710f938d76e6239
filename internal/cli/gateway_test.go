package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"

	"github.com/hermes-agent/hermes/internal/control/controltest"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// gwFixture is a HERMES_HOME with profiles and a fake supervisor whose
// gateways are the real gateway.Slots over it.
type gwFixture struct {
	home   string
	sup    *failingSup
	socket string
	conns  atomic.Int64
}

// failingSup is the fake supervisor, with services whose stop and restart
// fail (to test --all's partial failures).
type failingSup struct {
	*controltest.Supervisor
	fail map[string]bool
}

func (f *failingSup) Stop(ctx context.Context, name string) (supervise.Status, error) {
	if f.fail[name] {
		return supervise.Status{}, fmt.Errorf("stopping %s: permission denied (rc=111)", name)
	}
	return f.Supervisor.Stop(ctx, name)
}

func (f *failingSup) Restart(ctx context.Context, name string) (supervise.Status, error) {
	if f.fail[name] {
		return supervise.Status{}, fmt.Errorf("restarting %s: permission denied (rc=111)", name)
	}
	return f.Supervisor.Restart(ctx, name)
}

// gwPort returns a TCP port of 127.0.0.1 that nothing listens on now.
func gwPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func gwWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// newGwFixture makes a home with the profiles default (its gateway on a
// free port), coder, writer and broken (with SOUL.md), nosoul (without),
// and serves a fake supervisor for it. With serve false nothing answers
// on the socket.
func newGwFixture(t *testing.T, serve bool) *gwFixture {
	t.Helper()
	f := &gwFixture{home: t.TempDir()}
	gwWrite(t, filepath.Join(f.home, "SOUL.md"), "default\n")
	gwWrite(t, filepath.Join(f.home, "config.yaml"), fmt.Sprintf("gateway:\n  host: 127.0.0.1\n  port: %d\n  drain_timeout: 1s\n", gwPort(t)))
	for _, p := range []string{"coder", "writer", "broken", "noport"} {
		gwWrite(t, filepath.Join(f.home, "profiles", p, "SOUL.md"), p+"\n")
		if p != "noport" {
			gwWrite(t, filepath.Join(f.home, "profiles", p, "config.yaml"), fmt.Sprintf("gateway:\n  host: 127.0.0.1\n  port: %d\n", gwPort(t)))
		}
	}
	if err := os.MkdirAll(filepath.Join(f.home, "profiles", "nosoul"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.socket = filepath.Join(t.TempDir(), "none.sock")
	if !serve {
		return f
	}
	uid := svcUID()
	f.sup = &failingSup{Supervisor: controltest.NewSupervisor(f.home, uid, uid), fail: map[string]bool{}}
	slots := gateway.Slots{Sup: f.sup, Home: f.home, Exe: "/opt/hermes/bin/hermes"}
	f.socket = controltest.Serve(t, f.sup, f.home, controltest.Options{
		HermesUID: uid, HermesGID: uid, Gateways: slots, Connections: &f.conns,
	})
	return f
}

// env returns the environment of a CLI run against the fixture.
func (f *gwFixture) env(vars map[string]string) hostenv.Env {
	return hostenv.Env{
		Getenv: func(k string) (string, bool) {
			switch k {
			case "HERMES_HOME":
				return f.home, true
			case "HERMES_CONTROL_SOCKET":
				return f.socket, true
			}
			v, ok := vars[k]
			return v, ok
		},
		Exists: func(string) bool { return false },
		Getuid: os.Getuid,
	}
}

// run runs hermes args to the end with ctx.
func (f *gwFixture) run(ctx context.Context, vars map[string]string, args ...string) (stdout, stderr string, code int) {
	out, errb := &testenv.Buffer{}, &testenv.Buffer{}
	e := &Env{Stdin: strings.NewReader(""), Stdout: out, Stderr: errb, Host: f.env(vars), Exe: "/opt/hermes/bin/hermes"}
	code = e.exitCode(e.dispatch(ctx, args))
	return out.String(), errb.String(), code
}

// status returns a service's status on the fake ("" state when absent).
func (f *gwFixture) status(name string) supervise.Status {
	st, _ := f.sup.Status(name)
	return st
}

// TestGatewayTranscript runs gateway commands against the fake supervisor
// and compares their output and exit codes with testdata/gateway.golden:
// the dispatch of start/stop/restart to gateway-<profile>, the friendly
// errors, --all with a partial failure, status, install and uninstall.
func TestGatewayTranscript(t *testing.T) {
	// The fake supervisor's processes are no gateways: none will say it
	// serves (the real wait is e2e's TestConfigEndToEnd).
	defer func(w time.Duration) { servingWait = w }(servingWait)
	servingWait = 0
	f := newGwFixture(t, true)
	ctx := context.Background()
	slots := gateway.Slots{Sup: f.sup, Home: f.home, Exe: "/opt/hermes/bin/hermes"}
	for _, p := range []string{"default", "writer", "broken"} {
		if _, err := slots.RegisterGateway(ctx, p, p != "default"); err != nil {
			t.Fatal(err)
		}
	}
	f.sup.fail["gateway-broken"] = true
	f.sup.Put(supervise.Status{Name: "web", Want: supervise.WantUp, State: supervise.Running, PID: 5, Since: controltest.Epoch(), UID: svcUID()})
	gwWrite(t, filepath.Join(f.home, "profiles", "writer", gateway.StateFile),
		`{"gateway_state":"running","pid":4242,"start_time":"2026-11-26T08:00:00Z","updated_at":"2026-11-26T08:00:01Z","desired_state":"running","desired_updated_at":"2026-11-26T07:59:59Z"}`)
	gwWrite(t, filepath.Join(f.home, "profiles", "coder", gateway.StateFile), `{"gateway_state": 7}`)

	steps := []struct {
		args []string
		code int
		then func(t *testing.T)
	}{
		{[]string{"gateway"}, 0, nil},
		{[]string{"gateway", "status"}, 0, nil},
		{[]string{"gateway", "start"}, 0, func(t *testing.T) {
			if st := f.status("gateway-default"); st.Want != supervise.WantUp || st.State != supervise.Running {
				t.Errorf("gateway start left gateway-default %s/%s, want up/running", st.Want, st.State)
			}
		}},
		{[]string{"-p", "coder", "gateway", "start"}, 0, func(t *testing.T) {
			spec, ok := f.sup.Spec("gateway-coder")
			want, _ := gateway.ServiceSpec("/opt/hermes/bin/hermes", profiles.MustParse(f.home, "coder")).Normalize(f.home)
			if !ok || strings.Join(spec.Argv, " ") != strings.Join(want.Argv, " ") || spec.LogFile != want.LogFile {
				t.Errorf("the slot registered for coder = %+v, want the canonical spec", spec)
			}
		}},
		{[]string{"-p", "coder", "gateway", "stop"}, 0, func(t *testing.T) {
			if st := f.status("gateway-coder"); st.Want != supervise.WantDown || st.State != supervise.Stopped {
				t.Errorf("gateway stop left gateway-coder %s/%s", st.Want, st.State)
			}
		}},
		{[]string{"--profile", "coder", "gateway", "restart"}, 0, func(t *testing.T) {
			if st := f.status("gateway-coder"); st.State != supervise.Running {
				t.Errorf("gateway restart left gateway-coder %s", st.State)
			}
		}},
		{[]string{"-p", "coder", "gateway", "status"}, 0, nil},
		{[]string{"-p", "writer", "gateway", "status"}, 0, nil},
		{[]string{"-p", "writer", "gateway", "status", "--json"}, 0, nil},
		{[]string{"-p", "typo", "gateway", "start"}, 1, nil},
		{[]string{"-p", "typo", "gateway", "stop"}, 1, nil},
		{[]string{"-p", "typo", "gateway", "restart"}, 1, nil},
		{[]string{"-p", "typo", "gateway", "status"}, 1, nil},
		{[]string{"-p", "nosoul", "gateway", "start"}, 1, nil},
		{[]string{"-p", "noport", "gateway", "stop"}, 1, nil},
		{[]string{"-p", "Bad", "gateway", "start"}, 1, nil},
		{[]string{"-p", "root", "gateway", "stop"}, 1, nil},
		{[]string{"gateway", "restart", "--all"}, 1, nil},
		{[]string{"gateway", "stop", "--all"}, 1, func(t *testing.T) {
			for _, name := range []string{"gateway-default", "gateway-coder", "gateway-writer"} {
				if st := f.status(name); st.State != supervise.Stopped {
					t.Errorf("stop --all left %s %s", name, st.State)
				}
			}
			if st := f.status("web"); st.State != supervise.Running {
				t.Errorf("stop --all stopped web, which is not a gateway")
			}
		}},
		{[]string{"gateway", "restart", "--all"}, 1, func(t *testing.T) {
			if st := f.status("gateway-coder"); st.State != supervise.Stopped {
				t.Errorf("restart --all started gateway-coder, which an operator stopped")
			}
		}},
		{[]string{"gateway", "start", "--all"}, 1, nil},
		{[]string{"gateway", "stop", "extra"}, 1, nil},
		{[]string{"gateway", "install"}, 0, nil},
		{[]string{"gateway", "uninstall"}, 0, nil},
		{[]string{"gateway", "bogus"}, 1, func(*testing.T) {
			f.sup.Put(supervise.Status{Name: "gateway-writer", Want: supervise.WantUp, State: supervise.Failed, UID: svcUID(),
				Reason: "exited with status 78 (no restart)"})
		}},
		// The reference's spelling: start --force starts a failed slot.
		{[]string{"-p", "writer", "gateway", "start", "--force"}, 0, func(t *testing.T) {
			if st := f.status("gateway-writer"); st.Want != supervise.WantUp || st.State != supervise.Running {
				t.Errorf("gateway start --force left the failed gateway-writer %s/%s, want up/running", st.Want, st.State)
			}
		}},
	}
	var transcript strings.Builder
	for _, s := range steps {
		stdout, stderr, code := f.run(ctx, nil, s.args...)
		fmt.Fprintf(&transcript, "$ hermes %s\n%s", strings.Join(s.args, " "), stdout)
		if stderr != "" {
			fmt.Fprintf(&transcript, "[stderr]\n%s", stderr)
		}
		fmt.Fprintf(&transcript, "[exit %d]\n\n", code)
		if code != s.code {
			t.Errorf("hermes %s: exit %d, want %d\n%s%s", strings.Join(s.args, " "), code, s.code, stdout, stderr)
		}
		if strings.Contains(stdout+stderr, "goroutine ") || strings.Contains(stdout+stderr, "panic") {
			t.Errorf("hermes %s printed a stack trace", strings.Join(s.args, " "))
		}
		if s.then != nil {
			s.then(t)
		}
	}
	got := strings.ReplaceAll(transcript.String(), f.home, "$HERMES_HOME")
	got = strings.ReplaceAll(got, fmt.Sprintf(`"uid": %d`, svcUID()), `"uid": HERMES_UID`)
	testenv.Golden(t, "gateway.golden", got)
}

// TestGatewayAllEmptyAndNoSupervisor: --all with no gateway registered,
// and every command that needs a supervisor when none answers (exit 3).
func TestGatewayAllEmptyAndNoSupervisor(t *testing.T) {
	ctx := context.Background()
	f := newGwFixture(t, true)
	f.sup.Put(supervise.Status{Name: "web", Want: supervise.WantUp, State: supervise.Running, UID: svcUID()})
	for _, verb := range []string{"stop", "restart"} {
		stdout, _, code := f.run(ctx, nil, "gateway", verb, "--all")
		if code != 1 || stdout != "✗ No profile gateways registered\n" {
			t.Errorf("gateway %s --all with none = %d %q", verb, code, stdout)
		}
	}
	if st := f.status("web"); st.State != supervise.Running {
		t.Errorf("--all touched web")
	}

	none := newGwFixture(t, false)
	for _, args := range [][]string{
		{"gateway", "start"}, {"gateway", "stop"}, {"gateway", "restart"},
		{"gateway", "stop", "--all"}, {"gateway", "restart", "--all"},
	} {
		stdout, stderr, code := none.run(ctx, nil, args...)
		if code != 3 || !strings.HasPrefix(stdout, "✗ no supervisor is answering") || strings.Count(stdout, "\n") != 1 || stderr != "" {
			t.Errorf("hermes %s without a supervisor = %d %q %q, want exit 3 and one ✗ line", strings.Join(args, " "), code, stdout, stderr)
		}
	}
	// status still shows the gateway's own state.
	gwWrite(t, filepath.Join(none.home, gateway.StateFile), `{"gateway_state":"running","pid":9}`)
	stdout, _, code := none.run(ctx, nil, "gateway", "status")
	if code != 0 || !strings.Contains(stdout, "no supervisor answering") || !strings.Contains(stdout, "running (pid 9)") {
		t.Errorf("gateway status without a supervisor = %d %q", code, stdout)
	}
}

// TestGatewayStickyProfile: without -p the active profile is used.
func TestGatewayStickyProfile(t *testing.T) {
	f := newGwFixture(t, true)
	gwWrite(t, filepath.Join(f.home, "active_profile"), "coder\n")
	stdout, _, code := f.run(context.Background(), nil, "gateway", "start")
	if code != 0 || !strings.Contains(stdout, "✓ gateway-coder running") {
		t.Errorf("gateway start with the sticky profile coder = %d %q", code, stdout)
	}
}

// runUntil runs hermes args in the background until ready says it is
// settled, then cancels its context (as SIGTERM does) and returns what it
// printed and its exit code; it returns early if the command ends first.
func runUntil(t *testing.T, f *gwFixture, vars map[string]string, ready func(stdout, stderr string) bool, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	out, errb := &testenv.Buffer{}, &testenv.Buffer{}
	e := &Env{Stdin: strings.NewReader(""), Stdout: out, Stderr: errb, Host: f.env(vars), Exe: "/opt/hermes/bin/hermes"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- e.exitCode(e.dispatch(ctx, args)) }()
	deadline := time.After(10 * time.Second)
	for !ready(out.String(), errb.String()) {
		select {
		case code := <-done:
			return out.String(), errb.String(), code
		case <-deadline:
			t.Fatalf("hermes %s did not settle:\nstdout %q\nstderr %q", strings.Join(args, " "), out.String(), errb.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	select {
	case code = <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("hermes %s did not end after its context was cancelled", strings.Join(args, " "))
	}
	return out.String(), errb.String(), code
}

func bannered(stdout, _ string) bool { return strings.Contains(stdout, "Hermes Gateway Starting") }

// TestGatewayRunForeground: the gates that keep gateway run in the
// foreground, and that no supervisor is even asked when one of the first
// two holds.
func TestGatewayRunForeground(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		args []string
		// asked: whether the supervisor may be consulted.
		asked bool
		serve bool
	}{
		{"--no-supervise", nil, []string{"--no-supervise"}, false, true},
		{"supervised child", map[string]string{"HERMES_SUPERVISED_CHILD": "1"}, nil, false, true},
		{"s6 supervised child", map[string]string{"HERMES_S6_SUPERVISED_CHILD": "1"}, nil, false, true},
		{"supervised child, any value", map[string]string{"HERMES_SUPERVISED_CHILD": "no"}, nil, false, true},
		{"host without a supervisor", nil, nil, true, false},
	}
	for _, v := range []string{"1", "true", "TRUE", "yes", "Yes", " yes "} {
		tests = append(tests, struct {
			name  string
			vars  map[string]string
			args  []string
			asked bool
			serve bool
		}{"opt-out " + strconv.Quote(v), map[string]string{"HERMES_GATEWAY_NO_SUPERVISE": v}, nil, false, true})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGwFixture(t, tt.serve)
			stdout, stderr, code := runUntil(t, f, tt.vars, bannered, append([]string{"gateway", "run"}, tt.args...)...)
			if code != 0 || !bannered(stdout, stderr) {
				t.Fatalf("gateway run = %d\nstdout %q\nstderr %q; want the foreground gateway, then exit 0", code, stdout, stderr)
			}
			if strings.Contains(stderr, "supervision") {
				t.Errorf("the redirect notice was printed: %q", stderr)
			}
			if !tt.asked && f.conns.Load() != 0 {
				t.Errorf("the supervisor was consulted %d times", f.conns.Load())
			}
			if f.sup != nil {
				if _, err := f.sup.Status("gateway-default"); err == nil {
					t.Errorf("a gateway slot was registered")
				}
			}
			st, err := gateway.ReadState(f.home)
			if err != nil || st.GatewayState != gateway.StateStopped {
				t.Errorf("state after the foreground gateway = %+v, %v; want stopped", st, err)
			}
		})
	}
}

func noticed(_, stderr string) bool { return strings.Contains(stderr, "supervision") }

// TestGatewayRunRedirect: with a supervisor answering and no opt-out (the
// falsy spellings included), gateway run starts gateway-<profile> there,
// prints one notice line, waits, and exits 0 when told to stop.
func TestGatewayRunRedirect(t *testing.T) {
	for _, v := range []*string{nil, ptr(""), ptr("0"), ptr("false"), ptr("no"), ptr("off"), ptr("garbage")} {
		name := "unset"
		vars := map[string]string{}
		if v != nil {
			name = strconv.Quote(*v)
			vars["HERMES_GATEWAY_NO_SUPERVISE"] = *v
		}
		t.Run(name, func(t *testing.T) {
			f := newGwFixture(t, true)
			if _, err := (gateway.Slots{Sup: f.sup, Home: f.home, Exe: "/opt/hermes/bin/hermes"}).RegisterGateway(context.Background(), "default", false); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := runUntil(t, f, vars, noticed, "gateway", "run")
			if code != 0 {
				t.Fatalf("gateway run = exit %d, want 0\nstdout %q\nstderr %q", code, stdout, stderr)
			}
			notice := strings.TrimSpace(stderr)
			for _, want := range []string{"supervision", "--no-supervise", "HERMES_GATEWAY_NO_SUPERVISE", "gateway-default"} {
				if !strings.Contains(notice, want) {
					t.Errorf("notice %q lacks %q", notice, want)
				}
			}
			if strings.Count(notice, "\n") != 0 {
				t.Errorf("notice is not one line: %q", notice)
			}
			if strings.Contains(notice, "dashboard") {
				t.Errorf("notice mentions the dashboard without HERMES_DASHBOARD: %q", notice)
			}
			if bannered(stdout, stderr) {
				t.Errorf("a foreground gateway ran as well")
			}
			if st := f.status("gateway-default"); st.Want != supervise.WantUp || st.State != supervise.Running {
				t.Errorf("gateway-default is %s/%s after the redirect, want up/running", st.Want, st.State)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestGatewayRunRedirectDetails(t *testing.T) {
	t.Run("dashboard alongside", func(t *testing.T) {
		f := newGwFixture(t, true)
		_, stderr, code := runUntil(t, f, map[string]string{"HERMES_DASHBOARD": "1"}, noticed, "gateway", "run")
		if code != 0 || !strings.Contains(stderr, "dashboard is supervised alongside") {
			t.Errorf("gateway run with HERMES_DASHBOARD=1 = %d %q", code, stderr)
		}
	})
	t.Run("slot registered for a profile that has none", func(t *testing.T) {
		f := newGwFixture(t, true)
		stdout, _, code := runUntil(t, f, nil, noticed, "-p", "coder", "gateway", "run")
		if code != 0 || !strings.Contains(stdout, "✓ registered the gateway slot for profile 'coder'") {
			t.Errorf("gateway run for coder without a slot = %d %q", code, stdout)
		}
		if st := f.status("gateway-coder"); st.State != supervise.Running {
			t.Errorf("gateway-coder is %s, want running", st.State)
		}
	})
	t.Run("no such profile", func(t *testing.T) {
		f := newGwFixture(t, true)
		stdout, stderr, code := runUntil(t, f, nil, noticed, "-p", "typo", "gateway", "run")
		if code != 1 || stdout != "✗ no such gateway 'typo': create it with hermes profile create typo\n" || stderr != "" {
			t.Errorf("gateway run for typo = %d %q %q", code, stdout, stderr)
		}
		if _, err := f.sup.Status("gateway-typo"); err == nil {
			t.Errorf("a slot was registered for a typo")
		}
	})
	t.Run("supervisor without gateways", func(t *testing.T) {
		f := newGwFixture(t, false)
		uid := svcUID()
		sup := controltest.NewSupervisor(f.home, uid, uid)
		f.socket = controltest.Serve(t, sup, f.home, controltest.Options{HermesUID: uid, HermesGID: uid})
		stdout, stderr, code := runUntil(t, f, nil, bannered, "gateway", "run")
		if code != 0 || !bannered(stdout, stderr) || !strings.Contains(stderr, "does not manage gateways") {
			t.Errorf("gateway run against a supervisor without gateways = %d %q %q; want the foreground gateway", code, stdout, stderr)
		}
	})
}

// TestGatewayRunExitCodes: a configuration error is EX_CONFIG (78), so the
// supervisor does not restart it in a loop; a gateway already running is
// 1; neither prints more than one line on stdout.
func TestGatewayRunExitCodes(t *testing.T) {
	f := newGwFixture(t, false)
	ctx := context.Background()
	// A profile without a port gets one at its first start; a port that
	// cannot work is a configuration error.
	if err := os.WriteFile(filepath.Join(f.home, "profiles", "noport", "config.yaml"), []byte("gateway:\n  port: 99999\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	stdout, _, code := f.run(ctx, nil, "-p", "noport", "gateway", "run", "--no-supervise")
	if code != gateway.ExitConfig || !strings.HasPrefix(stdout, "✗ ") || strings.Count(stdout, "\n") != 1 || !strings.Contains(stdout, "port") {
		t.Errorf("gateway run with port 99999 = %d %q, want 78 and one ✗ line", code, stdout)
	}
	stdout, _, code = f.run(ctx, nil, "-p", "ghost", "gateway", "run", "--no-supervise")
	if code != gateway.ExitConfig || !strings.Contains(stdout, "no such profile") {
		t.Errorf("gateway run for a missing profile = %d %q, want 78", code, stdout)
	}

	// A first gateway holds the lock; a second one is refused with exit 1.
	first := make(chan struct{})
	go func() {
		defer close(first)
		runUntil(t, f, nil, func(stdout, _ string) bool {
			if !bannered(stdout, "") {
				return false
			}
			out, _, code := f.run(ctx, map[string]string{"HERMES_SUPERVISED_CHILD": "1"}, "gateway", "run")
			if code != 1 || !strings.Contains(out, "already running") {
				t.Errorf("a second gateway run = %d %q, want 1 and already running", code, out)
			}
			return true
		}, "gateway", "run", "--no-supervise")
	}()
	<-first
}
