// The profile's .env as a document: read keeping its comments and order,
// changed one variable at a time under the profiles lock, written
// atomically as the hermes uid. The CLI's hermes env and the dashboard's
// /api/env both go through these functions.

package profiles

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/safefs"
)

// ErrEnvName is wrapped by the refusal of a variable name that does not
// match ^[A-Z_][A-Z0-9_]*$.
var ErrEnvName = errors.New("invalid variable name")

// ErrEnvSyntax is wrapped by the error of a .env with a line that is not
// KEY=VALUE: LoadEnvFile refuses such a file (it names the line), and
// nothing is written to it until the line is fixed.
var ErrEnvSyntax = errEnvSyntax

// ErrEnvNotSet is wrapped when a variable asked for is not in the .env.
var ErrEnvNotSet = errors.New("not set")

// maxEnvValue bounds a value set through EnvSet: a secret, not a file.
const maxEnvValue = 64 << 10

// EnvDoc is a profile's .env as lines: each line as it was read, the
// variable it sets (if any) and its value. Set and Unset change only the
// lines of their variable; Bytes writes every other line back as it was.
type EnvDoc struct {
	// Path is the file (for messages).
	Path  string
	lines []envLine
}

type envLine struct {
	raw   string // the line as read or as written by Set, without "\n"
	key   string // "" for a blank or comment line
	value string
}

// ParseEnvDoc parses the content of a .env into its lines. A line that is
// not KEY=VALUE is an error wrapping ErrEnvSyntax that names the line's
// number: the document is then not usable (a rewrite would lose the
// line). A leading UTF-8 byte order mark is dropped; so is "\r" before
// "\n".
func ParseEnvDoc(path string, data []byte) (*EnvDoc, error) {
	s := strings.TrimPrefix(string(data), utf8BOM)
	s = strings.TrimSuffix(s, "\n")
	d := &EnvDoc{Path: path}
	if s == "" {
		return d, nil
	}
	for i, raw := range strings.Split(s, "\n") {
		raw = strings.TrimSuffix(raw, "\r")
		k, v, ok, err := parseEnvLine(raw)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w: %v; fix or remove that line (the file was left as it is)", path, i+1, errEnvSyntax, err)
		}
		if !ok {
			k = ""
		}
		d.lines = append(d.lines, envLine{raw: raw, key: k, value: v})
	}
	return d, nil
}

// Names returns the variables the .env sets, each once, in the order of
// their first line.
func (d *EnvDoc) Names() []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range d.lines {
		if l.key != "" && !seen[l.key] {
			seen[l.key] = true
			out = append(out, l.key)
		}
	}
	return out
}

// Get returns the value of a variable: its last line wins, as ReadEnv.
func (d *EnvDoc) Get(name string) (string, bool) {
	v, ok := "", false
	for _, l := range d.lines {
		if l.key == name {
			v, ok = l.value, true
		}
	}
	return v, ok
}

// Map returns every variable with its value.
func (d *EnvDoc) Map() map[string]string {
	m := map[string]string{}
	for _, l := range d.lines {
		if l.key != "" {
			m[l.key] = l.value
		}
	}
	return m
}

// Set gives a variable its value: the line that set it is rewritten in
// place (an "export " prefix kept; earlier lines of the same variable are
// removed), or a new line is added at the end.
func (d *EnvDoc) Set(name, value string) error {
	if err := CheckEnvName(name); err != nil {
		return err
	}
	if err := checkEnvValue(name, value); err != nil {
		return err
	}
	last := -1
	for i, l := range d.lines {
		if l.key == name {
			last = i
		}
	}
	line := name + "=" + quoteEnv(value)
	if last < 0 {
		d.lines = append(d.lines, envLine{raw: line, key: name, value: value})
		return nil
	}
	if strings.HasPrefix(strings.TrimSpace(d.lines[last].raw), "export") {
		line = "export " + line
	}
	d.lines[last] = envLine{raw: line, key: name, value: value}
	kept := d.lines[:0]
	for i, l := range d.lines {
		if l.key != name || i == last {
			kept = append(kept, l)
		}
	}
	d.lines = kept
	return nil
}

// Unset removes every line of a variable; it reports whether there was one.
func (d *EnvDoc) Unset(name string) bool {
	kept := d.lines[:0]
	found := false
	for _, l := range d.lines {
		if l.key == name {
			found = true
			continue
		}
		kept = append(kept, l)
	}
	d.lines = kept
	return found
}

// Bytes is the .env's content: every line, "\n" after each.
func (d *EnvDoc) Bytes() []byte {
	var b strings.Builder
	for _, l := range d.lines {
		b.WriteString(l.raw)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// CheckEnvName refuses a name that does not match ^[A-Z_][A-Z0-9_]*$, with
// the upper-case name to type instead where there is one.
func CheckEnvName(name string) error {
	if isUpperEnvName(name) {
		return nil
	}
	if up := strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name)); isUpperEnvName(up) {
		return fmt.Errorf("%w %q: use upper-case letters, digits and '_', not starting with a digit, such as %s", ErrEnvName, shortName(name), up)
	}
	return fmt.Errorf("%w %q: use upper-case letters, digits and '_', not starting with a digit, such as OPENROUTER_API_KEY", ErrEnvName, shortName(name))
}

// checkEnvValue refuses a value a .env line cannot hold: a NUL byte, or
// more than maxEnvValue bytes. Its errors never quote the value.
func checkEnvValue(name, value string) error {
	switch {
	case strings.IndexByte(value, 0) >= 0:
		return fmt.Errorf("the value of %s holds a NUL byte, which no environment variable can", name)
	case len(value) > maxEnvValue:
		return fmt.Errorf("the value of %s is %d bytes long, more than the %d a secret in .env may be", name, len(value), maxEnvValue)
	}
	return nil
}

// quoteEnv writes a value as ParseEnv reads it back: bare when it is
// plain, else in double quotes with \n, \r, \t, \", \\ and \$ escaped.
func quoteEnv(v string) string {
	plain := v != ""
	for i := 0; i < len(v) && plain; i++ {
		c := v[i]
		plain = c > ' ' && c < 0x7f && !strings.ContainsRune(`"'\#$`+"`", rune(c))
	}
	if plain {
		return v
	}
	if v == "" {
		return ""
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '"', '\\', '$':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// LoadEnvDoc reads the .env of a profile (as root through safefs). A
// missing file is an empty document; a broken line is an error naming it
// (ErrEnvSyntax).
func LoadEnvDoc(r Ref) (*EnvDoc, error) {
	path := EnvPath(r)
	data, err := treeOf(r.home).readFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &EnvDoc{Path: path}, nil
	case err != nil:
		return nil, fileError(path, err)
	}
	return ParseEnvDoc(path, data)
}

// EnvSet sets one variable of a profile's .env (see EnvEdit).
func EnvSet(r Ref, name, value string) error {
	if err := CheckEnvName(name); err != nil {
		return err
	}
	return EnvEdit(r, func(d *EnvDoc) error { return d.Set(name, value) })
}

// EnvUnset removes one variable from a profile's .env (see EnvEdit); a
// variable that is not there is an error wrapping ErrEnvNotSet, and the
// file is left alone.
func EnvUnset(r Ref, name string) error {
	if err := CheckEnvName(name); err != nil {
		return err
	}
	return EnvEdit(r, func(d *EnvDoc) error {
		if !d.Unset(name) {
			return fmt.Errorf("%s is %w in %s", name, ErrEnvNotSet, d.Path)
		}
		return nil
	})
}

// EnvRotateAPIKey writes a fresh API_SERVER_KEY into a profile's .env and
// returns it. A running gateway reads its .env again on the request after
// it changed (the agent watches the file's inode, size and times), so the
// old key stops working from its next request.
func EnvRotateAPIKey(r Ref) (string, error) {
	key, err := NewAPIKey()
	if err != nil {
		return "", err
	}
	return key, EnvEdit(r, func(d *EnvDoc) error { return d.Set(APIKeyVar, key) })
}

// EnvEdit changes a profile's .env with edit, holding the profiles lock
// (WithLock) from the read to the rename, so that two concurrent edits (in
// any process) both land. The profile must exist. A file with a broken
// line is refused before edit runs; when edit fails nothing is written.
// The new file replaces the old atomically, mode 0600, owned by the
// hermes uid (EnvOwner) also when the caller is root, who writes through
// safefs without following a symlink below home.
func EnvEdit(r Ref, edit func(*EnvDoc) error) error {
	if !r.IsDefault() {
		if ok, err := Lookup(r); err != nil {
			return err
		} else if !ok {
			return notExistError(r)
		}
	}
	return WithLock(r.home, func() error {
		d, err := LoadEnvDoc(r)
		if err != nil {
			return err
		}
		if err := edit(d); err != nil {
			return err
		}
		return writeEnvDoc(r.home, d)
	})
}

// writeEnvDoc replaces the .env with d, mode 0600, as the hermes uid.
func writeEnvDoc(home string, d *EnvDoc) error {
	t := treeOf(home)
	own := safefs.Keep
	if t.root {
		ids, err := EnvOwner()
		if err != nil {
			return err
		}
		own = safefs.Owner{UID: ids.UID, GID: ids.GID}
	}
	return t.writeAtomicAs(d.Path, d.Bytes(), EnvMode, own)
}

// EnvOwner is the owner of a .env that root writes: the hermes uid and gid
// of the process's environment (HERMES_UID/PUID, else the image's).
func EnvOwner() (hostenv.IDs, error) { return hostenv.OS().HermesIDs(os.Getgid) }

// Mask shows enough of a secret to tell two apart and never enough to use
// it: only stars for a value shorter than 16 bytes, its last four
// characters below 32, its first three and last four from 32 on (a
// provider's prefix, such as sk-, and the end people compare). An empty
// value is "".
func Mask(v string) string {
	switch {
	case v == "":
		return ""
	case len(v) < 16:
		return "********"
	case len(v) < 32:
		return "…" + v[len(v)-4:]
	}
	return v[:3] + "…" + v[len(v)-4:]
}

// Fingerprint identifies a key without revealing it: "sha256:" and the
// first 12 hex digits of its SHA-256. hermes profile show and the
// dashboard print it; a client can compute it from the key it holds.
func Fingerprint(key string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])[:12]
}

// EnvVar is one variable of a profile's .env as the CLI's list and the
// dashboard show it: never its value.
type EnvVar struct {
	Name          string `json:"key"`
	IsSet         bool   `json:"is_set"`
	RedactedValue string `json:"redacted_value"`
	Description   string `json:"description"`
	Category      string `json:"category"`
	IsPassword    bool   `json:"is_password"`
}

// Categories of EnvVar.
const (
	EnvCategoryGateway = "gateway"
	EnvCategoryModel   = "model"
	EnvCategoryOther   = "other"
)

// EnvVars lists a profile's .env: the variables hermes itself reads first
// (API_SERVER_KEY, and the variable model.api_key_env names, set or not),
// then every other variable of the file in its order. Values are masked.
func EnvVars(r Ref) ([]EnvVar, error) {
	d, err := LoadEnvDoc(r)
	if err != nil {
		return nil, err
	}
	known := []EnvVar{{Name: APIKeyVar, Category: EnvCategoryGateway, IsPassword: true,
		Description: "the key clients call this profile's gateway with (Authorization: Bearer); hermes env rotate " + APIKeyVar + " replaces it"}}
	if c, err := LoadProfileConfig(r); err == nil {
		if m, err := c.Model(); err == nil && m.APIKeyEnv != "" {
			known = append(known, EnvVar{Name: m.APIKeyEnv, Category: EnvCategoryModel, IsPassword: true,
				Description: "the upstream's key (" + KeyModelAPIKeyEnv + ")"})
		}
	}
	var out []EnvVar
	seen := map[string]bool{}
	fill := func(v EnvVar) EnvVar {
		if val, ok := d.Get(v.Name); ok {
			v.IsSet, v.RedactedValue = true, Mask(val)
		}
		return v
	}
	for _, v := range known {
		if !seen[v.Name] {
			seen[v.Name] = true
			out = append(out, fill(v))
		}
	}
	for _, n := range d.Names() {
		if seen[n] {
			continue
		}
		v := EnvVar{Name: n, Category: EnvCategoryOther, IsPassword: IsSecretKey(n), Description: "set in " + FileEnv}
		if n == legacyPortVar {
			v.Category, v.IsPassword, v.Description = EnvCategoryGateway, false, "legacy: the gateway's port when config.yaml has no gateway.port"
		}
		out = append(out, fill(v))
	}
	return out, nil
}
