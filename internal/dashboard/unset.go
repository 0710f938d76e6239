package dashboard

import (
	"fmt"

	"github.com/hermes-agent/hermes/internal/profiles"
)

// unsetKey removes key from c (PUT /api/config's null), as hermes config
// unset does: a key of the table returns to its default; any other key is
// refused with config set's message.
func unsetKey(c *profiles.Config, key string) error {
	if _, err := c.Unset(key); err != nil {
		return fmt.Errorf("%w", err)
	}
	return nil
}
