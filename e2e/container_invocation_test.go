package e2e

// Invocation parity (reference-system.md §7.1 items 1-6 and 41; 5 and 7
// are TestContainerExitCode and TestContainerTTY in container_test.go): how
// the container's arguments reach hermes or a program, through the
// ENTRYPOINT hermes init -- (CONTRACT §3 step 6).

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestContainerInvocation: docker run <image> ARGS... runs hermes for a
// subcommand or a leading dash, a program on PATH as it is, and hermes for
// anything else; the exit code is the main command's.
func TestContainerInvocation(t *testing.T) {
	t.Parallel()
	image := testImage(t)
	tests := []struct {
		name       string
		entrypoint string
		args       []string
		wantCode   int
		// stdout must match this (case-insensitive) regular expression.
		stdout string
		// absent must not appear in stdout+stderr.
		absent string
	}{
		// 1. No main command at all (the image's CMD replaced by nothing):
		// init runs hermes alone, which without a terminal prints its help
		// and exits 0. (The image's own CMD is gateway run:
		// TestContainerGatewayRunSupervised.)
		{name: "no arguments", entrypoint: hermesInContainer, args: []string{"init"}, wantCode: 0, stdout: `(?m)^usage: hermes `},
		// 2 and 41: a hermes subcommand with --help, exit 0.
		{name: "chat --help", args: []string{"chat", "--help"}, wantCode: 0, stdout: `usage|chat`, absent: "✗"},
		// 4.
		{name: "bash -c echo ok", args: []string{"bash", "-c", "echo ok"}, wantCode: 0, stdout: `(?m)^ok$`},
		// Reference pitfall 8: a leading dash reaches hermes, not init.
		{name: "--version", args: []string{"--version"}, wantCode: 0, stdout: `(?m)^hermes \S+`},
		{name: "-p default version", args: []string{"-p", "default", "version"}, wantCode: 0, stdout: `(?m)^hermes \S+`},
		{name: "--help", args: []string{"--help"}, wantCode: 0, stdout: `(?m)^usage: hermes `},
		// Neither a subcommand nor a program: hermes says so, exit 1.
		{name: "unknown word", args: []string{"no-such-command"}, wantCode: 1, stdout: `✗ unknown command "no-such-command"`},
		// A failing hermes subcommand's exit code is the container's.
		{name: "hermes exit code", args: []string{"gateway", "no-such-verb"}, wantCode: 1, stdout: `✗`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, r := runContainer(t, containerOpts{Image: image, Entrypoint: tt.entrypoint, Args: tt.args}, dockerTimeout)
			if r.Code != tt.wantCode {
				t.Fatalf("docker run %s %s: exit code %d, want %d\n%s", image, strings.Join(tt.args, " "), r.Code, tt.wantCode, r)
			}
			if !regexp.MustCompile("(?i)" + tt.stdout).MatchString(r.Stdout) {
				t.Errorf("docker run %s %s: stdout does not match %q\n%s", image, strings.Join(tt.args, " "), tt.stdout, r)
			}
			if tt.absent != "" && strings.Contains(r.Stdout+r.Stderr, tt.absent) {
				t.Errorf("docker run %s %s: output contains %q\n%s", image, strings.Join(tt.args, " "), tt.absent, r)
			}
		})
	}
}

// TestContainerBareExecutable (3): a program found on PATH is the main
// command itself, started by init as the hermes uid, with no hermes process
// in between. (The reference checked the CMD process with ps; so do we.)
func TestContainerBareExecutable(t *testing.T) {
	t.Parallel()
	c := startContainer(t, containerOpts{Args: []string{"sleep", "1234"}})
	waitReady(t, c, 30*time.Second)
	ps := procsIn(t, c)
	var children []proc
	for _, p := range ps {
		if p.PPID == 1 {
			children = append(children, p)
		}
		if p.PID == 1 && !strings.HasPrefix(p.Args, hermesInContainer+" init") {
			t.Errorf("PID 1 is %q, want hermes init", p.Args)
		}
	}
	if len(children) != 1 || children[0].Args != "sleep 1234" || children[0].UID != 10000 {
		t.Fatalf("want exactly one child of PID 1, sleep 1234 as uid 10000; processes:\n%s", formatProcs(ps))
	}
}

// TestContainerShadowedSubcommands (6): a hermes subcommand whose name is
// also a program on PATH (util-linux's /bin/login in the test base) reaches
// hermes: the reference routed by `command -v` first and ran /bin/login (its
// §8 item 44). Every shadowed subcommand is tried; login must be one of
// them, or the test would prove nothing.
func TestContainerShadowedSubcommands(t *testing.T) {
	t.Parallel()
	image := testImage(t)
	// Which subcommands does the image have on PATH as programs?
	probe := `for c in $(hermes help | awk '/^  [a-z]/ {print $1}'); do
	p=$(command -v "$c") && [ "$p" != /opt/hermes/bin/hermes ] && echo "$c $p"
done; exit 0`
	_, r := runContainer(t, containerOpts{Image: image, Entrypoint: "/bin/sh", Args: []string{"-c", probe}}, dockerTimeout)
	if r.Code != 0 {
		t.Fatalf("probe: %s", r)
	}
	shadowed := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		if name, path, ok := strings.Cut(line, " "); ok {
			shadowed[name] = path
		}
	}
	if _, ok := shadowed["login"]; !ok {
		t.Fatalf("login is not shadowed by a program on PATH in %s (found %v): the test base lost util-linux's /bin/login", image, shadowed)
	}
	for name, path := range shadowed {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, r := runContainer(t, containerOpts{Image: image, Args: []string{name, "--help"}}, dockerTimeout)
			// The reference's test: docker run IMAGE login --help wants
			// "usage: hermes login", nothing between hermes and the verb.
			want := regexp.MustCompile(`(?m)^usage: hermes ` + regexp.QuoteMeta(name) + `( |$)`)
			if r.Code != 0 || !want.MatchString(r.Stdout) {
				t.Fatalf("docker run %s %s --help: want exit 0 and hermes' usage of %s (not %s's): %s", image, name, name, path, r)
			}
		})
	}
}

// TestContainerSubcommandHelp (2, for every subcommand): hermes SUB --help
// prints SUB's usage on stdout and exits 0, as the main command of the
// container (routed by init) — a person or a portal probing the image's
// CLI must not get an error for asking for help.
func TestContainerSubcommandHelp(t *testing.T) {
	t.Parallel()
	image := testImage(t)
	script := `for c in $(hermes help | awk '/^  [a-z]/ {print $1}'); do
	out=$(hermes "$c" --help 2>/dev/null); code=$?
	first=$(printf '%s\n' "$out" | grep -i -m1 'usage')
	printf 'HELP\t%s\t%s\t%s\n' "$c" "$code" "$first"
done`
	_, r := runContainer(t, containerOpts{Image: image, Args: []string{"sh", "-c", script}}, dockerTimeout)
	if r.Code != 0 {
		t.Fatalf("probe: %s", r)
	}
	var lines []string
	for _, line := range strings.Split(r.Stdout, "\n") {
		if rest, ok := strings.CutPrefix(line, "HELP\t"); ok {
			lines = append(lines, rest)
		}
	}
	if len(lines) < 5 {
		t.Fatalf("too few subcommands in hermes help:\n%s", r)
	}
	for _, line := range lines {
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			t.Errorf("unexpected probe line %q", line)
			continue
		}
		name, code, usage := f[0], f[1], f[2]
		want := "usage: hermes " + name
		if name == "version" {
			// version's whole output is the version line; --help changes
			// nothing, and it exits 0.
			usage = want
		}
		if code != "0" || (usage != want && !strings.HasPrefix(usage, want+" ")) {
			t.Errorf("hermes %s --help: exit %s, usage line %q; want exit 0 and a usage line %q", name, code, usage, want+" …")
		}
	}
}
