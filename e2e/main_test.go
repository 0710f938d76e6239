// Package e2e holds the end-to-end tests of hermes: the real binary, run as
// PID 1 in new PID namespaces and in containers of the real image.
//
// TestMain builds the static binary once per test run (hermesBin); the
// container tests build the image from it once, lazily (see
// container_harness_test.go).
package e2e

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	// hermesBin is the static hermes binary built for this test run.
	hermesBin string
	// repoRoot is the repository's root directory (where go.mod is).
	repoRoot string
	// hermesCommit is the commit stamped into hermesBin (git rev-parse
	// HEAD of repoRoot), "" outside a git checkout.
	hermesCommit string
)

const modulePath = "github.com/hermes-agent/hermes"

func TestMain(m *testing.M) {
	// The test binary also plays the peers of some tests (runHelper).
	if code, ok := runHelper(); ok {
		os.Exit(code)
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	root, err := findRepoRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	repoRoot = root

	dir, err := os.MkdirTemp("", "hermes-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: temporary directory: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Processes dropped to the hermes uid run this binary too.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}

	bin := filepath.Join(dir, "hermes")
	if err := buildHermes(bin); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	hermesBin = bin

	code := m.Run()
	cleanupContainerRun()
	return code
}

// buildHermes builds the static binary with script/build.sh, the one
// definition of that build (flags, experiments, the commit of the checkout
// stamped in); the commit (git rev-parse HEAD, none outside one) is kept in
// hermesCommit.
func buildHermes(out string) error {
	if b, err := exec.Command("git", "-C", repoRoot, "rev-parse", "--verify", "-q", "HEAD").Output(); err == nil {
		hermesCommit = strings.TrimSpace(string(b))
	}
	start := time.Now()
	cmd := exec.Command("bash", filepath.Join(repoRoot, "script", "build.sh"), "-o", out)
	cmd.Dir = repoRoot
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building hermes (script/build.sh -o %s in %s): %v\n%s", out, repoRoot, err, b)
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "e2e: built %s (commit %s) in %v\n", out, cmp.Or(hermesCommit, "unknown"), time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// findRepoRoot walks up from the working directory (the package directory
// under go test) to the go.mod of the hermes module.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && isHermesModule(string(b)) {
			return dir, nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s above the working directory", modulePath)
		}
		dir = parent
	}
}

func isHermesModule(gomod string) bool {
	for _, line := range strings.Split(gomod, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "module" && f[1] == modulePath {
			return true
		}
	}
	return false
}
