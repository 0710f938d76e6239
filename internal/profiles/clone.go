// Profiles that start ready: a new profile cloned from another, and its
// description.

package profiles

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/safefs"
)

// maxDescription bounds a profile's description, in bytes.
const maxDescription = 500

// CreateOptions says how Clone makes a profile.
type CreateOptions struct {
	// From is the profile to clone ("" for none: the seeds of a new
	// profile). Its config.yaml, SOUL.md and .env are copied, with a
	// fresh API_SERVER_KEY in the .env and the next free gateway.port in
	// the config.yaml.
	From string
	// All copies, with From, everything else of its directory too: its
	// sessions (state.db), memories, skills, workspace, auth.json...;
	// never its gateway's runtime files (pid, lock, state), its logs, nor
	// the root's own entries when From is default.
	All bool
	// Description is kept in the profile's FileDescription ("" for none).
	Description string
}

// CheckDescription refuses a description that is not one line of at most
// 500 bytes of text.
func CheckDescription(s string) error {
	switch {
	case !utf8.ValidString(s):
		return errors.New("the description is not UTF-8 text")
	case len(s) > maxDescription:
		return fmt.Errorf("the description is %d bytes long, at most %d are kept", len(s), maxDescription)
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New("the description must be one line of text, without control characters")
	}
	return nil
}

// Description returns a profile's description ("" when it has none).
func Description(r Ref) string {
	if r.IsZero() {
		return ""
	}
	b, err := treeOf(r.home).readFile(r.path(FileDescription))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Clone makes the named profile as Create does (its own directory, a
// gateway port no other profile has, a fresh API_SERVER_KEY, SOUL.md
// last), from the profile o.From when it is set (see CreateOptions), and
// keeps o.Description. It holds the profiles lock throughout; on error
// whatever it made is removed. The source must exist, and its .env must
// parse (a broken line is named, and nothing is made). As root every
// operation below home goes through safefs, and a symlink in the source
// is not copied.
func Clone(r Ref, o CreateOptions) error {
	if r.IsDefault() {
		return errCreateRoot()
	}
	home, name := r.home, r.name
	if o.Description != "" {
		if err := CheckDescription(o.Description); err != nil {
			return err
		}
	}
	if o.All && o.From == "" {
		return errors.New("copying everything needs a profile to copy from (--clone-from SRC, or --clone for the active profile)")
	}
	var from Ref // o.From, made a Ref here: the edge of that name
	if o.From != "" {
		var err error
		if from, err = Parse(home, o.From); err != nil {
			return fmt.Errorf("the profile to clone: %w", err)
		}
		if o.From == name {
			return fmt.Errorf("profile %s cannot be cloned from itself", name)
		}
	}
	check := func() error {
		if ok, err := Lookup(r); err != nil {
			return err
		} else if ok {
			return existsError(r)
		}
		if !from.IsZero() && !from.IsDefault() {
			if ok, err := Lookup(from); err != nil {
				return err
			} else if !ok {
				return kindError{fs.ErrNotExist, fmt.Sprintf("cannot clone profile %s: it does not exist (no %s); see hermes profile list", o.From, SOULPath(from))}
			}
		}
		return nil
	}
	if err := check(); err != nil {
		return err
	}
	return WithLock(home, func() error {
		if err := check(); err != nil {
			return err
		}
		if from.IsZero() {
			return createWith(r, nil, o)
		}
		src, err := readSource(from)
		if err != nil {
			return err
		}
		return createWith(r, src, o)
	})
}

// source is what a clone takes from its source profile.
type source struct {
	ref    Ref
	name   string
	config *Config
	soul   []byte
	env    *EnvDoc
}

// readSource reads the files a clone copies from profile r.
func readSource(r Ref) (*source, error) {
	name := r.name
	t := treeOf(r.home)
	c, err := LoadProfileConfig(r)
	if err != nil {
		return nil, fmt.Errorf("cannot clone profile %s: %w", name, err)
	}
	soul, err := t.readFile(SOULPath(r))
	if errors.Is(err, fs.ErrNotExist) {
		soul = DefaultSOUL(name)
	} else if err != nil {
		return nil, fmt.Errorf("cannot clone profile %s: %w", name, fileError(SOULPath(r), err))
	}
	env, err := LoadEnvDoc(r)
	if err != nil {
		return nil, fmt.Errorf("cannot clone profile %s: %w", name, err)
	}
	return &source{ref: r, name: name, config: c, soul: soul, env: env}, nil
}

// cloneSkipped are the entries of a profile's directory that a full clone
// never copies: its gateway's runtime files and its logs (and, from the
// default profile, the root's own entries, RootOnly in the layout).
func cloneSkipped(path string, fromRoot bool) bool {
	switch path {
	case FileSOUL, FileConfig, FileEnv, FilePID, FileGatewayLock, FileGatewayState, FileProcesses, FileAuthLock, FileDescription, DirLogs:
		return true
	}
	if !fromRoot {
		return false
	}
	for _, e := range Layout(0) {
		if e.Scope == RootOnly && (e.Path == path || strings.HasPrefix(e.Path, path+"/") || strings.HasPrefix(path, e.Path+"/")) {
			return true
		}
	}
	return false
}

// copyTree copies the directory src (relative to home) into dst below
// home, recursively: directories and regular files with their modes;
// symlinks and special files are skipped; skip names the top-level
// entries not to copy. The files keep the copier's ownership (the hermes
// uid, or root under HERMES_DOCKER_EXEC_AS_ROOT).
func (t tree) copyTree(src, dst string, skip func(rel string) bool) error {
	s, err := t.openDir(src)
	if err != nil {
		return err
	}
	defer s.Close()
	d, err := t.openDir(dst)
	if err != nil {
		return err
	}
	defer d.Close()
	return copyDir(s, d, "", skip, 0)
}

// openDir opens the directory path below home: as root without following
// a symlink, else plainly.
func (t tree) openDir(path string) (*safefs.Dir, error) {
	if !t.root {
		return safefs.OpenPlain(path)
	}
	rel, err := filepath.Rel(t.home, path)
	if err != nil {
		return nil, err
	}
	return safefs.OpenDir(t.home, rel)
}

// maxCloneDepth bounds the depth of a tree a clone copies.
const maxCloneDepth = 64

func copyDir(s, d *safefs.Dir, rel string, skip func(string) bool, depth int) error {
	if depth > maxCloneDepth {
		return fmt.Errorf("%s: deeper than %d directories", s.Path(), maxCloneDepth)
	}
	names, err := s.Names()
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, n := range names {
		r := n
		if rel != "" {
			r = rel + "/" + n
		}
		if skip(r) {
			continue
		}
		st, err := s.Lstat(n)
		if err != nil {
			return err
		}
		mode := os.FileMode(st.Mode & 0o777)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if err := d.Mkdir(n, mode|0o700, safefs.Keep); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			ss, err := s.Sub(n)
			if err != nil {
				return err
			}
			dd, err := d.Sub(n)
			if err != nil {
				ss.Close()
				return err
			}
			err = copyDir(ss, dd, r, skip, depth+1)
			ss.Close()
			dd.Close()
			if err != nil {
				return err
			}
		case unix.S_IFREG:
			if err := copyFile(s, d, n, mode); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyFile copies the regular file name of s into d with mode.
func copyFile(s, d *safefs.Dir, name string, mode os.FileMode) error {
	in, err := s.OpenFile(name, os.O_RDONLY|unix.O_NONBLOCK, 0, safefs.Keep)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := safefs.CheckOpen(in); err != nil {
		return err
	}
	out, err := d.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode, safefs.Keep)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copying %s: %w", filepath.Join(s.Path(), name), err)
	}
	return nil
}

// cloneConfig is the source's config.yaml with gateway.port set to port.
func (src *source) cloneConfig(port int) ([]byte, error) {
	c := src.config
	if len(c.root().Content) == 0 && c.prefix == nil {
		return DefaultConfig(port), nil
	}
	if err := c.Set(KeyGatewayPort, strconv.Itoa(port)); err != nil {
		return nil, fmt.Errorf("cannot clone profile %s: %w", src.name, err)
	}
	return c.Bytes()
}

// cloneEnv is the source's .env with a fresh API_SERVER_KEY, and without
// the legacy API_SERVER_PORT (the port is config.yaml's).
func (src *source) cloneEnv(key string) []byte {
	src.env.Unset(legacyPortVar)
	src.env.Set(APIKeyVar, key)
	return src.env.Bytes()
}
