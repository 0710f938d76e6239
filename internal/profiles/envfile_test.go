package profiles

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// TestEnvDocEdits: Set and Unset change only their variable's lines;
// every comment, blank line and other variable stays, in order.
func TestEnvDocEdits(t *testing.T) {
	const in = "# secrets\n\nexport A=1   # the first\nB='two words'\n# about C\nC=3\nA=dup\n"
	for _, tc := range []struct {
		name string
		edit func(d *EnvDoc) error
		want string
	}{
		{"set existing (its last line rewritten, the others go)", func(d *EnvDoc) error { return d.Set("A", "9") },
			"# secrets\n\nB='two words'\n# about C\nC=3\nA=9\n"},
		{"set new", func(d *EnvDoc) error { return d.Set("OPENROUTER_API_KEY", "sk-or-test") },
			in + "OPENROUTER_API_KEY=sk-or-test\n"},
		{"set quoted", func(d *EnvDoc) error { return d.Set("C", "a b#c\"$\n") },
			"# secrets\n\nexport A=1   # the first\nB='two words'\n# about C\nC=\"a b#c\\\"\\$\\n\"\nA=dup\n"},
		{"unset", func(d *EnvDoc) error {
			if !d.Unset("A") {
				return errors.New("A not found")
			}
			return nil
		}, "# secrets\n\nB='two words'\n# about C\nC=3\n"},
		{"bad name", func(d *EnvDoc) error { return d.Set("lower-case", "x") }, ""},
		{"NUL", func(d *EnvDoc) error { return d.Set("A", "x\x00y") }, ""},
	} {
		d, err := ParseEnvDoc(".env", []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		err = tc.edit(d)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s: no error", tc.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := string(d.Bytes()); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
		if _, err := ParseEnv(d.Bytes()); err != nil {
			t.Errorf("%s: the result does not parse: %v", tc.name, err)
		}
	}
}

// TestEnvDocBrokenLine: a broken line is named with its number, and the
// document is refused.
func TestEnvDocBrokenLine(t *testing.T) {
	_, err := ParseEnvDoc("/x/.env", []byte("A=1\n# c\nnot a pair\n"))
	if err == nil || !errors.Is(err, ErrEnvSyntax) || !strings.Contains(err.Error(), "/x/.env line 3") {
		t.Errorf("err = %v, want ErrEnvSyntax naming /x/.env line 3", err)
	}
	// A pasted key on a line of its own (base64, ending in '=') is never
	// quoted: the error goes to a terminal and to the gateway's log.
	for _, line := range []string{"sk-or-v1-secretvalue", "c2Vj/cmV0dmFsdWUx=="} {
		_, err := ParseEnvDoc(".env", []byte(line+"\n"))
		if err == nil || strings.Contains(err.Error(), "secretvalue") || strings.Contains(err.Error(), "c2VjcmV0") {
			t.Errorf("%q: %v", line, err)
		}
	}
}

func TestCheckEnvName(t *testing.T) {
	for _, tc := range []struct {
		name, says string
	}{
		{"OPENROUTER_API_KEY", ""}, {"_X", ""}, {"A1", ""},
		{"openrouter-api-key", "such as OPENROUTER_API_KEY"}, {"1A", "not starting with a digit"}, {"", "such as"}, {"A B", "such as"},
	} {
		err := CheckEnvName(tc.name)
		switch {
		case tc.says == "" && err != nil:
			t.Errorf("%q: %v", tc.name, err)
		case tc.says != "" && (err == nil || !errors.Is(err, ErrEnvName) || !strings.Contains(err.Error(), tc.says)):
			t.Errorf("%q: %v, want ErrEnvName saying %q", tc.name, err, tc.says)
		}
	}
}

func TestMaskAndFingerprint(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""}, {"short", "********"}, {"sk-or-v1-0123456789abcdef", "…cdef"}, {"sk-or-v1-0123456789abcdef0123456789", "sk-…6789"},
	} {
		if got := Mask(tc.in); got != tc.want {
			t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// sha256("abc") starts with ba7816bf8f01.
	if got := Fingerprint("abc"); got != "sha256:ba7816bf8f01" {
		t.Errorf("Fingerprint = %q", got)
	}
}

// TestEnvSetConcurrent: many EnvSet at once, from other processes too,
// all land (the profiles lock), and the file stays 0600.
func TestEnvSetConcurrent(t *testing.T) {
	home := t.TempDir()
	if err := Create(MustParse(home, "coder")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- EnvSet(MustParse(home, "coder"), fmt.Sprintf("VAR_%d", i), fmt.Sprint(i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	m, err := ReadEnv(EnvPath(MustParse(home, "coder")))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if m[fmt.Sprintf("VAR_%d", i)] != fmt.Sprint(i) {
			t.Errorf("VAR_%d = %q: lost", i, m[fmt.Sprintf("VAR_%d", i)])
		}
	}
	if m[APIKeyVar] == "" {
		t.Errorf("API_SERVER_KEY lost")
	}
	if got := mode(t, EnvPath(MustParse(home, "coder"))); got != EnvMode {
		t.Errorf("mode %v", got)
	}
}

// TestEnvEditRefusals: a broken file, an unknown profile, an unset of a
// missing variable: refused, the file byte for byte as it was.
func TestEnvEditRefusals(t *testing.T) {
	home := t.TempDir()
	if err := Create(MustParse(home, "coder")); err != nil {
		t.Fatal(err)
	}
	path := EnvPath(MustParse(home, "coder"))
	broken := "API_SERVER_KEY=0123456789abcdef0123\nthis is not a pair\n"
	writeFile(t, path, broken)
	if err := EnvSet(MustParse(home, "coder"), "A", "1"); !errors.Is(err, ErrEnvSyntax) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("broken: %v", err)
	}
	if err := EnvUnset(MustParse(home, "coder"), "MISSING"); !errors.Is(err, ErrEnvSyntax) {
		t.Errorf("broken unset: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != broken {
		t.Errorf("broken file changed: %q", b)
	}
	writeFile(t, path, "A=1\n")
	if err := EnvUnset(MustParse(home, "coder"), "MISSING"); !errors.Is(err, ErrEnvNotSet) {
		t.Errorf("missing: %v", err)
	}
	if err := EnvSet(MustParse(home, "nosuch"), "A", "1"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("no profile: %v", err)
	}
	if err := EnvSet(MustParse(home, "coder"), "bad-name", "1"); !errors.Is(err, ErrEnvName) {
		t.Errorf("bad name: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "A=1\n" {
		t.Errorf("file changed: %q", b)
	}
}

// TestEnvRotate: a fresh key, different from the old one, the rest kept.
func TestEnvRotate(t *testing.T) {
	home := t.TempDir()
	if err := Create(MustParse(home, "coder")); err != nil {
		t.Fatal(err)
	}
	old, _ := ReadEnv(EnvPath(MustParse(home, "coder")))
	key, err := EnvRotateAPIKey(MustParse(home, "coder"))
	if err != nil {
		t.Fatal(err)
	}
	now, _ := ReadEnv(EnvPath(MustParse(home, "coder")))
	if key == old[APIKeyVar] || now[APIKeyVar] != key || CheckAPIKey(key) != nil {
		t.Errorf("old %q, rotated %q, file %q", old[APIKeyVar], key, now[APIKeyVar])
	}
	b, _ := os.ReadFile(EnvPath(MustParse(home, "coder")))
	if !strings.HasPrefix(string(b), "# secrets") {
		t.Errorf("comment lost: %q", b)
	}
}

// TestEnvSetAsRootOwner: as root the new .env is the hermes uid's.
func TestEnvSetAsRootOwner(t *testing.T) {
	testenv.NeedRoot(t, "chown to the hermes uid")
	home := t.TempDir()
	if err := Create(MustParse(home, "coder")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HERMES_UID", "4242")
	t.Setenv("HERMES_GID", "4343")
	if err := EnvSet(MustParse(home, "coder"), "A", "1"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(EnvPath(MustParse(home, "coder")))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 4242 || st.Gid != 4343 || fi.Mode().Perm() != EnvMode {
		t.Errorf("owner %d:%d mode %v, want 4242:4343 0600", st.Uid, st.Gid, fi.Mode())
	}
	// A planted link is refused, never followed.
	outside := filepath.Join(t.TempDir(), "target")
	writeFile(t, outside, "X=1\n")
	os.Remove(EnvPath(MustParse(home, "coder")))
	if err := os.Symlink(outside, EnvPath(MustParse(home, "coder"))); err != nil {
		t.Fatal(err)
	}
	if err := EnvSet(MustParse(home, "coder"), "A", "2"); err == nil {
		t.Errorf("a symlinked .env was written through")
	}
	if b, _ := os.ReadFile(outside); string(b) != "X=1\n" {
		t.Errorf("target changed: %q", b)
	}
}

// TestEnvVars: the variables hermes reads first, masked; the rest after.
func TestEnvVars(t *testing.T) {
	home := t.TempDir()
	if err := Create(MustParse(home, "coder")); err != nil {
		t.Fatal(err)
	}
	c, _ := LoadProfileConfig(MustParse(home, "coder"))
	if err := c.Set(KeyModelAPIKeyEnv, "OPENROUTER_API_KEY"); err != nil {
		t.Fatal(err)
	}
	WriteConfig(home, ConfigPath(MustParse(home, "coder")), c)
	EnvSet(MustParse(home, "coder"), "OTHER", "plain")
	vars, err := EnvVars(MustParse(home, "coder"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vars {
		got = append(got, fmt.Sprintf("%s set=%v %v %s pw=%v", v.Name, v.IsSet, v.RedactedValue != "", v.Category, v.IsPassword))
	}
	want := []string{"API_SERVER_KEY set=true true gateway pw=true", "OPENROUTER_API_KEY set=false false model pw=true", "OTHER set=true true other pw=false"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// FuzzEnvDocSet: whatever value Set writes reads back as that value, and
// the other lines stay.
func FuzzEnvDocSet(f *testing.F) {
	f.Add("A=1\n# c\n", "x y")
	f.Add("", "\"quoted\"\\$")
	f.Add("export B='q'\n", "a\nb\tc\r")
	f.Fuzz(func(t *testing.T, in, value string) {
		d, err := ParseEnvDoc(".env", []byte(in))
		if err != nil {
			return
		}
		before := d.Map()
		if d.Set("FUZZ_VAR", value) != nil {
			return
		}
		got, err := ParseEnv(d.Bytes())
		if err != nil {
			t.Fatalf("Set(%q) on %q wrote %q, which does not parse: %v", value, in, d.Bytes(), err)
		}
		if got["FUZZ_VAR"] != strings.TrimSpace(value) && got["FUZZ_VAR"] != value {
			t.Fatalf("Set(%q) reads back %q from %q", value, got["FUZZ_VAR"], d.Bytes())
		}
		for k, v := range before {
			if k != "FUZZ_VAR" && got[k] != v {
				t.Fatalf("%s changed from %q to %q", k, v, got[k])
			}
		}
	})
}
