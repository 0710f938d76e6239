// The container's health as `hermes doctor` (the image's HEALTHCHECK)
// judges it beyond the installation: the main command's gateway answers,
// and no service that runs as root has failed. Each failure names the
// service, so that `docker inspect`'s health log says what is wrong.

package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// initCmdline is the command line of PID 1 (hermes init -- MAIN...);
// tests replace it.
var initCmdline = func() ([]string, error) {
	b, err := os.ReadFile("/proc/1/cmdline")
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), nil
}

// mainGatewayProfile returns the profile whose gateway is init's main
// command (hermes init -- [-p P] gateway run), and false when PID 1 is
// not hermes init or its main command is not a gateway.
func mainGatewayProfile(home string) (profiles.Ref, bool) {
	argv, err := initCmdline()
	if err != nil || len(argv) < 2 {
		return profiles.Ref{}, false
	}
	i := 1
	for i < len(argv) && argv[i] != "init" {
		i++
	}
	if i == len(argv) {
		return profiles.Ref{}, false
	}
	rest := argv[i+1:]
	for j, a := range rest {
		if a == "--" {
			rest = rest[j+1:]
			break
		}
	}
	if len(rest) > 0 && strings.HasSuffix(rest[0], "/hermes") {
		rest = rest[1:]
	}
	flag := ""
	for len(rest) > 0 {
		a := rest[0]
		if v, ok := strings.CutPrefix(a, "--profile="); ok {
			flag, rest = v, rest[1:]
		} else if (a == "-p" || a == "--profile") && len(rest) > 1 {
			flag, rest = rest[1], rest[2:]
		} else {
			break
		}
	}
	if len(rest) < 2 || rest[0] != "gateway" || rest[1] != "run" {
		return profiles.Ref{}, false
	}
	p, err := profiles.Resolve(home, flag)
	return p, err == nil
}

// mainGateway checks that the main command's gateway is running and
// answers GET /health on its port.
func (d *doctor) mainGateway(ctx context.Context) check {
	c := check{Name: "main gateway"}
	ref, ok := mainGatewayProfile(d.home)
	if !ok {
		c.Status, c.Detail = checkOK, "the main command is not a gateway"
		return c
	}
	p := ref.Name()
	name := gateway.ServiceName(p)
	fail := func(why string) check {
		c.Status, c.Detail = checkFail, fmt.Sprintf("%s (the main command's gateway) is down: %s", name, why)
		c.Fix = "read its log (hermes -p " + p + " logs), fix the cause, then hermes svc restart " + name
		return c
	}
	if d.health != nil && d.svcErr == nil {
		var st *supervise.Status
		for i := range d.services {
			if d.services[i].Name == name {
				st = &d.services[i]
			}
		}
		switch {
		case st == nil:
			return fail("not registered with the supervisor")
		case st.State != supervise.Running:
			why := string(st.State)
			if st.Reason != "" {
				why += ": " + st.Reason
			}
			return fail(why)
		}
	}
	port, err := profiles.Port(ref)
	if err != nil {
		return fail(err.Error())
	}
	host, err := profiles.Host(ref, d.e.Host)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/health"
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fail(err.Error())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fail("GET " + url + ": " + err.Error())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Sprintf("GET %s answered %d", url, resp.StatusCode))
	}
	c.Status, c.Detail = checkOK, name+" answers on "+url
	return c
}

// rootServices checks that no service running as root has failed (a
// failed service is wanted down, so the services check passes it by).
func (d *doctor) rootServices() check {
	c := check{Name: "root services"}
	if d.health == nil || d.svcErr != nil {
		c.Status, c.Detail = checkOK, "unknown: no supervisor (see services)"
		return c
	}
	var bad []string
	n := 0
	for _, s := range d.services {
		if s.UID != 0 {
			continue
		}
		n++
		if s.State == supervise.Failed {
			why := "failed"
			if s.Reason != "" {
				why += ": " + s.Reason
			}
			bad = append(bad, fmt.Sprintf("%s (root) %s", s.Name, why))
		}
	}
	if len(bad) > 0 {
		c.Status, c.Detail = checkFail, strings.Join(bad, "; ")
		c.Fix = "read its log (hermes svc logs SERVICE), fix the cause, then hermes svc start SERVICE"
		return c
	}
	c.Status, c.Detail = checkOK, fmt.Sprintf("%d run as root, none failed", n)
	return c
}
