package profiles

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// ConfigPath is the path of a profile's config.yaml.
func ConfigPath(r Ref) string { return r.path(FileConfig) }

// EnvPath is the path of a profile's .env.
func EnvPath(r Ref) string { return r.path(FileEnv) }

// SOULPath is the path of a profile's SOUL.md, its marker.
func SOULPath(r Ref) string { return r.path(FileSOUL) }

// DefaultSOUL is the SOUL.md of a new profile: the marker that makes the
// directory a profile, and the agent's persona, for the person to edit.
// Its note for people is an HTML comment block, which the agent strips
// (agent.SystemPrompt) before SOUL.md becomes the system prompt.
func DefaultSOUL(name string) []byte {
	return []byte(fmt.Sprintf(`<!--
SOUL.md of hermes profile %s.

This file makes this directory a hermes profile and holds the agent's persona:
who it is, how it speaks, what it cares about. Edit it freely; deleting it
makes hermes forget the profile. Everything outside comment blocks like this
one is sent to the model as its system prompt; the blocks are not, so keep
notes for people in them.
-->

You are Hermes, a capable and candid assistant. You think before you act,
say plainly what you know and what you do not, and you ask when a request
is ambiguous.
`, name))
}

// DefaultConfig is the config.yaml of a new profile, written from the
// table of keys (Keys): gateway.port set to port (left commented out at its
// default when port is 0), and every other key hermes reads commented out
// at its default, or with an example where it has none, each with its
// summary. A section's header says when the gateway takes a change. The
// sections that are only comments come first, so that keys added later by
// hermes config set follow the lines that document them.
func DefaultConfig(port int) []byte {
	var b strings.Builder
	b.WriteString("# hermes profile configuration. Change a key with: hermes config set KEY VALUE\n" +
		"# Every key hermes reads is below, commented out at its default, or with an\n" +
		"# example where it has none. Secrets such as API keys belong in .env, never\n" +
		"# here. Keys and comments hermes does not know are kept when it rewrites this file.\n")
	live := func(k Key) bool { return k.Name == KeyGatewayPort && port > 0 }
	// The table is built once (each keyTable call builds it anew), and
	// which sections hold a live key is decided once, not per comparison.
	table := keyTable()
	withLive := map[string]int{}
	for _, k := range table {
		if live(k) {
			withLive[k.Section()] = 1
		}
	}
	sections := KeySections()
	// Sections without a live key first, in the table's order.
	slices.SortStableFunc(sections, func(a, b KeySection) int {
		return withLive[a.Name] - withLive[b.Name]
	})
	for _, sec := range sections {
		var keys []Key
		for _, k := range table {
			if k.Section() == sec.Name {
				keys = append(keys, k)
			}
		}
		hasLive := slices.ContainsFunc(keys, live)
		fmt.Fprintf(&b, "\n# %s — %s\n# %s\n", sec.Name, sec.Description, sectionEffect(keys))
		indent := "  # "
		if hasLive {
			b.WriteString(sec.Name + ":\n")
		} else {
			b.WriteString("# " + sec.Name + ":\n")
			indent = "#   "
		}
		width := 0
		for _, k := range keys {
			if !live(k) {
				width = max(width, len(seedLine(k)))
			}
		}
		var last Key
		for _, k := range keys {
			if live(k) {
				last = k
				continue
			}
			fmt.Fprintf(&b, "%s%-*s  # %s\n", indent, width, seedLine(k), seedComment(k))
		}
		if last.Name != "" {
			fmt.Fprintf(&b, "  #\n  # %s\n  %s: %d\n", last.Summary, last.Leaf(), port)
		}
	}
	return []byte(b.String())
}

// sectionEffect says when the gateway takes a change of the keys of a
// section; all keys of a section have the same Effect (TestKeyTable).
func sectionEffect(keys []Key) string {
	if keys[0].Effect == Restart {
		return "A change takes effect when the gateway restarts: hermes gateway restart"
	}
	return "A change is used from the gateway's next request: no restart needed"
}

// seedLine is "name: value" of a key in the seeded config.yaml: its
// default, else its example.
func seedLine(k Key) string {
	v := k.DefaultText()
	if k.Default == nil {
		v = k.Example
	}
	return k.Leaf() + ": " + v
}

// seedComment is the comment of a key in the seeded config.yaml.
func seedComment(k Key) string {
	c := k.Summary
	switch {
	case k.Default == nil:
		c = "(an example) " + c
	case k.Example != "":
		c += ", e.g. " + k.Example
	}
	if k.DefaultNote != "" {
		c += "; the default is " + k.DefaultNote
	}
	return c
}

// NewAPIKey returns a fresh API_SERVER_KEY: 64 hex characters from
// crypto/rand.
func NewAPIKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating an API key: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// EnvFile is the .env of a new profile, holding API_SERVER_KEY=apiKey.
func EnvFile(apiKey string) []byte {
	return []byte("# secrets of this profile (mode 0600), added to its gateway's environment\n" +
		"API_SERVER_KEY=" + apiKey + "\n")
}
