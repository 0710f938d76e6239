package control_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/control/controltest"
	"github.com/hermes-agent/hermes/internal/supervise"
)

func TestClientUnavailable(t *testing.T) {
	dir := t.TempDir()
	refused := filepath.Join(dir, "dead.sock")
	ln, err := net.Listen("unix", refused)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, path string }{
		{"missing", filepath.Join(dir, "missing.sock")},
		{"missing dir", filepath.Join(dir, "no", "control.sock")},
		{"refused", refused},
		{"not a socket", file},
		{"a directory", dir},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := control.NewClient(tt.path).Health(context.Background())
			if !errors.Is(err, control.ErrUnavailable) {
				t.Errorf("Health on %s = %v, want ErrUnavailable", tt.name, err)
			}
		})
	}
}

func TestClientAPIErrors(t *testing.T) {
	sup, c := newFixture(t, controltest.Options{})
	ctx := context.Background()
	sup.Put(supervise.Status{Name: "idle", State: supervise.Stopped, Want: supervise.WantDown, UID: fixtureUID()})
	tests := []struct {
		name   string
		call   func() error
		status int
		code   string
		is     error
	}{
		{"status of a missing service", func() error { _, err := c.Status(ctx, "nope"); return err }, 404, "not_found", supervise.ErrNotFound},
		{"start of a missing service", func() error { _, err := c.Start(ctx, "nope"); return err }, 404, "not_found", supervise.ErrNotFound},
		{"invalid spec", func() error {
			_, err := c.Register(ctx, supervise.Spec{Name: "x", Argv: []string{"a"}, Restart: "sometimes"}, true)
			return err
		}, 400, "invalid", supervise.ErrInvalid},
		{"reserved name", func() error {
			_, err := c.Register(ctx, supervise.Spec{Name: "gateway-x", Argv: []string{"a"}}, true)
			return err
		}, 403, "forbidden", control.ErrForbidden},
		{"signal a stopped service", func() error { return c.Signal(ctx, "idle", "HUP") }, 409, "not_running", supervise.ErrNotRunning},
		{"bad signal", func() error { return c.Signal(ctx, "idle", "NOPE") }, 400, "bad_request", control.ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var apiErr *control.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error = %v (%T), want *control.APIError", err, err)
			}
			if apiErr.Status != tt.status || apiErr.Code != tt.code || apiErr.Detail == "" {
				t.Errorf("error = %d %s %q, want %d %s with a detail", apiErr.Status, apiErr.Code, apiErr.Detail, tt.status, tt.code)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			if err.Error() != apiErr.Detail {
				t.Errorf("Error() = %q, want the detail %q", err.Error(), apiErr.Detail)
			}
		})
	}
}

func TestClientRoundTrip(t *testing.T) {
	sup, c := newFixture(t, controltest.Options{})
	ctx := context.Background()
	st, err := c.Register(ctx, supervise.Spec{Name: "web", Argv: []string{"/bin/web"}, Env: map[string]string{"A": "1"}}, false)
	if err != nil || st.Name != "web" || st.State != supervise.Stopped {
		t.Fatalf("Register = %+v, %v; want web stopped", st, err)
	}
	if st, err = c.Start(ctx, "web"); err != nil || st.State != supervise.Running || st.PID == 0 {
		t.Fatalf("Start = %+v, %v; want running", st, err)
	}
	if st, err = c.Restart(ctx, "web"); err != nil || st.Restarts != 1 {
		t.Fatalf("Restart = %+v, %v; want 1 restart", st, err)
	}
	if err := c.Signal(ctx, "web", "USR1"); err != nil {
		t.Fatal(err)
	}
	if got := sup.Signals(); len(got) != 1 || got[0] != "web:SIGUSR1" {
		t.Errorf("signals = %v, want [web:SIGUSR1]", got)
	}
	if st, err = c.Stop(ctx, "web"); err != nil || st.State != supervise.Stopped {
		t.Fatalf("Stop = %+v, %v; want stopped", st, err)
	}
	if got, err := c.Status(ctx, "web"); err != nil || got.State != supervise.Stopped {
		t.Fatalf("Status = %+v, %v", got, err)
	}
	h, err := c.Health(ctx)
	if err != nil || h.Boot != control.BootReady {
		t.Fatalf("Health = %+v, %v", h, err)
	}
	if err := c.Remove(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if list, err := c.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("List after Remove = %v, %v; want empty", list, err)
	}
	if spec, ok := sup.Spec("web"); ok {
		t.Errorf("web still registered: %+v", spec)
	}
}

// The lead's supervisor is what the server drives in production.
var _ control.Supervisor = (*supervise.Supervisor)(nil)
