package cli

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/supervise"
)

func setInitCmdline(t *testing.T, argv ...string) {
	t.Helper()
	old := initCmdline
	initCmdline = func() ([]string, error) { return argv, nil }
	t.Cleanup(func() { initCmdline = old })
}

func TestMainGatewayProfile(t *testing.T) {
	home := t.TempDir()
	os.WriteFile(profiles.SOULPath(profiles.MustParse(home, "default")), []byte("x\n"), 0o644)
	for _, tc := range []struct {
		argv []string
		want string
		ok   bool
	}{
		{[]string{"/opt/hermes/bin/hermes", "init", "--", "gateway", "run"}, "default", true},
		{[]string{"/opt/hermes/bin/hermes", "init", "--", "-p", "coder", "gateway", "run"}, "coder", true},
		{[]string{"/opt/hermes/bin/hermes", "init", "--", "--profile=coder", "gateway", "run", "--replace"}, "coder", true},
		{[]string{"/opt/hermes/bin/hermes", "init", "--", "/opt/hermes/bin/hermes", "gateway", "run"}, "default", true},
		{[]string{"/opt/hermes/bin/hermes", "init", "--", "sleep", "infinity"}, "", false},
		{[]string{"/opt/hermes/bin/hermes", "init", "--", "dashboard"}, "", false},
		{[]string{"/sbin/init"}, "", false},
		{[]string{"/opt/hermes/bin/hermes", "init", "--", "-p", "Bad!", "gateway", "run"}, "", false},
	} {
		setInitCmdline(t, tc.argv...)
		got, ok := mainGatewayProfile(home)
		if got.Name() != tc.want || ok != tc.ok {
			t.Errorf("%q: %q, %v; want %q, %v", tc.argv, got, ok, tc.want, tc.ok)
		}
	}
}

// TestDoctorMainGateway: doctor (the HEALTHCHECK) fails, naming the
// service, when the main command's gateway is not running or does not
// answer /health, and passes when it answers.
func TestDoctorMainGateway(t *testing.T) {
	f := newDoctorFixture(t)
	setInitCmdline(t, "/opt/hermes/bin/hermes", "init", "--", "-p", "coder", "gateway", "run")
	f.sup.Put(supervise.Status{Name: "gateway-coder", Want: supervise.WantUp, State: supervise.Backoff, Reason: "exited with status 1", UID: f.uid})
	checks, _, code := f.run(t)
	if c := checks["main gateway"]; code != 1 || c.Status != checkFail || !strings.Contains(c.Detail, "gateway-coder") || !strings.Contains(c.Detail, "backoff") {
		t.Errorf("gateway in backoff: exit %d, %+v; want a failure naming gateway-coder", code, c)
	}
	// Running but not answering on its port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if err := os.WriteFile(profiles.ConfigPath(profiles.MustParse(f.home, "coder")), profiles.DefaultConfig(port), 0o640); err != nil {
		t.Fatal(err)
	}
	f.chownAll(t)
	f.sup.Put(supervise.Status{Name: "gateway-coder", Want: supervise.WantUp, State: supervise.Running, PID: 42, UID: f.uid})
	checks, _, code = f.run(t)
	if c := checks["main gateway"]; code != 1 || c.Status != checkFail || !strings.Contains(c.Detail, "gateway-coder") {
		t.Errorf("gateway not answering: exit %d, %+v; want a failure naming gateway-coder", code, c)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
		}
	}))
	srv.Listener.Close()
	if srv.Listener, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	defer srv.Close()
	checks, _, _ = f.run(t)
	if c := checks["main gateway"]; c.Status != checkOK {
		t.Errorf("gateway answering: %+v; want ok", c)
	}
}

// TestDoctorRootServices: a failed service that runs as root fails the
// health check by name (it is wanted down, so the services check misses
// it); one that runs as the hermes user does not.
func TestDoctorRootServices(t *testing.T) {
	f := newDoctorFixture(t)
	f.sup.Put(supervise.Status{Name: "userjob", Want: supervise.WantDown, State: supervise.Failed, Reason: "exited with status 2", UID: f.uid})
	checks, _, _ := f.run(t)
	if c := checks["root services"]; c.Status != checkOK {
		t.Errorf("a hermes-user service failed: %+v; want ok", c)
	}
	f.sup.Put(supervise.Status{Name: "rootjob", Want: supervise.WantDown, State: supervise.Failed, Reason: "exited with status 1", UID: 0})
	checks, _, code := f.run(t)
	if c := checks["root services"]; code != 1 || c.Status != checkFail || !strings.Contains(c.Detail, "rootjob") || strings.Contains(c.Detail, "userjob") {
		t.Errorf("a root service failed: exit %d, %+v; want a failure naming rootjob alone", code, c)
	}
}
