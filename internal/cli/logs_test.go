package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrintLastAcrossArchives(t *testing.T) {
	dir := t.TempDir()
	files := []string{filepath.Join(dir, "@1"), filepath.Join(dir, "@2"), filepath.Join(dir, "current")}
	os.WriteFile(files[0], []byte("a1\na2\n"), 0o640)
	os.WriteFile(files[1], []byte("b1\nb2\nb3\n"), 0o640)
	os.WriteFile(files[2], []byte("c1\nc2\n"), 0o640)
	tests := []struct {
		n    int
		want string
	}{
		{0, "a1\na2\nb1\nb2\nb3\nc1\nc2\n"},
		{1, "c2\n"},
		{2, "c1\nc2\n"},
		{4, "b2\nb3\nc1\nc2\n"},
		{7, "a1\na2\nb1\nb2\nb3\nc1\nc2\n"},
		{100, "a1\na2\nb1\nb2\nb3\nc1\nc2\n"},
	}
	for _, tt := range tests {
		var b strings.Builder
		if err := printLast(&b, files, tt.n); err != nil {
			t.Fatal(err)
		}
		if got := b.String(); got != tt.want {
			t.Errorf("printLast(n=%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
