package profiles

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// utf8BOM is stripped from the start of config.yaml and .env (editors on
// Windows write it).
const utf8BOM = "\ufeff"

// Config is a profile's config.yaml. It wraps the YAML document node, so a
// rewrite (Set, then Bytes) keeps every comment and every key hermes does
// not know. The keys hermes reads, their types, defaults and ranges, are
// the table of keys.go (Keys); Set sets only those, the readers (Gateway,
// Model, Sessions) validate them with the same code.
//
// A Config is not safe for concurrent use.
type Config struct {
	// doc is a DocumentNode whose only child is the top-level mapping.
	doc *yaml.Node
	// prefix is the text of a file that held only comments: YAML keeps
	// no node for it, so it is kept verbatim and written back first.
	prefix []byte
	// indent is the indentation of the original file, kept on rewrite.
	indent int
	// path names the file in messages ("" when parsed from bytes).
	path string
	// profile is the profile the file belongs to, for the fixes that
	// messages suggest ("" when unknown).
	profile string
	// shared is true while doc is the tree LoadConfig's cache holds: Set
	// copies it first.
	shared bool
}

// GatewayConfig is the gateway section of config.yaml, with the table's
// defaults where a key is not set. Host and Port are "" and 0 when they are
// not set: their defaults depend on more than the file (Host, Port).
type GatewayConfig struct {
	Host          string
	Port          int
	CORSOrigins   []string
	MaxConcurrent int
	MaxBodyBytes  int64
	DrainTimeout  time.Duration
}

// ModelConfig is the model section of config.yaml ("" means not set). It
// names where the key is, never the key itself.
type ModelConfig struct {
	BaseURL   string
	Name      string
	APIKeyEnv string
	Provider  string
	// Aliases maps a model name a client sends to the upstream model that
	// serves it; a name it does not map is served by Name. nil when unset.
	Aliases map[string]string
}

// SessionsConfig is the sessions section of config.yaml, with the table's
// defaults where a key is not set.
type SessionsConfig struct {
	IdleTimeout time.Duration
	MaxBytes    int64
}

// LoadConfig reads a config.yaml. A missing file is an empty configuration
// and no error (Set then Bytes creates it); an unreadable file is an error
// naming the file, its owner and its mode; a file that is not a regular
// file, or is larger than MaxConfigBytes, is an error without being read;
// invalid YAML is an error with the line. Each version of a file is parsed
// once (see configCache): loading it again is a stat.
func LoadConfig(path string) (*Config, error) {
	c, err := loadConfigFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		c, _ := ParseConfig(nil)
		c.path = path
		return c, nil
	}
	if _, open := err.(*fs.PathError); open {
		return nil, fileError(path, err)
	}
	return c, err
}

// ParseConfig parses the content of a config.yaml. Empty content (or only
// comments) is an empty configuration; a leading UTF-8 byte order mark is
// ignored. The top level must be a mapping, and there must be one YAML
// document.
func ParseConfig(data []byte) (*Config, error) {
	data = bytes.TrimPrefix(data, []byte(utf8BOM))
	c := &Config{indent: detectIndent(data)}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	err := dec.Decode(&doc)
	switch {
	case errors.Is(err, io.EOF) || err == nil && doc.Kind == 0:
		c.prefix = commentLines(data)
		c.doc = &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{newMapping()}}
		return c, nil
	case err != nil:
		return nil, yamlError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, yamlError(err)
		}
		return nil, fmt.Errorf("invalid config: more than one YAML document (a second one starts at line %d); keep one", extra.Line)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("invalid config: not a YAML document")
	}
	root := doc.Content[0]
	switch {
	case isNull(root):
		root.Kind, root.Tag, root.Value, root.Style = yaml.MappingNode, "!!map", "", 0
	case root.Kind != yaml.MappingNode:
		return nil, fmt.Errorf("invalid config: the top level must be keys such as gateway: and model:, found %s at line %d", describeNode(root), root.Line)
	}
	// What decoding would check and the node tree does not: duplicate
	// keys, malformed tagged values, merges, and aliases (bounded).
	if err := checkDocument(&doc); err != nil {
		return nil, err
	}
	c.doc = &doc
	return c, nil
}

// commentLines returns the comment lines of a document without nodes
// (only comments, blank lines and markers), to be kept on rewrite; nil
// when there are none or the text is not UTF-8.
func commentLines(data []byte) []byte {
	if !utf8.Valid(data) {
		return nil
	}
	var out []byte
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, " \t\r")
		if t := strings.TrimLeft(line, " \t"); strings.HasPrefix(t, "#") {
			out = append(out, t...)
			out = append(out, '\n')
		}
	}
	return out
}

// yamlError turns a parser error into a message for a person; yaml's own
// errors already say "line N".
func yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	return fmt.Errorf("invalid YAML: %s", msg)
}

// detectIndent returns the indentation of the first indented key of data,
// so that a rewrite keeps the file's style; 2 when there is none.
func detectIndent(data []byte) int {
	for _, line := range strings.Split(string(data), "\n") {
		t := strings.TrimLeft(line, " ")
		n := len(line) - len(t)
		if n == 0 || t == "" || t[0] == '#' || t[0] == '-' {
			continue
		}
		if n >= 2 && n <= 8 {
			return n
		}
		break
	}
	return 2
}

func newMapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

func (c *Config) root() *yaml.Node { return c.doc.Content[0] }

// Path is the file the configuration was loaded from ("" for ParseConfig).
func (c *Config) Path() string { return c.path }

// splitKey splits a dotted key into its parts, refusing empty parts.
func splitKey(key string) ([]string, error) {
	if strings.TrimSpace(key) == "" {
		return nil, errors.New("empty key: name one such as gateway.port")
	}
	parts := strings.Split(key, ".")
	for _, p := range parts {
		if p == "" || strings.TrimSpace(p) != p || strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return nil, fmt.Errorf("%q is not a key: use dotted names such as gateway.port", key)
		}
	}
	return parts, nil
}

// deref follows an alias.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// lookup returns the value node of key k in mapping m, or nil.
func lookup(m *yaml.Node, k string) *yaml.Node {
	m = deref(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	var found *yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		if kn := m.Content[i]; kn.Kind == yaml.ScalarNode && kn.Value == k {
			found = m.Content[i+1]
		}
	}
	return found
}

// node returns the value node of a dotted key, or nil when it is absent or
// null.
func (c *Config) node(parts []string) *yaml.Node {
	n := c.root()
	for _, p := range parts {
		if n = deref(lookup(n, p)); n == nil {
			return nil
		}
	}
	if isNull(n) {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// Get returns the value of a dotted key at any depth: a string, int,
// float64, bool, []any or map[string]any as YAML decodes it. A key that is
// absent, or set to null, is not set (ok false).
func (c *Config) Get(key string) (value any, ok bool) {
	parts, err := splitKey(key)
	if err != nil {
		return nil, false
	}
	n := c.node(parts)
	if n == nil {
		return nil, false
	}
	if err := n.Decode(&value); err != nil {
		return nil, false
	}
	return value, true
}

// Set sets a dotted key of the table (Keys) to value, creating the
// sections on the way. The value is validated (type and range) and stored
// with its type; a wrong value is refused with a message naming the key,
// the value and what is expected. Any other key is refused: a secret with
// the command that puts it in .env, an unknown key with the nearest known
// one. Comments and every other key are kept; a comment on the line of a
// replaced value stays. Set never replaces a whole section by a value.
func (c *Config) Set(key, value string) error {
	parts, err := splitKey(key)
	if err != nil {
		return err
	}
	spec, err := c.knownKey(key, parts)
	if err != nil {
		return err
	}
	val, err := spec.fromText(value)
	if err != nil {
		return err
	}
	c.own()
	m := c.root()
	for i, p := range parts[:len(parts)-1] {
		child := lookup(m, p)
		switch {
		case child == nil:
			child = newMapping()
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p}, child)
		case child.Kind == yaml.AliasNode:
			return fmt.Errorf("cannot set %s: %s is a YAML alias (*%s); edit %s by hand", key, strings.Join(parts[:i+1], "."), child.Value, c.fileName())
		case isNull(child):
			child.Kind, child.Tag, child.Value, child.Style = yaml.MappingNode, "!!map", "", 0
		case child.Kind != yaml.MappingNode:
			return fmt.Errorf("cannot set %s: %s is %s, not a section (line %d of %s)", key, strings.Join(parts[:i+1], "."), describeNode(child), child.Line, c.fileName())
		}
		m = child
	}
	last := parts[len(parts)-1]
	old := lookup(m, last)
	switch {
	case old == nil:
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: last}, val)
		return nil
	case old.Kind == yaml.AliasNode:
		return fmt.Errorf("cannot set %s: its value is a YAML alias (*%s); edit %s by hand", key, old.Value, c.fileName())
	case old.Kind == yaml.MappingNode && len(old.Content) > 0 && spec.Kind != KindMap:
		return fmt.Errorf("cannot set %s: it is a section with %d keys (line %d of %s); set one of them, such as %s.%s", key, len(old.Content)/2, old.Line, c.fileName(), key, old.Content[0].Value)
	}
	if old.Anchor != "" {
		return fmt.Errorf("cannot set %s: other keys refer to its value (&%s); edit %s by hand", key, old.Anchor, c.fileName())
	}
	head, line, foot := old.HeadComment, old.LineComment, old.FootComment
	style := old.Style
	*old = *val
	old.HeadComment, old.LineComment, old.FootComment = head, line, foot
	if val.Kind == yaml.ScalarNode && val.Tag == "!!str" && style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		old.Style = style // a quoted string stays quoted the same way
	}
	return nil
}

// profileFlag is "-p NAME " for a named profile's file, for the commands
// that messages suggest.
func (c *Config) profileFlag() string {
	if c.profile == "" || c.profile == Default {
		return ""
	}
	return "-p " + c.profile + " "
}

// LoadProfileConfig is LoadConfig of a profile's config.yaml; its
// messages suggest the fix with the profile's -p flag. As root the file is
// read through safefs (see tree).
func LoadProfileConfig(r Ref) (*Config, error) {
	c, err := treeOf(r.home).loadConfig(ConfigPath(r))
	if err != nil {
		return nil, err
	}
	c.profile = r.name
	return c, nil
}

func (c *Config) fileName() string {
	if c.path == "" {
		return FileConfig
	}
	return c.path
}

// Bytes returns the configuration as YAML: the original comments and keys,
// in their order, with the file's indentation. An empty configuration is
// empty (or its comments only).
func (c *Config) Bytes() ([]byte, error) {
	var buf bytes.Buffer
	buf.Write(c.prefix)
	root := c.root()
	if len(root.Content) == 0 && root.HeadComment == "" && root.FootComment == "" && c.doc.HeadComment == "" && c.doc.FootComment == "" {
		return buf.Bytes(), nil
	}
	if c.prefix != nil {
		buf.WriteByte('\n')
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(c.indent)
	if err := enc.Encode(c.doc); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", c.fileName(), err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", c.fileName(), err)
	}
	return buf.Bytes(), nil
}

// Gateway returns the gateway section, validated, with the table's
// defaults: a key of the wrong type or out of range is an error naming the
// key, its line and what is expected.
func (c *Config) Gateway() (GatewayConfig, error) {
	g := GatewayConfig{
		CORSOrigins:   []string{},
		MaxConcurrent: DefaultMaxConcurrent,
		MaxBodyBytes:  DefaultMaxBodyBytes,
		DrainTimeout:  DefaultDrainTimeout,
	}
	err := c.readSection("gateway", map[string]func(typed){
		KeyGatewayHost:          func(v typed) { g.Host = v.s },
		KeyGatewayPort:          func(v typed) { g.Port = int(v.i) },
		KeyGatewayCORSOrigins:   func(v typed) { g.CORSOrigins = v.list },
		KeyGatewayMaxConcurrent: func(v typed) { g.MaxConcurrent = int(v.i) },
		KeyGatewayMaxBodyBytes:  func(v typed) { g.MaxBodyBytes = v.i },
		KeyGatewayDrainTimeout:  func(v typed) { g.DrainTimeout = v.d },
	})
	return g, err
}

// Model returns the model section, validated like Gateway.
func (c *Config) Model() (ModelConfig, error) {
	var m ModelConfig
	err := c.readSection("model", map[string]func(typed){
		KeyModelBaseURL:   func(v typed) { m.BaseURL = v.s },
		KeyModelName:      func(v typed) { m.Name = v.s },
		KeyModelAPIKeyEnv: func(v typed) { m.APIKeyEnv = v.s },
		KeyModelProvider:  func(v typed) { m.Provider = v.s },
		KeyModelAliases: func(v typed) {
			if len(v.m) > 0 {
				m.Aliases = v.m
			}
		},
	})
	return m, err
}

// Sessions returns the sessions section, validated like Gateway, with the
// table's defaults.
func (c *Config) Sessions() (SessionsConfig, error) {
	s := SessionsConfig{IdleTimeout: DefaultIdleTimeout, MaxBytes: DefaultSessionsMaxBytes}
	err := c.readSection("sessions", map[string]func(typed){
		KeySessionsIdleTimeout: func(v typed) { s.IdleTimeout = v.d },
		KeySessionsMaxBytes:    func(v typed) { s.MaxBytes = v.i },
	})
	return s, err
}

// readSection reads every key of the table in section name, calling set
// with the value of each key that is set; the errors of all are joined.
// set must have an entry for every key of the section.
func (c *Config) readSection(name string, set map[string]func(typed)) error {
	if err := c.checkSection(name); err != nil {
		return err
	}
	var errs []error
	for _, k := range keyTable() {
		if k.Section() != name {
			continue
		}
		v, ok, err := c.readKey(k)
		switch {
		case err != nil:
			errs = append(errs, err)
		case ok:
			set[k.Name](v)
		}
	}
	return errors.Join(errs...)
}

// checkSection refuses a known section that is not a mapping.
func (c *Config) checkSection(name string) error {
	n := c.node([]string{name})
	if n == nil || n.Kind == yaml.MappingNode {
		return nil
	}
	s, _ := section(name)
	return fmt.Errorf("%s: %s must hold keys such as %s, found %s (line %d)", c.fileName(), name, s.Example, describeNode(n), n.Line)
}

// read returns the validated value of a key of the table; ok is false
// when the key is not set.
func (c *Config) read(key string) (v typed, ok bool, err error) {
	spec, _ := LookupKey(key)
	return c.readKey(spec)
}

// readKey is read of the key k.
func (c *Config) readKey(k Key) (v typed, ok bool, err error) {
	n := c.node(strings.Split(k.Name, "."))
	if n == nil {
		return typed{}, false, nil
	}
	v, err = k.fromNode(n)
	if err != nil {
		return typed{}, false, fmt.Errorf("%s line %d: %w (fix it with: hermes %sconfig set %s VALUE)", c.fileName(), n.Line, err, c.profileFlag(), k.Name)
	}
	return v, true, nil
}

// describeNode says what kind of value n is, for messages.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a section"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		case "!!null":
			return "null"
		}
		return fmt.Sprintf("the string %q", shortName(n.Value))
	}
	return "an unexpected value"
}

// fileError explains an error opening path; for a permission error it names
// the file's owner and mode, and who is asking.
func fileError(path string, err error) error {
	if !errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("cannot read %s: %w", path, err)
	}
	owner := ""
	if fi, serr := os.Stat(path); serr == nil {
		owner = ownerString(fi)
	}
	return fmt.Errorf("cannot read %s (%s), running as uid %d: %w; make it readable by this user (chown or chmod it)", path, owner, os.Getuid(), err)
}
