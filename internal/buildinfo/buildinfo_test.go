package buildinfo

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCommitFallbacks(t *testing.T) {
	dir := t.TempDir()
	baked := filepath.Join(dir, "sha")
	tests := []struct {
		name       string
		file       string // "" = no file
		ldflags    string
		vcs        string
		wantSHA    string
		wantSource string
	}{
		{"baked file wins", "0123456789abcdef0123456789abcdef01234567\n", "ldflagsha", "vcssha", "0123456789abcdef0123456789abcdef01234567", "build-file"},
		{"blank file falls through", "  \n", "ldflagsha", "vcssha", "ldflagsha", "ldflags"},
		{"ldflags next", "", "ldflagsha", "vcssha", "ldflagsha", "ldflags"},
		{"vcs stamp next", "", "", "vcssha", "vcssha", "vcs"},
		{"unknown", "", "", "", "", "unknown"},
	}
	for _, tt := range tests {
		os.Remove(baked)
		if tt.file != "" {
			os.WriteFile(baked, []byte(tt.file), 0o644)
		}
		sha, src := commitFrom(baked, tt.ldflags, func() string { return tt.vcs })
		if sha != tt.wantSHA || src != tt.wantSource {
			t.Errorf("%s: got %q from %s, want %q from %s", tt.name, sha, src, tt.wantSHA, tt.wantSource)
		}
	}
}
