package profiles

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// The variables through which an orchestrator (Kubernetes, Swarm, Podman)
// hands the gateway's key in: the key itself, or the path of a file that
// holds it (a mounted secret, /run/secrets/<name>).
const (
	APIKeyVar     = "API_SERVER_KEY"
	APIKeyFileVar = "API_SERVER_KEY_FILE"
)

// Bounds of a key handed in by an orchestrator.
const (
	minAPIKeyLen = 16
	maxAPIKeyLen = 1024
	// maxAPIKeyFile bounds the read of API_SERVER_KEY_FILE: a key file
	// larger than this is refused without reading the rest.
	maxAPIKeyFile = 4096
)

// ErrAPIKey is wrapped by every refusal of an orchestrator's key.
var ErrAPIKey = errors.New("unusable API key")

// EnvAPIKey returns the key an orchestrator hands in: API_SERVER_KEY, or
// the content of the file API_SERVER_KEY_FILE names; from says which, for
// messages ("API_SERVER_KEY" or "API_SERVER_KEY_FILE (/run/secrets/k)").
// ok is false when neither is set. Whitespace around the key (the final
// newline of a file) is not part of it. An error wrapping ErrAPIKey, which
// never quotes the key, refuses: both variables set, a file that is not
// an absolute path outside home (a path below HERMES_HOME, which the hermes
// user may change, is never read: root would copy what a planted link
// points to into .env), a file that cannot be read or is not a regular
// file, and a key that CheckAPIKey refuses.
func EnvAPIKey(getenv func(string) (string, bool), home string) (key, from string, ok bool, err error) {
	if getenv == nil {
		return "", "", false, nil
	}
	v, inEnv := getenv(APIKeyVar)
	path, inFile := getenv(APIKeyFileVar)
	switch {
	case inEnv && inFile:
		return "", "", false, fmt.Errorf("%w: both %s and %s are set: set one of them", ErrAPIKey, APIKeyVar, APIKeyFileVar)
	case inEnv:
		from = APIKeyVar
	case inFile:
		from = fmt.Sprintf("%s (%s)", APIKeyFileVar, path)
		if v, err = readAPIKeyFile(path, home); err != nil {
			return "", from, false, fmt.Errorf("%w: %s: %w", ErrAPIKey, APIKeyFileVar, err)
		}
	default:
		return "", "", false, nil
	}
	key = strings.TrimSpace(v)
	if err := CheckAPIKey(key); err != nil {
		return "", from, false, fmt.Errorf("%w: %s: %w", ErrAPIKey, from, err)
	}
	return key, from, true, nil
}

// CheckAPIKey refuses a key that cannot be the gateway's: empty, on several
// lines, shorter than 16 or longer than 1024 characters, or holding a
// character other than visible ASCII (a space, a control character, UTF-8)
// or one that a .env line would read differently (a quote, a backslash).
// Its errors say what is wrong without quoting the key.
func CheckAPIKey(key string) error {
	const want = "use 16 to 1024 visible ASCII characters, e.g. the output of openssl rand -hex 32"
	if key == "" {
		return fmt.Errorf("the key is empty: %s", want)
	}
	if n := strings.Count(key, "\n") + 1; n > 1 {
		return fmt.Errorf("the key spans %d lines: it must be one line (%s)", n, want)
	}
	if len(key) < minAPIKeyLen {
		return fmt.Errorf("the key is %d characters long, too short to be a secret: %s", len(key), want)
	}
	if len(key) > maxAPIKeyLen {
		return fmt.Errorf("the key is %d bytes long: %s", len(key), want)
	}
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case c <= ' ' || c >= 0x7f:
			return fmt.Errorf("the key holds a space, a control character or a non-ASCII byte at byte %d: %s", i+1, want)
		case c == '"' || c == '\'' || c == '\\':
			return fmt.Errorf("the key holds a quote or a backslash at byte %d, which .env would read differently: %s", i+1, want)
		}
	}
	return nil
}

// readAPIKeyFile reads the key file path: an absolute path outside home,
// a regular file (a FIFO never blocks the read) of at most maxAPIKeyFile
// bytes. Symlinks are followed: Kubernetes mounts every secret as one.
func readAPIKeyFile(path, home string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("%q is not an absolute path: name the mounted secret, e.g. /run/secrets/hermes_api_key", path)
	}
	if home != "" {
		if rel, err := filepath.Rel(filepath.Clean(home), filepath.Clean(path)); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return "", fmt.Errorf("%s is inside HERMES_HOME %s, which the hermes user may change: mount the secret elsewhere (/run/secrets)", path, home)
		}
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", fmt.Errorf("cannot read the key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("cannot read the key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxAPIKeyFile+1))
	if err != nil {
		return "", fmt.Errorf("cannot read the key: %w", err)
	}
	if len(b) > maxAPIKeyFile {
		return "", fmt.Errorf("%s is larger than %d bytes: it must hold the key alone", path, maxAPIKeyFile)
	}
	return string(b), nil
}
