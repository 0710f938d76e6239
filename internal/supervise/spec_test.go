package supervise

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name    string
		spec    Spec
		wantErr string
		check   func(Spec) string
	}{
		{name: "defaults", spec: Spec{Name: "web", Argv: []string{"srv"}}, check: func(s Spec) string {
			if s.Restart != RestartOnFailure || s.StopSignal != "SIGTERM" || time.Duration(s.StopGrace) != 5*time.Second ||
				len(s.NoRestartExitCodes) != 1 || s.NoRestartExitCodes[0] != 78 || s.Dir != "/h" ||
				s.LogFile != "/h/logs/web/current" || s.LogMaxBytes != 1_000_000 || s.LogKeep != 10 {
				return "defaults not applied"
			}
			return ""
		}},
		{name: "explicit empty exit codes kept", spec: Spec{Name: "a", Argv: []string{"x"}, NoRestartExitCodes: []int{}}, check: func(s Spec) string {
			if len(s.NoRestartExitCodes) != 0 {
				return "empty list replaced"
			}
			return ""
		}},
		{name: "relative dir and log under home", spec: Spec{Name: "a", Argv: []string{"x"}, Dir: "work", LogFile: "logs/a.log"}, check: func(s Spec) string {
			if s.Dir != "/h/work" || s.LogFile != "/h/logs/a.log" {
				return "relative paths not joined to home"
			}
			return ""
		}},
		{name: "signal spellings", spec: Spec{Name: "a", Argv: []string{"x"}, StopSignal: "int"}, check: func(s Spec) string {
			if s.StopSignal != "SIGINT" {
				return "got " + s.StopSignal
			}
			return ""
		}},
		{name: "bad name", spec: Spec{Name: "Web", Argv: []string{"x"}}, wantErr: "must match"},
		{name: "name too long", spec: Spec{Name: strings.Repeat("a", 65), Argv: []string{"x"}}, wantErr: "must match"},
		{name: "no argv", spec: Spec{Name: "a"}, wantErr: "argv"},
		{name: "NUL in argv", spec: Spec{Name: "a", Argv: []string{"x\x00y"}}, wantErr: "NUL"},
		{name: "bad env key", spec: Spec{Name: "a", Argv: []string{"x"}, Env: map[string]string{"A=B": "c"}}, wantErr: "environment"},
		{name: "bad restart", spec: Spec{Name: "a", Argv: []string{"x"}, Restart: "sometimes"}, wantErr: "restart"},
		{name: "bad signal", spec: Spec{Name: "a", Argv: []string{"x"}, StopSignal: "SIGFOO"}, wantErr: "unknown signal"},
		{name: "negative grace", spec: Spec{Name: "a", Argv: []string{"x"}, StopGrace: Duration(-time.Second)}, wantErr: "stop_grace"},
		{name: "exit code range", spec: Spec{Name: "a", Argv: []string{"x"}, NoRestartExitCodes: []int{256}}, wantErr: "0..255"},
		{name: "tiny log", spec: Spec{Name: "a", Argv: []string{"x"}, LogMaxBytes: 10}, wantErr: "log_max_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.spec.Normalize("/h")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("Normalize: err = %v, want ErrInvalid mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(got); msg != "" {
				t.Errorf("%s: %+v", msg, got)
			}
		})
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want syscall.Signal
		err  bool
	}{
		{"", syscall.SIGTERM, false},
		{"TERM", syscall.SIGTERM, false},
		{"sigint", syscall.SIGINT, false},
		{"HUP", syscall.SIGHUP, false},
		{"9", syscall.SIGKILL, false},
		{"0", 0, true},
		{"65", 0, true},
		{"BOGUS", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSignal(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestResolveUser(t *testing.T) {
	dir := t.TempDir()
	passwdFile = filepath.Join(dir, "passwd")
	t.Cleanup(func() { passwdFile = "/etc/passwd" })
	os.WriteFile(passwdFile, []byte("root:x:0:0::/root:/bin/sh\nalice:x:1500:1600::/home/alice:/bin/sh\n"), 0o644)
	tests := []struct {
		user     string
		uid, gid int
		err      bool
	}{
		{"", 10000, 10001, false},
		{"hermes", 10000, 10001, false},
		{"root", 0, 0, false},
		{"alice", 1500, 1600, false},
		{"10000", 10000, 10001, false},
		{"2000", 2000, 2000, false},
		{"2000:3000", 2000, 3000, false},
		{"nobody-here", 0, 0, true},
		{"1:x", 0, 0, true},
		{"-1", 0, 0, true},
	}
	for _, tt := range tests {
		uid, gid, err := ResolveUser(tt.user, 10000, 10001)
		if (err != nil) != tt.err || uid != tt.uid || gid != tt.gid {
			t.Errorf("ResolveUser(%q) = %d:%d, %v; want %d:%d (error %v)", tt.user, uid, gid, err, tt.uid, tt.gid, tt.err)
		}
	}
}

func TestParseSpecFile(t *testing.T) {
	tests := []struct {
		file, data string
		wantName   string
		wantErr    string
	}{
		{"web.yaml", "argv: [srv, --port, '8080']\nrestart: always\nstop_grace: 6s\n", "web", ""},
		{"x.yaml", "name: other\nargv: [srv]\n", "other", ""},
		{"j.json", `{"argv": ["srv"], "env": {"A": "1"}}`, "j", ""},
		{"typo.yaml", "argv: [srv]\nrestrat: always\n", "", "restrat"},
		{"empty.yaml", "", "", "empty"},
		{"two.yaml", "argv: [a]\n---\nargv: [b]\n", "", "one service per file"},
		{"Bad.yaml", "argv: [a]\n", "", "must match"},
		{"grace.yaml", "argv: [a]\nstop_grace: soon\n", "", "stop_grace"},
	}
	for _, tt := range tests {
		sp, err := ParseSpecFile(tt.file, []byte(tt.data))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want one mentioning %q", tt.file, err, tt.wantErr)
			}
			continue
		}
		if err != nil || sp.Name != tt.wantName {
			t.Errorf("%s: got %q, %v; want %q", tt.file, sp.Name, err, tt.wantName)
		}
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "b.yaml"), []byte("argv: [b]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "a.yml"), []byte("argv: [a]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("not a service"), 0o644)
	os.WriteFile(filepath.Join(dir, ".hidden.yaml"), []byte("argv: [h]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "dup.yaml"), []byte("name: a\nargv: [d]\n"), 0o644)
	specs, err := LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), "already declared") {
		t.Errorf("LoadDir: err = %v, want the duplicate reported", err)
	}
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "a,b" {
		t.Errorf("LoadDir names = %s, want a,b (lexical, good files kept)", got)
	}
	if specs, err := LoadDir(filepath.Join(dir, "missing")); err != nil || specs != nil {
		t.Errorf("missing dir: %v, %v; want no services and no error", specs, err)
	}
}

func FuzzParseSpecFile(f *testing.F) {
	for _, s := range []string{
		"argv: [srv]\n", "name: x\nargv: [a, b]\nenv: {A: '1'}\nrestart: never\n",
		`{"argv": ["a"], "stop_grace": "1s", "no_restart_exit_codes": [78, 1]}`,
		"argv: [a]\n---\nargv: [b]\n", "argv: !!binary aGk=\n", "{", "argv: [a]\nlog_keep: -3\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		sp, err := ParseSpecFile("fuzz.yaml", []byte(data))
		if err != nil {
			return
		}
		if ValidName(sp.Name) != nil {
			t.Fatalf("accepted an invalid name %q", sp.Name)
		}
		n, err := sp.Normalize("/h")
		if err == nil && (n.LogKeep < 1 || n.LogMaxBytes < 4096 || len(n.Argv) == 0) {
			t.Fatalf("Normalize accepted %+v", n)
		}
	})
}

// TestReserved: the runtime's names are the ones the wiring hands over in
// Config.Reserved; without them, none.
func TestReserved(t *testing.T) {
	only := New(Config{Reserved: func(name string) bool { return name == "mine" }})
	none := New(Config{})
	for _, tt := range []struct {
		s    *Supervisor
		name string
		want bool
	}{
		{only, "mine", true}, {only, "dashboard", false}, {only, "web", false},
		{none, "dashboard", false}, {none, "gateway-x", false},
	} {
		if got := tt.s.Reserved(tt.name); got != tt.want {
			t.Errorf("Reserved(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestLimitsRefused: a spec naming memory_max or cpu_max, from a service
// file or the control API's JSON, in any form, is refused at registration
// (Normalize) with a message saying so, never run without its limit.
func TestLimitsRefused(t *testing.T) {
	for _, tc := range []struct{ name, file, data, key string }{
		{"yaml memory", "m.yaml", "argv: [a]\nmemory_max: 512M\n", "memory_max"},
		{"yaml cpu", "c.yaml", "argv: [a]\ncpu_max: 0.5\n", "cpu_max"},
		{"yaml map", "c.yaml", "argv: [a]\ncpu_max: {quota: 50000}\n", "cpu_max"},
		{"json number", "j.json", `{"argv": ["a"], "memory_max": 536870912}`, "memory_max"},
		{"json string", "j.json", `{"argv": ["a"], "cpu_max": "50%"}`, "cpu_max"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fromFile, err := ParseSpecFile(tc.file, []byte(tc.data))
			if err != nil {
				t.Fatalf("ParseSpecFile: %v", err)
			}
			var fromAPI Spec
			if strings.HasSuffix(tc.file, ".json") {
				if err := json.Unmarshal([]byte(tc.data), &fromAPI); err != nil {
					t.Fatal(err)
				}
				fromAPI.Name = "j"
			} else {
				fromAPI = fromFile
			}
			for _, sp := range []Spec{fromFile, fromAPI} {
				_, err := sp.Normalize("/home/hermes")
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.key+" is not supported yet") {
					t.Errorf("Normalize = %v, want ErrInvalid saying %s is not supported yet", err, tc.key)
				}
			}
		})
	}
	if _, err := (Spec{Name: "ok", Argv: []string{"a"}}).Normalize("/home/hermes"); err != nil {
		t.Errorf("a spec without limits: %v", err)
	}
}

// TestValidNameMatchesItsPattern: the hand-written check agrees with the
// pattern it documents, on every short string over a small alphabet and on
// the length bounds.
func TestValidNameMatchesItsPattern(t *testing.T) {
	re := regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
	alphabet := []byte("az09_.-A/ ")
	var gen func(prefix []byte, n int)
	gen = func(prefix []byte, n int) {
		s := string(prefix)
		if got, want := validName(s), re.MatchString(s); got != want {
			t.Errorf("validName(%q) = %v, want %v", s, got, want)
		}
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			gen(append(prefix, c), n-1)
		}
	}
	gen(nil, 3)
	for _, n := range []int{63, 64, 65} {
		s := strings.Repeat("a", n)
		if got, want := validName(s), re.MatchString(s); got != want {
			t.Errorf("validName(%d a's) = %v, want %v", n, got, want)
		}
	}
}
