package supervise

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// The test binary plays the supervised children: TestMain runs the role named
// by HERMES_TEST_CHILD instead of the tests.
func TestMain(m *testing.M) {
	if role := os.Getenv("HERMES_TEST_CHILD"); role != "" {
		child(role, os.Args[1:])
		return
	}
	os.Exit(m.Run())
}

// childArgv returns an argv and an environment that run this test binary
// as the given role, with testenv.NoExitSleep: a child built with -race
// would otherwise sleep a second before every exit with status 0.
func childArgv(t *testing.T, role string, args ...string) ([]string, map[string]string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	k, v, _ := strings.Cut(testenv.NoExitSleep, "=")
	return append([]string{exe}, args...), map[string]string{"HERMES_TEST_CHILD": role, k: v}
}

func child(role string, args []string) {
	switch role {
	case "exit": // exit with args[0]
		fmt.Println("exiting with", args[0])
		code, _ := strconv.Atoi(args[0])
		os.Exit(code)
	case "sleep": // run until SIGTERM, then exit 0
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		fmt.Println("sleeping", os.Getpid())
		<-c
		fmt.Println("got SIGTERM")
		os.Exit(0)
	case "ignore-term": // ignore SIGTERM forever
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ignoring SIGTERM")
		for {
			time.Sleep(time.Hour)
		}
	case "spam": // print args[0] lines, then sleep
		n, _ := strconv.Atoi(args[0])
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "line %d\n", i)
			if b.Len() > 60000 {
				os.Stdout.WriteString(b.String())
				b.Reset()
			}
		}
		os.Stdout.WriteString(b.String())
		for {
			time.Sleep(time.Hour)
		}
	case "config-error": // explain on stderr, exit 78
		fmt.Fprintln(os.Stderr, "no provider configured: set HERMES_X")
		os.Exit(78)
	case "env": // print the environment and the cwd, then sleep
		wd, _ := os.Getwd()
		fmt.Println("cwd=" + wd)
		for _, kv := range os.Environ() {
			fmt.Println("env " + kv)
		}
		for {
			time.Sleep(time.Hour)
		}
	case "orphan": // leave a sleep behind in the group, then exit 1
		c := exec.Command("sleep", "100000")
		if err := c.Start(); err != nil {
			fmt.Println("start:", err)
			os.Exit(2)
		}
		fmt.Println("left", c.Process.Pid)
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "unknown child role", role)
		os.Exit(2)
	}
}
