package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"

	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/sessions"
)

// runSessionsCLI runs hermes with HERMES_HOME=home and returns what it
// printed and its exit code.
func runSessionsCLI(home string, args ...string) (stdout, stderr string, code int) {
	var out, errb strings.Builder
	e := &Env{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Host: hostenv.Env{
			Getenv: func(k string) (string, bool) {
				switch k {
				case "HERMES_HOME":
					return home, true
				case "HERMES_CONTROL_SOCKET":
					return filepath.Join(home, "no-such.sock"), true
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

// sessionsStep is one command of the transcript.
type sessionsStep struct {
	args   []string
	code   int
	before func(t *testing.T)
}

// fillSessions writes three sessions of 2025 into the store at path.
func fillSessions(t *testing.T, path string) {
	t.Helper()
	t1 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	now := t1
	st, err := sessions.Open(path, sessions.Options{Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	turns := []sessions.Turn{
		{SessionID: "sess_a", Profile: "default", Model: "anthropic/claude-sonnet-4", At: t1,
			Messages: []sessions.Message{
				{Role: sessions.RoleSystem, Content: "Answer briefly."},
				{Role: sessions.RoleUser, Content: "What is the capital of France? And, while you are at it, of every other country in Europe?"},
				{Role: sessions.RoleAssistant, Content: "Paris.\nThe others would take a while."},
			},
			Usage: &sessions.Usage{PromptTokens: 30, CompletionTokens: 12, TotalTokens: 42}},
		{SessionID: "client-chosen:42", Profile: "default", Model: "gpt-4o-mini", At: t1.Add(time.Minute),
			Messages: []sessions.Message{
				{Role: sessions.RoleUser, Content: "weather in Oslo?"},
				{Role: sessions.RoleAssistant, Raw: json.RawMessage(`{"role":"assistant","tool_calls":[{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Oslo\"}"}}]}`)},
				{Role: sessions.RoleTool, Content: `{"temp": -3}`},
				{Role: sessions.RoleAssistant, Content: "It is -3 °C in Oslo."},
			}},
		{SessionID: "sess_a", Profile: "default", Model: "anthropic/claude-sonnet-4", At: t1.Add(2 * time.Minute),
			Messages: []sessions.Message{
				{Role: sessions.RoleUser, Content: "Thanks!", ResponseID: "resp_1"},
				{Role: sessions.RoleAssistant, Content: "You are welcome.", ResponseID: "resp_1"},
			},
			Usage: &sessions.Usage{PromptTokens: 50, CompletionTokens: 5, TotalTokens: 55}},
		{SessionID: "sess_ended", Profile: "default", At: t1.Add(-time.Hour),
			Messages: []sessions.Message{{Role: sessions.RoleUser, Content: "bye"}}},
	}
	for _, tr := range turns {
		if err := st.AppendTurn(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	now = t1.Add(-time.Hour + time.Second)
	if err := st.EndSession(ctx, "sess_ended"); err != nil {
		t.Fatal(err)
	}
}

func TestSessionsTranscript(t *testing.T) {
	home := t.TempDir()
	if err := profiles.Create(profiles.MustParse(home, "coder")); err != nil {
		t.Fatal(err)
	}
	if err := profiles.Create(profiles.MustParse(home, "reference")); err != nil {
		t.Fatal(err)
	}
	if err := profiles.Create(profiles.MustParse(home, "future")); err != nil {
		t.Fatal(err)
	}
	steps := []sessionsStep{
		{args: []string{"sessions"}},
		{args: []string{"sessions", "list"}},
		{args: []string{"sessions", "list", "--json"}},
		{args: []string{"sessions", "show", "sess_a"}, code: 1},
		{args: []string{"sessions", "list"}, before: func(t *testing.T) { fillSessions(t, filepath.Join(home, "state.db")) }},
		{args: []string{"sessions", "list", "-n", "2"}},
		{args: []string{"sessions", "list", "--json", "-n", "1"}},
		{args: []string{"sessions", "list", "--active"}},
		{args: []string{"sessions", "list", "-n", "-1"}, code: 1},
		{args: []string{"sessions", "show", "sess_a"}},
		{args: []string{"sessions", "show", "client-chosen:42"}},
		{args: []string{"sessions", "show", "sess_ended", "--json"}},
		{args: []string{"sessions", "show", "nobody"}, code: 1},
		{args: []string{"sessions", "show", "../etc/passwd"}, code: 1},
		{args: []string{"sessions", "show"}, code: 1},
		{args: []string{"sessions", "list", "--offset", "1", "-n", "1"}},
		{args: []string{"sessions", "search", "oslo"}},
		{args: []string{"sessions", "search", "capital of", "--json"}},
		{args: []string{"sessions", "search", "100%"}},
		{args: []string{"sessions", "search", "%"}},
		{args: []string{"sessions", "search", "_"}},
		{args: []string{"sessions", "search", "' OR ''='"}},
		{args: []string{"sessions", "search", `"temp"`}},
		{args: []string{"sessions", "search"}, code: 1},
		{args: []string{"sessions", "rename", "sess_a", "Capitals of Europe"}},
		{args: []string{"sessions", "rename", "sess_a", ""}, code: 1},
		{args: []string{"sessions", "rename", "sess_a", strings.Repeat("x", 10<<10)}, code: 1},
		{args: []string{"sessions", "rename", "nobody", "x"}, code: 1},
		{args: []string{"sessions", "search", "capitals"}},
		{args: []string{"sessions", "export", "client-chosen:42"}},
		{args: []string{"sessions", "export", "sess_ended", "--format", "json"}},
		{args: []string{"sessions", "export", "sess_a", "--format", "pdf"}, code: 1},
		{args: []string{"sessions", "delete", "sess_ended"}, code: 1},
		{args: []string{"sessions", "delete", "sess_ended", "nobody", "--yes"}, code: 1},
		{args: []string{"sessions", "prune"}, code: 1},
		{args: []string{"sessions", "prune", "--older-than", "soon"}, code: 1},
		{args: []string{"sessions", "prune", "--keep", "1", "--dry-run"}},
		{args: []string{"sessions", "delete", "sess_ended", "--yes"}},
		{args: []string{"sessions", "prune", "--keep", "1", "--json"}},
		{args: []string{"sessions", "list"}},
		{args: []string{"-p", "coder", "sessions", "prune", "--older-than", "30d"}},
		{args: []string{"-p", "coder", "sessions", "list"}},
		{args: []string{"-p", "ghost", "sessions", "list"}, code: 1},
		{args: []string{"-p", "reference", "sessions", "list"}, code: 1, before: func(t *testing.T) {
			db, err := sql.Open("sqlite", filepath.Join(profiles.MustParse(home, "reference").Dir(), "state.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, q := range []string{
				"CREATE TABLE sessions (id TEXT PRIMARY KEY, source TEXT, started_at REAL)",
				"CREATE TABLE messages (id INTEGER PRIMARY KEY, session_id TEXT, role TEXT, content TEXT)",
			} {
				if _, err := db.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{args: []string{"-p", "reference", "sessions", "show", "x", "--json"}, code: 1},
		{args: []string{"-p", "future", "sessions", "list"}, code: 1, before: func(t *testing.T) {
			path := filepath.Join(profiles.MustParse(home, "future").Dir(), "state.db")
			st, err := sessions.Open(path, sessions.Options{})
			if err != nil {
				t.Fatal(err)
			}
			st.Close()
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", sessions.SchemaVersion+1)); err != nil {
				t.Fatal(err)
			}
		}},
		{args: []string{"sessions", "bogus"}, code: 1},
	}
	var b strings.Builder
	for _, s := range steps {
		if s.before != nil {
			s.before(t)
		}
		stdout, stderr, code := runSessionsCLI(home, s.args...)
		shown := make([]string, len(s.args))
		for i, a := range s.args {
			shown[i] = a
			if len(a) > 100 { // a 10 KB title: its size, not its bytes
				shown[i] = fmt.Sprintf("<%d bytes of %q>", len(a), a[:1])
			}
		}
		fmt.Fprintf(&b, "$ hermes %s\n%s", strings.Join(shown, " "), stdout)
		if stderr != "" {
			fmt.Fprintf(&b, "[stderr]\n%s", stderr)
		}
		fmt.Fprintf(&b, "[exit %d]\n\n", code)
		if code != s.code {
			t.Errorf("hermes %s: exit %d, want %d\n%s%s", strings.Join(s.args, " "), code, s.code, stdout, stderr)
		}
		if strings.Contains(stdout+stderr, "goroutine ") || strings.Contains(stdout+stderr, "panic") {
			t.Errorf("hermes %s printed a stack trace", strings.Join(s.args, " "))
		}
	}
	testenv.Golden(t, "sessions.golden", strings.ReplaceAll(b.String(), home, "$HERMES_HOME"))
}

// --active and the state column judge activity at the time of the command.
func TestSessionsListActive(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, "state.db")
	st, err := sessions.Open(path, sessions.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for _, tr := range []sessions.Turn{
		{SessionID: "now", At: time.Now(), Messages: []sessions.Message{{Role: sessions.RoleUser, Content: "hi"}}},
		{SessionID: "ten-minutes-ago", At: time.Now().Add(-10 * time.Minute), Messages: []sessions.Message{{Role: sessions.RoleUser, Content: "hi"}}},
	} {
		if err := st.AppendTurn(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	// The gateway still has the store open: the CLI reads beside it.
	tests := []struct {
		args    []string
		want    []string
		notWant []string
	}{
		{[]string{"sessions", "list"}, []string{"now  ", "active", "ten-minutes-ago  idle"}, nil},
		{[]string{"sessions", "list", "--active"}, []string{"now  ", "active"}, []string{"ten-minutes-ago"}},
		{[]string{"sessions", "list", "--active", "--json"}, []string{`"id": "now"`}, []string{"ten-minutes-ago"}},
	}
	for _, tt := range tests {
		got, stderr, code := runSessionsCLI(home, tt.args...)
		if code != 0 || stderr != "" {
			t.Errorf("hermes %s: exit %d, stderr %q", strings.Join(tt.args, " "), code, stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("hermes %s printed %q, want %q in it", strings.Join(tt.args, " "), got, w)
			}
		}
		for _, w := range tt.notWant {
			if strings.Contains(got, w) {
				t.Errorf("hermes %s printed %q, want no %q", strings.Join(tt.args, " "), got, w)
			}
		}
	}
}

// runSessionsCLIWith is runSessionsCLI with stdin.
func runSessionsCLIWith(home string, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	var out, errb strings.Builder
	e := &Env{
		Stdin: stdin, Stdout: &out, Stderr: &errb,
		Host: hostenv.Env{
			Getenv: func(k string) (string, bool) {
				switch k {
				case "HERMES_HOME":
					return home, true
				case "HERMES_CONTROL_SOCKET":
					return filepath.Join(home, "no-such.sock"), true
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

// delete asks on a terminal; only yes deletes. prune skips the session in
// use and says so. export -o writes the whole file.
func TestSessionsDeletePruneExport(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, "state.db")
	fillSessions(t, path)
	st, err := sessions.Open(path, sessions.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendTurn(context.Background(), sessions.Turn{SessionID: "in-use", Profile: "default", At: time.Now().Add(-5 * time.Minute), Messages: []sessions.Message{{Role: "user", Content: "still talking"}}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, tc := range []struct {
		answer string
		code   int
		gone   bool
	}{{"n\n", 1, false}, {"\n", 1, false}, {"yes\n", 0, true}} {
		out, errOut, code := runSessionsCLIWith(home, tty{strings.NewReader(tc.answer)}, "sessions", "delete", "sess_ended")
		if code != tc.code || !strings.Contains(errOut, "Delete 1 session of profile default") || !strings.Contains(errOut, "sess_ended  1 message  bye") {
			t.Errorf("delete, answering %q: exit %d\n%s%s", tc.answer, code, out, errOut)
		}
		_, _, showCode := runSessionsCLI(home, "sessions", "show", "sess_ended")
		if gone := showCode != 0; gone != tc.gone {
			t.Errorf("delete, answering %q: gone = %v, want %v", tc.answer, gone, tc.gone)
		}
	}
	out, errOut, code := runSessionsCLI(home, "sessions", "prune", "--older-than", "1m")
	if code != 0 || !strings.Contains(out, "skipped in-use: in use") || !strings.Contains(out, "2 sessions of profile default deleted, 1 session in use skipped") {
		t.Errorf("prune: exit %d\n%s%s", code, out, errOut)
	}
	if _, _, code := runSessionsCLI(home, "sessions", "show", "in-use"); code != 0 {
		t.Errorf("prune deleted the session in use")
	}
	file := filepath.Join(t.TempDir(), "in-use.md")
	if _, errOut, code := runSessionsCLI(home, "sessions", "export", "in-use", "-o", file); code != 0 || !strings.Contains(errOut, "exported session in-use to "+file) {
		t.Errorf("export -o: exit %d %s", code, errOut)
	}
	if b, err := os.ReadFile(file); err != nil || !strings.HasPrefix(string(b), "# still talking\n") {
		t.Errorf("the exported file: %q, %v", b, err)
	}
	if out, _, code := runSessionsCLI(home, "sessions", "export", "in-use", "-o", filepath.Join(home, "no-dir", "x.md")); code != 1 || !strings.HasPrefix(out, "✗ exporting session in-use") || strings.Count(out, "\n") != 1 {
		t.Errorf("export into a missing directory: exit %d %q", code, out)
	}
}
