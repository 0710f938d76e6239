package control

import (
	"errors"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/supervise"
)

// runtimeNames are the names the wiring reserves (dashboard.ServiceName,
// gateway.InNamespace).
func runtimeNames(name string) bool {
	return name == "dashboard" || strings.HasPrefix(name, "gateway-")
}

func TestAuthorize(t *testing.T) {
	pol := policy{home: "/opt/data", hermesUID: 10000, hermesGID: 10000, reserved: runtimeNames}
	var (
		root    = peer{uid: 0, gid: 0, known: true}
		hermes  = peer{uid: 10000, gid: 10000, known: true}
		other   = peer{uid: 12345, gid: 12345, known: true}
		unknown = peer{}
	)
	owned := func(uid int) *supervise.Status { return &supervise.Status{Name: "x", UID: uid} }
	spec := func(mod func(*supervise.Spec)) *supervise.Spec {
		s := supervise.Spec{Name: "web", Argv: []string{"/bin/web"}}
		if mod != nil {
			mod(&s)
		}
		return &s
	}
	tests := []struct {
		name string
		who  peer
		a    access
		want string // "ok", "forbidden" or "invalid"
	}{
		{"root reads", root, access{perm: permRead}, "ok"},
		{"hermes reads", hermes, access{perm: permRead}, "ok"},
		{"other reads", other, access{perm: permRead}, "forbidden"},
		{"unknown peer reads", unknown, access{perm: permRead}, "forbidden"},
		{"other controls its own uid's service", other, access{perm: permControl, name: "x", existing: owned(12345)}, "forbidden"},
		{"other registers", other, access{perm: permRegister, name: "web", spec: spec(nil)}, "forbidden"},
		{"undeclared route", root, access{perm: permUndeclared}, "forbidden"},

		{"root registers anything", root, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.User, s.Dir = "root", "/etc" })}, "ok"},
		{"root controls a root service", root, access{perm: permControl, name: "x", existing: owned(0)}, "ok"},
		{"root removes a root service", root, access{perm: permRemove, name: "x", existing: owned(0)}, "ok"},
		{"root may not register a gateway", root, access{perm: permRegister, name: "gateway-default", spec: spec(nil)}, "forbidden"},
		{"root may not register the dashboard", root, access{perm: permRegister, name: "dashboard", spec: spec(nil)}, "forbidden"},
		{"root may not remove a gateway", root, access{perm: permRemove, name: "gateway-x"}, "forbidden"},
		{"root restarts a gateway", root, access{perm: permControl, name: "gateway-x", existing: owned(10000)}, "ok"},

		{"hermes registers a plain spec", hermes, access{perm: permRegister, name: "web", spec: spec(nil)}, "ok"},
		{"hermes replaces its own", hermes, access{perm: permRegister, name: "web", existing: owned(10000), spec: spec(nil)}, "ok"},
		{"hermes replaces root's", hermes, access{perm: permRegister, name: "web", existing: owned(0), spec: spec(nil)}, "forbidden"},
		{"hermes replaces another uid's", hermes, access{perm: permRegister, name: "web", existing: owned(12345), spec: spec(nil)}, "forbidden"},
		{"hermes without a spec", hermes, access{perm: permRegister, name: "web"}, "forbidden"},
		{"hermes user hermes", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.User = "hermes" })}, "ok"},
		{"hermes user 10000", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.User = "10000" })}, "ok"},
		{"hermes user 10000:10000", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.User = "10000:10000" })}, "ok"},
		{"hermes user root", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.User = "root" })}, "forbidden"},
		{"hermes user 0", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.User = "0" })}, "forbidden"},
		{"hermes user 0:0", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.User = "0:0" })}, "forbidden"},
		{"hermes root group 10000:0", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.User = "10000:0" })}, "forbidden"},
		{"hermes another uid", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.User = "12345" })}, "forbidden"},
		{"hermes unknown user", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.User = "no-such-user-here" })}, "invalid"},
		{"hermes invalid spec", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.Argv = nil })}, "invalid"},

		{"dir inside", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.Dir = "/opt/data/work" })}, "ok"},
		{"dir is home", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.Dir = "/opt/data/" })}, "ok"},
		{"dir relative inside", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.Dir = "work/sub" })}, "ok"},
		{"dir sibling with prefix", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.Dir = "/opt/data2" })}, "forbidden"},
		{"dir sibling below prefix", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.Dir = "/opt/data2/x" })}, "forbidden"},
		{"dir dotdot absolute", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.Dir = "/opt/data/../../etc" })}, "forbidden"},
		{"dir dotdot relative", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.Dir = "../etc" })}, "forbidden"},
		{"dir dotdot nested", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.Dir = "a/b/../../../root" })}, "forbidden"},
		{"dir dotdot that stays inside", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.Dir = "a/../b" })}, "ok"},
		{"dir root", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.Dir = "/" })}, "forbidden"},
		{"log inside", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.LogFile = "/opt/data/logs/web/other" })}, "ok"},
		{"log relative", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.LogFile = "logs/web/current" })}, "ok"},
		{"log outside", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.LogFile = "/var/log/web" })}, "forbidden"},
		{"log dotdot", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.LogFile = "../../etc/shadow" })}, "forbidden"},
		{"log sibling with prefix", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.LogFile = "/opt/data2/log" })}, "forbidden"},
		{"log dotdot absolute", hermes, access{perm: permRegister, name: "web", spec: spec(func(s *supervise.Spec) { s.LogFile = "/opt/data/logs/../../../etc/cron.d/x" })}, "forbidden"},

		{"hermes controls its own", hermes, access{perm: permControl, name: "x", existing: owned(10000)}, "ok"},
		{"hermes controls an absent one", hermes, access{perm: permControl, name: "x"}, "ok"},
		{"hermes controls root's", hermes, access{perm: permControl, name: "x", existing: owned(0)}, "forbidden"},
		{"hermes controls another uid's", hermes, access{perm: permControl, name: "x", existing: owned(12345)}, "forbidden"},
		{"hermes removes its own", hermes, access{perm: permRemove, name: "x", existing: owned(10000)}, "ok"},
		{"hermes removes an absent one", hermes, access{perm: permRemove, name: "x"}, "ok"},
		{"hermes removes root's", hermes, access{perm: permRemove, name: "x", existing: owned(0)}, "forbidden"},
		{"hermes restarts the dashboard", hermes, access{perm: permControl, name: "dashboard", existing: owned(10000)}, "ok"},
		{"hermes restarts a root gateway", hermes, access{perm: permControl, name: "gateway-x", existing: owned(0)}, "forbidden"},
		{"hermes registers a gateway", hermes, access{perm: permRegister, name: "gateway-x", spec: spec(nil)}, "forbidden"},
		{"hermes removes the dashboard", hermes, access{perm: permRemove, name: "dashboard", existing: owned(10000)}, "forbidden"},

		{"root manages a gateway slot", root, access{perm: permGateway, name: "gateway-x"}, "ok"},
		{"root replaces a root gateway slot", root, access{perm: permGateway, name: "gateway-x", existing: owned(0)}, "ok"},
		{"hermes manages a gateway slot", hermes, access{perm: permGateway, name: "gateway-x"}, "ok"},
		{"hermes manages its gateway slot", hermes, access{perm: permGateway, name: "gateway-x", existing: owned(10000)}, "ok"},
		{"hermes manages a root gateway slot", hermes, access{perm: permGateway, name: "gateway-x", existing: owned(0)}, "forbidden"},
		{"other manages a gateway slot", other, access{perm: permGateway, name: "gateway-x"}, "forbidden"},
		{"unknown peer manages a gateway slot", unknown, access{perm: permGateway, name: "gateway-x"}, "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := pol.authorize(tt.who, tt.a)
			got := "ok"
			switch {
			case errors.Is(err, ErrForbidden):
				got = "forbidden"
			case errors.Is(err, supervise.ErrInvalid):
				got = "invalid"
			case err != nil:
				got = "other: " + err.Error()
			}
			if got != tt.want {
				t.Errorf("authorize(uid %d, %s %s) = %s (%v), want %s", tt.who.uid, tt.a.perm, tt.a.name, got, err, tt.want)
			}
		})
	}
}

func TestAuthorizeReservedDetail(t *testing.T) {
	pol := policy{home: "/opt/data", hermesUID: 10000, hermesGID: 10000, reserved: runtimeNames}
	err := pol.authorize(peer{known: true}, access{perm: permRegister, name: "gateway-x", spec: &supervise.Spec{}})
	if err == nil || !strings.Contains(err.Error(), "/v1/gateways") {
		t.Errorf("authorize(reserved) = %v, want a detail naming /v1/gateways", err)
	}
}

func TestRouteTableDeclaresPermissions(t *testing.T) {
	seen := map[string]bool{}
	for _, rt := range routeTable() {
		if rt.perm == permUndeclared {
			t.Errorf("route %q declares no permission", rt.pattern)
		}
		if rt.handle == nil {
			t.Errorf("route %q has no handler", rt.pattern)
		}
		if seen[rt.pattern] {
			t.Errorf("route %q is in the table twice", rt.pattern)
		}
		seen[rt.pattern] = true
	}
}
