package sessions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrOtherProfile: the session (of a conversation, or named by a client)
// was recorded by another profile. It also matches ErrNotFound: to the
// profile that asked, another profile's session is an unknown one. (A
// state.db copied with `hermes profile create --clone-all` holds the rows
// of the profile it was copied from.)
var ErrOtherProfile error = &childError{"recorded by another profile", ErrNotFound}

// Every read or change of the Responses API state by id takes the profile
// it serves, and sees only what that profile recorded: a response is its
// session's profile's (a response whose session is not recorded yet is
// nobody's), a conversation its session's. Another profile's response
// reads as an unknown one (ErrNotFound, with the same message), so that a
// gateway never answers with, nor continues, another profile's data.

// needProfile refuses a lookup that names no profile.
func needProfile(profile string) error {
	if profile == "" {
		return fmt.Errorf("%w: a lookup of the Responses API state names its profile", ErrInvalid)
	}
	return nil
}

// ofProfile is the condition, on a row of responses, that its session was
// recorded by the profile bound to it.
const ofProfile = `EXISTS (SELECT 1 FROM sessions WHERE sessions.id = responses.session_id AND sessions.profile = ?)`

// CheckSession tells whether a turn of profile may be recorded in session
// id (a client's X-Hermes-Session-Id): nil when the session is profile's
// or not recorded yet, ErrOtherProfile (which matches ErrNotFound) when
// another profile recorded it.
func (s *Store) CheckSession(ctx context.Context, profile, id string) error {
	if err := needProfile(profile); err != nil {
		return err
	}
	db, err := s.reader(ctx)
	if db == nil || err != nil {
		return err
	}
	return checkSession(ctx, db, profile, id)
}

// checkSession is CheckSession through q.
func checkSession(ctx context.Context, q queryRower, profile, id string) error {
	var owner string
	err := q.QueryRowContext(ctx, `SELECT profile FROM sessions WHERE id = ?`, id).Scan(&owner)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("session %s: %w", id, err)
	case owner != profile:
		return fmt.Errorf("session %s: %w", id, ErrOtherProfile)
	}
	return nil
}
