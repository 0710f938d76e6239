// Package privdrop decides what a process gets when root starts it as the
// hermes user: its supplementary groups, chosen on purpose, and whether it
// can use a directory. (The reference's drop called initgroups(), which
// wiped the groups Docker's --group-add had given the container.)
package privdrop

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// groupFile is read for group memberships; a variable for tests.
var groupFile = "/etc/group"

// Groups returns the supplementary groups for a process of the hermes user:
// the groups the container was started with (docker run --group-add), minus
// root's group 0, plus the groups that list user by name in /etc/group. The
// primary gid is not repeated. The result is sorted and without duplicates.
func Groups(user string, gid int, current []int) []int {
	var out []int
	for _, g := range current {
		if g != 0 && g != gid {
			out = append(out, g)
		}
	}
	if user != "" {
		for _, g := range memberOf(user) {
			if g != 0 && g != gid {
				out = append(out, g)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// CurrentGroups returns the process's supplementary groups.
func CurrentGroups() []int {
	gs, err := unix.Getgroups()
	if err != nil {
		return nil
	}
	return gs
}

func memberOf(user string) []int {
	f, err := os.Open(groupFile)
	if err != nil {
		return nil
	}
	defer f.Close()
	var gids []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 4 {
			continue
		}
		for _, m := range strings.Split(fields[3], ",") {
			if strings.TrimSpace(m) == user {
				if g, err := strconv.Atoi(fields[2]); err == nil {
					gids = append(gids, g)
				}
			}
		}
	}
	return gids
}

// CanEnter reports whether a process with uid, gid and groups could chdir
// into dir: every directory on the path must grant it search permission. It
// reads modes with stat; root (uid 0) can always enter an existing
// directory.
func CanEnter(dir string, uid, gid int, groups []int) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	fi, err := os.Stat(abs)
	if err != nil || !fi.IsDir() {
		return false
	}
	if uid == 0 {
		return true
	}
	p := abs
	for {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			return false
		}
		if !searchable(st, uid, gid, groups) {
			return false
		}
		parent := filepath.Dir(p)
		if parent == p {
			return true
		}
		p = parent
	}
}

func searchable(st unix.Stat_t, uid, gid int, groups []int) bool {
	mode := st.Mode
	switch {
	case int(st.Uid) == uid:
		return mode&unix.S_IXUSR != 0
	case int(st.Gid) == gid || slices.Contains(groups, int(st.Gid)):
		return mode&unix.S_IXGRP != 0
	default:
		return mode&unix.S_IXOTH != 0
	}
}

// CanRead reports whether a process with uid, gid and groups could open the
// file at path for reading: it can enter its directory and the file's mode
// grants it read permission. Root can read any existing file.
func CanRead(path string, uid, gid int, groups []int) bool {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return false
	}
	if uid == 0 {
		return true
	}
	if !CanEnter(filepath.Dir(path), uid, gid, groups) {
		return false
	}
	switch {
	case int(st.Uid) == uid:
		return st.Mode&unix.S_IRUSR != 0
	case int(st.Gid) == gid || slices.Contains(groups, int(st.Gid)):
		return st.Mode&unix.S_IRGRP != 0
	default:
		return st.Mode&unix.S_IROTH != 0
	}
}
