// Package procstat reads what a process group costs from /proc: CPU time,
// resident and proportional memory, open files and threads, summed over
// every process of the group. It needs no cgroup, so it works on every host
// (a container given a read-only cgroup v1 included).
//
// One call scans /proc once, whatever the number of groups asked for: a
// process is read in full only when its group was asked for.
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Proc is where the process tables are read.
const Proc = "/proc"

// userHZ is the unit of the CPU times of /proc/<pid>/stat (USER_HZ, fixed
// at 100 on Linux whatever the kernel's own tick).
const userHZ = 100

// Usage is what one process group costs, summed over its processes. The
// JSON keys are the wire shape of a service's `resources` (hermes svc
// status --json).
type Usage struct {
	Processes  int     `json:"processes"`   // processes in the group
	CPUSeconds float64 `json:"cpu_seconds"` // user + system CPU time of the live processes
	RSSBytes   uint64  `json:"rss_bytes"`   // resident memory
	PSSBytes   uint64  `json:"pss_bytes"`   // proportional memory (shared pages divided among their users); 0 where smaps_rollup cannot be read
	OpenFDs    int     `json:"open_fds"`    // open file descriptors; only those this process may list
	Threads    int     `json:"threads"`     // threads of all its processes
}

// Groups returns the usage of each process group pgid in pgids that has at
// least one live process; a group with none is absent from the map. The
// error is the scan's own (no /proc); a process that ends while it is read
// is left out.
func Groups(pgids []int) (map[int]Usage, error) {
	return groups(Proc, pgids)
}

func groups(proc string, pgids []int) (map[int]Usage, error) {
	out := make(map[int]Usage, len(pgids))
	if len(pgids) == 0 {
		return out, nil
	}
	want := make(map[int]bool, len(pgids))
	for _, g := range pgids {
		if g > 0 {
			want[g] = true
		}
	}
	pids, err := listPIDs(proc)
	if err != nil {
		return nil, err
	}
	page := uint64(os.Getpagesize())
	root := os.Geteuid() == 0
	var denied []refused
	r := reader{sizedFDs: sizedFDDirs(proc)}
	for _, pid := range pids {
		dir := proc + "/" + strconv.Itoa(pid)
		st, err := r.stat(dir + "/stat")
		if err != nil || !want[st.pgrp] {
			continue
		}
		u := out[st.pgrp]
		u.Processes++
		u.CPUSeconds += float64(st.utime+st.stime) / userHZ
		u.RSSBytes += st.rss * page
		u.Threads += st.threads
		pss, pssErr := r.pss(dir + "/smaps_rollup")
		fds, fdsErr := r.countFDs(dir)
		u.PSSBytes += pss
		u.OpenFDs += fds
		out[st.pgrp] = u
		rf := refused{dir: dir, pgrp: st.pgrp, pss: errors.Is(pssErr, fs.ErrPermission), fds: errors.Is(fdsErr, fs.ErrPermission)}
		if root && (rf.pss || rf.fds) {
			denied = append(denied, rf)
		}
	}
	asOwners(denied, func(r refused, pss uint64, fds int) {
		u := out[r.pgrp]
		u.PSSBytes += pss
		u.OpenFDs += fds
		out[r.pgrp] = u
	})
	return out, nil
}

// refused is a process whose private figures (PSS, fds) root was refused.
type refused struct {
	dir      string
	pgrp     int
	pss, fds bool // which of them to read again
}

// asOwners reads again the private figures of the processes root was
// refused (a container's root lacks CAP_SYS_PTRACE, which /proc asks of a
// reader of another user's smaps_rollup and fd table), with the fs
// credentials of each process's owner: /proc checks those, and root may
// take any fsuid and fsgid. It runs on a thread of its own, locked and
// never unlocked, so that the changed credentials die with the thread and
// never reach other code; add gets what was read.
func asOwners(rs []refused, add func(r refused, pss uint64, fds int)) {
	if len(rs) == 0 {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
		for _, r := range rs {
			fi, err := os.Stat(r.dir)
			if err != nil {
				continue
			}
			st, ok := fi.Sys().(*syscall.Stat_t)
			if !ok {
				continue
			}
			unix.Setfsgid(int(st.Gid))
			unix.Setfsuid(int(st.Uid))
			var pss uint64
			var fds int
			var rd reader
			if r.pss {
				pss, _ = rd.pss(r.dir + "/smaps_rollup")
			}
			if r.fds {
				fds, _ = rd.countDir(r.dir + "/fd")
			}
			unix.Setfsuid(0)
			unix.Setfsgid(0)
			add(r, pss, fds)
		}
	}()
	<-done
}

// stat is what /proc/<pid>/stat gives of a process.
type stat struct {
	pgrp         int
	utime, stime uint64 // clock ticks
	threads      int
	rss          uint64 // pages
}

var errStat = errors.New("procstat: malformed stat")

// parseStat parses the line of /proc/<pid>/stat. The command name, in
// parentheses, may hold spaces and parentheses: the fields start after its
// last ')'.
func parseStat(b []byte) (stat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, errStat
	}
	// Fields from 3 (state) on; index k here is field k+3 of proc(5).
	f := bytes.Fields(b[i+1:])
	if len(f) < 22 {
		return stat{}, errStat
	}
	num := func(k int) (uint64, error) { return strconv.ParseUint(string(f[k]), 10, 64) }
	var st stat
	var v [5]uint64
	for j, k := range []int{5 - 3, 14 - 3, 15 - 3, 20 - 3, 24 - 3} {
		x, err := num(k)
		if err != nil {
			// pgrp is positive; a negative field (not these) never parses here.
			return stat{}, fmt.Errorf("%w: field %d: %v", errStat, k+3, err)
		}
		v[j] = x
	}
	st.pgrp, st.utime, st.stime, st.threads, st.rss = int(v[0]), v[1], v[2], int(v[3]), v[4]
	return st, nil
}

var errPSS = errors.New("procstat: no Pss line")

// parsePSS finds the "Pss:   N kB" line of smaps_rollup.
func parsePSS(b []byte) (uint64, error) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		rest, ok := bytes.CutPrefix(line, []byte("Pss:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, errPSS
		}
		kb, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %v", errPSS, err)
		}
		return kb * 1024, nil
	}
	return 0, errPSS
}

// reader reads the small files and directories of /proc with plain
// system calls into one buffer: no *os.File (no poller registration, no
// finalizer, no growing read) for the three reads a process costs.
type reader struct {
	buf      [4096]byte
	sizedFDs bool // stat gives the count of a process's fds (sizedFDDirs)
}

// read reads the file at path whole into r.buf (a /proc file of this
// package is far smaller) and returns it. A read that does not fill the
// buffer is the file's end: the files read here (stat, smaps_rollup)
// are made whole by one call of the kernel's show function and handed
// over in one piece when the buffer holds them, so the read of 0 bytes
// that would confirm it (one system call in four of a file's) is not made.
func (r *reader) read(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	n := 0
	for n < len(r.buf) {
		m, err := unix.Read(fd, r.buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			break
		}
		n += m
		if n < len(r.buf) {
			break
		}
	}
	return r.buf[:n], nil
}

// stat reads and parses /proc/<pid>/stat.
func (r *reader) stat(path string) (stat, error) {
	b, err := r.read(path)
	if err != nil {
		return stat{}, err
	}
	return parseStat(b)
}

// pss returns the Pss of /proc/<pid>/smaps_rollup, in bytes.
func (r *reader) pss(path string) (uint64, error) {
	b, err := r.read(path)
	if err != nil {
		return 0, err
	}
	return parsePSS(b)
}

// countFDs counts the open file descriptors of the process at dir (a
// directory of /proc): the size that stat gives its fd directory where
// the kernel gives it (r.sizedFDs), else the directory's entries. Listing
// them costs the kernel a dentry per descriptor, about a microsecond
// each: 0.1 ms for init's own with a hundred services, at every scrape.
func (r *reader) countFDs(dir string) (int, error) {
	if r.sizedFDs {
		var st unix.Stat_t
		if err := unix.Stat(dir+"/fd", &st); err == nil && st.Size > 0 {
			return int(st.Size), nil
		}
	}
	return r.countDir(dir + "/fd")
}

// sizedFDs caches sizedFDDirs by proc root.
var sizedFDs sync.Map

// sizedFDDirs says whether stat of a process's fd directory under proc
// gives its count of open descriptors: procfs, on Linux 6.2 and later
// (older kernels give 0; another file system, a directory's own size).
// Asked once per root.
func sizedFDDirs(proc string) bool {
	if v, ok := sizedFDs.Load(proc); ok {
		return v.(bool)
	}
	var fs unix.Statfs_t
	var st unix.Stat_t
	sized := unix.Statfs(proc, &fs) == nil && fs.Type == unix.PROC_SUPER_MAGIC &&
		unix.Stat(proc+"/self/fd", &st) == nil && st.Size > 0
	sizedFDs.Store(proc, sized)
	return sized
}

// countDir counts the entries of a directory (a process's fd table), "."
// and ".." left out.
func (r *reader) countDir(path string) (int, error) {
	n := 0
	err := r.eachEntry(path, func(name []byte) {
		if !isDot(name) {
			n++
		}
	})
	return n, err
}

// eachEntry calls f with the name of each entry of the directory at path
// (getdents64 records, read into r.buf).
func (r *reader) eachEntry(path string, f func(name []byte)) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	for {
		n, err := unix.Getdents(fd, r.buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &fs.PathError{Op: "readdirent", Path: path, Err: err}
		}
		if n <= 0 {
			return nil
		}
		// struct linux_dirent64: ino u64, off s64, reclen u16, type u8,
		// then the name, NUL-terminated.
		for b := r.buf[:n]; len(b) >= 19; {
			reclen := int(b[16]) | int(b[17])<<8
			if reclen < 19 || reclen > len(b) {
				return &fs.PathError{Op: "readdirent", Path: path, Err: errDirent}
			}
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			f(name)
			b = b[reclen:]
		}
	}
}

var errDirent = errors.New("malformed directory entry")

func isDot(name []byte) bool {
	return len(name) == 1 && name[0] == '.' || len(name) == 2 && name[0] == '.' && name[1] == '.'
}

// listPIDs returns the pids of the processes of proc: its entries that
// are numbers.
func listPIDs(proc string) ([]int, error) {
	var r reader
	var pids []int
	err := r.eachEntry(proc, func(name []byte) {
		pid := 0
		for _, c := range name {
			if c < '0' || c > '9' {
				return
			}
			pid = pid*10 + int(c-'0')
		}
		if len(name) > 0 && pid > 0 {
			pids = append(pids, pid)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("procstat: %w", err)
	}
	return pids, nil
}
