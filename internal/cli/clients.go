package cli

import (
	"context"
	"os"
	"time"

	"github.com/hermes-agent/hermes/internal/control"
)

// localClient is the client of the supervisor this process belongs to (the
// socket that init exported, or the one the resolver finds).
func (e *Env) localClient() *control.Client {
	uid := os.Getuid()
	if e.Host.Getuid != nil {
		uid = e.Host.Getuid()
	}
	return control.NewClient(control.SocketPath(e.Host, uid))
}

// gatewayClient is the client for gateway and profile operations (CONTRACT
// §2): the home owner's published socket when a supervisor answers there,
// else the local supervisor. A container that does not own its HERMES_HOME
// (a dashboard-only container, a second container on the volume) thus acts
// on the gateways of the one that does.
func (e *Env) gatewayClient(ctx context.Context) *control.Client {
	if home, err := e.Host.Home(); err == nil {
		owner := control.NewClient(control.PublishedSocketPath(home))
		probe, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := owner.Health(probe); err == nil {
			return owner
		}
	}
	return e.localClient()
}
