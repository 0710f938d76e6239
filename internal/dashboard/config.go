package dashboard

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hermes-agent/hermes/internal/agent"
	"github.com/hermes-agent/hermes/internal/profiles"
)

// configKey is one key of config.yaml that hermes reads (CONTRACT §5): its
// JSON Schema and its default. The table mirrors the validation of package
// profiles (hermes config set); config_test.go holds the two together by
// setting every bound through profiles.Config.Set.
type configKey struct {
	key         string // dotted: section.name
	typ         string // JSON Schema type: string, integer, array
	min, max    int64  // integer range (when typ is integer)
	format      string // JSON Schema format, or ""
	description string
	// def is the value hermes uses when the key is absent; nil when there
	// is none (the key is then simply unset).
	def any
}

// configKeys is the table behind /api/config/schema and
// /api/config/defaults, in the order of profiles.DefaultConfig.
func configKeys() []configKey {
	maxDrain := profiles.GatewayStopGrace - time.Millisecond
	return []configKey{
		{key: "model.base_url", typ: "string", format: "uri",
			description: "An OpenAI-compatible endpoint with its version prefix, such as https://openrouter.ai/api/v1 (http or https, no credentials, query or fragment); the gateway calls POST {base_url}/chat/completions."},
		{key: "model.name", typ: "string",
			description: "The upstream model, such as anthropic/claude-sonnet-4 (one line). Requests naming it or hermes-<profile> go to the upstream."},
		{key: "model.api_key_env", typ: "string",
			description: "The name of the environment variable (e.g. in the profile's .env) that holds the upstream key, never the key itself."},
		{key: "model.provider", typ: "string",
			description: "A credential stored by hermes login --provider NAME in auth.json (lower-case letters, digits, '-', '_', '.')."},
		{key: "gateway.host", typ: "string", def: profiles.DefaultGatewayHost,
			description: "The gateway's bind address; when absent, HERMES_GATEWAY_HOST (the image sets 0.0.0.0), else 127.0.0.1."},
		{key: "gateway.cors_origins", typ: "array", def: []string{},
			description: `Browser origins allowed to call the gateway's API ("*" or scheme://host[:port]); none by default.`},
		{key: "gateway.max_concurrent", typ: "integer", min: 1, max: 100000, def: agent.DefaultMaxConcurrent,
			description: "Requests the gateway serves at once."},
		{key: "gateway.max_body_bytes", typ: "integer", min: 1, max: 1 << 30, def: agent.DefaultMaxBodyBytes,
			description: "The largest request body the gateway accepts, in bytes (at most 1 GiB)."},
		{key: "gateway.drain_timeout", typ: "string", def: profiles.DefaultDrainTimeout.String(),
			description: "How long a stopping gateway lets running requests finish: a duration such as 5s or 1500ms (or a number of seconds), from 0s to " + maxDrain.String() + ", below the gateway's stop grace (" + profiles.GatewayStopGrace.String() + ")."},
		{key: "gateway.port", typ: "integer", min: 1, max: 65535, def: profiles.DefaultGatewayPort,
			description: "The port of the profile's gateway: 8642 for the default profile; hermes profile create gives every other profile the lowest free port above it."},
	}
}

// section and name of a dotted key.
func (k configKey) split() (section, name string) {
	section, name, _ = strings.Cut(k.key, ".")
	return section, name
}

// schemaOf is a key's JSON Schema.
func (k configKey) schemaOf() map[string]any {
	s := map[string]any{"type": k.typ, "description": k.description}
	switch k.typ {
	case "integer":
		s["minimum"], s["maximum"] = k.min, k.max
	case "array":
		s["items"] = map[string]any{"type": "string"}
	}
	if k.key == "gateway.drain_timeout" {
		// A Go duration string, or a bare number of seconds.
		s["type"] = []string{"string", "number"}
		s["pattern"] = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
		s["maximum"] = (profiles.GatewayStopGrace - time.Millisecond).Seconds()
		s["minimum"] = 0
	}
	if k.format != "" {
		s["format"] = k.format
	}
	if k.def != nil {
		s["default"] = k.def
	}
	return s
}

// configSchema is the JSON Schema (draft 2020-12) of config.yaml's known
// keys; any other key is allowed and kept by hermes.
func configSchema() map[string]any {
	sections := map[string]map[string]any{}
	var order []string
	for _, k := range configKeys() {
		sec, name := k.split()
		if sections[sec] == nil {
			sections[sec] = map[string]any{}
			order = append(order, sec)
		}
		sections[sec][name] = k.schemaOf()
	}
	desc := map[string]string{
		"model":   "The upstream the profile's gateway calls.",
		"gateway": "The profile's gateway: where it listens and its limits.",
	}
	props := map[string]any{}
	for _, sec := range order {
		props[sec] = map[string]any{
			"type":                 "object",
			"description":          desc[sec],
			"properties":           sections[sec],
			"additionalProperties": true,
		}
	}
	return map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"title":                "hermes profile configuration (config.yaml)",
		"description":          "The keys hermes reads; every other key and comment is kept when hermes rewrites the file (hermes config set KEY VALUE).",
		"type":                 "object",
		"properties":           props,
		"additionalProperties": true,
	}
}

// configDefaults is the configuration hermes uses for a config.yaml that
// sets nothing: every known key with a default, by section.
func configDefaults() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, k := range configKeys() {
		sec, name := k.split()
		if out[sec] == nil {
			out[sec] = map[string]any{}
		}
		out[sec][name] = k.def // nil (JSON null): no default, unset
	}
	return out
}

// apiConfigDefaults is GET /api/config/defaults (public): the defaults of
// config.yaml's known keys, and the commented config.yaml a new profile
// starts with.
func (s *Server) apiConfigDefaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"config":   configDefaults(),
		"template": string(profiles.DefaultConfig(0)),
	})
}

// apiConfigSchema is GET /api/config/schema (public).
func (s *Server) apiConfigSchema(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, configSchema())
}

// modelInfo is /api/model/info: the default profile's model, and the host
// of its upstream, never a key nor where the key is.
type modelInfo struct {
	Profile     string  `json:"profile"`
	Model       *string `json:"model"`
	BaseURLHost *string `json:"base_url_host"`
}

// apiModelInfo is GET /api/model/info (public). A config.yaml that cannot
// be read gives nulls (the probe never says why: the reason names a path).
func (s *Server) apiModelInfo(w http.ResponseWriter, r *http.Request) {
	info := modelInfo{Profile: profiles.Default}
	if m, err := s.model(profiles.Default); err == nil {
		if m.Name != "" {
			info.Model = &m.Name
		}
		if h := urlHost(m.BaseURL); h != "" {
			info.BaseURLHost = &h
		}
	}
	writeJSON(w, http.StatusOK, info)
}

// model reads the model section of a profile's config.yaml.
func (s *Server) model(profile string) (profiles.ModelConfig, error) {
	c, err := profiles.LoadProfileConfig(s.home, profile)
	if err != nil {
		return profiles.ModelConfig{}, err
	}
	return c.Model()
}

// urlHost is the host (and port) of a URL, "" when there is none.
func urlHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// pluginsSchemaVersion is the version of /api/dashboard/plugins' shape.
const pluginsSchemaVersion = 1

// apiPlugins is GET /api/dashboard/plugins (public): this dashboard has no
// plugins; the list is empty and says so, in the reference's shape.
func (s *Server) apiPlugins(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"schema_version": pluginsSchemaVersion,
		"plugins":        []any{},
	})
}
