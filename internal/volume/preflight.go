package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/privdrop"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
)

// UnusableError is the boot error of Preflight: the hermes uid cannot use
// HERMES_HOME or one of its managed entries, and hermes could not repair
// that. Its message names the path, its owner and mode, and the fix.
type UnusableError struct {
	// Path is the offending path: HERMES_HOME, one of its managed entries,
	// or a parent directory of HERMES_HOME.
	Path string
	// Owner and Group own Path; Mode is its mode, e.g. "0700 (drwx------)".
	Owner, Group int
	Mode         string
	// Err is the refusal of the repair, when one was tried.
	Err error

	msg string
}

func (e *UnusableError) Error() string { return e.msg }

// Unwrap returns the refusal of the repair, if any.
func (e *UnusableError) Unwrap() error { return e.Err }

// Access needed by the hermes uid, by kind of entry.
const (
	needDir  = accR | accW | accX
	needFile = accR | accW
)

func needWords(want uint32) string {
	if want&accX != 0 {
		return "read, write and enter"
	}
	return "read and write"
}

// Preflight makes sure that the hermes uid can use HERMES_HOME (see the
// package doc, step 1). It creates Home when it is missing. As root it
// judges the hermes uid's access from stat modes and ids, and gives an
// entry the hermes uid cannot use to the hermes ids (adding the owner's
// rw(x) bits); not root, it checks the process's own access and changes
// nothing. It returns an *UnusableError when an entry stays unusable, or
// when Home is on a read-only filesystem.
func Preflight(cfg Config) error {
	if cfg.Root {
		if err := checkNotSystemDir(cfg.Home); err != nil {
			return err
		}
	}
	if err := ensureHome(cfg); err != nil {
		return err
	}
	if err := checkWritableFS(cfg); err != nil {
		return err
	}
	if cfg.Root {
		return preflightRoot(cfg)
	}
	return preflightSelf(cfg)
}

// systemDirs are directories that root must never give to the hermes
// user, whatever HERMES_HOME says.
var systemDirs = [...]string{
	"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/media", "/mnt",
	"/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/local", "/var", "/var/lib", "/var/tmp",
}

// checkNotSystemDir refuses a HERMES_HOME that is (or resolves to) a system
// directory: Repair would give it, and the managed directories below it
// (home, run, ...), to the hermes user.
func checkNotSystemDir(home string) error {
	paths := []string{filepath.Clean(home)}
	if resolved, err := filepath.EvalSymlinks(home); err == nil {
		paths = append(paths, resolved)
	}
	for _, p := range paths {
		for _, sys := range systemDirs {
			if p == sys {
				return fmt.Errorf("HERMES_HOME %s is the system directory %s, whose ownership hermes would change as root: set HERMES_HOME to a directory of its own, such as %s", home, p, "/opt/data")
			}
		}
	}
	return nil
}

// ensureHome creates Home when it is missing: as root its parents 0755
// (root's) and Home itself 0755 for the hermes ids; otherwise 0700, the
// user's own.
func ensureHome(cfg Config) error {
	fi, err := os.Stat(cfg.Home)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("HERMES_HOME %s is not a directory (%s): point HERMES_HOME at a directory", cfg.Home, fi.Mode().Type())
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checking HERMES_HOME %s: %w", cfg.Home, err)
	}
	perm := os.FileMode(0o700)
	if cfg.Root {
		perm = 0o755
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Home), 0o755); err != nil {
		return fmt.Errorf("creating the parent of HERMES_HOME %s: %w (create it, or set HERMES_HOME to a writable directory)", cfg.Home, err)
	}
	if err := os.Mkdir(cfg.Home, perm); errors.Is(err, fs.ErrExist) {
		return nil // created meanwhile, by someone else
	} else if err != nil {
		return fmt.Errorf("creating HERMES_HOME %s: %w (create it, or set HERMES_HOME to a writable directory)", cfg.Home, err)
	}
	if err := os.Chmod(cfg.Home, perm); err != nil {
		return fmt.Errorf("setting the mode of HERMES_HOME %s: %w", cfg.Home, err)
	}
	if cfg.Root {
		// A refusal is Preflight's to report, with the fix.
		if err := os.Lchown(cfg.Home, cfg.UID, cfg.GID); err != nil {
			cfg.logf("warning: cannot give the new HERMES_HOME %s to %d:%d: %v", cfg.Home, cfg.UID, cfg.GID, err)
		}
	}
	cfg.logf("created HERMES_HOME %s", cfg.Home)
	return nil
}

func checkWritableFS(cfg Config) error {
	var sfs unix.Statfs_t
	if err := unix.Statfs(cfg.Home, &sfs); err != nil {
		return nil // nothing to say; the access checks speak for it
	}
	if uint64(sfs.Flags)&unix.ST_RDONLY == 0 {
		return nil
	}
	var st unix.Stat_t
	_ = unix.Stat(cfg.Home, &st)
	return &UnusableError{
		Path: cfg.Home, Owner: int(st.Uid), Group: int(st.Gid), Mode: modeString(&st),
		msg: fmt.Sprintf("HERMES_HOME %s is on a read-only filesystem, and hermes must write there (state, logs, sessions). "+
			"Fix: mount the volume read-write (drop :ro), or set HERMES_HOME to a writable directory", cfg.Home),
	}
}

// preflightRoot judges and repairs the hermes uid's access as root.
func preflightRoot(cfg Config) error {
	resolved, err := filepath.EvalSymlinks(cfg.Home)
	if err != nil {
		return fmt.Errorf("resolving HERMES_HOME %s: %w", cfg.Home, err)
	}
	if err := checkParents(cfg, resolved); err != nil {
		return err
	}
	base, err := safefs.OpenBase(resolved)
	if err != nil {
		var st unix.Stat_t
		if errors.Is(err, unix.EACCES) && unix.Stat(resolved, &st) == nil {
			// Even root cannot open it: its owner is a uid this user
			// namespace does not map (rootless Podman), or a NAS squashes
			// root. Nothing here can repair that; say what would.
			return unusable(cfg, cfg.Home, &st, needDir, "", fmt.Errorf("even root cannot open it here (%w): its owner is outside this container's user namespace, or the file server squashes root", err))
		}
		return fmt.Errorf("opening HERMES_HOME %s: %w", cfg.Home, err)
	}
	defer base.Close()
	var st unix.Stat_t
	if err := unix.Fstat(base.Fd(), &st); err != nil {
		return fmt.Errorf("checking HERMES_HOME %s: %w", cfg.Home, err)
	}
	if !allowed(&st, cfg.UID, cfg.GID, cfg.Groups, needDir) {
		if err := cfg.repairUnusable(base.Fd(), &st, cfg.Home, needDir); err != nil {
			return err
		}
	}
	pf := preflighter{cfg: cfg, base: base, homeDev: st.Dev, mounts: &mounts{home: resolved}}
	top := listTop(base)
	for _, e := range managed() {
		if !top.may(e.Path) {
			continue
		}
		if err := pf.entry(e.Path, need(e)); err != nil {
			return err
		}
	}
	return nil
}

// need is the access the hermes uid needs to a managed entry.
func need(e profiles.Entry) uint32 {
	if e.Dir {
		return needDir
	}
	return needFile
}

// preflighter checks the managed entries below an open Home.
type preflighter struct {
	cfg     Config
	base    *safefs.Dir
	homeDev uint64
	mounts  *mounts
}

// checkParents finds a parent directory of home that the hermes uid cannot
// traverse. Parents are not hermes's to change.
func checkParents(cfg Config, home string) error {
	if privdrop.CanEnter(home, cfg.UID, cfg.GID, cfg.Groups) {
		return nil
	}
	for _, p := range parents(home) {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			return fmt.Errorf("checking %s, a parent of HERMES_HOME %s: %w", p, cfg.Home, err)
		}
		if !allowed(&st, cfg.UID, cfg.GID, cfg.Groups, accX) {
			return &UnusableError{
				Path: p, Owner: int(st.Uid), Group: int(st.Gid), Mode: modeString(&st),
				msg: fmt.Sprintf("%s, a parent directory of HERMES_HOME %s, cannot be traversed by the hermes user (uid %d, gid %d): "+
					"it is owned by %d:%d with mode %s, and hermes does not change directories outside HERMES_HOME. "+
					"Fix: let uid %d traverse it (on the host: chmod o+x %s), or set HERMES_UID/PUID (and HERMES_GID/PGID) to ids that may, "+
					"or set HERMES_HOME to a directory elsewhere",
					p, cfg.Home, cfg.UID, cfg.GID, st.Uid, st.Gid, modeString(&st), cfg.UID, p),
			}
		}
	}
	return nil // only Home itself is in the way: repairable
}

// parents returns the directories from / down to dir's parent.
func parents(dir string) []string {
	var out []string
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		out = append(out, p)
		if p == "/" || p == "." {
			break
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// entry checks (and repairs) one managed entry, rel below Home; a missing
// entry, a symlink or an entry of the other kind is not checked. A mount
// point is checked but not changed: a bind mount from the host keeps its
// owner.
func (pf preflighter) entry(rel string, want uint32) error {
	cfg, base := pf.cfg, pf.base
	dir, name := path.Split(rel)
	d := base
	if dir != "" {
		sub, err := base.Sub(dir)
		if err != nil {
			return nil // missing, or a symlink hermes does not follow
		}
		defer sub.Close()
		d = sub
	}
	st, err := d.Lstat(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("checking %s: %w", filepath.Join(cfg.Home, rel), err)
	}
	if (want == needDir) != isDir(&st) || !(isDir(&st) || isReg(&st)) {
		return nil
	}
	if allowed(&st, cfg.UID, cfg.GID, cfg.Groups, want) {
		return nil
	}
	p := filepath.Join(cfg.Home, rel)
	if st.Dev != pf.homeDev || pf.mounts.has(rel) {
		return unusable(cfg, p, &st, want, "it is a mount point (a bind mount from the host), whose owner hermes does not change", nil)
	}
	if isReg(&st) && st.Nlink > 1 {
		return unusable(cfg, p, &st, want, fmt.Sprintf("it has %d hard links, so hermes does not change it (another name may be a file outside HERMES_HOME)", st.Nlink), nil)
	}
	fd, err := openChecked(d, name, &st)
	if err != nil {
		return fmt.Errorf("checking %s: %w", p, err)
	}
	defer unix.Close(fd)
	return cfg.repairUnusable(fd, &st, p, want)
}

// repairUnusable gives the entry open as fd to the hermes ids and adds the
// owner's access bits, then checks again; p names it in messages.
func (c Config) repairUnusable(fd int, st *unix.Stat_t, p string, want uint32) error {
	err := c.fixOpened(fd, st)
	if err != nil {
		return unusable(c, p, st, want, "", err)
	}
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil {
		return fmt.Errorf("checking %s: %w", p, err)
	}
	if !allowed(&now, c.UID, c.GID, c.Groups, want) {
		return unusable(c, p, &now, want, "it stays unusable after hermes gave it to that uid (an ACL, or a network filesystem that maps ids)", nil)
	}
	c.logf("gave %s (was %d:%d, mode %s) to the hermes user %d:%d", p, st.Uid, st.Gid, modeString(st), c.UID, c.GID)
	return nil
}

// unusable builds the error for p; either why or refusal says why it was
// not repaired.
func unusable(c Config, p string, st *unix.Stat_t, want uint32, why string, refusal error) *UnusableError {
	if refusal != nil {
		why = fmt.Sprintf("giving it to %d:%d was refused (%s)", c.UID, c.GID, refusalCause(c, refusal))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s is not usable by the hermes user (uid %d, gid %d), which must %s it: it is owned by %d:%d with mode %s, and %s. Fix: ",
		p, c.UID, c.GID, needWords(want), st.Uid, st.Gid, modeString(st), why)
	if refusal != nil && errors.Is(refusal, errNoCapChown) {
		b.WriteString("give init the capabilities it needs (docker run --cap-add CHOWN --cap-add DAC_OVERRIDE --cap-add FOWNER), or ")
	}
	switch {
	case st.Uid != 0 && st.Gid != 0:
		fmt.Fprintf(&b, "set HERMES_UID=%d and HERMES_GID=%d (or PUID and PGID) so that hermes runs as its owner, or ", st.Uid, st.Gid)
	case st.Uid != 0:
		fmt.Fprintf(&b, "set HERMES_UID=%d (or PUID) so that hermes runs as its owner, or ", st.Uid)
	}
	recursive := ""
	if isDir(st) {
		recursive = "-R "
	}
	fmt.Fprintf(&b, "give it to the hermes user on the host (chown %s%d:%d %s, with the host's path of the volume) or let that uid %s it (chmod)",
		recursive, c.UID, c.GID, p, needWords(want))
	return &UnusableError{Path: p, Owner: int(st.Uid), Group: int(st.Gid), Mode: modeString(st), Err: refusal, msg: b.String()}
}

// errNoCapChown is wrapped in a refusal when init is root without
// CAP_CHOWN (docker run --cap-drop ALL).
var errNoCapChown = errors.New("init runs as root without the CHOWN capability")

// refusalCause explains a refused chown.
func refusalCause(c Config, err error) string {
	if errors.Is(err, errNoCapChown) {
		return errNoCapChown.Error()
	}
	var errno unix.Errno
	if errors.As(err, &errno) && (errno == unix.EPERM || errno == unix.EINVAL || errno == unix.EROFS) {
		return errno.Error() + ": a NAS, rootless Podman or a user namespace without this uid mapped"
	}
	return err.Error()
}

// preflightSelf checks the process's own access (not root).
func preflightSelf(cfg Config) error {
	if err := unix.Access(cfg.Home, unix.R_OK|unix.W_OK|unix.X_OK); err != nil {
		for _, p := range parents(cfg.Home) {
			if unix.Access(p, unix.X_OK) != nil {
				return selfUnusable(cfg, p, accX, true)
			}
		}
		return selfUnusable(cfg, cfg.Home, needDir, false)
	}
	check := func(rel string, want uint32) error {
		p := filepath.Join(cfg.Home, rel)
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() != (want == needDir) {
			return nil
		}
		mode := uint32(unix.R_OK | unix.W_OK)
		if want == needDir {
			mode |= unix.X_OK
		}
		if unix.Access(p, mode) != nil {
			return selfUnusable(cfg, p, want, false)
		}
		return nil
	}
	for _, e := range managed() {
		if err := check(e.Path, need(e)); err != nil {
			return err
		}
	}
	return nil
}

func selfUnusable(cfg Config, p string, want uint32, parent bool) error {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return fmt.Errorf("HERMES_HOME %s: cannot check %s: %w", cfg.Home, p, err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	need := needWords(want)
	what := p
	if parent {
		need = "traverse"
		what = fmt.Sprintf("%s, a parent directory of HERMES_HOME %s,", p, cfg.Home)
	}
	var fix string
	if cfg.Env.Getenv != nil && cfg.Env.Exists != nil && cfg.Env.InContainer() {
		fix = fmt.Sprintf("start the container as root (hermes then repairs ownership), or as the owner (--user %d:%d), "+
			"or on the host give it to uid %d (chown) or let that uid %s it (chmod)", st.Uid, st.Gid, uid, need)
	} else {
		fix = fmt.Sprintf("give it to your user (chown %d:%d %s) or let it %s it (chmod), or set HERMES_HOME to a directory of yours", uid, gid, p, need)
	}
	return &UnusableError{
		Path: p, Owner: int(st.Uid), Group: int(st.Gid), Mode: modeString(&st),
		msg: fmt.Sprintf("%s cannot be used by this process (uid %d, gid %d, not root, so it repairs nothing), which must %s it: "+
			"it is owned by %d:%d with mode %s. Fix: %s", what, uid, gid, need, st.Uid, st.Gid, modeString(&st), fix),
	}
}
