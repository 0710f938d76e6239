package volume

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/safefs"
)

// Report says what Repair did, for the boot log.
type Report struct {
	// Changed counts the entries given to the hermes ids.
	Changed int
	// Failed counts the entries whose repair was refused or failed.
	Failed int
	// Skipped counts the entries not owned by the hermes uid that Repair
	// leaves alone on purpose: symlinks, hard-linked files, devices, FIFOs
	// and mount points. (Sockets are left alone and not counted.)
	Skipped int
	// Paths are the managed entries, relative to HERMES_HOME ("." for
	// HERMES_HOME itself), below which something was changed, in the
	// order Repair visited them.
	Paths []string
}

// String is the report as one line for the boot log.
func (r Report) String() string {
	if r.Changed == 0 && r.Failed == 0 && r.Skipped == 0 {
		return "ownership: nothing to repair"
	}
	s := fmt.Sprintf("ownership: repaired %d entries", r.Changed)
	if len(r.Paths) > 0 {
		s += " (in " + strings.Join(r.Paths, ", ") + ")"
	}
	if r.Failed > 0 {
		s += fmt.Sprintf(", %d could not be repaired", r.Failed)
	}
	if r.Skipped > 0 {
		s += fmt.Sprintf(", %d left alone (symlinks, hard-linked or special files, mount points)", r.Skipped)
	}
	return s
}

// maxDepth bounds the descent of Repair: a deeper tree is not repaired
// below it (and counted as a failure), so that a hostile tree cannot
// exhaust descriptors.
const maxDepth = 256

// maxWarnings is how many warnings one Repair prints before it only counts.
const maxWarnings = 10

// Repair gives the hermes-managed entries of HERMES_HOME that are not owned
// by the hermes uid to the hermes ids (see the package doc, step 2). It
// does nothing unless cfg.Root. It never follows a symlink. Failures are
// counted in the Report and warned about; the error is only for a Home
// that cannot be opened at all.
func Repair(cfg Config) (Report, error) {
	if !cfg.Root {
		return Report{}, nil
	}
	if err := checkNotSystemDir(cfg.Home); err != nil {
		return Report{}, err
	}
	resolved, err := filepath.EvalSymlinks(cfg.Home)
	if err != nil {
		return Report{}, fmt.Errorf("repairing ownership in HERMES_HOME %s: %w", cfg.Home, err)
	}
	base, err := safefs.OpenBase(resolved)
	if err != nil {
		return Report{}, fmt.Errorf("repairing ownership in HERMES_HOME %s: %w", cfg.Home, err)
	}
	defer base.Close()
	r := &repairer{cfg: cfg, mounts: &mounts{home: resolved}}
	var st unix.Stat_t
	if err := unix.Fstat(base.Fd(), &st); err != nil {
		return Report{}, fmt.Errorf("repairing ownership in HERMES_HOME %s: %w", cfg.Home, err)
	}
	if int(st.Uid) != cfg.UID {
		r.fix(base.Fd(), &st, ".", ".")
	}
	top := listTop(base)
	for _, e := range managed() {
		if !top.may(e.Path) {
			continue
		}
		if e.Dir {
			r.tree(base, e.Path, st.Dev)
		} else {
			r.topFile(base, e.Path)
		}
	}
	if r.suppressed > 0 {
		cfg.logf("warning: %d more ownership problems under %s not shown", r.suppressed, cfg.Home)
	}
	return r.rep, nil
}

type repairer struct {
	cfg        Config
	rep        Report
	mounts     *mounts // mount points below Home
	warned     int
	suppressed int
}

func (r *repairer) warn(format string, args ...any) {
	if r.warned >= maxWarnings {
		r.suppressed++
		return
	}
	r.warned++
	r.cfg.logf("warning: "+format, args...)
}

func (r *repairer) full(rel string) string { return filepath.Join(r.cfg.Home, rel) }

// fix repairs the entry open as fd; top is the managed entry it belongs to.
func (r *repairer) fix(fd int, st *unix.Stat_t, top, rel string) {
	if err := r.cfg.fixOpened(fd, st); err != nil {
		r.rep.Failed++
		r.warn("cannot give %s (owned by %d:%d) to the hermes user %d:%d: %v", r.full(rel), st.Uid, st.Gid, r.cfg.UID, r.cfg.GID, err)
		return
	}
	r.rep.Changed++
	if !slices.Contains(r.rep.Paths, top) {
		r.rep.Paths = append(r.rep.Paths, top)
	}
}

// skip counts an entry left alone on purpose; why, when set, is reported
// as a refusal (a "refusing" line naming the entry, why, and that it was
// not chowned).
func (r *repairer) skip(st *unix.Stat_t, rel, why string) {
	if int(st.Uid) == r.cfg.UID {
		return
	}
	r.rep.Skipped++
	if why == "" {
		return
	}
	if r.warned >= maxWarnings {
		r.suppressed++
		return
	}
	r.warned++
	r.cfg.refuse(safefs.Refusal{Path: r.full(rel), Why: why,
		Skipped: fmt.Sprintf("not chowned (owned by %d:%d, left as it is)", st.Uid, st.Gid)})
}

// tree repairs the managed directory rel and everything below it.
func (r *repairer) tree(base *safefs.Dir, rel string, homeDev uint64) {
	dir, name := path.Split(rel)
	parent := base
	if dir != "" {
		sub, err := base.Sub(dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, safefs.ErrSymlink) {
				r.rep.Failed++
				r.warn("cannot repair %s: %v", r.full(rel), err)
			}
			return
		}
		defer sub.Close()
		parent = sub
	}
	st, err := parent.Lstat(name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			r.rep.Failed++
			r.warn("cannot repair %s: %v", r.full(rel), err)
		}
		return
	}
	if !isDir(&st) {
		r.skip(&st, rel, "")
		return
	}
	r.walk(parent, name, &st, rel, rel, 0, homeDev)
}

// walk repairs the entry name of parent (described by st) and, for a
// directory, everything below it.
func (r *repairer) walk(parent *safefs.Dir, name string, st *unix.Stat_t, top, rel string, depth int, parentDev uint64) {
	if st.Dev != parentDev || r.mounts.has(rel) {
		r.skip(st, rel, "it is a mount point")
		return
	}
	switch {
	case isDir(st):
	case isReg(st):
		if int(st.Uid) == r.cfg.UID {
			return
		}
		if st.Nlink > 1 {
			r.skip(st, rel, fmt.Sprintf("it has %d hard links, and another name may be a file outside HERMES_HOME (chown it yourself if it is hermes's)", st.Nlink))
			return
		}
		fd, err := openChecked(parent, name, st)
		if err != nil {
			r.rep.Failed++
			r.warn("cannot repair %s: %v", r.full(rel), err)
			return
		}
		r.fix(fd, st, top, rel)
		unix.Close(fd)
		return
	case isLink(st):
		r.skip(st, rel, "")
		return
	case st.Mode&unix.S_IFMT == unix.S_IFSOCK:
		// A socket (the published control socket of a previous boot) is
		// connected to, never read or written: its owner does not matter.
		return
	default:
		r.skip(st, rel, "it is not a regular file or a directory")
		return
	}
	d, err := parent.Sub(name) // O_NOFOLLOW|O_DIRECTORY
	if err != nil {
		r.rep.Failed++
		r.warn("cannot repair %s: %v", r.full(rel), err)
		return
	}
	defer d.Close()
	var dst unix.Stat_t
	if err := unix.Fstat(d.Fd(), &dst); err != nil || dst.Ino != st.Ino || dst.Dev != st.Dev {
		r.rep.Failed++
		r.warn("cannot repair %s: %v", r.full(rel), errChanged)
		return
	}
	if int(st.Uid) != r.cfg.UID {
		r.fix(d.Fd(), st, top, rel)
	}
	if depth >= maxDepth {
		r.rep.Failed++
		r.warn("not repairing below %s: deeper than %d directories", r.full(rel), maxDepth)
		return
	}
	names, err := d.Names()
	if err != nil {
		r.rep.Failed++
		r.warn("cannot list %s: %v", r.full(rel), err)
		return
	}
	slices.Sort(names)
	for _, n := range names {
		cst, err := d.Lstat(n)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				r.rep.Failed++
				r.warn("cannot repair %s: %v", r.full(rel+"/"+n), err)
			}
			continue
		}
		r.walk(d, n, &cst, top, rel+"/"+n, depth+1, st.Dev)
	}
}

// topFile repairs one of the managed top-level files.
func (r *repairer) topFile(base *safefs.Dir, name string) {
	st, err := base.Lstat(name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			r.rep.Failed++
			r.warn("cannot repair %s: %v", r.full(name), err)
		}
		return
	}
	switch {
	case isReg(&st):
		r.walk(base, name, &st, name, name, 0, st.Dev)
	case isDir(&st):
		// A directory under a file's name is not what hermes manages.
	default:
		// A symlink, device or FIFO under a managed file's name.
		why := "it is not a regular file"
		if d, ok := safefs.Describe(r.full(name), &st, ""); ok {
			why = d.Why
		}
		r.skip(&st, name, why)
	}
}

// errChanged is returned when an entry was replaced between lstat and open.
var errChanged = errors.New("it changed while hermes looked at it")

// openChecked opens the directory or regular file name of d, described by
// st from an lstat, without following a symlink and without blocking on a
// FIFO swapped in, and checks that it is still the same inode (and, for a
// regular file, that it has one link).
func openChecked(d *safefs.Dir, name string, st *unix.Stat_t) (int, error) {
	flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOCTTY
	if isDir(st) {
		flags |= unix.O_DIRECTORY
	}
	fd, err := unix.Openat(d.Fd(), name, flags, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: filepath.Join(d.Path(), name), Err: err}
	}
	var fst unix.Stat_t
	if err := unix.Fstat(fd, &fst); err != nil {
		unix.Close(fd)
		return -1, &os.PathError{Op: "fstat", Path: filepath.Join(d.Path(), name), Err: err}
	}
	if fst.Dev != st.Dev || fst.Ino != st.Ino || fst.Mode&unix.S_IFMT != st.Mode&unix.S_IFMT || (isReg(&fst) && fst.Nlink > 1) {
		unix.Close(fd)
		return -1, &os.PathError{Op: "open", Path: filepath.Join(d.Path(), name), Err: errChanged}
	}
	return fd, nil
}

// fixOpened gives the directory or regular file open as fd to the hermes
// ids, and adds u+rwx to a directory and u+rw to a file (dropping the
// set-id bits of a file).
func (c Config) fixOpened(fd int, st *unix.Stat_t) error {
	if err := c.fchown(fd, c.UID, c.GID); err != nil {
		if errors.Is(err, unix.EPERM) {
			if caps, cerr := c.capEff(); cerr == nil && caps&capChown == 0 {
				return fmt.Errorf("%w: %w", errNoCapChown, err)
			}
		}
		return fmt.Errorf("chown: %w", err)
	}
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil {
		return fmt.Errorf("fstat: %w", err)
	}
	mode := now.Mode & 0o7777
	if isDir(&now) {
		mode |= 0o700
	} else {
		mode = mode&0o777 | 0o600
	}
	if mode != now.Mode&0o7777 {
		if err := unix.Fchmod(fd, mode); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	return nil
}

// mounts are the mount points below a home (mountPoints), read on the
// first question: a home with nothing to walk or repair (a first boot's
// empty one) never reads /proc/self/mountinfo.
type mounts struct {
	home string // resolved
	once sync.Once
	rels map[string]bool
}

// has reports whether rel, relative to the home, is a mount point.
func (m *mounts) has(rel string) bool {
	m.once.Do(func() { m.rels = mountPoints(m.home) })
	return m.rels[rel]
}

// mountPoints returns the mount points strictly below home (resolved),
// relative to it, from /proc/self/mountinfo. Bind mounts from the same
// filesystem have the same st_dev as their parent, so the device check of
// walk alone would not see them.
func mountPoints(home string) map[string]bool {
	out := map[string]bool{}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return out
	}
	defer f.Close()
	prefix := strings.TrimSuffix(home, "/") + "/"
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if rel, ok := strings.CutPrefix(mp, prefix); ok && rel != "" {
			out[rel] = true
		}
	}
	return out
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of a
// mountinfo path.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
