package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// runCLI runs hermes with HERMES_HOME=home, no supervisor and no terminal.
func runCLI(home string, args ...string) (stdout, stderr string, code int) {
	var out, errb strings.Builder
	e := &Env{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Host: hostenv.Env{
			Getenv: func(k string) (string, bool) {
				switch k {
				case "HERMES_HOME":
					return home, true
				case "HERMES_CONTROL_SOCKET":
					return home + "/no-supervisor.sock", true
				}
				return "", false
			},
			Exists: func(string) bool { return false },
			Getuid: os.Getuid,
		},
	}
	code = e.Main(args)
	return out.String(), errb.String(), code
}

// commandPaths is every command of the tree, as the words after hermes.
func commandPaths(c *cobra.Command) [][]string {
	var out [][]string
	var walk func(c *cobra.Command, words []string)
	walk = func(c *cobra.Command, words []string) {
		out = append(out, words)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string{}, words...), sub.Name()))
		}
	}
	walk(c, nil)
	return out
}

// TestHelpGolden: every command's --help, as a person reads it
// (testdata/help.golden); each starts with its usage line "usage: hermes
// <its words>" (nothing between hermes and the words: the reference's
// container test wants "usage: hermes login"), exits 0 and prints nothing
// on stderr.
func TestHelpGolden(t *testing.T) {
	home := t.TempDir()
	var b strings.Builder
	paths := commandPaths(newRoot(&Env{Host: hostenv.OS()}))
	if len(paths) < 30 {
		t.Fatalf("only %d commands in the tree", len(paths))
	}
	for _, words := range paths {
		args := append(append([]string{}, words...), "--help")
		out, errs, code := runCLI(home, args...)
		fmt.Fprintf(&b, "$ hermes %s\n%s[exit %d]\n\n", strings.Join(args, " "), out, code)
		first, _, _ := strings.Cut(out, "\n")
		want := strings.TrimSpace("usage: hermes " + strings.Join(words, " "))
		if code != 0 || errs != "" || (first != want && !strings.HasPrefix(first, want+" ")) {
			t.Errorf("hermes %s: exit %d, stderr %q, first line %q; want exit 0 and a usage line \"usage: hermes %s …\"", strings.Join(args, " "), code, errs, first, strings.Join(words, " "))
		}
	}
	testenv.Golden(t, "help.golden", b.String())
}

// TestGroupAlone: a group without a command (hermes profile, hermes
// config, ...) prints what hermes GROUP --help prints, on stdout, exit 0:
// its help, not an error.
func TestGroupAlone(t *testing.T) {
	home := t.TempDir()
	groups := 0
	for _, words := range commandPaths(newRoot(&Env{Host: hostenv.OS()})) {
		c, _, err := newRoot(&Env{Host: hostenv.OS()}).Find(words)
		if len(words) == 0 || err != nil || !c.HasAvailableSubCommands() {
			continue
		}
		groups++
		out, errs, code := runCLI(home, words...)
		help, _, _ := runCLI(home, append(append([]string{}, words...), "--help")...)
		if code != 0 || errs != "" || out != help {
			t.Errorf("hermes %s: exit %d, stderr %q, stdout %q; want exit 0 and its --help", strings.Join(words, " "), code, errs, out)
		}
	}
	if groups < 6 {
		t.Errorf("only %d groups in the tree", groups)
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("a group alone wrote into HERMES_HOME: %v", entries)
	}
}

// TestHelpListsEveryCommand: hermes help (and hermes alone without a
// terminal, and hermes --help) list every command, init and seeds
// included, in the two-space column that scripts read.
func TestHelpListsEveryCommand(t *testing.T) {
	home := t.TempDir()
	for _, args := range [][]string{{"help"}, {}, {"--help"}, {"-h"}} {
		out, _, code := runCLI(home, args...)
		if code != 0 {
			t.Fatalf("hermes %v: exit %d", args, code)
		}
		listed := map[string]bool{}
		for _, line := range strings.Split(out, "\n") {
			if rest, ok := strings.CutPrefix(line, "  "); ok && rest != "" && rest[0] >= 'a' && rest[0] <= 'z' {
				listed[strings.Fields(rest)[0]] = true
			}
		}
		for _, c := range newRoot(&Env{Host: hostenv.OS()}).Commands() {
			if !listed[c.Name()] {
				t.Errorf("hermes %v does not list %s:\n%s", args, c.Name(), out)
			}
		}
		for _, must := range []string{"init", "seeds", "completion", "help"} {
			if !listed[must] {
				t.Errorf("hermes %v does not list %s", args, must)
			}
		}
	}
}

// TestUsageErrors: a bad command line is one ✗ line on stdout naming the
// mistake (and the nearest valid spelling when there is one), exit 1,
// nothing on stderr and nothing done (testdata/errors.golden).
func TestUsageErrors(t *testing.T) {
	home := t.TempDir()
	lines := [][]string{
		{"gatway", "status"},
		{"no-such-command"},
		{"stauts"},
		{"gateway", "stauts"},
		{"gateway", "bogus"},
		{"svc", "bogus"},
		{"config", "get", "--jsn", "gateway.port"},
		{"config", "get", "-jsn", "gateway.port"},
		{"config", "get", "gateway.port", "-x"},
		{"logs", "--folow"},
		{"logs", "-n", "3", "-n", "4"},
		{"logs", "-n", "many"},
		{"logs", "-n"},
		{"svc", "ready", "--timeout", "soon"},
		{"gateway", "status", "-p", "default", "-p", "other"},
		{"-p", "default", "gateway", "status", "--profile=other"},
		{"-p"},
		{"profile", "create"},
		{"profile", "create", "a", "b"},
		{"profile", "use"},
		{"sessions", "show"},
		{"svc", "signal", "web"},
		{"svc", "add", "web"},
		{"svc", "add", "web", "/bin/web"},
		{"svc", "add", "web", "--"},
		{"svc", "add", "--", "/bin/web"},
		{"login"},
		{"seeds"},
		{"chat", "hello"},
		{"completion"},
		{"completion", "bsh"},
		{"help", "gatway"},
		{"config", "set", "gateway.port"},
		{"config", "set", "gateway.port", "1", "-p", "a", "-p", "b"},
		{"dump", "extra"},
		{"version", "--jsn"},
		{"--verison"},
	}
	var b strings.Builder
	for _, args := range lines {
		out, errs, code := runCLI(home, args...)
		fmt.Fprintf(&b, "$ hermes %s\n%s[exit %d]\n\n", strings.Join(args, " "), out, code)
		if code != 1 || errs != "" || !strings.HasPrefix(out, "✗ ") || strings.Count(out, "\n") != 1 {
			t.Errorf("hermes %s: exit %d, stdout %q, stderr %q; want exit 1 and one ✗ line on stdout", strings.Join(args, " "), code, out, errs)
		}
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("a refused command line wrote into HERMES_HOME: %v", entries)
	}
	testenv.Golden(t, "errors.golden", b.String())
}

// TestProfileFlagAnywhere: -p/--profile works before and after the verb,
// in every spelling, and acts on that profile.
func TestProfileFlagAnywhere(t *testing.T) {
	home := t.TempDir()
	if err := profiles.Create(profiles.MustParse(home, "coder")); err != nil {
		t.Fatal(err)
	}
	want, _, code := runCLI(home, "-p", "coder", "config", "get", "gateway.port")
	if code != 0 || strings.TrimSpace(want) == "" {
		t.Fatalf("hermes -p coder config get gateway.port: exit %d, %q", code, want)
	}
	def, _, _ := runCLI(home, "config", "get", "gateway.port")
	if def == want {
		t.Fatalf("the default profile and coder have the same port %q: the test proves nothing", want)
	}
	for _, args := range [][]string{
		{"config", "get", "gateway.port", "-p", "coder"},
		{"config", "-p", "coder", "get", "gateway.port"},
		{"config", "get", "--profile", "coder", "gateway.port"},
		{"--profile=coder", "config", "get", "gateway.port"},
		{"config", "get", "gateway.port", "-pcoder"},
		{"-p", "coder", "config", "get", "gateway.port", "-p", "coder"}, // twice, same value
	} {
		got, errs, code := runCLI(home, args...)
		if code != 0 || got != want {
			t.Errorf("hermes %s: exit %d, %q (%s); want %q", strings.Join(args, " "), code, got, errs, want)
		}
	}
	// config set takes VALUE as it is, and -p anywhere but after --.
	for _, args := range [][]string{
		{"config", "set", "model.name", "-x-model", "-p", "coder"},
		{"-p", "coder", "config", "set", "--", "model.name", "-x-model"},
	} {
		out, _, code := runCLI(home, args...)
		if code != 0 || !strings.Contains(out, "✓ model.name = -x-model") || !strings.Contains(out, "profiles/coder/") {
			t.Errorf("hermes %s: exit %d, %q", strings.Join(args, " "), code, out)
		}
	}
}

// TestInitHelpNeverBoots: hermes init --help (or -h) prints init's help
// and exits 0 without booting; its other arguments are the main command's.
func TestInitHelpNeverBoots(t *testing.T) {
	home := t.TempDir()
	for _, args := range [][]string{{"init", "--help"}, {"init", "-h"}, {"help", "init"}} {
		out, errs, code := runCLI(home, args...)
		if code != 0 || !strings.HasPrefix(out, "usage: hermes init [--] [CMD [ARGS...]]\n") || errs != "" {
			t.Errorf("hermes %v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("hermes init --help touched HERMES_HOME: %v", entries)
	}
}

func TestIsSubcommand(t *testing.T) {
	for name, want := range map[string]bool{
		"gateway": true, "init": true, "seeds": true, "help": true, "completion": true, "version": true,
		"chat": true, "svc": true, "login": true,
		"bash": false, "no-such": false, "__complete": false, "": false, "status": false,
	} {
		if got := IsSubcommand(name); got != want {
			t.Errorf("IsSubcommand(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestArgsFromUse(t *testing.T) {
	tests := []struct {
		use  string
		args []string
		ok   bool
	}{
		{"create NAME", []string{"a"}, true},
		{"create NAME", nil, false},
		{"create NAME", []string{"a", "b"}, false},
		{"show [NAME] [--json]", nil, true},
		{"show [NAME] [--json]", []string{"a"}, true},
		{"show [NAME] [--json]", []string{"a", "b"}, false},
		{"login --provider NAME", nil, true},
		{"logs [SERVICE] [-n N] [-f]", []string{"web"}, true},
		{"logs [SERVICE] [-n N] [-f]", []string{"web", "x"}, false},
		{"signal NAME SIG", []string{"web"}, false},
		{"signal NAME SIG", []string{"web", "HUP"}, true},
		{"set KEY VALUE", []string{"k", "v"}, true},
		{"init [--] [CMD [ARGS...]]", []string{"a", "b", "c"}, true},
		{"help [COMMAND...]", []string{"a", "b"}, true},
		{"add NAME [--restart always|on-failure|never] [--env K=V]... -- CMD [ARGS...]", []string{"n", "cmd", "x"}, true},
	}
	for _, tt := range tests {
		c := &cobra.Command{Use: tt.use}
		err := argsFromUse(tt.use)(c, tt.args)
		if (err == nil) != tt.ok {
			t.Errorf("argsFromUse(%q)(%q) = %v, want ok=%v", tt.use, tt.args, err, tt.ok)
		}
	}
}

func TestLevenshtein(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"json", "json", 0}, {"jsn", "json", 1},
		{"stauts", "status", 1}, {"gatway", "gateway", 1}, {"bogus", "logs", 2}, {"kitten", "sitting", 3},
		{"ab", "ba", 1}, {"ça", "ca", 1},
	}
	for _, tt := range tests {
		if got := levenshtein(tt.a, tt.b); got != tt.want {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	names := []string{"gateway", "profile", "status", "json", "logs", "svc"}
	tests := []struct{ word, want string }{
		{"gatway", `: did you mean "gateway"?`},
		{"stauts", `: did you mean "status"?`},
		{"jsn", `: did you mean "json"?`},
		{"prof", `: did you mean "profile"?`},
		{"bogus", ""},
		{"no-such-command", ""},
		{"x", ""},
	}
	for _, tt := range tests {
		if got := didYouMean(tt.word, names, ""); got != tt.want {
			t.Errorf("didYouMean(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}

func FuzzUseWords(f *testing.F) {
	for _, s := range []string{"add NAME [--restart a|b] [--env K=V]... -- CMD [ARGS...]", "[[x]", "]]", "a  b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, use string) {
		for _, w := range useWords(use) {
			if w == "" || !strings.Contains(use, w) {
				t.Fatalf("useWords(%q) has %q", use, w)
			}
		}
		argsFromUse(use)(&cobra.Command{Use: use}, []string{"a"})
	})
}

// TestComplete: the __complete requests the shells' scripts make list the
// commands, the flags and the profile names of HERMES_HOME.
func TestComplete(t *testing.T) {
	home := t.TempDir()
	for _, p := range []string{"coder", "writer"} {
		if err := profiles.Create(profiles.MustParse(home, p)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"-p", ""}, []string{"default", "coder", "writer"}},
		{[]string{"-p", "c"}, []string{"coder"}},
		{[]string{"gateway", "status", "--profile", "w"}, []string{"writer"}},
		{[]string{"profile", "use", ""}, []string{"default", "coder", "writer"}},
		{[]string{"profile", "show", "coder", ""}, nil},
		{[]string{"gateway", "st"}, []string{"start", "stop", "status"}},
		{[]string{"lo"}, []string{"login", "logs"}},
		{[]string{"logs", "--f"}, []string{"--follow"}},
		{[]string{"completion", ""}, []string{"bash", "zsh", "fish"}},
		{[]string{"help", "gate"}, []string{"gateway"}},
	}
	for _, tt := range tests {
		out, _, code := runCLI(home, append([]string{cobra.ShellCompNoDescRequestCmd}, tt.args...)...)
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if l != "" && !strings.HasPrefix(l, ":") {
				got = append(got, l)
			}
		}
		if code != 0 || strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("hermes __complete %q: exit %d, %q; want %q", tt.args, code, got, tt.want)
		}
	}
}

// TestEveryReadHasJSON: every command that reads has --json, and those
// that need no supervisor print one JSON document (logs: one object per
// line) with it.
func TestEveryReadHasJSON(t *testing.T) {
	root := newRoot(&Env{Host: hostenv.OS()})
	for _, path := range []string{"dump", "version", "logs", "config get", "config list", "profile list", "profile show", "gateway status",
		"sessions list", "sessions show", "svc status", "svc logs", "doctor"} {
		c := root
		for _, w := range strings.Fields(path) {
			if c = findSub(c, w); c == nil {
				t.Fatalf("no command hermes %s", path)
			}
		}
		if f := c.Flags().Lookup("json"); f == nil || f.Value.Type() != "bool" {
			t.Errorf("hermes %s has no --json", path)
		}
	}
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, "SOUL.md"), []byte("default\n"), 0o644)
	os.WriteFile(filepath.Join(home, "config.yaml"), []byte("gateway:\n  port: 8642\n"), 0o644)
	logFile := gateway.LogFile(home, "gateway-default")
	os.MkdirAll(filepath.Dir(logFile), 0o755)
	os.WriteFile(logFile, []byte("2026-01-02T03:04:05.000006Z one\n2026-01-02T03:04:05.000007Z two\n"), 0o640)
	for _, args := range [][]string{
		{"dump", "--json"}, {"version", "--json"}, {"config", "get", "gateway.port", "--json"}, {"profile", "list", "--json"},
		{"profile", "show", "--json"}, {"gateway", "status", "--json"}, {"sessions", "list", "--json"}, {"doctor", "--json"},
		{"logs", "--json"},
	} {
		out, errs, code := runCLI(home, args...)
		docs := []string{out}
		if args[0] == "logs" {
			docs = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		}
		for _, d := range docs {
			if !json.Valid([]byte(d)) {
				t.Errorf("hermes %s: exit %d, not JSON: %q (%s)", strings.Join(args, " "), code, d, errs)
			}
		}
		if code != 0 && args[0] != "doctor" {
			t.Errorf("hermes %s: exit %d", strings.Join(args, " "), code)
		}
	}
}

func TestTakes(t *testing.T) {
	root := newRoot(&Env{Host: hostenv.OS()})
	if got, want := takes(root), "hermes takes -V/--version, -h/--help, -p/--profile"; got != want {
		t.Errorf("takes(root) = %q, want %q", got, want)
	}
	if got, want := takes(findSub(findSub(root, "svc"), "ready")), "hermes svc ready takes --timeout, --json, -h/--help"; got != want {
		t.Errorf("takes(svc ready) = %q, want %q", got, want)
	}
}

func TestOnlyProfile(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want bool
	}{
		{nil, true}, {[]string{"-p", "coder"}, true}, {[]string{"--profile", "x"}, true}, {[]string{"--profile=x"}, true},
		{[]string{"-pcoder"}, true}, {[]string{"-p"}, false}, {[]string{"chat"}, false}, {[]string{"-p", "x", "version"}, false},
		{[]string{"--help"}, false}, {[]string{"-V"}, false},
	} {
		if got := onlyProfile(tt.args); got != tt.want {
			t.Errorf("onlyProfile(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

// TestInitArgsAreTheMainCommands: nothing after init is parsed as a flag
// (not even -p or --help past the first word): init gets its arguments as
// they are.
func TestInitArgsAreTheMainCommands(t *testing.T) {
	for _, args := range [][]string{
		{"--", "sleep", "-f", "--x"},
		{"sleep", "--help"},
		{"gateway", "run", "--replace", "-p", "coder"},
		{"-p", "coder", "chat"},
		{"--", "--help"},
	} {
		e := &Env{Stdin: strings.NewReader(""), Stdout: &strings.Builder{}, Stderr: &strings.Builder{}, Host: hostenv.OS()}
		root := newRoot(e)
		var got []string
		findSub(root, "init").RunE = func(_ *cobra.Command, a []string) error { got = a; return nil }
		root.SetArgs(append([]string{"init"}, args...))
		if err := root.Execute(); err != nil || strings.Join(got, "\x00") != strings.Join(args, "\x00") || e.Profile != "" {
			t.Errorf("hermes init %q: init got %q (%v, profile %q), want the arguments as they are", args, got, err, e.Profile)
		}
	}
}
