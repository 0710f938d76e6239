package profiles

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Create makes the named profile (CONTRACT §5) in home: its directory and
// subdirectories (Subdirs), config.yaml (0640) with a gateway port that no
// other profile has (AllocatePort), .env (0600) with a fresh API_SERVER_KEY,
// and SOUL.md last, so that the profile exists only once it is complete.
// It holds the profiles lock throughout. It refuses "default", invalid
// names and a profile that exists (SOUL.md); in a directory left without
// SOUL.md it adds only what is missing and never clobbers a file (an
// existing config.yaml without a port gets gateway.port, an existing .env
// without API_SERVER_KEY gets one appended). On error, whatever it created
// is removed. As root (HERMES_DOCKER_EXEC_AS_ROOT) every file operation
// below home goes through safefs: a symlinked profiles/ or profiles/<name>
// is refused, never built into.
func Create(r Ref) error {
	if r.IsDefault() {
		return errCreateRoot()
	}
	exists := func() error {
		if ok, err := Lookup(r); err != nil {
			return err
		} else if ok {
			return existsError(r)
		}
		return nil
	}
	if err := exists(); err != nil {
		return err
	}
	return WithLock(r.home, func() error {
		if err := exists(); err != nil {
			return err
		}
		return create(r, nil)
	})
}

func existsError(r Ref) error {
	return kindError{fs.ErrExist, fmt.Sprintf("profile %s already exists in %s (use it with hermes -p %s, or delete it with hermes profile delete %s)",
		r.name, r.Dir(), r.name, r.name)}
}

// kindError is a message for a person that matches a sentinel error
// (fs.ErrExist, fs.ErrNotExist) without repeating its text.
type kindError struct {
	kind error
	msg  string
}

func (e kindError) Error() string { return e.msg }
func (e kindError) Unwrap() error { return e.kind }

// create does Create's work under the lock and removes what it made when
// it fails. fail, when not nil, is asked after each step ("dirs",
// "config", "env", "soul") and may fail it (tests use it).
func create(r Ref, fail func(step string) error) error {
	return build(r, nil, CreateOptions{}, fail)
}

// createWith is create from src (nil for the seeds), with o's description.
func createWith(r Ref, src *source, o CreateOptions) error {
	return build(r, src, o, nil)
}

// build does the work of create and createWith.
func build(r Ref, src *source, o CreateOptions, fail func(step string) error) (err error) {
	home, name := r.home, r.name
	t := treeOf(home)
	dir := r.Dir()
	step := func(s string) error {
		if fail == nil {
			return nil
		}
		return fail(s)
	}
	var made []string // paths created, in order
	defer func() {
		if err == nil {
			return
		}
		if len(made) > 0 && made[0] == dir {
			t.removeAll(dir) // all of it was made here
			return
		}
		for i := len(made) - 1; i >= 0; i-- {
			t.remove(made[i])
		}
	}()
	mkdir := func(p string) error {
		if err := t.mkdir(p, DirMode); err != nil {
			if errors.Is(err, fs.ErrExist) {
				if t.isDir(p) {
					return nil
				}
				return fmt.Errorf("%s exists and is not a directory: move it away and try again", p)
			}
			return fmt.Errorf("creating %s: %w", p, err)
		}
		made = append(made, p)
		return nil
	}
	if err := mkdir(dir); err != nil {
		return err
	}
	for _, sub := range Subdirs() {
		if err := mkdir(filepath.Join(dir, sub)); err != nil {
			return err
		}
	}
	if err := step("dirs"); err != nil {
		return err
	}
	if src != nil && o.All {
		if err := t.copyTree(src.ref.Dir(), dir, func(rel string) bool { return cloneSkipped(rel, src.name == Default) }); err != nil {
			return fmt.Errorf("copying profile %s into %s: %w", src.name, dir, err)
		}
	}

	// config.yaml with a port of its own.
	cfgPath := filepath.Join(dir, FileConfig)
	port := 0
	if src == nil {
		if port, err = configuredPort(r); err != nil {
			return err
		}
	}
	switch {
	case src != nil:
		if port, err = AllocatePort(home); err != nil {
			return err
		}
		data, err := src.cloneConfig(port)
		if err != nil {
			return err
		}
		if err := t.writeNew(cfgPath, data, ConfigMode); err != nil {
			return err
		}
		made = append(made, cfgPath)
	case port == 0:
		if port, err = AllocatePort(home); err != nil {
			return err
		}
		if ok, _ := t.exists(cfgPath); ok {
			if err := setConfigKey(home, cfgPath, KeyGatewayPort, strconv.Itoa(port)); err != nil {
				return err
			}
		} else {
			if err := t.writeNew(cfgPath, DefaultConfig(port), ConfigMode); err != nil {
				return err
			}
			made = append(made, cfgPath)
		}
	}

	if err := step("config"); err != nil {
		return err
	}

	// .env with an API key.
	envPath := filepath.Join(dir, FileEnv)
	key, err := NewAPIKey()
	if err != nil {
		return err
	}
	switch existing, rerr := t.readFile(envPath); {
	case src != nil:
		if err := t.writeNew(envPath, src.cloneEnv(key), EnvMode); err != nil {
			return err
		}
		made = append(made, envPath)
	case errors.Is(rerr, fs.ErrNotExist):
		if err := t.writeNew(envPath, EnvFile(key), EnvMode); err != nil {
			return err
		}
		made = append(made, envPath)
	case rerr != nil:
		return fileError(envPath, rerr)
	default:
		if env, _ := ParseEnv(existing); env["API_SERVER_KEY"] == "" {
			if err := appendEnv(home, envPath, existing, "API_SERVER_KEY="+key); err != nil {
				return err
			}
		}
	}

	if err := step("env"); err != nil {
		return err
	}

	if o.Description != "" {
		p := filepath.Join(dir, FileDescription)
		if err := t.writeNew(p, []byte(o.Description+"\n"), SOULMode); err != nil {
			return err
		}
		made = append(made, p)
	}

	// SOUL.md last: the marker.
	soul := filepath.Join(dir, FileSOUL)
	soulData := DefaultSOUL(name)
	if src != nil {
		soulData = src.soul
	}
	if err := t.writeNew(soul, soulData, SOULMode); err != nil {
		return err
	}
	made = append(made, soul)
	return step("soul")
}

// appendEnv adds a line to an existing .env, keeping its content, and
// makes its mode 0600.
func appendEnv(home, path string, existing []byte, line string) error {
	var b strings.Builder
	b.Write(existing)
	if len(existing) > 0 && existing[len(existing)-1] != '\n' {
		b.WriteByte('\n')
	}
	b.WriteString(line + "\n")
	return WriteFileAtomic(home, path, []byte(b.String()), EnvMode)
}

// Delete removes the named profile: its whole directory (symlinks inside
// are removed, never followed), under the profiles lock. It refuses
// "default", invalid names and a profile that does not exist. When the
// sticky profile was this one, it goes back to default. Gateway logs
// (LogDir) are kept. As root the tree is removed through safefs: a
// symlinked profiles/ or profiles/<name> is refused, and nothing outside
// home is ever removed.
func Delete(r Ref) error {
	if r.IsDefault() {
		return errDeleteRoot()
	}
	home, name := r.home, r.name
	missing := func() error {
		if ok, err := Lookup(r); err != nil {
			return err
		} else if !ok {
			return notExistError(r)
		}
		return nil
	}
	if err := missing(); err != nil {
		return err
	}
	return WithLock(home, func() error {
		if err := missing(); err != nil {
			return err
		}
		t := treeOf(home)
		dir := r.Dir()
		if !t.isDir(dir) {
			// A symlink where the profile's directory should be: its
			// target is not hermes's to delete.
			return fmt.Errorf("refusing to delete profile %s: %s is not a directory (a symbolic link?); remove it by hand", name, dir)
		}
		if err := t.removeAll(dir); err != nil {
			return fmt.Errorf("removing %s: %w (remove what is left by hand)", dir, err)
		}
		if b, err := t.readFile(filepath.Join(home, FileActiveProfile)); err == nil && strings.TrimSpace(string(b)) == name {
			if err := SetActive(Ref{home: home, name: Default}); err != nil {
				return err
			}
		}
		return nil
	})
}

func notExistError(r Ref) error {
	return kindError{fs.ErrNotExist, fmt.Sprintf("profile %s does not exist (no %s); see hermes profile list", r.name, SOULPath(r))}
}

// removeTree is os.RemoveAll (which never follows symlinks), retried once
// after making the directories of the tree writable, for a tree holding a
// read-only directory.
func removeTree(dir string) error {
	err := os.RemoveAll(dir)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, werr error) error {
		if werr == nil && d.IsDir() && d.Type()&fs.ModeSymlink == 0 {
			os.Chmod(p, DirMode|0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
