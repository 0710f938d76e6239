package main

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// maxInitAllocs is what one of hermes's packages may allocate in its
// initialisation: a few sentinel errors. Every process, PID 1 above all,
// runs every linked package's initialisation before main; a table, a
// regexp or a template belongs in a sync.OnceValue, or where it is used.
const maxInitAllocs = 8

// initAllocExceptions are the packages allowed over maxInitAllocs, with
// what they allocate and why it cannot wait; none today.
var initAllocExceptions = map[string]string{}

// TestPackageInitIsCheap runs this test binary, which links the same
// packages as hermes, with GODEBUG=inittrace=1 and holds each of hermes's
// own packages to maxInitAllocs allocations in its initialisation.
func TestPackageInitIsCheap(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s -test.run=^$: %v\n%s", exe, err, out)
	}
	line := regexp.MustCompile(`(?m)^init (\S+) @.* clock, \d+ bytes, (\d+) allocs$`)
	seen := 0
	for _, m := range line.FindAllStringSubmatch(string(out), -1) {
		pkg := m[1]
		if !strings.HasPrefix(pkg, module+"/") {
			continue
		}
		seen++
		n, _ := strconv.Atoi(m[2])
		if why, ok := initAllocExceptions[pkg]; ok {
			if n <= maxInitAllocs {
				t.Errorf("%s allocates %d objects in its initialisation now: remove it from initAllocExceptions", pkg, n)
			} else {
				t.Logf("%s: %d allocations in its initialisation (%s)", pkg, n, why)
			}
			continue
		}
		if n > maxInitAllocs {
			t.Errorf("%s allocates %d objects in its initialisation (at most %d): build its tables, regexps and templates on first use (sync.OnceValue)", pkg, n, maxInitAllocs)
		}
	}
	if seen == 0 {
		t.Fatalf("no init line of a %s package in the output of GODEBUG=inittrace=1:\n%s", module, out)
	}
}
