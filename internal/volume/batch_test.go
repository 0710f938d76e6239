package volume

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hermes-agent/hermes/internal/safefs"
)

// TestBatch: staged files get their names only when published, in the
// order staged and only those selected; a name created meanwhile is never
// replaced; abort leaves no temporary file behind.
func TestBatch(t *testing.T) {
	dir := t.TempDir()
	base, err := safefs.OpenBase(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	b := &batch{}
	for _, n := range []string{"a", "b", "last"} {
		if err := b.create(base, n, []byte("new "+n), 0o600, safefs.Keep); err != nil {
			t.Fatalf("create %s: %v", n, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Fatalf("a exists before publish (%v)", err)
	}
	// Someone creates b meanwhile: it is kept.
	if err := os.WriteFile(filepath.Join(dir, "b"), []byte("theirs"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.sync(); err != nil {
		t.Fatal(err)
	}
	got, err := b.publish(func(n string) bool { return n != "last" })
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a"}; !slices.Equal(got, want) {
		t.Fatalf("published %v, want %v", got, want)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "b")); string(data) != "theirs" {
		t.Fatalf("b = %q, want the other writer's", data)
	}
	if _, err := os.Lstat(filepath.Join(dir, "last")); !os.IsNotExist(err) {
		t.Fatalf("last exists before its round (%v)", err)
	}
	got, err = b.publish(func(string) bool { return true })
	if err != nil || !slices.Equal(got, []string{"last"}) {
		t.Fatalf("second round published %v, %v; want [last]", got, err)
	}
	// A staged file never published is removed by abort.
	if err := b.create(base, "never", []byte("x"), 0o600, safefs.Keep); err != nil {
		t.Fatal(err)
	}
	b.abort()
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"a", "b", "last"}; !slices.Equal(names, want) {
		t.Fatalf("directory holds %v, want %v (no temporary file)", names, want)
	}
}
