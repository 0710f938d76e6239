package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
)

// AuthFile is the name of a profile's credential store (CONTRACT §2):
//
//	{"version": 1, "providers": {"<name>": {"api_key": "…", "updated_at": "…"}}}
//
// mode 0600, owned by the hermes user. Keys hermes does not know, at any
// level, are kept when it rewrites the file.
const AuthFile = profiles.FileAuth

// AuthMode is the mode of auth.json: it holds secrets.
const AuthMode = profiles.AuthMode

// authLock is the flock that serialises writers of auth.json (the
// reference's name for it).
const authLock = profiles.FileAuthLock

// AuthPath is the path of the auth.json of the profile whose directory is
// dir.
func AuthPath(dir string) string { return filepath.Join(dir, AuthFile) }

// authKeys is what the gateway takes from auth.json: each provider's key.
type authKeys map[string]string

// loadAuthKeys reads auth.json for the gateway. A missing file has no
// keys; a file that cannot be read or parsed is an error naming the file
// (and for a permission error its owner and mode). The file is never
// renamed, rewritten or "repaired": the reference moved an unreadable one
// aside as corrupt and so lost every credential in it.
func loadAuthKeys(path string) (authKeys, error) {
	b, err := readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return authKeys{}, nil
	}
	if err != nil {
		return nil, err
	}
	var doc struct {
		Providers map[string]json.RawMessage `json:"providers"`
	}
	if err := json.Unmarshal(bytes.TrimPrefix(b, []byte("\ufeff")), &doc); err != nil {
		return nil, fmt.Errorf("%s is not a valid credential store (%v): fix it, or move it away and store the keys again with hermes login --provider NAME", path, err)
	}
	keys := authKeys{}
	for name, raw := range doc.Providers {
		var entry struct {
			APIKey      string `json:"api_key"`
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal(raw, &entry) != nil {
			continue
		}
		if entry.APIKey != "" {
			keys[name] = entry.APIKey
		} else if entry.AccessToken != "" {
			keys[name] = entry.AccessToken
		}
	}
	return keys, nil
}

// StoreProviderKey stores key as provider's api_key in the auth.json at
// path, with updated_at set to now: read, modify, and write atomically (a
// temporary file in the same directory, mode 0600, fsync, rename, fsync of
// the directory) while holding an flock on auth.lock beside it. Every
// other key and provider in the file is kept. A file that cannot be read
// or is not a JSON object is an error naming the file (for a permission
// error its owner and mode) and is left untouched. path lies below home
// (HERMES_HOME): as root (HERMES_DOCKER_EXEC_AS_ROOT) the lock, the read
// and the write go through safefs, so that a symlink planted below home
// (profiles/, profiles/<name>, auth.json, auth.lock) is refused with an
// error wrapping safefs.ErrSymlink, never followed.
func StoreProviderKey(home, path, provider, key string, now time.Time) error {
	if key == "" {
		return errors.New("empty key")
	}
	dir := filepath.Dir(path)
	unlock, err := lockFile(home, filepath.Join(dir, authLock))
	if err != nil {
		return err
	}
	defer unlock()

	doc, err := readAuthDoc(home, path)
	if err != nil {
		return err
	}
	providers := map[string]json.RawMessage{}
	if raw, ok := doc["providers"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &providers); err != nil {
			return fmt.Errorf("%s: \"providers\" is not an object, so the file was left as it is: fix it by hand", path)
		}
	}
	entry := map[string]json.RawMessage{}
	if raw, ok := providers[provider]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &entry); err != nil {
			return fmt.Errorf("%s: the entry of provider %q is not an object, so the file was left as it is: fix it by hand", path, provider)
		}
	}
	entry["api_key"] = mustJSON(key)
	entry["updated_at"] = mustJSON(now.UTC().Format(time.RFC3339))
	providers[provider] = mustJSON(entry)
	doc["providers"] = mustJSON(providers)
	if _, ok := doc["version"]; !ok {
		doc["version"] = json.RawMessage("1")
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	return profiles.WriteFileAtomic(home, path, append(out, '\n'), AuthMode)
}

// CheckAuthFile reports whether the auth.json at path can be rewritten by
// StoreProviderKey: nil when it is missing or a readable JSON object, else
// the error StoreProviderKey would return (naming the file, and for a
// permission error its owner and mode). hermes login calls it before it
// asks for a key.
func CheckAuthFile(home, path string) error {
	_, err := readAuthDoc(home, path)
	return err
}

// readAuthDoc reads auth.json as a JSON object of raw values (empty when
// the file is missing).
func readAuthDoc(home, path string) (map[string]json.RawMessage, error) {
	doc := map[string]json.RawMessage{}
	read := readFile
	if os.Geteuid() == 0 {
		read = func(path string) ([]byte, error) {
			b, err := profiles.ReadFile(home, path)
			if errors.Is(err, fs.ErrPermission) {
				return nil, unreadable(path, err)
			}
			return b, err
		}
	}
	b, err := read(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return doc, nil
	case err != nil:
		return nil, err
	}
	if err := json.Unmarshal(bytes.TrimPrefix(b, []byte("\ufeff")), &doc); err != nil || doc == nil {
		return nil, fmt.Errorf("%s is not a JSON object, so it was left as it is: fix it, or move it away and store the key again", path)
	}
	return doc, nil
}

// mustJSON encodes a value that always encodes (strings and maps of raw
// JSON). A string of printable ASCII that json.Marshal would not escape
// (the ids and model names of every request) is quoted as it is, without
// json.Marshal's reflection.
func mustJSON(v any) json.RawMessage {
	if s, ok := v.(string); ok && plainJSON(s) {
		b := make([]byte, 0, len(s)+2)
		return append(append(append(b, '"'), s...), '"')
	}
	b, _ := json.Marshal(v)
	return b
}

// plainJSON reports whether s is the same inside JSON quotes: printable
// ASCII without the characters json.Marshal escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// lockFile takes an exclusive flock on path (created 0600 when missing)
// and returns its release.
func lockFile(home, path string) (func(), error) {
	f, err := profiles.OpenFile(home, path, os.O_RDWR|os.O_CREATE, AuthMode)
	if err != nil {
		return nil, fmt.Errorf("opening the lock %s: %w", path, err)
	}
	wait := safefs.Wait{Max: safefs.Forever}
	if os.Geteuid() == 0 {
		// The holder may be a hermes process that never lets go: root's
		// command waits 10 s at most, then names it.
		wait = safefs.Wait{Max: 10 * time.Second}
	}
	if err := safefs.Lock(context.Background(), f, safefs.Exclusive, wait); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() {
		safefs.Unlock(f)
		f.Close()
	}, nil
}
