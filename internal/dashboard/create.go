package dashboard

import (
	"fmt"

	"github.com/hermes-agent/hermes/internal/profiles"
)

// createProfile makes the profile of req.
func (s *Server) createProfile(req createRequest) error {
	if req.CloneFrom != "" || req.Clone || req.CloneAll || req.Description != "" {
		return fmt.Errorf("%w: cloning and descriptions wait for profiles.Clone (hermes profile create --clone), not in this build", errBadCreate)
	}
	return profiles.Create(s.home, req.Name)
}
