package control_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/control/controltest"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// gatewayFixture serves a fake supervisor whose gateways are managed by
// controltest.Gateways (profiles default and coder exist), or by nothing
// when managed is false.
func gatewayFixture(t *testing.T, managed bool) (*controltest.Supervisor, *control.Client) {
	t.Helper()
	uid := fixtureUID()
	sup := controltest.NewSupervisor(home, uid, uid)
	opts := controltest.Options{HermesUID: uid, HermesGID: uid}
	if managed {
		opts.Gateways = controltest.Gateways{Sup: sup, Profiles: []string{"default", "coder"}, Name: gateway.ServiceName}
	}
	return sup, control.NewClient(controltest.Serve(t, sup, home, opts))
}

func TestClientGateways(t *testing.T) {
	sup, c := gatewayFixture(t, true)
	ctx := context.Background()

	st, err := c.RegisterGateway(ctx, "coder", false)
	if err != nil || st.Name != "gateway-coder" || st.Want != supervise.WantDown {
		t.Fatalf("RegisterGateway(coder, false) = %+v, %v; want gateway-coder down", st, err)
	}
	st, err = c.RegisterGateway(ctx, "default", true)
	if err != nil || st.Name != "gateway-default" || st.State != supervise.Running {
		t.Fatalf("RegisterGateway(default, true) = %+v, %v; want gateway-default running", st, err)
	}
	// Registering again without start keeps the wanted state.
	if st, err = c.RegisterGateway(ctx, "default", false); err != nil || st.State != supervise.Running {
		t.Fatalf("RegisterGateway(default, false) again = %+v, %v; want it still running", st, err)
	}
	if err := c.RemoveGateway(ctx, "coder"); err != nil {
		t.Fatalf("RemoveGateway(coder) = %v", err)
	}
	if _, ok := sup.Spec("gateway-coder"); ok {
		t.Errorf("gateway-coder is still registered after RemoveGateway")
	}
	if err := c.RemoveGateway(ctx, "coder"); err != nil {
		t.Errorf("RemoveGateway of an absent gateway = %v, want nil (204)", err)
	}
}

func TestClientGatewayErrors(t *testing.T) {
	ctx := context.Background()
	_, c := gatewayFixture(t, true)
	_, unmanaged := gatewayFixture(t, false)
	tests := []struct {
		name   string
		call   func() error
		status int
		code   string
		is     error
	}{
		{"no such profile", func() error { _, err := c.RegisterGateway(ctx, "typo", true); return err }, 404, "not_found", supervise.ErrNotFound},
		{"bad name", func() error { _, err := c.RegisterGateway(ctx, "Bad", false); return err }, 400, "bad_request", control.ErrBadRequest},
		{"reserved name", func() error { _, err := c.RegisterGateway(ctx, "sudo", false); return err }, 400, "bad_request", control.ErrBadRequest},
		{"bad name on remove", func() error { return c.RemoveGateway(ctx, "a/b") }, 400, "bad_request", control.ErrBadRequest},
		{"unmanaged register", func() error { _, err := unmanaged.RegisterGateway(ctx, "default", false); return err }, 404, "not_managed", control.ErrNotManaged},
		{"unmanaged remove", func() error { return unmanaged.RemoveGateway(ctx, "default") }, 404, "not_managed", control.ErrNotManaged},
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
		})
	}
	if _, err := unmanaged.RegisterGateway(ctx, "default", false); err == nil || err.Error() != "gateways are not managed by this supervisor" {
		t.Errorf("unmanaged detail = %v, want %q", err, "gateways are not managed by this supervisor")
	}
}
