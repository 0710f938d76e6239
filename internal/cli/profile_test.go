package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hermes-agent/hermes/internal/testenv"

	"github.com/hermes-agent/hermes/internal/control/controltest"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// fakeGateways is the gateway half of a supervisor for the profile tests:
// it registers a stand-in gateway-<profile> on the fake supervisor when
// the profile exists in home, records every call, and fails them all with
// fail when it is set.
type fakeGateways struct {
	sup  *controltest.Supervisor
	home string

	mu    sync.Mutex
	calls []string
	fail  error
}

func (g *fakeGateways) record(call string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, call)
	return g.fail
}

func (g *fakeGateways) setFail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fail = err
}

func (g *fakeGateways) Calls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.calls)
}

func (g *fakeGateways) ServiceName(profile string) string { return gateway.ServiceName(profile) }

func (g *fakeGateways) RegisterGateway(ctx context.Context, profile string, start bool) (supervise.Status, error) {
	if err := g.record(fmt.Sprintf("register %s start=%v", profile, start)); err != nil {
		return supervise.Status{}, err
	}
	if !profiles.Exists(profiles.MustParse(g.home, profile)) {
		return supervise.Status{}, fmt.Errorf("%w: profile %s has no SOUL.md", supervise.ErrNotFound, profile)
	}
	spec := supervise.Spec{Name: gateway.ServiceName(profile), Argv: []string{"/opt/hermes/bin/hermes", "-p", profile, "gateway", "run", "--replace"}}
	return g.sup.Register(ctx, spec, start)
}

func (g *fakeGateways) RemoveGateway(ctx context.Context, profile string) error {
	if err := g.record("remove " + profile); err != nil {
		return err
	}
	if err := g.sup.Remove(ctx, gateway.ServiceName(profile)); err != nil && !errors.Is(err, supervise.ErrNotFound) {
		return err
	}
	return nil
}

// tty is a stdin that says it is a terminal.
type tty struct{ io.Reader }

func (tty) IsTerminal() bool { return true }

// cliStep is one command of a transcript.
type cliStep struct {
	args  []string
	code  int
	stdin io.Reader // nil: an empty pipe
	// before runs first (to change the fixture).
	before func()
}

// profileCLI runs hermes commands on one home and socket.
type profileCLI struct {
	home, socket string
	// ports maps the ports that profile create allocated, in order, to
	// 8643, 8644, ... so that a machine where one of those is busy gives
	// the same transcript.
	ports map[string]string
	next  int
}

func newProfileCLI(home, socket string) *profileCLI {
	return &profileCLI{home: home, socket: socket, ports: map[string]string{}, next: profiles.DefaultGatewayPort + 1}
}

func (p *profileCLI) run(stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errb strings.Builder
	e := &Env{
		Stdin: stdin, Stdout: &out, Stderr: &errb,
		Host: hostenv.Env{
			Getenv: func(k string) (string, bool) {
				switch k {
				case "HERMES_HOME":
					return p.home, true
				case "HERMES_CONTROL_SOCKET":
					return p.socket, true
				}
				return "", false
			},
			Exists: func(string) bool { return false },
			Getuid: os.Getuid,
		},
	}
	code = e.Main(args)
	return out.String(), errb.String(), code
}

// transcript runs the steps and returns what they printed, with the home
// directory written $HERMES_HOME.
func (p *profileCLI) transcript(t *testing.T, steps []cliStep) string {
	t.Helper()
	var b strings.Builder
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		stdout, stderr, code := p.run(s.stdin, s.args...)
		fmt.Fprintf(&b, "$ hermes %s\n%s", strings.Join(s.args, " "), stdout)
		if stderr != "" {
			fmt.Fprintf(&b, "[stderr]\n%s", stderr)
		}
		fmt.Fprintf(&b, "[exit %d]\n\n", code)
		if code != s.code {
			t.Errorf("hermes %s: exit %d, want %d\n%s%s", strings.Join(s.args, " "), code, s.code, stdout, stderr)
		}
		if strings.Contains(stdout+stderr, "goroutine ") || strings.Contains(stdout+stderr, "panic") {
			t.Errorf("hermes %s printed a stack trace", strings.Join(s.args, " "))
		}
		if len(s.args) >= 3 && s.args[0] == "profile" && s.args[1] == "create" && code == 0 {
			if port, err := profiles.Port(profiles.MustParse(p.home, s.args[2])); err == nil {
				p.ports[strconv.Itoa(port)] = strconv.Itoa(p.next)
				p.next++
			}
		}
	}
	return p.normalise(b.String())
}

var portRE = regexp.MustCompile(`\b\d{4,5}\b`)

func (p *profileCLI) normalise(s string) string {
	s = strings.ReplaceAll(s, p.home, "$HERMES_HOME")
	s = portRE.ReplaceAllStringFunc(s, func(m string) string {
		if r, ok := p.ports[m]; ok {
			return r
		}
		return m
	})
	s = regexp.MustCompile(`sha256:[0-9a-f]{12}`).ReplaceAllString(s, "sha256:FINGERPRINT")
	return regexp.MustCompile(`"uid": \d+`).ReplaceAllString(s, `"uid": HERMES_UID`)
}

// withSupervisor serves a fake supervisor with gateways for home.
func withFakeSupervisor(t *testing.T, home string) (*controltest.Supervisor, *fakeGateways, string) {
	t.Helper()
	uid := svcUID()
	sup := controltest.NewSupervisor(home, uid, uid)
	gw := &fakeGateways{sup: sup, home: home}
	socket := controltest.Serve(t, sup, home, controltest.Options{HermesUID: uid, HermesGID: uid, Gateways: gw})
	return sup, gw, socket
}

func TestProfileTranscript(t *testing.T) {
	home := t.TempDir()
	sup, gw, socket := withFakeSupervisor(t, home)
	p := newProfileCLI(home, socket)
	steps := []cliStep{
		{args: []string{"profile"}},
		{args: []string{"profile", "list"}},
		{args: []string{"profile", "create", "coder"}},
		{args: []string{"profile", "create", "coder"}, code: 1},
		{args: []string{"profile", "create", "Coder"}, code: 1},
		{args: []string{"profile", "create", "default"}, code: 1},
		{args: []string{"profile", "create", "../escape"}, code: 1},
		{args: []string{"profile", "create"}, code: 1},
		{args: []string{"profile", "create", "a", "b"}, code: 1},
		{args: []string{"profile", "create", "second"}},
		{args: []string{"profile", "list"}, before: func() { sup.Start(context.Background(), "gateway-second") }},
		{args: []string{"profile", "list", "--json"}},
		{args: []string{"profile", "use", "coder"}},
		{args: []string{"profile", "use", "ghost"}, code: 1},
		{args: []string{"profile", "list"}},
		{args: []string{"profile", "show"}},
		{args: []string{"profile", "show", "second", "--json"},
			before: func() {
				os.WriteFile(profiles.ConfigPath(profiles.MustParse(home, "second")), []byte("gateway:\n  port: 8700\n  host: 0.0.0.0\nmodel:\n  name: anthropic/claude-sonnet-4\n  base_url: https://openrouter.ai/api/v1\n  api_key_env: OPENROUTER_API_KEY\n"), 0o640)
			}},
		{args: []string{"-p", "second", "profile", "show"}},
		{args: []string{"profile", "show", "ghost"}, code: 1},
		{args: []string{"profile", "show", "default"},
			before: func() { os.WriteFile(filepath.Join(home, "config.yaml"), []byte("gateway:\n  port: high\n"), 0o640) }},
		{args: []string{"profile", "delete", "coder"}, code: 1},
		{args: []string{"profile", "delete", "coder"}, code: 1, stdin: tty{strings.NewReader("coderr\n")}},
		{args: []string{"profile", "delete", "coder"}, stdin: tty{strings.NewReader("coder\n")}},
		{args: []string{"profile", "delete", "second", "-y"}},
		{args: []string{"profile", "delete", "second", "-y"}, code: 1},
		{args: []string{"profile", "delete", "default", "-y"}, code: 1},
		{args: []string{"profile", "list"}},
		{args: []string{"profile", "bogus"}, code: 1},
	}
	testenv.Golden(t, "profile.golden", p.transcript(t, steps))

	want := []string{"register coder start=false", "register second start=false", "remove coder", "remove second"}
	if got := gw.Calls(); !slices.Equal(got, want) {
		t.Errorf("gateway calls = %q, want %q", got, want)
	}
	if list := sup.List(); len(list) != 0 {
		t.Errorf("services left after deleting every profile: %v", list)
	}
}

// Profile creation and deletion never fail because the supervisor did:
// they warn on stderr and exit 0.
func TestProfileRegistrationErrorsWarn(t *testing.T) {
	home := t.TempDir()
	_, gw, socket := withFakeSupervisor(t, home)
	gw.setFail(errors.New("the disk is on fire"))
	p := newProfileCLI(home, socket)
	got := p.transcript(t, []cliStep{
		{args: []string{"profile", "create", "coder"}},
		{args: []string{"profile", "delete", "coder", "-y"}},
	})
	testenv.Golden(t, "profile_warn.golden", got)
	if profiles.Exists(profiles.MustParse(home, "coder")) {
		t.Error("the profile is still there after delete")
	}
	if calls := gw.Calls(); len(calls) != 2 {
		t.Errorf("gateway calls = %q, want a register and a remove", calls)
	}
}

// Without a supervisor, the profile commands say nothing about it.
func TestProfileNoSupervisor(t *testing.T) {
	home := t.TempDir()
	p := newProfileCLI(home, filepath.Join(t.TempDir(), "control.sock"))
	for _, s := range []cliStep{
		{args: []string{"profile", "create", "coder"}},
		{args: []string{"profile", "list"}},
		{args: []string{"profile", "show", "coder"}},
		{args: []string{"profile", "delete", "coder", "-y"}},
	} {
		stdout, stderr, code := p.run(nil, s.args...)
		if code != 0 || stderr != "" {
			t.Errorf("hermes %s without a supervisor: exit %d, stderr %q; want 0 and nothing on stderr\n%s", strings.Join(s.args, " "), code, stderr, stdout)
		}
		if strings.Contains(stdout, "register") || strings.Contains(stdout, "supervisor") {
			t.Errorf("hermes %s mentions the absent supervisor: %q", strings.Join(s.args, " "), stdout)
		}
	}
	stdout, _, _ := p.run(nil, "profile", "list")
	if want := "NAME     ACTIVE  PORT  GATEWAY\ndefault  *       8642  -\n"; stdout != want {
		t.Errorf("profile list = %q, want %q", stdout, want)
	}
}

// A profile created while a supervisor answers has its gateway slot,
// registered down.
func TestProfileCreateRegistersDown(t *testing.T) {
	home := t.TempDir()
	sup, _, socket := withFakeSupervisor(t, home)
	p := newProfileCLI(home, socket)
	if _, _, code := p.run(nil, "profile", "create", "coder"); code != 0 {
		t.Fatalf("exit %d", code)
	}
	st, err := sup.Status("gateway-coder")
	if err != nil || st.Want != supervise.WantDown || st.State != supervise.Stopped {
		t.Errorf("gateway-coder = %+v, %v; want registered down", st, err)
	}
}

func TestTerminal(t *testing.T) {
	if terminal(strings.NewReader("")) {
		t.Error("a strings.Reader is a terminal")
	}
	if !terminal(tty{}) {
		t.Error("a reader that says it is a terminal is not one")
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if terminal(f) {
		t.Error("/dev/null is a terminal")
	}
}

// TestProfileCloneTranscript: profiles that start ready, and what profile
// show says of them (the key's fingerprint, never the key).
func TestProfileCloneTranscript(t *testing.T) {
	home := t.TempDir()
	_, _, socket := withFakeSupervisor(t, home)
	p := newProfileCLI(home, socket)
	os.WriteFile(profiles.SOULPath(profiles.MustParse(home, "default")), []byte("You are a pirate.\n"), 0o644)
	os.WriteFile(profiles.ConfigPath(profiles.MustParse(home, "default")), []byte("model:\n  name: openai/gpt-4o-mini\n  base_url: https://openrouter.ai/api/v1\n  api_key_env: OPENROUTER_API_KEY\n"), 0o640)
	os.WriteFile(profiles.EnvPath(profiles.MustParse(home, "default")), []byte("# mine\nAPI_SERVER_KEY=0123456789abcdef0123456789abcdef\nOPENROUTER_API_KEY=sk-or-test\n"), 0o600)
	os.WriteFile(filepath.Join(home, profiles.FileSessions), []byte("sessions"), 0o600)
	steps := []cliStep{
		{args: []string{"profile", "create", "coder", "--clone", "--description", "writes code"}},
		{args: []string{"profile", "show", "coder"}},
		{args: []string{"profile", "create", "full", "--clone-from", "coder", "--clone-all"}},
		{args: []string{"profile", "create", "all", "--clone-all"}},
		{args: []string{"profile", "create", "x", "--clone-from", "ghost"}, code: 1},
		{args: []string{"profile", "create", "x", "--clone-from", "Bad"}, code: 1},
		{args: []string{"profile", "create", "x", "--description", "two\nlines"}, code: 1},
		{args: []string{"profile", "create", "x", "--clone-from"}, code: 1},
	}
	got := p.transcript(t, steps)
	for _, n := range []string{"coder", "full", "all"} {
		env, _ := profiles.ReadEnv(profiles.EnvPath(profiles.MustParse(home, n)))
		if env["OPENROUTER_API_KEY"] != "sk-or-test" || env[profiles.APIKeyVar] == "0123456789abcdef0123456789abcdef" {
			t.Errorf("%s: .env %v", n, env)
		}
		if strings.Contains(got, env[profiles.APIKeyVar]) {
			t.Errorf("the transcript shows the key of %s", n)
		}
	}
	if _, err := os.Stat(filepath.Join(profiles.MustParse(home, "all").Dir(), profiles.FileSessions)); err != nil {
		t.Errorf("--clone-all did not copy the sessions: %v", err)
	}
	testenv.Golden(t, "profile_clone.golden", got)
}
