// What config.yaml holds of the table (hermes config list), returning a
// key to its default (hermes config unset), and the secrets it should not
// hold (hermes doctor).

package profiles

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// KeyValue is one key of the table as a config.yaml holds it.
type KeyValue struct {
	Key Key
	// Set is true when the file sets the key (to a valid value or not).
	Set bool
	// Value is the value in use as hermes config set takes it: the file's
	// when it is set and valid, else the key's default ("" when it has
	// none).
	Value string
	// Err is the refusal of an invalid value in the file; hermes then
	// fails where it reads the key.
	Err error
}

// Values returns every key of the table, in its order, with what the file
// sets.
func (c *Config) Values() []KeyValue {
	var out []KeyValue
	for _, k := range keyTable() {
		kv := KeyValue{Key: k, Value: k.DefaultText()}
		v, ok, err := c.readKey(k)
		switch {
		case err != nil:
			kv.Set, kv.Err = true, err
		case ok:
			kv.Set, kv.Value = true, k.text(v)
		}
		out = append(out, kv)
	}
	return out
}

// text writes a valid value of the key as hermes config set takes it.
func (k Key) text(v typed) string {
	switch k.Kind {
	case KindInt:
		return fmt.Sprint(v.i)
	case KindDuration:
		return formatDuration(v.d)
	case KindList:
		return "[" + strings.Join(v.list, ", ") + "]"
	case KindMap:
		parts := make([]string, 0, len(v.m))
		for _, n := range slices.Sorted(maps.Keys(v.m)) {
			parts = append(parts, n+": "+v.m[n])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return v.s
}

// Unset removes a dotted key from the file, so that hermes uses its
// default again; a section left empty is removed with it, and the key's
// comment moves to what follows. It reports whether the key was set. Only
// a key of the table, or a secret that does not belong in config.yaml
// (IsSecretKey, which hermes doctor warns of), may be unset; any other key
// is refused as Set refuses it.
func (c *Config) Unset(key string) (bool, error) {
	parts, err := splitKey(key)
	if err != nil {
		return false, err
	}
	if _, ok := LookupKey(key); !ok && !IsSecretKey(key) {
		if _, err := c.knownKey(key, parts); err != nil {
			return false, err
		}
	}
	c.own()
	// The chain of mappings down to the key's parent: chain[i] is the
	// value of parts[i-1] in chain[i-1].
	chain := []*yaml.Node{c.root()}
	for _, p := range parts[:len(parts)-1] {
		child := deref(lookup(chain[len(chain)-1], p))
		if child == nil || child.Kind != yaml.MappingNode {
			return false, nil
		}
		chain = append(chain, child)
	}
	if !removeKey(chain[len(chain)-1], parts[len(parts)-1]) {
		return false, nil
	}
	for i := len(chain) - 1; i > 0 && len(chain[i].Content) == 0 && chain[i].Anchor == ""; i-- {
		removeKey(chain[i-1], parts[i-1])
	}
	return true, nil
}

// removeKey removes the pairs of key k from mapping m (every one of them:
// a duplicate would come back otherwise), keeping their head comments on
// what follows. It reports whether it removed one.
func removeKey(m *yaml.Node, k string) bool {
	removed := false
	for i := 0; i+1 < len(m.Content); {
		kn := m.Content[i]
		if kn.Kind != yaml.ScalarNode || kn.Value != k {
			i += 2
			continue
		}
		head := kn.HeadComment
		m.Content = append(m.Content[:i], m.Content[i+2:]...)
		if head != "" {
			if i < len(m.Content) {
				next := m.Content[i]
				next.HeadComment = strings.TrimSpace(head + "\n" + next.HeadComment)
			} else {
				m.FootComment = strings.TrimSpace(head + "\n" + m.FootComment)
			}
		}
		removed = true
	}
	return removed
}

// SecretKeys returns the dotted keys of the file that name a secret
// (IsSecretKey), in the file's order: a secret in config.yaml (mode 0640)
// is readable by more than the hermes uid and is read by nothing; it
// belongs in .env.
func (c *Config) SecretKeys() []string {
	var out []string
	var walk func(n *yaml.Node, prefix string, depth int)
	walk = func(n *yaml.Node, prefix string, depth int) {
		n = deref(n)
		if n == nil || n.Kind != yaml.MappingNode || depth > 16 {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn := n.Content[i]
			if kn.Kind != yaml.ScalarNode {
				continue
			}
			name := prefix + kn.Value
			if IsSecretKey(name) {
				out = append(out, name)
				continue
			}
			walk(n.Content[i+1], name+".", depth+1)
		}
	}
	walk(c.root(), "", 0)
	return out
}
