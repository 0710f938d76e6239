// Package buildinfo tells which hermes this is: its version and the commit
// it was built from. The commit comes, in order, from the file baked into
// the image (/opt/hermes/.hermes_build_sha), from -ldflags, from Go's VCS
// stamp, else it is unknown (CONTRACT §8).
package buildinfo

import (
	"os"
	"runtime/debug"
	"strings"
)

// Set with -ldflags "-X github.com/hermes-agent/hermes/internal/buildinfo.version=... -X ...commit=...".
var (
	version = "0.1.0-dev"
	commit  = ""
)

// ShaFile is where the image bakes the commit it was built from.
const ShaFile = "/opt/hermes/.hermes_build_sha"

// Version returns the version string.
func Version() string { return version }

// Commit returns the full commit hash and where it came from ("build-file",
// "ldflags", "vcs"), or "", "unknown".
func Commit() (sha, source string) {
	return commitFrom(ShaFile, commit, vcsRevision)
}

// Short returns the first 8 characters of the commit, or "(unknown)".
func Short() string {
	sha, _ := Commit()
	if sha == "" {
		return "(unknown)"
	}
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}

func commitFrom(file, ldflags string, vcs func() string) (string, string) {
	if b, err := os.ReadFile(file); err == nil {
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, "build-file"
		}
	}
	if s := strings.TrimSpace(ldflags); s != "" {
		return s, "ldflags"
	}
	if s := vcs(); s != "" {
		return s, "vcs"
	}
	return "", "unknown"
}

func vcsRevision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	return ""
}
