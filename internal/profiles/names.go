package profiles

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
)

// Default is the root profile: HERMES_HOME itself.
const Default = "default"

// MaxNameLen is the longest profile name Validate accepts.
const MaxNameLen = 64

// reservedNames lists the names that cannot be profiles (CONTRACT §1
// rule 5), for messages.
const reservedNames = "hermes, test, tmp, root, sudo"

// IsReserved reports whether name is one of the reserved names
// (hermes, test, tmp, root, sudo).
func IsReserved(name string) bool {
	switch name {
	case "hermes", "test", "tmp", "root", "sudo":
		return true
	}
	return false
}

// ErrInvalidName is wrapped by every error of Validate and ValidateNamed.
var ErrInvalidName = errors.New("invalid profile name")

func nameErr(name, format string, a ...any) error {
	return fmt.Errorf("%w %q: "+format, append([]any{ErrInvalidName, shortName(name)}, a...)...)
}

// Validate is the one profile-name validator (CONTRACT §1 rule 5): a name
// matches ^[a-z0-9][a-z0-9_-]{0,63}$ and is not one of the reserved names
// hermes, test, tmp, root and sudo. "default" (the root profile) is valid.
// The error wraps ErrInvalidName and says what is wrong and how to fix it.
func Validate(name string) error {
	if name == "" {
		return nameErr(name, "a name is needed: lower-case letters, digits, '-' and '_', such as coder")
	}
	if len(name) > MaxNameLen {
		return nameErr(name, "%d characters long, at most %d are allowed (try %q)", len(name), MaxNameLen, suggest(name))
	}
	if IsReserved(name) {
		return nameErr(name, "reserved (%s are); choose another name, such as %s-agent", reservedNames, name)
	}
	if c := name[0]; c == '-' || c == '_' {
		return nameErr(name, "it must start with a lower-case letter or a digit (try %q)", suggest(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case isLowerAlnum(c), i > 0 && (c == '-' || c == '_'):
			continue
		case c >= 'A' && c <= 'Z':
			return nameErr(name, "profile names are lower-case (try %q)", suggest(name))
		}
		return nameErr(name, "%s is not allowed; use lower-case letters, digits, '-' and '_' (try %q)", describeByte(name, i), suggest(name))
	}
	return nil
}

// ValidateNamed is Validate, and refuses "default": the root profile is
// HERMES_HOME itself and can be neither created nor deleted.
func ValidateNamed(name string) error {
	if name == Default {
		return errCreateRoot()
	}
	return Validate(name)
}

// errCreateRoot is the refusal to create (or clone into) "default".
func errCreateRoot() error {
	return nameErr(Default, "it is the root profile (HERMES_HOME itself), which always exists; choose another name for a new profile")
}

// ValidateDeletable is ValidateNamed for a profile to delete: "default"
// is refused with what to do instead.
func ValidateDeletable(name string) error {
	if name == Default {
		return errDeleteRoot()
	}
	return Validate(name)
}

// errDeleteRoot is the refusal to delete "default", with what to do
// instead.
func errDeleteRoot() error {
	return fmt.Errorf("%w: default is the root profile (HERMES_HOME itself) and cannot be deleted; "+
		"to start it afresh, stop its gateway (hermes gateway stop) and remove what you no longer want from HERMES_HOME", ErrInvalidName)
}

func isLowerAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// describeByte names the offending character at name[i] for a message.
func describeByte(name string, i int) string {
	switch c := name[i]; {
	case c == ' ':
		return "a space"
	case c == '/':
		return "'/'"
	case c == '.':
		return "'.'"
	case c == '\t' || c == '\n' || c == '\r':
		return "white space"
	case c < 0x20 || c == 0x7f:
		return fmt.Sprintf("control character 0x%02x", c)
	case c >= 0x80:
		return "a non-ASCII character"
	default:
		return fmt.Sprintf("%q", string(c))
	}
}

// suggest returns a valid name close to name: lower-cased, every other
// character turned into '-', leading '-' and '_' dropped, cut to
// MaxNameLen. It returns "coder" when nothing usable is left.
func suggest(name string) string {
	var b strings.Builder
	for i := 0; i < len(name) && b.Len() < MaxNameLen; i++ {
		c := name[i]
		switch {
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		case isLowerAlnum(c):
			b.WriteByte(c)
		case b.Len() == 0:
			// nothing may lead but a letter or a digit
		case c == '_':
			b.WriteByte('_')
		default:
			if s := b.String(); !strings.HasSuffix(s, "-") {
				b.WriteByte('-')
			}
		}
	}
	s := strings.TrimRight(b.String(), "-_")
	if s == "" || IsReserved(s) || s == Default {
		return "coder"
	}
	return s
}

// shortName cuts a long name for a message.
func shortName(name string) string {
	if len(name) <= 24 {
		return name
	}
	return name[:20] + "..."
}

// Exists reports whether a profile exists, i.e. whether its SOUL.md exists
// (home/SOUL.md for "default"). The zero Ref never exists; as root,
// neither does a profile reached through a symlink below home.
func Exists(r Ref) bool {
	ok, err := Lookup(r)
	return ok && err == nil
}

// Lookup is Exists with the reason it cannot tell: as root, a symlink on
// the way to the profile's SOUL.md (an error wrapping safefs.ErrSymlink
// that names it), which root never follows.
func Lookup(r Ref) (bool, error) {
	if r.IsZero() {
		return false, nil
	}
	return treeOf(r.home).exists(SOULPath(r))
}

// List returns the profiles of home: "default" first, always, then every
// profiles/<name>/ that holds SOUL.md and whose name passes Validate, sorted
// by name: the edge where names come from disk.
// A missing profiles/ directory is not an error. As root (init's
// reconciler) nothing below home is reached through a symlink: a symlinked
// profiles/ is an error wrapping safefs.ErrSymlink (with "default" alone
// listed), and a symlinked profiles/<name> is not a profile.
func List(home string) ([]Ref, error) {
	refs := []Ref{{home: home, name: Default}}
	t := treeOf(home)
	entries, err := t.dirNames(filepath.Join(home, DirProfiles))
	if errors.Is(err, fs.ErrNotExist) {
		return refs, nil
	}
	if err != nil {
		return refs, fmt.Errorf("listing profiles: %w", err)
	}
	var named []Ref
	for _, n := range entries {
		r, err := Parse(home, n)
		if err != nil || r.IsDefault() {
			continue
		}
		if ok, _ := t.exists(SOULPath(r)); ok {
			named = append(named, r)
		}
	}
	sort.Slice(named, func(i, j int) bool { return named[i].name < named[j].name })
	return append(refs, named...), nil
}

// Resolve returns the profile a command acts on (CONTRACT §5): flag (the
// global -p) when set, else the sticky profile in home/active_profile, else
// "default": the edge where the CLI's names come in, made into a Ref once.
// A sticky profile that is invalid is an error that says how to reset it.
func Resolve(home, flag string) (Ref, error) {
	if flag != "" {
		r, err := Parse(home, flag)
		if err != nil {
			return Ref{}, fmt.Errorf("-p %s: %w", flag, err)
		}
		return r, nil
	}
	root := Ref{home: home, name: Default}
	b, err := treeOf(home).readFile(filepath.Join(home, FileActiveProfile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return root, nil
	case err != nil:
		return Ref{}, fmt.Errorf("reading the sticky profile: %w", err)
	}
	name := strings.TrimSpace(string(b))
	if name == "" {
		return root, nil
	}
	r, err := Parse(home, name)
	if err != nil {
		return Ref{}, fmt.Errorf("%s: %w (reset it with: hermes profile use default)", filepath.Join(home, FileActiveProfile), err)
	}
	return r, nil
}

// SetActive makes r the sticky profile of its home by writing
// home/active_profile; "default" removes the file. A named profile must
// exist.
func SetActive(r Ref) error {
	home, name := r.home, r.name
	t := treeOf(home)
	path := filepath.Join(home, FileActiveProfile)
	if r.IsDefault() {
		if err := t.remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("resetting the sticky profile: %w", err)
		}
		return nil
	}
	if ok, err := Lookup(r); err != nil {
		return err
	} else if !ok {
		return kindError{fs.ErrNotExist, fmt.Sprintf("profile %s does not exist: create it with hermes profile create %s", name, name)}
	}
	return t.writeAtomic(path, []byte(name+"\n"), StateMode)
}
