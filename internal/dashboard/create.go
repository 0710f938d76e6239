package dashboard

import (
	"fmt"

	"github.com/hermes-agent/hermes/internal/profiles"
)

// createProfile makes the profile of req through profiles.Clone, as hermes
// profile create does: the seeds, or --clone (the active profile),
// --clone-from SRC, --clone-all (its sessions and the rest too; alone, of
// the active profile, as the CLI's); a fresh API_SERVER_KEY and the next
// free port either way.
func (s *Server) createProfile(ref profiles.Ref, req createRequest) error {
	from := req.CloneFrom
	if (req.Clone || req.CloneAll) && from == "" {
		active, err := profiles.Resolve(s.home, "")
		if err != nil {
			return err
		}
		from = active.Name()
	}
	if from != "" {
		if _, err := s.checkProfile(from); err != nil {
			return err
		}
	}
	if err := profiles.CheckDescription(req.Description); err != nil {
		return fmt.Errorf("%w: %w", errBadCreate, err)
	}
	return profiles.Clone(ref, profiles.CreateOptions{From: from, All: req.CloneAll, Description: req.Description})
}
