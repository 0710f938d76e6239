package authgate

import "testing"

// TestTallies: the gate counts logins by provider and outcome, refusals
// by reason, and rate-limited logins apart; a provider name a client made
// up is "unknown".
func TestTallies(t *testing.T) {
	ct := "Content-Type: application/x-www-form-urlencoded"
	s := startGate(t, passwordEnv, serverOpts{})
	if _, c := s.loginPassword(t, "admin", thePassword, ""); c == nil {
		t.Fatal("no login")
	}
	if r := s.do(t, "POST", "/auth/password-login", []string{ct}, "username=admin&password=wrong"); r.status != 401 {
		t.Fatalf("a wrong password: %s", r)
	}
	s.get(t, "/api/anything")                         // no cookie
	s.get(t, "/auth/login?provider=made-up-provider") // not a provider of this gate
	got := s.gate.Tallies()
	want := map[LoginTally]uint64{{"password", "success"}: 1, {"password", "failure"}: 1}
	for k, n := range want {
		if got.Logins[k] != n {
			t.Errorf("logins[%v] = %d, want %d (all: %v)", k, got.Logins[k], n, got.Logins)
		}
	}
	for k := range got.Logins {
		if k.Provider != "password" && k.Provider != "unknown" {
			t.Errorf("a login counted under provider %q", k.Provider)
		}
	}
	if got.Refusals[string(reasonNoCookie)] < 1 {
		t.Errorf("refusals = %v, want %s counted", got.Refusals, reasonNoCookie)
	}
	if got.RateLimited != 0 {
		t.Errorf("rate limited = %d, want 0", got.RateLimited)
	}
}
