package profiles

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseEnv(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]string
		errSays  string
	}{
		{"empty", "", map[string]string{}, ""},
		{"plain", "A=1\nB=two words\n", map[string]string{"A": "1", "B": "two words"}, ""},
		{"comments and blanks", "# c\n\n  # indented\nA=1 # trailing\nB=x#notacomment\n", map[string]string{"A": "1", "B": "x#notacomment"}, ""},
		{"export", "export A=1\nexport\tB=2\nexported=3\n", map[string]string{"A": "1", "B": "2", "exported": "3"}, ""},
		{"spaces around", "  A = 1  \n", map[string]string{"A": "1"}, ""},
		{"double quotes", `A="x y # z"` + "\n" + `B="a\nb\"c\\"` + "\n", map[string]string{"A": "x y # z", "B": "a\nb\"c\\"}, ""},
		{"single quotes", `A='x\ny "z"' # c` + "\n", map[string]string{"A": `x\ny "z"`}, ""},
		{"empty values", "A=\nB=''\nC=\"\"\n", map[string]string{"A": "", "B": "", "C": ""}, ""},
		{"equals in value", "A=b=c\n", map[string]string{"A": "b=c"}, ""},
		{"later wins", "A=1\nA=2\n", map[string]string{"A": "2"}, ""},
		{"CRLF and BOM", "\ufeffA=1\r\nB=2\r\n", map[string]string{"A": "1", "B": "2"}, ""},
		{"no newline at end", "API_SERVER_KEY=abc", map[string]string{"API_SERVER_KEY": "abc"}, ""},
		{"bad lines kept out", "A=1\nnot a pair\n2X=1\nB=2\n", map[string]string{"A": "1", "B": "2"}, "line 2"},
		{"bad name", "A-B=1\n", map[string]string{}, "is not a variable name"},
		{"unterminated", "A=\"x\n", map[string]string{}, "unterminated double quote"},
		{"unterminated single", "A='x\n", map[string]string{}, "unterminated single quote"},
		{"text after quote", "A=\"x\" y\n", map[string]string{}, "after the closing quote"},
	} {
		got, err := ParseEnv([]byte(tc.in))
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: ParseEnv = %q, want %q", tc.name, got, tc.want)
		}
		switch {
		case tc.errSays == "" && err != nil:
			t.Errorf("%s: error %v", tc.name, err)
		case tc.errSays != "" && (err == nil || !strings.Contains(err.Error(), tc.errSays)):
			t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.errSays)
		}
	}
}

func TestReadEnv(t *testing.T) {
	dir := t.TempDir()
	got, err := ReadEnv(filepath.Join(dir, "missing"))
	if err != nil || len(got) != 0 {
		t.Errorf("missing: %v, %v; want empty, nil", got, err)
	}
	path := filepath.Join(dir, ".env")
	writeFile(t, path, string(EnvFile("k3y")))
	if got, err := ReadEnv(path); err != nil || !reflect.DeepEqual(got, map[string]string{"API_SERVER_KEY": "k3y"}) {
		t.Errorf("EnvFile round trip: %v, %v", got, err)
	}
	writeFile(t, path, "oops\n")
	if _, err := ReadEnv(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("bad line: %v, want an error naming %s", err, path)
	}
}

func FuzzReadEnv(f *testing.F) {
	for _, s := range []string{"", "A=1\n", "export A='x'\n", `A="a\"b"`, "A=\"x", "# c\nB = 2 # c\n", "\ufeffA=1\r\n", string(EnvFile("k"))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m, _ := ParseEnv([]byte(in))
		for k := range m {
			if !isEnvName(k) {
				t.Fatalf("key %q is not a variable name", k)
			}
		}
		// A value written the way EnvFile writes it (no quotes, nothing
		// a parser trims or takes for a comment) reads back.
		if strings.ContainsAny(in, "\n\r\"'#\\ \t") || in == "" || strings.TrimSpace(in) != in {
			return
		}
		if got, err := ParseEnv([]byte("K=" + in + "\n")); err != nil || got["K"] != in {
			t.Fatalf("K=%s read back as %q, %v", in, got["K"], err)
		}
	})
}
