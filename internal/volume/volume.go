package volume

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
)

// Config is what the volume steps need to know.
type Config struct {
	// Home is HERMES_HOME, absolute.
	Home string
	// UID and GID are the hermes ids (the owner of what hermes manages).
	UID, GID int
	// Groups are the supplementary groups of the hermes processes
	// (privdrop.Groups): a volume that the hermes uid reaches through one
	// of them (docker run --group-add) is usable as it is.
	Groups []int
	// ShareDir holds an image's seeds (SOUL.md, config.yaml, env.example):
	// when a file is there, the first boot seeds it instead of the
	// built-in default, so a derived image can bring its own persona and
	// configuration. "" means the built-in defaults only.
	ShareDir string
	// Root is true when the process runs as root and may repair ownership.
	Root bool
	// Env is read for HERMES_AUTH_JSON_BOOTSTRAP,
	// HERMES_GATEWAY_BOOTSTRAP_STATE, API_SERVER_KEY and
	// API_SERVER_KEY_FILE.
	Env hostenv.Env
	// Now is the clock (desired_updated_at of a bootstrap state); nil is
	// time.Now.
	Now func() time.Time
	// Log receives warnings and notes, one line each, without a trailing
	// newline; nil discards them.
	Log func(format string, args ...any)
	// Refused is told of every managed file that root refuses to touch (a
	// symlink, a hard link, a device) and of every write skipped because
	// another process held the file's lock; nil sends each to Log as its
	// "refusing ..." line.
	Refused func(safefs.Refusal)
	// Locks is the boot's budget of lock waits on hermes-writable files
	// (nil: none beyond safefs.RootLockWait per file).
	Locks *safefs.Budget
	// Durable, when set, is handed the last fsync of a seeding that named
	// files (of HERMES_HOME itself: it makes the new names durable)
	// instead of Seed waiting for it; the caller runs it while it goes on
	// and waits for it before it counts the seeds as durable (the boot:
	// before it is ready). Nil: Seed runs it.
	Durable func(sync func())

	// sys replaces system calls in tests; nil is the real system.
	sys *sysOps
}

// sysOps are the calls that tests replace to simulate a refusal that root
// cannot otherwise be made to meet (a NAS refusing chown).
type sysOps struct {
	fchown func(fd, uid, gid int) error
	// capEff returns the effective capability set of the process.
	capEff func() (uint64, error)
}

func (c Config) fchown(fd, uid, gid int) error {
	if c.sys != nil && c.sys.fchown != nil {
		return c.sys.fchown(fd, uid, gid)
	}
	return unix.Fchown(fd, uid, gid)
}

func (c Config) capEff() (uint64, error) {
	if c.sys != nil && c.sys.capEff != nil {
		return c.sys.capEff()
	}
	return processCapEff()
}

func (c Config) logf(format string, args ...any) {
	if c.Log != nil {
		c.Log(format, args...)
	}
}

// refuse reports r.
func (c Config) refuse(r safefs.Refusal) {
	if c.Refused != nil {
		c.Refused(r)
		return
	}
	c.logf("%s", r)
}

func (c Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// owner is the safefs.Owner of what root creates: the hermes ids as root,
// unchanged otherwise.
func (c Config) owner() safefs.Owner {
	if c.Root {
		return safefs.Owner{UID: c.UID, GID: c.GID}
	}
	return safefs.Keep
}

// managed returns the entries of profiles.Layout that Preflight checks and
// Repair repairs at the top of HERMES_HOME (the reference's list, CONTRACT
// §3 step 3, plus run/): directories (Repair: their whole trees), then
// files.
func managed() []profiles.Entry { return profiles.Layout(profiles.Managed) }

// present is what the home holds at its top: an entry of the layout whose
// first component is not there is missing, and is not looked at one by
// one (a first boot's empty home costs one read of the directory instead of
// a stat per entry).
type present map[string]bool

// listTop reads the names in d; nil, which has every name, when it cannot.
func listTop(d *safefs.Dir) present {
	fd, err := unix.FcntlInt(uintptr(d.Fd()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), d.Path())
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil
	}
	p := make(present, len(names))
	for _, n := range names {
		p[n] = true
	}
	return p
}

// may reports whether the entry rel (a path below the home) may exist.
func (p present) may(rel string) bool {
	if p == nil {
		return true
	}
	top, _, _ := strings.Cut(rel, "/")
	return p[top]
}

// Access bits for allowed.
const (
	accR = 4
	accW = 2
	accX = 1
)

// allowed reports whether uid (with gid and groups) has every access bit of
// want on an inode with st's owner and mode, by the kernel's rule: the
// owner class when uid owns it, else the group class when one of its groups
// owns it, else the others. ACLs are not consulted.
func allowed(st *unix.Stat_t, uid, gid int, groups []int, want uint32) bool {
	var bits uint32
	switch {
	case int(st.Uid) == uid:
		bits = (st.Mode >> 6) & 7
	case int(st.Gid) == gid || slices.Contains(groups, int(st.Gid)):
		bits = (st.Mode >> 3) & 7
	default:
		bits = st.Mode & 7
	}
	return bits&want == want
}

// modeString renders a mode as "0700 (drwx------)".
func modeString(st *unix.Stat_t) string {
	fm := os.FileMode(st.Mode & 0o777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		fm |= os.ModeDir
	case unix.S_IFLNK:
		fm |= os.ModeSymlink
	}
	if st.Mode&unix.S_ISUID != 0 {
		fm |= os.ModeSetuid
	}
	if st.Mode&unix.S_ISGID != 0 {
		fm |= os.ModeSetgid
	}
	if st.Mode&unix.S_ISVTX != 0 {
		fm |= os.ModeSticky
	}
	return "0" + strconv.FormatUint(uint64(st.Mode&0o7777), 8) + " (" + fm.String() + ")"
}

func isDir(st *unix.Stat_t) bool  { return st.Mode&unix.S_IFMT == unix.S_IFDIR }
func isReg(st *unix.Stat_t) bool  { return st.Mode&unix.S_IFMT == unix.S_IFREG }
func isLink(st *unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFLNK }

// capChown is CAP_CHOWN's bit in a capability set.
const capChown = 1 << unix.CAP_CHOWN

// processCapEff reads the effective capabilities from /proc/self/status.
func processCapEff() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, os.ErrNotExist
}
