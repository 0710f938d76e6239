package volume

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
)

// The bootstrap variables of the first boot (CONTRACT §2).
const (
	// EnvAuthBootstrap holds the first auth.json (a secret: hostenv owns
	// the name, and withholds it from the services).
	EnvAuthBootstrap = hostenv.EnvAuthJSONBootstrap
	// EnvGatewayBootstrap, exactly "running", makes the first boot start
	// the default gateway.
	EnvGatewayBootstrap = "HERMES_GATEWAY_BOOTSTRAP_STATE"
)

// Names and modes of the seeded files.
const (
	soulFile  = profiles.FileSOUL
	configYML = profiles.FileConfig
	envFile   = profiles.FileEnv
	authFile  = profiles.FileAuth
	authMode  = profiles.AuthMode
	runMode   = profiles.RunMode
	// envExample is the image's seed of .env in ShareDir.
	envExample = "env.example"
)

// DefaultShareDir is where the image keeps its seeds.
const DefaultShareDir = "/opt/hermes/share"

// seed returns the image's seed name from ShareDir when it has one (a
// regular, non-empty file), else fallback's (nil: none).
func (c Config) seed(name string, fallback func() []byte) []byte {
	def := func() []byte {
		if fallback == nil {
			return nil
		}
		return fallback()
	}
	if c.ShareDir == "" {
		return def()
	}
	p := filepath.Join(c.ShareDir, name)
	if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
		return def()
	}
	b, err := os.ReadFile(p)
	if err != nil || len(b) == 0 {
		if err != nil {
			c.logf("warning: cannot read the image's seed %s: %v; using the built-in default", p, err)
		}
		return def()
	}
	return b
}

// stageSeed stages the seed name unless it exists: its content (the
// image's, else fallback's) is read or built only then, not at every boot.
func (c Config) stageSeed(b *batch, base *safefs.Dir, name string, fallback func() []byte, perm os.FileMode) error {
	if ok, err := exists(base, name); err != nil || ok {
		return err
	}
	return b.create(base, name, c.seed(name, fallback), perm, c.owner())
}

// Seed creates what a home needs (see the package doc, step 3): the
// missing Seeded directories of profiles.Layout, owned by the hermes ids,
// and, each only when it is missing (first boot), SOUL.md, config.yaml,
// .env with the orchestrator's API_SERVER_KEY (or API_SERVER_KEY_FILE's)
// or a fresh one, auth.json from HERMES_AUTH_JSON_BOOTSTRAP and the default
// profile's desired state from HERMES_GATEWAY_BOOTSTRAP_STATE=running. An
// existing .env without API_SERVER_KEY gets one appended (seedEnv).
// Nothing existing is overwritten, so a second Seed changes nothing. A
// bootstrap variable that is set while its file exists as something root does not follow or
// write (a symlink, a hard link, a device) is skipped with one "refusing"
// line (Config.Refused) naming the file and why; so is a .env that cannot
// be checked for API_SERVER_KEY, and the write of a bootstrap state whose
// lock is held past safefs.RootLockWait. ctx ends a lock wait at once.
//
// auth.json: a bootstrap value in hermes's own shape (a JSON object whose
// "version" is a number and whose "providers" is an object) is written as
// it is. Any other JSON object (the reference's format, or anything else)
// is kept byte for byte under the key "reference" of an otherwise empty
// store, {"version":1,"providers":{},"reference":<value>}: nothing is lost
// and nothing is guessed, and "hermes login" keeps the key on rewrite. A
// value that is not a JSON object stops the boot with an error that says
// where it is malformed without quoting the secret.
//
// The bootstrap state is recorded through gateway.RecordDesired, the one
// writer of the supervisor's keys of gateway_state.json: it holds
// desired_state "running" and desired_updated_at, which is what the
// reconciler reads first.
//
// As root every file operation goes through safefs (no symlink below Home
// is followed; a name that exists as a symlink counts as existing and is
// never replaced). Not root, directories are created with plain calls.
func Seed(ctx context.Context, cfg Config) error {
	// The orchestrator's key first: one that cannot work stops the boot
	// before anything is written.
	key, err := orchestratorKey(cfg)
	if err != nil {
		return err
	}
	base, err := safefs.OpenBase(cfg.Home)
	if err != nil {
		return fmt.Errorf("seeding HERMES_HOME %s: %w", cfg.Home, err)
	}
	defer base.Close()
	// The directories are made while the seeds are written and synced:
	// the mkdirs keep a CPU busy in the kernel, the fsyncs wait for the
	// disk, and neither needs the other. Nothing is named before both are
	// done, and a directory that cannot be made still stops the seeding
	// first.
	b := &batch{}
	defer b.abort()
	dirs := make(chan error, 1)
	go func() { dirs <- seedDirectories(cfg, base) }()
	stageErr := stageSeeds(cfg, base, key, b)
	if err := <-dirs; err != nil {
		return err
	}
	if stageErr != nil {
		return stageErr
	}
	seeded, err := b.publish(func(name string) bool { return name != soulFile })
	if err != nil {
		return cfg.seedErr(b.failed, err)
	}
	created, err := seedGatewayState(ctx, cfg, base)
	if err != nil {
		return cfg.seedErr(gateway.StateFile, err)
	}
	if created {
		seeded = append(seeded, gateway.StateFile)
	}
	last, err := b.publish(func(string) bool { return true })
	if err != nil {
		return cfg.seedErr(b.failed, err)
	}
	seeded = append(seeded, last...)
	if len(seeded) > 0 {
		cfg.syncNames(base)
		cfg.logf("seeded %s in %s (first boot)", strings.Join(seeded, ", "), cfg.Home)
	}
	return nil
}

// stageSeeds writes the missing seed files to temporary files of b and
// makes them durable (batch.create, then batch.sync); Seed names them.
func stageSeeds(cfg Config, base *safefs.Dir, key envKey, b *batch) error {
	// The seeds are written first, then made durable together, then
	// given their names (SOUL.md last): one round of fsyncs instead of one
	// per file, and still no name that points at unsynced data.
	defaultConfig := func() []byte { return profiles.DefaultConfig(profiles.DefaultGatewayPort) }
	if err := cfg.stageSeed(b, base, configYML, defaultConfig, profiles.ConfigMode); err != nil {
		return cfg.seedErr(configYML, err)
	}
	if err := seedEnv(cfg, base, key, b); err != nil {
		return cfg.seedErr(envFile, err)
	}
	if err := seedAuth(cfg, base, b); err != nil {
		return cfg.seedErr(authFile, err)
	}
	// SOUL.md makes the home a profile: it is written now but named only
	// once the rest is there.
	defaultSOUL := func() []byte { return profiles.DefaultSOUL(profiles.Default) }
	if err := cfg.stageSeed(b, base, soulFile, defaultSOUL, profiles.SOULMode); err != nil {
		return cfg.seedErr(soulFile, err)
	}
	if err := b.sync(); err != nil {
		return cfg.seedErr(b.failed, err)
	}
	return nil
}

// syncNames makes the names just created in base durable: now, or through
// cfg.Durable on a descriptor of its own.
func (c Config) syncNames(base *safefs.Dir) {
	if c.Durable == nil {
		_ = unix.Fsync(base.Fd())
		return
	}
	// Close-on-exec: the hooks and the services start meanwhile.
	fd, err := unix.FcntlInt(uintptr(base.Fd()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		_ = unix.Fsync(base.Fd())
		return
	}
	c.Durable(func() {
		_ = unix.Fsync(fd)
		unix.Close(fd)
	})
}

// seedErr says which seed name failed.
func (c Config) seedErr(name string, err error) error {
	return fmt.Errorf("seeding %s: %w", filepath.Join(c.Home, name), err)
}

// seedDirectories creates the missing Seeded directories of
// profiles.Layout.
func seedDirectories(cfg Config, base *safefs.Dir) error {
	for _, e := range profiles.Layout(profiles.Seeded) {
		rel, perm := e.Path, e.Mode
		if cfg.Root {
			d, err := base.MkdirAll(rel, perm, cfg.owner())
			if r, ok := safefs.Refuse(filepath.Join(cfg.Home, rel), err, "not seeded (an operator may link it elsewhere on purpose; root leaves it as it is)"); ok {
				cfg.refuse(r)
				continue
			}
			if err != nil {
				return fmt.Errorf("seeding the directory %s: %w", filepath.Join(cfg.Home, rel), err)
			}
			d.Close()
			continue
		}
		p := filepath.Join(cfg.Home, rel)
		if _, err := os.Stat(p); err == nil {
			continue
		}
		if err := os.MkdirAll(p, perm); err != nil {
			return fmt.Errorf("seeding the directory %s: %w", p, err)
		}
	}
	return nil
}

// exists reports whether name exists in d, a symlink (even a dangling one)
// included.
func exists(d *safefs.Dir, name string) (bool, error) {
	_, err := d.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// batch creates files that do not exist yet, in three rounds: create
// writes each to a temporary file of its own and starts its writeback;
// sync waits for all of them to be durable; publish links each into place
// unless its name exists (whoever created it meanwhile is never
// replaced), so that no reader sees half a file and no name points at data
// a crash could lose. abort removes what is left.
type batch struct {
	pending []*staged
	failed  string // the name whose round failed
}

type staged struct {
	d         *safefs.Dir
	f         *os.File
	tmp, name string
}

// create stages name in d with data, perm and own unless name exists (a
// symlink, even a dangling one, counts as existing).
func (b *batch) create(d *safefs.Dir, name string, data []byte, perm os.FileMode, own safefs.Owner) error {
	if ok, err := exists(d, name); err != nil || ok {
		return err
	}
	tmp := fmt.Sprintf(".%s.seed.%d", name, os.Getpid())
	_ = d.Remove(tmp)
	f, err := d.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm, own)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		_ = d.Remove(tmp)
		return err
	}
	// Start the writeback now, so that the files' data goes to the disk
	// together and sync mostly waits for one journal commit.
	_ = unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	b.pending = append(b.pending, &staged{d: d, f: f, tmp: tmp, name: name})
	return nil
}

// sync makes every staged file durable and closes it.
func (b *batch) sync() error {
	for _, s := range b.pending {
		if s.f == nil {
			continue
		}
		err := s.f.Sync()
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
		s.f = nil
		if err != nil {
			b.failed = s.name
			return err
		}
	}
	return nil
}

// publish names the synced files that want selects, in the order they
// were staged, and returns the names it created.
func (b *batch) publish(want func(name string) bool) ([]string, error) {
	var created []string
	rest := b.pending[:0]
	for i, s := range b.pending {
		if !want(s.name) {
			rest = append(rest, s)
			continue
		}
		ok, err := publish(s.d, s.tmp, s.name)
		_ = s.d.Remove(s.tmp)
		if err != nil {
			b.failed = s.name
			b.pending = append(rest, b.pending[i+1:]...)
			return created, err
		}
		if ok {
			created = append(created, s.name)
		}
	}
	b.pending = rest
	return created, nil
}

// abort removes the temporary files of what was not published.
func (b *batch) abort() {
	for _, s := range b.pending {
		if s.f != nil {
			s.f.Close()
		}
		_ = s.d.Remove(s.tmp)
	}
	b.pending = nil
}

// publish gives the temporary file tmp the name name unless name exists:
// linkat where hard links work, renameat2(RENAME_NOREPLACE) where they do
// not, and a checked rename where neither does.
func publish(d *safefs.Dir, tmp, name string) (bool, error) {
	err := unix.Linkat(d.Fd(), tmp, d.Fd(), name, 0)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, unix.EEXIST) {
		return false, nil
	}
	err = unix.Renameat2(d.Fd(), tmp, d.Fd(), name, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.EEXIST):
		return false, nil
	case !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EOPNOTSUPP):
		return false, &os.LinkError{Op: "rename", Old: filepath.Join(d.Path(), tmp), New: filepath.Join(d.Path(), name), Err: err}
	}
	if ok, err := exists(d, name); err != nil || ok {
		return false, err
	}
	if err := d.Rename(tmp, name); err != nil {
		return false, err
	}
	return true, nil
}

// envKey is the key an orchestrator gave (profiles.EnvAPIKey).
type envKey struct {
	key, from string
	given     bool
}

// orchestratorKey reads the orchestrator's key from cfg.Env.
func orchestratorKey(cfg Config) (envKey, error) {
	key, from, given, err := profiles.EnvAPIKey(cfg.Env.Getenv, cfg.Home)
	return envKey{key: key, from: from, given: given}, err
}

// seedEnv creates .env with the orchestrator's key (profiles.EnvAPIKey:
// API_SERVER_KEY or API_SERVER_KEY_FILE) or, when none is given, a fresh
// API_SERVER_KEY; or appends one of them to an existing .env that has none
// (an empty value counts as none; the appended line wins, as the later
// line of a .env does). An existing key is kept: when the environment's
// differs from it, one warning line says which one the gateway uses and how
// to change it. (A key the environment gives that cannot work has stopped
// the boot already: Seed checks it before it writes anything.)
func seedEnv(cfg Config, base *safefs.Dir, k envKey, b *batch) error {
	orch, from, given := k.key, k.from, k.given
	// The .env of the key, made only when a key is written (a fresh one
	// unless the orchestrator gave it).
	keyEnv := func() ([]byte, error) {
		if given {
			return profiles.EnvFile(orch), nil
		}
		key, err := profiles.NewAPIKey()
		if err != nil {
			return nil, err
		}
		return profiles.EnvFile(key), nil
	}
	envPath := filepath.Join(cfg.Home, envFile)
	ok, err := exists(base, envFile)
	if err != nil {
		return err
	}
	if !ok {
		data, err := keyEnv()
		if err != nil {
			return err
		}
		withKey := data
		if example := cfg.seed(envExample, nil); example != nil {
			// The image's example, with the key unless it sets one that
			// the orchestrator does not override.
			data = example
			if m, _ := profiles.ParseEnv(example); m[profiles.APIKeyVar] == "" || (given && m[profiles.APIKeyVar] != orch) {
				if len(data) > 0 && data[len(data)-1] != '\n' {
					data = append(data, '\n')
				}
				data = append(data, apiKeyLine(withKey)...)
			}
		}
		if err := b.create(base, envFile, data, profiles.EnvMode, cfg.owner()); err != nil {
			return err
		}
		if given {
			cfg.logf("%s in %s is the one from %s", profiles.APIKeyVar, envPath, from)
		}
		return nil
	}
	var data []byte
	if cfg.Root {
		data, err = readRegular(base, envFile)
		if r, ok := safefs.Refuse(envPath, err, "not checked for "+profiles.APIKeyVar); ok {
			cfg.refuse(r)
			return nil
		}
	} else {
		data, err = os.ReadFile(envPath)
	}
	if err != nil {
		return err
	}
	if m, _ := profiles.ParseEnv(data); m[profiles.APIKeyVar] != "" {
		if given && m[profiles.APIKeyVar] != orch {
			cfg.logf("warning: the %s from %s differs from the one in %s; the gateway uses the one in %s. "+
				"To use the environment's instead, delete the %s line from %s and restart: the next boot writes the environment's key there",
				profiles.APIKeyVar, from, envPath, envPath, profiles.APIKeyVar, envPath)
		}
		return nil
	}
	env, err := keyEnv()
	if err != nil {
		return err
	}
	line := apiKeyLine(env)
	if len(data) > 0 && data[len(data)-1] != '\n' {
		line = append([]byte{'\n'}, line...)
	}
	err = appendEnv(cfg, base, line)
	if r, ok := safefs.Refuse(envPath, err, "no "+profiles.APIKeyVar+" appended"); ok {
		cfg.refuse(r)
		return nil
	}
	if err != nil {
		return err
	}
	if given {
		cfg.logf("added the %s from %s to %s", profiles.APIKeyVar, from, envPath)
	} else {
		cfg.logf("added a fresh %s to %s", profiles.APIKeyVar, envPath)
	}
	return nil
}

// readRegular reads the regular file name of d as root: no symlink is
// followed and a FIFO planted there does not block the boot.
func readRegular(d *safefs.Dir, name string) ([]byte, error) {
	f, err := d.OpenFile(name, os.O_RDONLY|unix.O_NONBLOCK, 0, safefs.Keep)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := safefs.CheckOpen(f); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(f, 1<<20))
}

// apiKeyLine is the API_SERVER_KEY line of a .env built by
// profiles.EnvFile, the one builder of that file.
func apiKeyLine(env []byte) []byte {
	for _, l := range bytes.SplitAfter(env, []byte("\n")) {
		if bytes.HasPrefix(l, []byte(profiles.APIKeyVar+"=")) {
			return l
		}
	}
	return nil
}

// appendEnv appends line to .env: as root without following a symlink and
// only to a regular file with one link (a hard link might be a file outside
// HERMES_HOME).
func appendEnv(cfg Config, base *safefs.Dir, line []byte) error {
	var f *os.File
	var err error
	if cfg.Root {
		f, err = base.OpenFile(envFile, os.O_WRONLY|os.O_APPEND|unix.O_NONBLOCK, 0, safefs.Keep)
	} else {
		f, err = os.OpenFile(filepath.Join(cfg.Home, envFile), os.O_WRONLY|os.O_APPEND, 0)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if cfg.Root {
		if err := safefs.CheckOpen(f); err != nil {
			return err
		}
	}
	if _, err := f.Write(line); err != nil {
		return err
	}
	return f.Sync()
}

// seedAuth writes auth.json from HERMES_AUTH_JSON_BOOTSTRAP on first boot.
func seedAuth(cfg Config, base *safefs.Dir, b *batch) error {
	v, _ := getenv(cfg, EnvAuthBootstrap)
	if strings.TrimSpace(v) == "" {
		return nil
	}
	data, err := authBootstrap([]byte(v))
	ok, xerr := exists(base, authFile)
	if xerr != nil {
		return xerr
	}
	if cfg.Root && refused(cfg, base, authFile, "bootstrap skipped ("+EnvAuthBootstrap+" not applied)") {
		return nil
	}
	if ok {
		if err != nil {
			cfg.logf("warning: %s is ignored (auth.json exists), and it is invalid anyway: %v", EnvAuthBootstrap, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	return b.create(base, authFile, data, authMode, cfg.owner())
}

// AuthBootstrap turns the value of HERMES_AUTH_JSON_BOOTSTRAP into the
// content of auth.json (see Seed). Its errors never quote the value.
func authBootstrap(v []byte) ([]byte, error) {
	v = bytes.TrimSpace(bytes.TrimPrefix(v, []byte("\xef\xbb\xbf")))
	var top any
	if err := json.Unmarshal(v, &top); err != nil {
		var se *json.SyntaxError
		where := ""
		if errors.As(err, &se) {
			where = fmt.Sprintf(" (malformed at byte %d of %d)", se.Offset, len(v))
		}
		return nil, fmt.Errorf("%s is not valid JSON%s: set it to the content of an auth.json, or unset it", EnvAuthBootstrap, where)
	}
	if _, ok := top.(map[string]any); !ok {
		return nil, fmt.Errorf("%s is JSON but not an object (%s): set it to the content of an auth.json, or unset it", EnvAuthBootstrap, jsonKind(top))
	}
	var shape struct {
		Version   json.RawMessage `json:"version"`
		Providers json.RawMessage `json:"providers"`
	}
	_ = json.Unmarshal(v, &shape)
	var version float64
	var providers map[string]json.RawMessage
	if json.Unmarshal(shape.Version, &version) == nil && shape.Providers != nil &&
		json.Unmarshal(shape.Providers, &providers) == nil && providers != nil {
		return append(bytes.Clone(v), '\n'), nil
	}
	out := []byte(`{"version":1,"providers":{},"reference":`)
	out = append(out, v...)
	return append(out, "}\n"...), nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

// seedGatewayState records the default profile's desired state "running"
// when HERMES_GATEWAY_BOOTSTRAP_STATE is exactly "running" and the state
// file is missing.
func seedGatewayState(ctx context.Context, cfg Config, base *safefs.Dir) (bool, error) {
	v, set := getenv(cfg, EnvGatewayBootstrap)
	if !set || v == "" {
		return false, nil
	}
	if v != gateway.DesiredRunning {
		cfg.logf("warning: %s=%q is ignored: the only value it takes is %q", EnvGatewayBootstrap, v, gateway.DesiredRunning)
		return false, nil
	}
	skipped := "bootstrap skipped (" + EnvGatewayBootstrap + "=running not recorded)"
	if cfg.Root && refused(cfg, base, gateway.StateFile, skipped) {
		return false, nil
	}
	if ok, err := exists(base, gateway.StateFile); err != nil || ok {
		return false, err
	}
	err := gateway.RecordDesired(ctx, gateway.Desired{
		Profile: profiles.MustParse(cfg.Home, profiles.Default), State: gateway.DesiredRunning, At: cfg.now(),
		Owner: cfg.owner(), Wait: safefs.RootWait(cfg.Locks),
	})
	if r, ok := safefs.Refuse(filepath.Join(cfg.Home, gateway.StateFile), err, skipped); ok {
		cfg.refuse(r)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// refused reports (and returns true) when name exists in base as something
// root does not follow or write: a symlink, a hard link, a device, a FIFO.
func refused(cfg Config, base *safefs.Dir, name, skipped string) bool {
	st, err := base.Lstat(name)
	if err != nil {
		return false
	}
	r, ok := safefs.Describe(filepath.Join(cfg.Home, name), &st, skipped)
	if ok {
		cfg.refuse(r)
	}
	return ok
}

func getenv(cfg Config, name string) (string, bool) {
	if cfg.Env.Getenv == nil {
		return "", false
	}
	return cfg.Env.Getenv(name)
}
