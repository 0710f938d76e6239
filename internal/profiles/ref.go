package profiles

import "path/filepath"

// Ref is one profile of one HERMES_HOME: a name that passed Validate and
// the home it lives in. Parse is the only way to make one, so holding a Ref
// proves its name valid: the functions that act on a profile (here, in
// gateway, and in their callers) take a Ref and validate nothing again.
// The edge makes it once, where a name comes in: the CLI's -p and sticky
// profile (Resolve), a dashboard's ?profile=, the control API's path, a
// directory listed on disk (List).
//
// The zero Ref is no profile: IsZero reports it, its Home, Name and Dir
// are "", it never exists (Lookup), and LogFile given it is the log of a
// service that is not a gateway.
type Ref struct {
	home, name string
}

// Parse returns the profile name of home, or Validate's error (which
// wraps ErrInvalidName) unchanged, so that every message stays the
// validator's.
func Parse(home, name string) (Ref, error) {
	if err := Validate(name); err != nil {
		return Ref{}, err
	}
	return Ref{home: home, name: name}, nil
}

// MustParse is Parse for a name known to be valid (Default, a test's
// profile); it panics on an invalid one.
func MustParse(home, name string) Ref {
	r, err := Parse(home, name)
	if err != nil {
		panic(err)
	}
	return r
}

// Home is the HERMES_HOME of the profile.
func (r Ref) Home() string { return r.home }

// Name is the profile's name ("default" for the root profile).
func (r Ref) Name() string { return r.name }

// String is the profile's name, for messages.
func (r Ref) String() string { return r.name }

// IsZero reports whether r is the zero Ref, no profile.
func (r Ref) IsZero() bool { return r.name == "" }

// IsDefault reports whether r is the root profile, HERMES_HOME itself.
func (r Ref) IsDefault() bool { return r.name == Default }

// Dir is the directory of the profile: home for "default", else
// home/profiles/<name>; "" for the zero Ref.
func (r Ref) Dir() string {
	switch r.name {
	case "":
		return ""
	case Default:
		return r.home
	}
	return filepath.Join(r.home, DirProfiles, r.name)
}

// path is the path of the profile's file or directory rel; "" for the
// zero Ref, which opens nothing.
func (r Ref) path(rel string) string {
	if r.IsZero() {
		return ""
	}
	return filepath.Join(r.Dir(), rel)
}

// MarshalText is the profile's name, so that a Ref in JSON or a log line
// reads as the name it is. There is no UnmarshalText: a name comes back
// in through Parse.
func (r Ref) MarshalText() ([]byte, error) { return []byte(r.name), nil }

// ParseNamed is Parse for a profile to create or delete, with
// ValidateNamed's one extra rule: "default" is refused.
func ParseNamed(home, name string) (Ref, error) {
	if name == Default {
		return Ref{}, errCreateRoot()
	}
	return Parse(home, name)
}

// ParseDeletable is Parse for a profile to delete, with ValidateDeletable's
// one extra rule: "default" is refused, with what to do instead.
func ParseDeletable(home, name string) (Ref, error) {
	if name == Default {
		return Ref{}, errDeleteRoot()
	}
	return Parse(home, name)
}
