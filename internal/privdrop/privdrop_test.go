package privdrop

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hermes-agent/hermes/internal/testenv"
)

func TestGroups(t *testing.T) {
	dir := t.TempDir()
	groupFile = filepath.Join(dir, "group")
	t.Cleanup(func() { groupFile = "/etc/group" })
	os.WriteFile(groupFile, []byte("root:x:0:\nhermes:x:10000:\ndocker:x:999:alice,hermes\nvideo:x:44:hermes\nother:x:50:bob\n"), 0o644)
	tests := []struct {
		name    string
		user    string
		current []int
		want    []int
	}{
		{"group-add groups kept, root dropped", "", []int{0, 1234, 1234}, []int{1234}},
		{"membership from /etc/group", "hermes", nil, []int{44, 999}},
		{"both, primary not repeated", "hermes", []int{10000, 5000}, []int{44, 999, 5000}},
	}
	for _, tt := range tests {
		if got := Groups(tt.user, 10000, tt.current); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Groups = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestCanEnter(t *testing.T) {
	testenv.NeedRoot(t, "make directories owned by other uids")
	dir, err := os.MkdirTemp("", "privdrop-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	mk := func(name string, mode os.FileMode, uid, gid int) string {
		p := filepath.Join(dir, name)
		os.Mkdir(p, mode)
		os.Chmod(p, mode)
		os.Chown(p, uid, gid)
		return p
	}
	open := mk("open", 0o755, 0, 0)
	private := mk("private", 0o700, 0, 0)
	mine := mk("mine", 0o700, 4000, 4000)
	group := mk("group", 0o710, 0, 4500)
	tests := []struct {
		dir    string
		uid    int
		groups []int
		want   bool
	}{
		{open, 4000, nil, true},
		{private, 4000, nil, false},
		{mine, 4000, nil, true},
		{group, 4000, nil, false},
		{group, 4000, []int{4500}, true},
		{private, 0, nil, true},
		{filepath.Join(dir, "missing"), 4000, nil, false},
	}
	for _, tt := range tests {
		if got := CanEnter(tt.dir, tt.uid, 4000, tt.groups); got != tt.want {
			t.Errorf("CanEnter(%s, uid %d, groups %v) = %v, want %v", filepath.Base(tt.dir), tt.uid, tt.groups, got, tt.want)
		}
	}
}

// TestMissingInitCapabilities: as root with the default capabilities none
// is missing. (A container started with --cap-drop, whose init must name
// what is missing, is in e2e's container tests.)
func TestMissingInitCapabilities(t *testing.T) {
	testenv.NeedRoot(t, "read root's capabilities")
	missing, err := MissingInitCapabilities()
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 0 {
		t.Errorf("missing = %v, want none as root with the default set", missing)
	}
}
