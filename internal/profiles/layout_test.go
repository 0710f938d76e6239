package profiles

import (
	"slices"
	"strings"
	"testing"
)

// TestLayoutUses: each use of the layout is the set its users iterated
// before the table was theirs (volume's managed, seeded and per-file lists,
// Create's subdirectories, the gateway's files opened by path, doctor's
// checked modes), so that no boot step, command or check changed.
func TestLayoutUses(t *testing.T) {
	paths := func(use Use, dir bool) []string {
		var out []string
		for _, e := range Layout(use) {
			if e.Dir == dir {
				out = append(out, e.Path)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		got  []string
		want []string
	}{
		{"managed directories", paths(Managed, true), []string{"cron", "sessions", "logs", "hooks", "memories", "skills", "skins", "plans",
			"workspace", "home", "profiles", "pairing", "platforms/pairing", "lazy-packages", "run", "services.d"}},
		{"managed files", paths(Managed, false), []string{"SOUL.md", "config.yaml", ".env", "auth.json", "auth.lock",
			"state.db", "state.db-shm", "state.db-wal", "gateway.pid", "gateway.lock", "gateway_state.json", "processes.json", "description", "active_profile"}},
		{"seeded directories", sorted(paths(Seeded, true)), sorted([]string{"logs", "logs/gateways", "cron", "sessions", "hooks", "memories",
			"skills", "skins", "plans", "workspace", "home", "pairing", "platforms/pairing", "profiles", "run", "services.d"})},
		{"a new profile's directories", sorted(Subdirs()), sorted([]string{"memories", "sessions", "skills", "skins", "plans", "workspace", "cron", "home", "logs"})},
		{"files opened by path", sorted(paths(Opened, false)), sorted([]string{"gateway.pid", "gateway_state.json", "processes.json", "state.db",
			"state.db-wal", "state.db-shm", "auth.json", "auth.lock", ".env", "config.yaml", "SOUL.md"})},
		{"guarded files", paths(Guarded, false), []string{"config.yaml", ".env"}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

// TestLayoutEntries: every entry is well formed, and the modes are the ones
// hermes creates its files with.
func TestLayoutEntries(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range Layout(0) {
		switch {
		case e.Path == "" || strings.HasPrefix(e.Path, "/") || strings.Contains(e.Path, ".."):
			t.Errorf("%q: want a relative path inside the tree", e.Path)
		case seen[e.Path]:
			t.Errorf("%q is listed twice", e.Path)
		case e.Scope != PerProfile && e.Scope != RootOnly:
			t.Errorf("%q has no scope", e.Path)
		case e.Owner.String() == "?":
			t.Errorf("%q has no owner", e.Path)
		case e.Dir && e.Is(Guarded|Opened):
			t.Errorf("%q: a directory is neither guarded nor opened as a file", e.Path)
		case !e.Dir && e.Is(Seeded|Created):
			t.Errorf("%q: only directories are seeded or created from the table", e.Path)
		case e.Is(Created) && e.Scope != PerProfile:
			t.Errorf("%q: a profile's directory must be per profile", e.Path)
		}
		seen[e.Path] = true
	}
	for _, tc := range []struct {
		path string
		want uint32
	}{
		{"run", 0o700}, {"logs", 0o755}, {"config.yaml", 0o640}, {".env", 0o600}, {"auth.json", 0o600}, {"SOUL.md", 0o644},
		{"gateway_state.json", 0o644}, {"profiles/.lock", 0o600}, {"run/owner.lock", 0o600},
	} {
		i := slices.IndexFunc(layout[:], func(e Entry) bool { return e.Path == tc.path })
		if i < 0 {
			t.Errorf("%s is not in the layout", tc.path)
			continue
		}
		if got := uint32(layout[i].Mode.Perm()); got != tc.want {
			t.Errorf("%s mode %04o, want %04o", tc.path, got, tc.want)
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
