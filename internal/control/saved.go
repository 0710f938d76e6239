// Saved services: the specs that hermes svc add --save keeps in
// HERMES_HOME/services.d, one file each, with the keys of a static service
// file (supervise.ParseSpecFile), and their loading at boot with the
// hermes uid's rights and nothing more.

package control

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// savedExt is the extension of the file a save writes; LoadSaved reads
// every extension of a static service file (supervise.SpecFileExts).
const savedExt = ".yaml"

// savedMode is the mode of a saved service's file.
const savedMode = 0o644

// SavedFile is the file that keeps the saved service name:
// HERMES_HOME/services.d/NAME.yaml.
func SavedFile(home, name string) string {
	return filepath.Join(home, profiles.DirServices, name+savedExt)
}

// hermesRights checks spec against the rights of the hermes uid (CONTRACT
// §4): not a reserved name, run as the hermes uid and gid, dir and
// log_file inside the home. It is the one rule of both the control API
// (for the hermes uid) and the saved services (for everyone).
func (pol policy) hermesRights(spec supervise.Spec) error {
	if pol.reserved != nil && pol.reserved(spec.Name) {
		return fmt.Errorf("%w: %s is reserved for the runtime", ErrForbidden, spec.Name)
	}
	return pol.checkSpec(spec)
}

// servicesDir opens HERMES_HOME/services.d: as root without following a
// symlink below the home (created for the hermes uid when create is set),
// else as the caller's own directory.
func servicesDir(home string, hermes safefs.Owner, create bool) (*safefs.Dir, error) {
	open := safefs.OpenPlain
	if os.Geteuid() == 0 {
		open = safefs.OpenBase
	}
	base, err := open(home)
	if err != nil {
		return nil, err
	}
	defer base.Close()
	if create {
		return base.MkdirAll(profiles.DirServices, profiles.DirMode, hermes)
	}
	return base.Sub(profiles.DirServices)
}

// saveService writes spec to its saved file, atomically, owned by the
// hermes uid. The file has the keys of a static service file; the user is
// never written (a saved service runs as the hermes uid).
func (pol policy) saveService(spec supervise.Spec) error {
	spec.User = ""
	body, err := yaml.Marshal(spec)
	if err != nil {
		return err
	}
	data := append([]byte("# saved by hermes svc add --save; hermes svc rm "+spec.Name+" removes it\n"), body...)
	d, err := servicesDir(pol.home, safefs.Owner{UID: pol.hermesUID, GID: pol.hermesGID}, true)
	if err != nil {
		return fmt.Errorf("saving %s: %w", spec.Name, err)
	}
	defer d.Close()
	if err := d.WriteFileAtomic(spec.Name+savedExt, data, savedMode, safefs.Owner{UID: pol.hermesUID, GID: pol.hermesGID}); err != nil {
		return fmt.Errorf("saving %s: %w", spec.Name, err)
	}
	return nil
}

// removeSaved removes every saved file of name (NAME.yaml, and a .yml or
// .json written by hand); a missing one is no error.
func (pol policy) removeSaved(name string) error {
	if supervise.ValidName(name) != nil {
		return nil
	}
	d, err := servicesDir(pol.home, safefs.Keep, false)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing the saved file of %s: %w", name, err)
	}
	defer d.Close()
	var errs []error
	for _, ext := range supervise.SpecFileExts {
		if err := d.Remove(name + ext); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing %s: %w", filepath.Join(d.Path(), name+ext), err))
		}
	}
	return errors.Join(errs...)
}

// SavedConfig configures LoadSaved.
type SavedConfig struct {
	// Home is HERMES_HOME (absolute).
	Home string
	// HermesUID and HermesGID are the hermes user: every saved service
	// runs as them.
	HermesUID, HermesGID int
	// Reserved reports the runtime's names (Supervisor.Reserved).
	Reserved func(name string) bool
	// Static reports whether a static service of that name is registered:
	// it wins over a saved one.
	Static func(name string) bool
}

// maxSavedFile is the most of a saved file that is read.
const maxSavedFile = 1 << 20

// LoadSaved reads the saved services of HERMES_HOME/services.d in lexical
// order, each file without following a link and at most 1 MiB of it, and
// checks each as the hermes uid's own registration is checked (CONTRACT
// §4): the user is the hermes uid (a file asking for another is refused),
// dir and log_file inside the home, no reserved name, a name that is the
// file's; a static service of the same name wins. It returns the specs to
// register (marked Saved) and one Refusal for each file it refused.
func LoadSaved(cfg SavedConfig) ([]supervise.Spec, []safefs.Refusal) {
	pol := policy{home: filepath.Clean(cfg.Home), hermesUID: cfg.HermesUID, hermesGID: cfg.HermesGID, reserved: cfg.Reserved}
	dirPath := filepath.Join(pol.home, profiles.DirServices)
	const skipped = "that saved service is not loaded"
	d, err := servicesDir(pol.home, safefs.Keep, false)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		r, ok := safefs.Refuse(dirPath, err, "no saved service is loaded")
		if !ok {
			r = safefs.Refusal{Path: dirPath, Why: oneLine(err.Error()), Skipped: "no saved service is loaded"}
		}
		return nil, []safefs.Refusal{r}
	}
	defer d.Close()
	names, err := d.Names()
	if err != nil {
		return nil, []safefs.Refusal{{Path: dirPath, Why: oneLine(err.Error()), Skipped: "no saved service is loaded"}}
	}
	slices.Sort(names)
	var specs []supervise.Spec
	var refused []safefs.Refusal
	seen := map[string]string{}
	for _, n := range names {
		if strings.HasPrefix(n, ".") || !slices.Contains(supervise.SpecFileExts, filepath.Ext(n)) {
			continue
		}
		p := filepath.Join(dirPath, n)
		sp, why := pol.loadSavedFile(d, n, p)
		if why == "" {
			switch {
			case cfg.Static != nil && cfg.Static(sp.Name):
				why = fmt.Sprintf("a static service named %s exists, and it wins", sp.Name)
			case seen[sp.Name] != "":
				why = fmt.Sprintf("service %s is already saved in %s", sp.Name, seen[sp.Name])
			}
		}
		if why != "" {
			refused = append(refused, safefs.Refusal{Path: p, Why: oneLine(why), Skipped: skipped})
			continue
		}
		seen[sp.Name] = n
		sp.Saved = true
		specs = append(specs, sp)
	}
	return specs, refused
}

// loadSavedFile reads and checks one saved file; why says why it is
// refused ("" when it is not).
func (pol policy) loadSavedFile(d *safefs.Dir, name, path string) (sp supervise.Spec, why string) {
	f, err := d.OpenFile(name, os.O_RDONLY|unix.O_NONBLOCK, 0, safefs.Keep)
	if err != nil {
		if r, ok := safefs.Refuse(path, err, ""); ok {
			return sp, r.Why
		}
		return sp, err.Error()
	}
	defer f.Close()
	if d.Strict() {
		if err := safefs.CheckOpen(f); err != nil {
			if r, ok := safefs.Refuse(path, err, ""); ok {
				return sp, r.Why
			}
			return sp, err.Error()
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSavedFile+1))
	if err != nil {
		return sp, err.Error()
	}
	if len(data) > maxSavedFile {
		return sp, fmt.Sprintf("it is larger than %d bytes", maxSavedFile)
	}
	sp, err = supervise.ParseSpecFile(path, data)
	if err != nil {
		return sp, bare(err, path)
	}
	if base := strings.TrimSuffix(name, filepath.Ext(name)); sp.Name != base {
		return sp, fmt.Sprintf("it names the service %q; a saved service's file is named after it (%s%s)", sp.Name, sp.Name, savedExt)
	}
	if err := pol.hermesRights(sp); err != nil {
		return sp, bare(err, path) + " (a saved service has the hermes user's rights)"
	}
	return sp, ""
}

// bare is err's message without the prefixes a refusal line already says
// (the path, the sentinels).
func bare(err error, path string) string {
	msg := err.Error()
	for changed := true; changed; {
		changed = false
		for _, p := range []string{path + ": ", ErrForbidden.Error() + ": ", supervise.ErrInvalid.Error() + ": "} {
			if strings.HasPrefix(msg, p) {
				msg, changed = msg[len(p):], true
			}
		}
	}
	return msg
}

// oneLine folds s onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
