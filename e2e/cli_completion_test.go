package e2e

// Shell completion (issue 11): the script hermes completion prints for
// bash, zsh and fish is sourced by the real shell without error, and
// completes commands, flags and the profile names of HERMES_HOME through
// the real binary.

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// completionEnv is a PATH with hermes on it and a HERMES_HOME with the
// profiles default and coder.
func completionEnv(t *testing.T) []string {
	t.Helper()
	home := t.TempDir()
	env := append(os.Environ(), "PATH="+filepath.Dir(hermesBin)+":"+os.Getenv("PATH"), "HERMES_HOME="+home,
		"HERMES_CONTROL_SOCKET="+filepath.Join(home, "none.sock"), "HERMES_DOCKER_EXEC_AS_ROOT=1")
	cmd := exec.Command(hermesBin, "profile", "create", "coder")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hermes profile create coder: %v\n%s", err, out)
	}
	return env
}

// shell runs script in the shell and returns its stdout.
func shell(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() != 0 {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

func TestCompletionBash(t *testing.T) {
	testenv.NeedProgram(t, "bash", "source the bash completion script")
	const bashCompletion = "/usr/share/bash-completion/bash_completion"
	_, err := os.Stat(bashCompletion)
	testenv.Need(t, err == nil, "needs the bash-completion package (apt-get install bash-completion)")
	env := completionEnv(t)
	// Sourced as a user would, on its own and after bash-completion.
	shell(t, env, "bash", "-c", "source <(hermes completion bash)")
	complete := func(line string) []string {
		words := strings.Fields(line)
		if strings.HasSuffix(line, " ") {
			words = append(words, "")
		}
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + w + "'"
		}
		// compopt works only inside a completion the shell runs: a no-op here.
		script := "source " + bashCompletion + "; source <(hermes completion bash); compopt() { :; }\n" +
			"COMP_WORDS=(" + strings.Join(quoted, " ") + "); COMP_CWORD=" + strconv.Itoa(len(words)-1) +
			"; COMP_LINE='" + line + "'; COMP_POINT=${#COMP_LINE}; __start_hermes; printf '%s\\n' \"${COMPREPLY[@]}\""
		return strings.Fields(shell(t, env, "bash", "-c", script))
	}
	tests := []struct {
		line string
		want []string
	}{
		{"hermes -p ", []string{"coder", "default"}},
		{"hermes gateway status --profile ", []string{"coder", "default"}},
		{"hermes profile use c", []string{"coder"}},
		{"hermes gat", []string{"gateway"}},
		{"hermes gateway st", []string{"start", "status", "stop"}},
		{"hermes logs --fo", []string{"--follow"}},
		{"hermes completion ", []string{"bash", "fish", "zsh"}},
	}
	for _, tt := range tests {
		got := complete(tt.line)
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("bash completes %q to %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestCompletionZsh(t *testing.T) {
	testenv.NeedProgram(t, "zsh", "check the zsh completion script")
	env := completionEnv(t)
	script := filepath.Join(t.TempDir(), "_hermes")
	if err := os.WriteFile(script, []byte(shell(t, env, hermesBin, "completion", "zsh")), 0o644); err != nil {
		t.Fatal(err)
	}
	shell(t, env, "zsh", "-n", script)
	shell(t, env, "zsh", "-f", "-c", "autoload -U compinit && compinit -u && source <(hermes completion zsh) && (( $+functions[_hermes] ))")
}

func TestCompletionFish(t *testing.T) {
	testenv.NeedProgram(t, "fish", "check the fish completion script")
	env := append(completionEnv(t), "XDG_CONFIG_HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir())
	script := filepath.Join(t.TempDir(), "hermes.fish")
	if err := os.WriteFile(script, []byte(shell(t, env, hermesBin, "completion", "fish")), 0o644); err != nil {
		t.Fatal(err)
	}
	shell(t, env, "fish", "-n", script)
	for line, want := range map[string][]string{
		"hermes -p ":         {"coder", "default"},
		"hermes gateway st":  {"start", "status", "stop"},
		"hermes logs --foll": {"--follow"},
	} {
		out := shell(t, env, "fish", "--no-config", "-c", "source "+script+"; complete -C '"+line+"'")
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if w, _, _ := strings.Cut(l, "\t"); w != "" {
				got = append(got, w)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("fish completes %q to %q, want %q", line, got, want)
		}
	}
}
