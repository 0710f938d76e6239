package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// Process is what the calling process costs now: the figures of
// Prometheus's standard process_* series, read from /proc/self with two
// small reads (its stat line and its fd directory) instead of the dozen
// files a general process collector parses (limits, netstat, snmp, …).
type Process struct {
	CPU     time.Duration // user and system time
	RSS     uint64        // resident bytes
	Virtual uint64        // virtual memory bytes
	FDs     int           // open file descriptors
	Threads int
	Start   time.Time // when the process started
}

// Self returns the calling process's figures.
func Self() (Process, error) { return self("/proc") }

func self(proc string) (Process, error) {
	r := reader{sizedFDs: sizedFDDirs(proc)}
	b, err := r.read(proc + "/self/stat")
	if err != nil {
		return Process{}, err
	}
	p, err := parseSelfStat(b)
	if err != nil {
		return Process{}, err
	}
	if p.FDs, err = r.countFDs(proc + "/self"); err != nil {
		return Process{}, err
	}
	boot, err := bootTime(proc)
	if err != nil {
		return Process{}, err
	}
	p.Start = boot.Add(time.Duration(p.startTicks) * time.Second / userHZ)
	return p.Process, nil
}

type selfStat struct {
	Process
	startTicks uint64
}

// parseSelfStat parses the fields of /proc/self/stat that Self reports:
// utime (14), stime (15), num_threads (20), starttime (22), vsize (23)
// and rss (24, in pages).
func parseSelfStat(b []byte) (selfStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return selfStat{}, errStat
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 22 {
		return selfStat{}, errStat
	}
	var v [6]uint64
	for j, k := range []int{14, 15, 20, 22, 23, 24} {
		x, err := strconv.ParseUint(string(f[k-3]), 10, 64)
		if err != nil {
			return selfStat{}, fmt.Errorf("%w: field %d: %v", errStat, k, err)
		}
		v[j] = x
	}
	var s selfStat
	s.CPU = time.Duration(v[0]+v[1]) * time.Second / userHZ
	s.Threads = int(v[2])
	s.startTicks = v[3]
	s.Virtual = v[4]
	s.RSS = v[5] * uint64(os.Getpagesize())
	return s, nil
}

// bootTimes holds the btime line of each /proc's stat, read once: it does
// not change while the system runs.
var bootTimes sync.Map // proc root → time.Time

// bootTime is when the system booted.
func bootTime(proc string) (time.Time, error) {
	if t, ok := bootTimes.Load(proc); ok {
		return t.(time.Time), nil
	}
	b, err := os.ReadFile(proc + "/stat")
	if err != nil {
		return time.Time{}, err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			sec, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("procstat: btime: %v", err)
			}
			t := time.Unix(sec, 0)
			bootTimes.Store(proc, t)
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("procstat: no btime in %s/stat", proc)
}
