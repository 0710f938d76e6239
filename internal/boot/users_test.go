package boot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/hostenv"
)

const (
	testPasswd = "root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\nhermes:x:10000:10000:hermes:/opt/data:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin"
	testGroup  = "root:x:0:\nusers:x:100:\nhermes:x:10000:\n"
)

// TestRemapUser: the hermes lines of passwd and group, and only they, are
// rewritten to the remapped ids; a gid of another group is allowed, a uid
// of another user refused; what cannot be done is one line and the files
// stay as they were.
func TestRemapUser(t *testing.T) {
	tests := []struct {
		name       string
		uid, gid   int
		notRoot    bool
		link       bool // passwd is a symlink
		wantErr    string
		wantPasswd string
		wantGroup  string
		wantLine   string // on stderr; "" for nothing
	}{
		{name: "remapped", uid: 1000, gid: 1000,
			wantPasswd: strings.Replace(testPasswd, "hermes:x:10000:10000:", "hermes:x:1000:1000:", 1),
			wantGroup:  strings.Replace(testGroup, "hermes:x:10000:", "hermes:x:1000:", 1),
			wantLine:   "the hermes user is now 1000:1000"},
		{name: "gid of another group", uid: 1000, gid: 100,
			wantPasswd: strings.Replace(testPasswd, "hermes:x:10000:10000:", "hermes:x:1000:100:", 1),
			wantGroup:  strings.Replace(testGroup, "hermes:x:10000:", "hermes:x:100:", 1),
			wantLine:   "the hermes user is now 1000:100"},
		{name: "the image's ids", uid: 10000, gid: 10000, wantPasswd: testPasswd, wantGroup: testGroup},
		{name: "uid of another user", uid: 33, gid: 33, wantErr: `PUID=33 is the uid of the user "www-data"`, wantPasswd: testPasswd, wantGroup: testGroup},
		{name: "not root", uid: 1000, gid: 1000, notRoot: true, wantPasswd: testPasswd, wantGroup: testGroup,
			wantLine: "not rewritten (init is not root)"},
		{name: "passwd is a symlink", uid: 1000, gid: 1000, link: true, wantPasswd: testPasswd, wantGroup: testGroup,
			wantLine: "passwd not rewritten for the remapped hermes user (1000:1000, PUID): it is a symbolic link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			etc := t.TempDir()
			passwd := filepath.Join(etc, "passwd")
			if tt.link {
				passwd = filepath.Join(t.TempDir(), "real-passwd")
				if err := os.Symlink(passwd, filepath.Join(etc, "passwd")); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(passwd, []byte(testPasswd), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(etc, "group"), []byte(testGroup), 0o644); err != nil {
				t.Fatal(err)
			}
			stderr, err := os.CreateTemp(t.TempDir(), "stderr")
			if err != nil {
				t.Fatal(err)
			}
			defer stderr.Close()
			b := &boot{stderr: stderr, root: !tt.notRoot, ids: hostenv.IDs{UID: tt.uid, GID: tt.gid, Source: "PUID"}}
			err = b.remapUser(etc)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("remapUser = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("remapUser = %v, want an error saying %q", err, tt.wantErr)
			}
			for _, f := range []struct{ path, want string }{{passwd, tt.wantPasswd}, {filepath.Join(etc, "group"), tt.wantGroup}} {
				got, err := os.ReadFile(f.path)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != f.want {
					t.Errorf("%s =\n%s\nwant\n%s", filepath.Base(f.path), got, f.want)
				}
				if fi, _ := os.Stat(f.path); fi.Mode().Perm() != 0o644 {
					t.Errorf("%s mode %v, want 0644 kept", f.path, fi.Mode().Perm())
				}
			}
			out, _ := os.ReadFile(stderr.Name())
			lines := strings.Count(string(out), "\n")
			switch {
			case tt.wantLine == "" && len(out) > 0:
				t.Errorf("stderr = %q, want nothing", out)
			case tt.wantLine != "" && (lines != 1 || !strings.Contains(string(out), tt.wantLine)):
				t.Errorf("stderr = %q, want one line saying %q", out, tt.wantLine)
			}
			if entries, _ := os.ReadDir(etc); len(entries) != 2 {
				t.Errorf("etc holds %d entries after the rewrite, want passwd and group alone (a temporary file left?)", len(entries))
			}
		})
	}
}

// FuzzAccounts: an accounts file splits into lines that join back to it
// byte for byte, and rewriting the hermes line changes that line alone.
func FuzzAccounts(f *testing.F) {
	f.Add([]byte(testPasswd))
	f.Add([]byte(testGroup))
	f.Add([]byte("hermes:x:1\n\nhermes"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a := parseAccounts(data)
		var joined []byte
		for _, l := range a.lines {
			joined = append(joined, l...)
		}
		if string(joined) != string(data) {
			t.Fatalf("lines join to %q, want %q", joined, data)
		}
		i, _ := a.find(imageUser)
		if i < 0 {
			return
		}
		out := parseAccounts(a.set(i, map[int]string{2: "1000"}))
		if len(out.lines) != len(a.lines) {
			t.Fatalf("the rewrite made %d lines of %d", len(out.lines), len(a.lines))
		}
		for j := range a.lines {
			if j != i && string(out.lines[j]) != string(a.lines[j]) {
				t.Fatalf("line %d changed: %q → %q", j, a.lines[j], out.lines[j])
			}
		}
		if _, f := out.find(imageUser); len(f) < 3 || f[2] != "1000" {
			t.Fatalf("the hermes line after the rewrite: %q", f)
		}
	})
}
