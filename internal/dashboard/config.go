package dashboard

import (
	"net/http"
	"net/url"

	"github.com/hermes-agent/hermes/internal/profiles"
)

// apiConfigDefaults is GET /api/config/defaults (public): the defaults of
// the table of keys (profiles.KeyDefaults), and the commented config.yaml a
// new profile starts with.
func (s *Server) apiConfigDefaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"config":   profiles.KeyDefaults(),
		"template": string(profiles.DefaultConfig(0)),
	})
}

// apiConfigSchema is GET /api/config/schema (public): the table of keys as
// JSON Schema (profiles.KeySchema).
func (s *Server) apiConfigSchema(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, profiles.KeySchema())
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
	if m, err := s.model(profiles.MustParse(s.home, profiles.Default)); err == nil {
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
func (s *Server) model(profile profiles.Ref) (profiles.ModelConfig, error) {
	c, err := profiles.LoadProfileConfig(profile)
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
