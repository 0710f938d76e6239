// Package hostenv answers the questions about the process's surroundings that
// every part of hermes must answer the same way: is a boolean environment
// variable true (one parser, CONTRACT §1 rule 4), are we in a container (one
// predicate, §2), where is HERMES_HOME, and which uid/gid is "the hermes user"
// (§2, HERMES_UID/PUID and host mode).
//
// It imports nothing internal and has no state of its own: every function
// reads the environment (or the file system) through a Env value so that tests
// can substitute both.
package hostenv

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Env is the view of the process environment that hostenv reads. The zero
// value is not useful; use OS() for the real process.
type Env struct {
	// Getenv returns the value of a variable and whether it is set.
	Getenv func(string) (string, bool)
	// Exists reports whether a path exists (it does not follow a final
	// symlink's target: a dangling marker still counts).
	Exists func(string) bool
	// Warn receives one line per malformed value; nil discards.
	Warn io.Writer
	// Getuid returns the real uid of the process.
	Getuid func() int
	// UserHome returns the invoking user's home directory for host mode.
	UserHome func() (string, error)
}

// OS returns the Env of the running process; warnings go to stderr.
func OS() Env {
	return Env{
		Getenv: os.LookupEnv,
		Exists: func(p string) bool {
			_, err := os.Lstat(p)
			return err == nil
		},
		Warn:     os.Stderr,
		Getuid:   os.Getuid,
		UserHome: os.UserHomeDir,
	}
}

// Bool is the one truthiness parser (CONTRACT §1 rule 4): true iff the value,
// trimmed and lower-cased, is "1", "true" or "yes". Any value outside
// {1 true yes 0 false no ""} is false and draws one warning line naming the
// variable, so that a typo never silently opts in or out.
func (e Env) Bool(name string) bool {
	v, ok := e.Getenv(name)
	if !ok {
		return false
	}
	b, known := ParseBool(v)
	if !known && e.Warn != nil {
		fmt.Fprintf(e.Warn, "hermes: warning: %s=%q is not one of 1, true, yes, 0, false, no; treating it as false\n", name, v)
	}
	return b
}

// ParseBool parses a value with the truthiness rule of Bool. known is false
// when the value is not one of the recognised spellings (it is then false).
func ParseBool(v string) (value, known bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes":
		return true, true
	case "", "0", "false", "no":
		return false, true
	}
	return false, false
}

// InContainer is the one container predicate (CONTRACT §2): /.dockerenv,
// /run/.containerenv or KUBERNETES_SERVICE_HOST.
func (e Env) InContainer() bool {
	if _, ok := e.Getenv("KUBERNETES_SERVICE_HOST"); ok {
		return true
	}
	return e.Exists("/.dockerenv") || e.Exists("/run/.containerenv")
}

// DefaultContainerHome is HERMES_HOME in the image.
const DefaultContainerHome = "/opt/data"

// Home returns HERMES_HOME: the variable when set and non-empty; otherwise
// /opt/data in a container and ~/.hermes on a host. The result is absolute
// and cleaned.
func (e Env) Home() (string, error) {
	if v, ok := e.Getenv("HERMES_HOME"); ok && strings.TrimSpace(v) != "" {
		abs, err := filepath.Abs(v)
		if err != nil {
			return "", fmt.Errorf("HERMES_HOME=%q: %w", v, err)
		}
		return abs, nil
	}
	if e.InContainer() {
		return DefaultContainerHome, nil
	}
	h, err := e.UserHome()
	if err != nil || h == "" {
		return "", fmt.Errorf("cannot find a home directory for HERMES_HOME (set HERMES_HOME): %w", err)
	}
	return filepath.Join(h, ".hermes"), nil
}

// IDs is the hermes user: the uid/gid that services and the main command run
// as unless a spec says otherwise.
type IDs struct {
	UID, GID int
	// Source says where the ids came from, for messages: "HERMES_UID",
	// "PUID", "image default", "host user".
	Source string
}

// ImageUID and ImageGID are the hermes user of the image.
const (
	ImageUID = 10000
	ImageGID = 10000
)

// UserName is the name under which the image's /etc/group lists uid as a
// member: "hermes" for ImageUID, "" for any other uid.
func UserName(uid int) string {
	if uid == ImageUID {
		return "hermes"
	}
	return ""
}

// ErrBadID is wrapped by HermesIDs when HERMES_UID/PUID or HERMES_GID/PGID is
// set to something that is not a decimal id in range.
var ErrBadID = errors.New("invalid user or group id")

// MaxID is the largest id accepted (OpenShift assigns large uids).
const MaxID = 2147483646

// HermesIDs resolves the hermes uid/gid (CONTRACT §2). HERMES_UID/HERMES_GID
// win over PUID/PGID. With neither set: a non-root process outside a
// container is in host mode and its own uid/gid are the hermes ids; anything
// else gets the image's 10000/10000. A gid that is not set follows the
// image default, or the uid in host mode.
func (e Env) HermesIDs(getgid func() int) (IDs, error) {
	uid, uidSrc, err := e.id("HERMES_UID", "PUID")
	if err != nil {
		return IDs{}, err
	}
	gid, gidSrc, err := e.id("HERMES_GID", "PGID")
	if err != nil {
		return IDs{}, err
	}
	ids := IDs{UID: ImageUID, GID: ImageGID, Source: "image default"}
	if uidSrc == "" && e.Getuid() != 0 && !e.InContainer() {
		ids = IDs{UID: e.Getuid(), GID: getgid(), Source: "host user"}
	}
	if uidSrc != "" {
		ids.UID, ids.Source = uid, uidSrc
	}
	if gidSrc != "" {
		ids.GID = gid
	}
	return ids, nil
}

// id reads the first set, non-empty variable of names.
func (e Env) id(names ...string) (int, string, error) {
	for _, n := range names {
		v, ok := e.Getenv(n)
		if !ok || strings.TrimSpace(v) == "" {
			continue
		}
		id, err := ParseID(strings.TrimSpace(v))
		if err != nil {
			return 0, "", fmt.Errorf("%s=%q: %w (want a decimal number in 1..%d)", n, v, err, MaxID)
		}
		return id, n, nil
	}
	return 0, "", nil
}

// ParseID parses a decimal uid or gid in 1..MaxID. Signs, spaces, leading
// "+" and root (0) are refused.
func ParseID(s string) (int, error) {
	if s == "" || len(s) > 10 {
		return 0, ErrBadID
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, ErrBadID
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > MaxID {
		return 0, ErrBadID
	}
	return int(n), nil
}
