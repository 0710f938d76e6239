package profiles

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"go.yaml.in/yaml/v3"
)

// MaxConfigBytes is the largest config.yaml hermes reads (1 MiB): the
// public /api/model/info and every gateway read it, and whoever can write
// a profile chooses its content.
const MaxConfigBytes = 1 << 20

// maxAliasNodes bounds what YAML aliases add to a config.yaml: the nodes
// they stand for, counted on the parsed tree before anything expands them
// (a "billion laughs" document is a few hundred bytes).
const maxAliasNodes = 100_000

// maxCachedConfigs and maxCachedBytes bound the parsed files LoadConfig
// keeps: their number, and the sum of their sizes (a parsed tree takes
// tens of times its file's size).
const (
	maxCachedConfigs = 64
	maxCachedBytes   = 4 << 20
)

// configParses counts the parses LoadConfig did (for tests).
var configParses atomic.Int64

// fileStamp identifies one version of a file without reading it: another
// file (device, inode, after a rename), another size, or a write (the
// modification time, and the change time that a write always moves, even
// when the modification time is put back).
type fileStamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

func stampOf(fi fs.FileInfo) fileStamp {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	}
	return fileStamp{dev: uint64(st.Dev), ino: st.Ino, size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}
}

// configCache keeps the parse of each config.yaml for its version, so that
// what is read per request (the public /api/model/info, a gateway's every
// request) parses a file once per change. The cached Config is never
// changed: LoadConfig hands out copies that share its tree until Set.
var configCache = struct {
	sync.Mutex
	m    map[string]*cachedConfig
	tick uint64
}{m: map[string]*cachedConfig{}}

type cachedConfig struct {
	stamp fileStamp
	cfg   *Config // nil when err is set
	err   error
	used  uint64
}

// loadConfigFile reads and parses a config.yaml through the cache: a file
// that is not a regular file, or is larger than MaxConfigBytes, is refused
// without being read. A missing file is fs.ErrNotExist.
func loadConfigFile(path string) (*Config, error) {
	// O_NONBLOCK: a FIFO planted as config.yaml must not block the open.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileError(path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s): hermes reads config.yaml only from a plain file", path, fi.Mode().Type())
	}
	if fi.Size() > MaxConfigBytes {
		return nil, tooLarge(path, fi.Size())
	}
	stamp := stampOf(fi)
	configCache.Lock()
	configCache.tick++
	if c := configCache.m[path]; c != nil && c.stamp == stamp {
		c.used = configCache.tick
		configCache.Unlock()
		return c.cfg.share(), c.err
	}
	configCache.Unlock()

	data, err := io.ReadAll(io.LimitReader(f, MaxConfigBytes+1))
	if err != nil {
		return nil, fileError(path, err)
	}
	if len(data) > MaxConfigBytes {
		return nil, tooLarge(path, int64(len(data)))
	}
	configParses.Add(1)
	cfg, err := ParseConfig(data)
	if err != nil {
		cfg, err = nil, fmt.Errorf("%s: %w", path, err)
	} else {
		cfg.path = path
	}
	configCache.Lock()
	defer configCache.Unlock()
	delete(configCache.m, path)
	for len(configCache.m) > 0 && (len(configCache.m) >= maxCachedConfigs || cachedBytes()+stamp.size > maxCachedBytes) {
		var oldest string
		for p, c := range configCache.m {
			if oldest == "" || c.used < configCache.m[oldest].used {
				oldest = p
			}
		}
		delete(configCache.m, oldest)
	}
	configCache.m[path] = &cachedConfig{stamp: stamp, cfg: cfg, err: err, used: configCache.tick}
	return cfg.share(), err
}

// cachedBytes is the sum of the cached files' sizes; configCache is locked.
func cachedBytes() int64 {
	var n int64
	for _, c := range configCache.m {
		n += c.stamp.size
	}
	return n
}

func tooLarge(path string, size int64) error {
	return fmt.Errorf("%s is %d bytes, over the 1 MiB (%d bytes) a config.yaml may have: hermes does not read it; keep only the keys you need", path, size, MaxConfigBytes)
}

// share returns a copy of c that shares its tree; the copy's Set copies
// the tree first (own). nil stays nil.
func (c *Config) share() *Config {
	if c == nil {
		return nil
	}
	cp := *c
	cp.shared = true
	return &cp
}

// own gives c a tree of its own before it is changed.
func (c *Config) own() {
	if !c.shared {
		return
	}
	c.doc = cloneNode(c.doc, map[*yaml.Node]*yaml.Node{})
	c.shared = false
}

// cloneNode copies a node tree; an alias points into the copy.
func cloneNode(n *yaml.Node, seen map[*yaml.Node]*yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	if m := seen[n]; m != nil {
		return m
	}
	m := new(yaml.Node)
	*m = *n
	seen[n] = m
	if n.Content != nil {
		m.Content = make([]*yaml.Node, len(n.Content))
		for i, ch := range n.Content {
			m.Content[i] = cloneNode(ch, seen)
		}
	}
	m.Alias = cloneNode(n.Alias, seen)
	return m
}

// errAliases is the refusal of a document whose aliases expand too far.
var errAliases = fmt.Errorf("invalid config: its YAML aliases stand for more than %d nodes (a \"billion laughs\" document); hermes does not expand them", maxAliasNodes)

// checkDocument checks, in one pass over the parsed document, what decoding it
// would: no key twice in a mapping, no list or mapping as a key, tagged
// scalars that are what their tag says, merges (<<) of mappings only, and
// aliases that stand for at most maxAliasNodes nodes in all and never for
// themselves. It replaces decoding the whole document, whose duplicate-key
// check takes quadratic time (a 1 MiB mapping of short keys: a minute) and
// which would expand every alias.
func checkDocument(doc *yaml.Node) error {
	c := treeCheck{size: map[*yaml.Node]int{}}
	if err := c.walk(doc); err != nil {
		return err
	}
	return nil
}

type treeCheck struct {
	// size is the expanded size of each anchored node once known; -1
	// while it is being computed (an alias reaching it is a cycle).
	size    map[*yaml.Node]int
	aliased int // nodes the aliases stand for, so far
}

// keyOf is what makes two keys of a mapping the same key.
type keyOf struct {
	kind  yaml.Kind
	value string
}

func (c *treeCheck) walk(n *yaml.Node) error {
	switch n.Kind {
	case yaml.AliasNode:
		s, err := c.expanded(n.Alias)
		if err != nil {
			return err
		}
		if c.aliased += s; c.aliased > maxAliasNodes {
			return errAliases
		}
		return nil
	case yaml.ScalarNode:
		if n.Style&yaml.TaggedStyle != 0 {
			var v any
			if err := n.Decode(&v); err != nil {
				return yamlError(err)
			}
		}
		return nil
	case yaml.MappingNode:
		seen := make(map[keyOf]int, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			id := keyOf{k.Kind, k.Value}
			if line, dup := seen[id]; dup {
				return fmt.Errorf("invalid YAML: line %d: mapping key %q already defined at line %d", k.Line, k.Value, line)
			}
			seen[id] = k.Line
			if t := deref(k); t != nil && (t.Kind == yaml.MappingNode || t.Kind == yaml.SequenceNode) {
				return fmt.Errorf("invalid YAML: line %d: a key cannot be %s", k.Line, describeNode(t))
			}
			if k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge") {
				if err := checkMerge(v); err != nil {
					return err
				}
			}
		}
	}
	for _, ch := range n.Content {
		if err := c.walk(ch); err != nil {
			return err
		}
	}
	return nil
}

// expanded is the number of nodes n stands for, aliases expanded; it
// stops at the bound.
func (c *treeCheck) expanded(n *yaml.Node) (int, error) {
	if n == nil {
		return 0, errors.New("invalid YAML: an alias without its anchor")
	}
	switch s, ok := c.size[n]; {
	case ok && s < 0:
		return 0, fmt.Errorf("invalid config: the YAML alias *%s stands for a value that contains it", n.Anchor)
	case ok:
		return s, nil
	}
	c.size[n] = -1
	total := 1
	if n.Kind == yaml.AliasNode {
		s, err := c.expanded(n.Alias)
		if err != nil {
			return 0, err
		}
		total = s
	}
	for _, ch := range n.Content {
		s, err := c.expanded(ch)
		if err != nil {
			return 0, err
		}
		if total += s; total > maxAliasNodes {
			return 0, errAliases
		}
	}
	c.size[n] = total
	return total, nil
}

// checkMerge refuses a merge (<<) of anything but a mapping or a list of
// mappings, as decoding would.
func checkMerge(v *yaml.Node) error {
	bad := fmt.Errorf("invalid YAML: line %d: a merge (<<) needs a mapping or a list of mappings", v.Line)
	switch v.Kind {
	case yaml.MappingNode:
		return nil
	case yaml.AliasNode:
		if v.Alias != nil && v.Alias.Kind != yaml.MappingNode {
			return bad
		}
		return nil
	case yaml.SequenceNode:
		for _, e := range v.Content {
			if t := e; t.Kind == yaml.AliasNode {
				if t.Alias != nil && t.Alias.Kind != yaml.MappingNode {
					return bad
				}
			} else if t.Kind != yaml.MappingNode {
				return bad
			}
		}
		return nil
	}
	return bad
}
