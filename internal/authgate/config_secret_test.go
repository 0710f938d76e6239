package authgate

import (
	"slices"
	"testing"

	"github.com/hermes-agent/hermes/internal/hostenv"
)

// TestSecretEnv: the gate's secrets are the variables it reads that
// services do not inherit: each of SecretEnv is withheld, and every other
// variable of the gate is not (the dashboard gets them through the
// container's environment).
func TestSecretEnv(t *testing.T) {
	all := []string{EnvPublicURL, EnvTrustedProxies, EnvOAuthClientID, EnvPortalURL, EnvUsername, EnvPassword,
		EnvPasswordHash, EnvOIDCIssuer, EnvOIDCClientID, EnvOIDCSecret, EnvOIDCEmails, EnvOIDCDomains}
	for _, k := range all {
		if got, want := hostenv.Withheld(k), slices.Contains(SecretEnv(), k); got != want {
			t.Errorf("%s: withheld from services %v, in SecretEnv %v", k, got, want)
		}
	}
}
