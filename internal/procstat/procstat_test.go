package procstat

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// The test binary plays the processes of the measured group: TestMain runs
// the role named by HERMES_TEST_CHILD instead of the tests.
func TestMain(m *testing.M) {
	switch os.Getenv("HERMES_TEST_CHILD") {
	case "leader": // start two members of its group, then be one itself
		for range 2 {
			c := exec.Command(os.Args[0])
			c.Env = append(os.Environ(), "HERMES_TEST_CHILD=member")
			c.Stdout = os.Stdout
			if err := c.Start(); err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
		}
		member()
	case "member":
		member()
	}
	os.Exit(m.Run())
}

// member costs something of each kind (memory touched, CPU burnt, files
// open), says so, and then waits to be killed, costing nothing more.
func member() {
	mem := make([]byte, 16<<20)
	for i := range mem {
		mem[i] = byte(i)
	}
	for cpuTime() < 150*time.Millisecond {
	}
	var files []*os.File
	for range 5 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		files = append(files, f)
	}
	fmt.Println("ready", os.Getpid())
	for {
		time.Sleep(time.Hour)
		_ = mem[0] + byte(len(files))
	}
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startGroup starts a process group of three processes the test binary
// plays and returns its pgid and its members' pids, once each is ready.
func startGroup(t *testing.T) (int, []int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(exe)
	c.Env = testenv.ChildEnv(append(os.Environ(), "HERMES_TEST_CHILD=leader")...)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := c.Process.Pid
	t.Cleanup(func() {
		syscall.Kill(-pgid, syscall.SIGKILL)
		c.Wait()
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var pids []int
	timeout := time.After(30 * time.Second)
	for len(pids) < 3 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the group ended before it was ready (%d of 3)", len(pids))
			}
			pid, err := strconv.Atoi(strings.TrimPrefix(l, "ready "))
			if err != nil {
				t.Fatalf("child said %q", l)
			}
			pids = append(pids, pid)
		case <-timeout:
			t.Fatalf("the group was not ready in 30 s (%d of 3)", len(pids))
		}
	}
	return pgid, pids
}

// fromStatus sums, independently of the code under test, what
// /proc/<pid>/status, /proc/<pid>/fd and the schedstat of each thread say of pids.
func fromStatus(t *testing.T, pids []int) (rss uint64, threads, fds int, cpu float64) {
	t.Helper()
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, ":")
			f := strings.Fields(v)
			switch k {
			case "VmRSS":
				n, _ := strconv.ParseUint(f[0], 10, 64)
				rss += n * 1024
			case "Threads":
				n, _ := strconv.Atoi(f[0])
				threads += n
			}
		}
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatal(err)
		}
		fds += len(ents)
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			b, err = os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, task.Name()))
			if err != nil {
				t.Fatal(err)
			}
			ns, _ := strconv.ParseUint(strings.Fields(string(b))[0], 10, 64)
			cpu += float64(ns) / 1e9
		}
	}
	return rss, threads, fds, cpu
}

// TestGroupsAgainstProc: the usage of a group of three processes is what
// /proc says of its members, summed.
func TestGroupsAgainstProc(t *testing.T) {
	pgid, pids := startGroup(t)
	got, err := Groups([]int{pgid, 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got[1<<30]; ok {
		t.Errorf("a group without processes is in the map: %+v", got[1<<30])
	}
	u, ok := got[pgid]
	if !ok {
		t.Fatalf("group %d is not in %v", pgid, got)
	}
	rss, threads, fds, cpu := fromStatus(t, pids)
	if u.Processes != 3 {
		t.Errorf("Processes = %d, want 3", u.Processes)
	}
	if u.Threads != threads {
		t.Errorf("Threads = %d, /proc/*/status says %d", u.Threads, threads)
	}
	if u.OpenFDs != fds {
		t.Errorf("OpenFDs = %d, /proc/*/fd holds %d", u.OpenFDs, fds)
	}
	if u.OpenFDs < 3*5 {
		t.Errorf("OpenFDs = %d, want at least the 15 files the members opened", u.OpenFDs)
	}
	// Idle processes: their memory moves by a few pages at most.
	if diff := math.Abs(float64(u.RSSBytes) - float64(rss)); diff > 0.05*float64(rss) {
		t.Errorf("RSSBytes = %d, /proc/*/status says %d", u.RSSBytes, rss)
	}
	if u.RSSBytes < 3*16<<20 {
		t.Errorf("RSSBytes = %d, want at least the 48 MiB the members touched", u.RSSBytes)
	}
	if u.PSSBytes == 0 || u.PSSBytes > u.RSSBytes {
		t.Errorf("PSSBytes = %d, want in (0, RSS %d]", u.PSSBytes, u.RSSBytes)
	}
	if u.PSSBytes < 3*16<<20 {
		t.Errorf("PSSBytes = %d, want at least the 48 MiB of private memory", u.PSSBytes)
	}
	// stat counts in ticks of 10 ms per process; schedstat in ns.
	if math.Abs(u.CPUSeconds-cpu) > 0.03*3+0.05 {
		t.Errorf("CPUSeconds = %.3f, /proc/*/schedstat says %.3f", u.CPUSeconds, cpu)
	}
	if u.CPUSeconds < 3*0.15-0.05 {
		t.Errorf("CPUSeconds = %.3f, want at least the 0.45 s the members burnt (less a margin)", u.CPUSeconds)
	}
}

// TestGroupsNone: no group asked, nothing scanned; a missing /proc is an
// error.
func TestGroupsNone(t *testing.T) {
	got, err := Groups(nil)
	if err != nil || len(got) != 0 {
		t.Errorf("Groups(nil) = %v, %v; want empty, nil", got, err)
	}
	if _, err := groups(t.TempDir()+"/none", []int{1}); err == nil {
		t.Error("a missing proc directory is not an error")
	}
}

func TestParseStat(t *testing.T) {
	line := "1234 (we ird) (name)) S 1 1230 1230 0 -1 4194560 100 0 0 0 250 40 0 0 20 0 7 0 100 1000000 512 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	got, err := parseStat([]byte(line))
	want := stat{pgrp: 1230, utime: 250, stime: 40, threads: 7, rss: 512}
	if err != nil || got != want {
		t.Errorf("parseStat = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{"", "1 (x) S 1", "1 x S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 1 1 1", "1 (x) S 1 y 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 1 1 1"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) is not an error", bad)
		}
	}
}

func TestParsePSS(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"00400000-7ffd [rollup]\nRss:      2048 kB\nPss:      1024 kB\nPss_Anon: 12 kB\n", 1024 * 1024, true},
		{"Pss: 0 kB", 0, true},
		{"Rss: 1 kB\n", 0, false},
		{"Pss: x kB\n", 0, false},
		{"Pss: 1 MB\n", 0, false},
	} {
		got, err := parsePSS([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parsePSS(%q) = %d, %v; want %d (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("1 (a b) S 1 1 1 0 -1 0 0 0 0 0 1 2 0 0 20 0 3 0 1 1 4 5"))
	f.Add([]byte("Pss: 4 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if st, err := parseStat(b); err == nil && !bytes.Contains(b, []byte(")")) {
			t.Errorf("parseStat accepted %q without a ')': %+v", b, st)
		}
		if _, err := parsePSS(b); err == nil && !bytes.Contains(b, []byte("Pss:")) {
			t.Errorf("parsePSS accepted %q without a Pss line", b)
		}
	})
}

// TestCountFDs: the count that stat gives a process's fd directory is the
// count of its entries, and it is trusted on procfs alone (a directory of
// another file system has a size of its own).
func TestCountFDs(t *testing.T) {
	pgid, pids := startGroup(t)
	if !sizedFDDirs(Proc) {
		t.Skipf("this kernel does not give the count of a fd directory in stat (before Linux 6.2): both paths count entries")
	}
	if sizedFDDirs(t.TempDir()) {
		t.Errorf("a directory outside procfs is trusted for its size")
	}
	for _, pid := range append(pids, pgid) {
		dir := fmt.Sprintf("%s/%d", Proc, pid)
		sized, err := (&reader{sizedFDs: true}).countFDs(dir)
		if err != nil {
			t.Fatal(err)
		}
		listed, err := (&reader{}).countFDs(dir)
		if err != nil {
			t.Fatal(err)
		}
		if sized != listed || sized < 5 {
			t.Errorf("pid %d: %d fds by stat, %d listed; want the same, at least 5", pid, sized, listed)
		}
	}
}
