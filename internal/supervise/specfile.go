// Service files (HERMES_SERVICES_DIR): one spec per YAML or JSON file, and
// the loading of a directory of them.

package supervise

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SpecFileExts are the extensions of a service file.
var SpecFileExts = []string{".yaml", ".yml", ".json"}

// maxSpecFile bounds a service file; a spec is a few hundred bytes.
const maxSpecFile = 1 << 20

// ParseSpecFile decodes one service file of HERMES_SERVICES_DIR: YAML (or
// JSON, which is YAML) with the keys of the wire spec. Unknown keys are an
// error, so that a typo never silently changes a service. When the file
// does not name the service, the name is the file's base name without its
// extension.
func ParseSpecFile(name string, data []byte) (Spec, error) {
	var sp Spec
	if len(data) > maxSpecFile {
		return sp, fmt.Errorf("%w: %s: larger than %d bytes", ErrInvalid, name, maxSpecFile)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&sp); err != nil {
		if errors.Is(err, io.EOF) {
			return sp, fmt.Errorf("%w: %s: empty file", ErrInvalid, name)
		}
		return sp, fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return sp, fmt.Errorf("%w: %s: one service per file (found a second YAML document)", ErrInvalid, name)
	}
	base := strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	if sp.Name == "" {
		sp.Name = base
	}
	if err := ValidName(sp.Name); err != nil {
		return sp, fmt.Errorf("%s: %w", name, err)
	}
	return sp, nil
}

// LoadDir reads every *.yaml, *.yml and *.json file of dir, in lexical
// order. A missing dir holds no services. Every bad file is reported; the
// good ones are still returned.
func LoadDir(dir string) ([]Spec, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading services directory: %w", err)
	}
	var specs []Spec
	var errs []error
	seen := map[string]string{}
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || !slices.Contains(SpecFileExts, ext) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sp, err := ParseSpecFile(p, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := seen[sp.Name]; dup {
			errs = append(errs, fmt.Errorf("%w: %s: service %q is already declared in %s", ErrInvalid, p, sp.Name, prev))
			continue
		}
		seen[sp.Name] = p
		specs = append(specs, sp)
	}
	return specs, errors.Join(errs...)
}
