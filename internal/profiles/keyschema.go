package profiles

import (
	"time"
)

// KeySchema is the JSON Schema (draft 2020-12) of config.yaml, from the
// table: each section an object of its keys, every other key allowed
// (hermes keeps it). Beside the standard keywords each key carries what a
// page generated from the table needs: key, section, kind (string,
// integer, duration, list, map), summary, restart and effect (next_request
// or restart), secret (false: secrets belong in .env), default_note. The
// same key schemas are listed in the table's order under "keys", the
// sections under "sections", and what a secret's key ends in under
// "secret_suffixes". GET /api/config/schema serves it.
func KeySchema() map[string]any {
	props := map[string]any{}
	var sections []map[string]any
	for _, sec := range KeySections() {
		keys := map[string]any{}
		for _, k := range keyTable() {
			if k.Section() == sec.Name {
				keys[k.Leaf()] = k.schema()
			}
		}
		props[sec.Name] = map[string]any{
			"type":                 "object",
			"description":          sec.Description,
			"properties":           keys,
			"additionalProperties": true,
		}
		sections = append(sections, map[string]any{"name": sec.Name, "description": sec.Description})
	}
	var keys []map[string]any
	for _, k := range keyTable() {
		keys = append(keys, k.schema())
	}
	return map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"title":                "hermes profile configuration (config.yaml)",
		"description":          "The keys hermes reads; every other key and comment is kept when hermes rewrites the file (hermes config set KEY VALUE). Secrets belong in the profile's .env.",
		"type":                 "object",
		"properties":           props,
		"additionalProperties": true,
		"sections":             sections,
		"keys":                 keys,
		"secret_suffixes":      secretSuffixes[:],
	}
}

// durationPattern is the text of a Go duration, as the schema states it
// (a bare number of seconds is a JSON number).
const durationPattern = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`

// schema is the key's JSON Schema with the table's own keywords.
func (k Key) schema() map[string]any {
	s := map[string]any{
		"key":         k.Name,
		"section":     k.Section(),
		"kind":        k.Kind.String(),
		"summary":     k.Summary,
		"description": k.Description,
		"restart":     k.Restart(),
		"effect":      k.Effect.String(),
		"secret":      k.Secret(),
	}
	switch k.Kind {
	case KindString:
		s["type"] = "string"
	case KindInt:
		s["type"] = "integer"
		s["minimum"], s["maximum"] = k.Min, k.Max
	case KindDuration:
		s["type"] = []string{"string", "number"}
		s["pattern"] = durationPattern
		s["minimum"] = time.Duration(k.Min).Seconds()
		s["maximum"] = time.Duration(k.Max).Seconds()
	case KindList:
		s["type"] = "array"
		s["items"] = map[string]any{"type": "string"}
	case KindMap:
		s["type"] = "object"
		s["additionalProperties"] = map[string]any{"type": "string"}
	}
	if k.Choices != nil {
		s["enum"] = k.Choices
	}
	if k.Format != "" {
		s["format"] = k.Format
	}
	if k.Default != nil {
		s["default"] = k.DefaultJSON()
	}
	if k.DefaultNote != "" {
		s["default_note"] = k.DefaultNote
	}
	if ex := k.exampleJSON(); ex != nil {
		s["examples"] = []any{ex}
	}
	return s
}

// exampleJSON is the key's Example as a value of its type (a list, a
// map), nil when there is none.
func (k Key) exampleJSON() any {
	if k.Example == "" {
		return nil
	}
	n, err := k.fromText(k.Example)
	if err != nil {
		return nil // TestKeyTable: every example is a valid value
	}
	var v any
	if n.Decode(&v) != nil {
		return nil
	}
	return v
}

// KeyDefaults is the configuration hermes uses for a config.yaml that sets
// nothing: every key of the table by section, its default or nil (JSON
// null) when it has none. GET /api/config/defaults serves it.
func KeyDefaults() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, k := range keyTable() {
		if out[k.Section()] == nil {
			out[k.Section()] = map[string]any{}
		}
		out[k.Section()][k.Leaf()] = k.DefaultJSON()
	}
	return out
}
