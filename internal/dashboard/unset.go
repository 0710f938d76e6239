package dashboard

import (
	"fmt"

	"github.com/hermes-agent/hermes/internal/profiles"
)

// unsetKey removes key from c (PUT /api/config's null).
func unsetKey(c *profiles.Config, key string) error {
	return fmt.Errorf("%s: unsetting a key waits for profiles' Unset (hermes config unset), not in this build", key)
}
