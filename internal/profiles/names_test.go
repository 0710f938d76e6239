package profiles

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// nameRE is the rule of CONTRACT §1 rule 5, written independently of
// Validate.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Accepted and rejected names: the reference's scenario 47 and §6 tables,
// with the 64-character limit and the reserved names of the contract.
var (
	acceptedNames = []string{"coder", "my-profile", "assistant_v2", "a", "0", "0abc", "default",
		"a-", "z_", "9-9", strings.Repeat("a", 64), "hermes2", "tests"}
	rejectedNames = []struct{ name, says string }{
		{"", "a name is needed"},
		{"Coder", `try "coder"`},
		{"cODER", "lower-case"},
		{"foo/bar", `'/' is not allowed`},
		{"../escape", `'.' is not allowed`},
		{"-lead", "must start with a lower-case letter or a digit"},
		{"_lead", "must start with a lower-case letter or a digit"},
		{"a b", "a space"},
		{" coder", "a space"},
		{"coder ", "a space"},
		{"a\tb", "white space"},
		{"a\nb", "white space"},
		{"a.b", `'.'`},
		{".", `'.'`},
		{"..", `'.'`},
		{strings.Repeat("a", 65), "65 characters long, at most 64"},
		{strings.Repeat("a", 252), "252 characters long"},
		{"hermes", "reserved"},
		{"test", "reserved"},
		{"tmp", "reserved"},
		{"root", "reserved"},
		{"sudo", "reserved"},
		{"café", "non-ASCII"},
		{"a\x00b", "control character"},
		{"a:b", `":"`},
		{"a@b", `"@"`},
	}
)

func TestValidate(t *testing.T) {
	for _, name := range acceptedNames {
		if err := Validate(name); err != nil {
			t.Errorf("Validate(%q) = %v, want nil", name, err)
		}
	}
	for _, tc := range rejectedNames {
		err := Validate(tc.name)
		if err == nil {
			t.Errorf("Validate(%q) = nil, want an error", tc.name)
			continue
		}
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("Validate(%q) = %v, does not wrap ErrInvalidName", tc.name, err)
		}
		if got, want := err.Error(), tc.says; !strings.Contains(got, want) {
			t.Errorf("Validate(%q) = %q, want it to say %q", tc.name, got, want)
		}
	}
}

func TestValidateNamed(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"default", false}, {"coder", true}, {"Coder", false}, {"", false}, {"root", false}, {"default2", true},
	} {
		err := ValidateNamed(tc.name)
		if got, want := err == nil, tc.ok; got != want {
			t.Errorf("ValidateNamed(%q) = %v, want ok=%v", tc.name, err, want)
		}
	}
	if err := ValidateNamed(Default); err == nil || !strings.Contains(err.Error(), "root profile") {
		t.Errorf("ValidateNamed(default) = %v, want it to say that default is the root profile", err)
	}
}

// Every suggestion a message makes is a name that Validate accepts.
func TestSuggestionsAreValid(t *testing.T) {
	for _, tc := range rejectedNames {
		if got := suggest(tc.name); ValidateNamed(got) != nil {
			t.Errorf("suggest(%q) = %q, which is not a valid name: %v", tc.name, got, ValidateNamed(got))
		}
	}
}

func FuzzValidate(f *testing.F) {
	for _, n := range acceptedNames {
		f.Add(n)
	}
	for _, tc := range rejectedNames {
		f.Add(tc.name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := Validate(name)
		if err == nil {
			if !nameRE.MatchString(name) || IsReserved(name) {
				t.Fatalf("Validate(%q) accepted a name outside the rule", name)
			}
		} else if nameRE.MatchString(name) && !IsReserved(name) {
			t.Fatalf("Validate(%q) = %v, but the name follows the rule", name, err)
		}
		if err := ValidateNamed(name); err == nil && name == Default {
			t.Fatal("ValidateNamed accepted default")
		}
		if s := suggest(name); ValidateNamed(s) != nil {
			t.Fatalf("suggest(%q) = %q, invalid", name, s)
		}
	})
}

func TestDirs(t *testing.T) {
	for _, tc := range []struct{ name, dir, logs string }{
		{"default", "/h", "/h/logs/gateways/default"},
		{"coder", "/h/profiles/coder", "/h/logs/gateways/coder"},
	} {
		if got, want := MustParse("/h", tc.name).Dir(), tc.dir; got != want {
			t.Errorf("Dir(/h, %s) = %q, want %q", tc.name, got, want)
		}
		if got, want := LogDir(MustParse("/h", tc.name)), tc.logs; got != want {
			t.Errorf("LogDir(/h, %s) = %q, want %q", tc.name, got, want)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// refNames is the names of refs, in order.
func refNames(refs []Ref) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Name())
	}
	return out
}

func TestExistsAndList(t *testing.T) {
	home := t.TempDir()
	if got, err := List(home); err != nil || !reflect.DeepEqual(refNames(got), []string{"default"}) {
		t.Errorf("List(empty home) = %v, %v; want [default]", got, err)
	}
	writeFile(t, filepath.Join(home, "profiles/zeta/SOUL.md"), "z")
	writeFile(t, filepath.Join(home, "profiles/alpha/SOUL.md"), "a")
	writeFile(t, filepath.Join(home, "profiles/nosoul/config.yaml"), "") // no marker
	writeFile(t, filepath.Join(home, "profiles/Upper/SOUL.md"), "")      // invalid name
	writeFile(t, filepath.Join(home, "profiles/default/SOUL.md"), "")    // not a named profile
	writeFile(t, filepath.Join(home, "profiles/root/SOUL.md"), "")       // reserved
	writeFile(t, filepath.Join(home, "profiles/file-not-dir"), "")       // a file
	if err := os.Symlink("/nonexistent", filepath.Join(home, "profiles/link")); err != nil {
		t.Fatal(err)
	}
	got, err := List(home)
	if want := []string{"default", "alpha", "zeta"}; err != nil || !reflect.DeepEqual(refNames(got), want) {
		t.Errorf("List = %v, %v; want %v", got, err, want)
	}
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"alpha", true}, {"zeta", true}, {"nosoul", false}, {"missing", false}, {"Upper", false},
		{"default", false}, {"../profiles/alpha", false},
	} {
		r, err := Parse(home, tc.name) // an invalid name is no Ref, so never exists
		if got := err == nil && Exists(r); got != tc.want {
			t.Errorf("Exists(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
	writeFile(t, filepath.Join(home, "SOUL.md"), "root")
	if !Exists(MustParse(home, Default)) {
		t.Error("Exists(default) = false with home/SOUL.md present")
	}
}

func TestResolveAndSetActive(t *testing.T) {
	home := t.TempDir()
	writeFile(t, filepath.Join(home, "profiles/coder/SOUL.md"), "c")
	active := filepath.Join(home, "active_profile")
	steps := []struct {
		do      func() error
		flag    string
		want    string
		wantErr string
	}{
		{want: "default"},
		{flag: "coder", want: "coder"},
		{flag: "Coder", wantErr: `-p Coder: invalid profile name "Coder"`},
		{do: func() error { return SetActive(MustParse(home, "coder")) }, want: "coder"},
		{flag: "default", want: "default"},
		{do: func() error { return SetActive(MustParse(home, "default")) }, want: "default"},
		{do: func() error { return os.WriteFile(active, []byte("  coder\n"), 0o644) }, want: "coder"},
		{do: func() error { return os.WriteFile(active, []byte("\n"), 0o644) }, want: "default"},
		{do: func() error { return os.WriteFile(active, []byte("../x\n"), 0o644) }, wantErr: "hermes profile use default"},
	}
	for i, s := range steps {
		if s.do != nil {
			if err := s.do(); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
		got, err := Resolve(home, s.flag)
		if s.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), s.wantErr) {
				t.Errorf("step %d: Resolve = %q, %v; want an error containing %q", i, got, err, s.wantErr)
			}
			continue
		}
		if err != nil || got.Name() != s.want {
			t.Errorf("step %d: Resolve(%q) = %q, %v; want %q", i, s.flag, got, err, s.want)
		}
	}
	if err := SetActive(MustParse(home, "ghost")); err == nil || !strings.Contains(err.Error(), "hermes profile create ghost") {
		t.Errorf("SetActive(ghost) = %v, want a does-not-exist error with the fix", err)
	}
	if _, err := Parse(home, "Bad"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Parse(Bad) = %v, want ErrInvalidName", err)
	}
	if err := SetActive(MustParse(home, "default")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(active); !os.IsNotExist(err) {
		t.Errorf("SetActive(default) left %s: %v", active, err)
	}
}
