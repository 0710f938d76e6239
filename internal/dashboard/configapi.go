package dashboard

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/profiles"
)

// The configuration of a profile from the browser: GET /api/config and
// PUT /api/config (?profile=NAME, default "default"), and the page
// generated from the one table of keys (profiles.Keys). Every value goes
// through profiles.Config.Set, the validation of `hermes config set`, so a
// value the CLI refuses is refused here with the same message, and the
// file is written as the CLI writes it (profiles.WriteConfig: comments and
// unknown keys kept).

// recentLogin is how old a login may be for a change of model.* or of a
// secret from the browser.
const recentLogin = 5 * time.Minute

// maxConfigBody bounds the body of PUT /api/config.
const maxConfigBody = 64 << 10

// profileParam is ?profile=NAME (default "default"), refused unless the
// profile exists.
func (s *Server) profileParam(r *http.Request) (profiles.Ref, error) {
	p := r.URL.Query().Get("profile")
	if p == "" {
		p = profiles.Default
	}
	return s.checkProfile(p)
}

// configETag is the version of a profile's config.yaml: a digest of its
// bytes ("missing" when there is none), quoted as an ETag.
func configETag(data []byte, missing bool) string {
	if missing {
		return `"missing"`
	}
	sum := sha256.Sum256(data)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// readConfig reads a profile's config.yaml and its version.
func (s *Server) readConfig(profile profiles.Ref) (*profiles.Config, string, error) {
	path := profiles.ConfigPath(profile)
	data, err := profiles.ReadFile(s.home, path)
	missing := errors.Is(err, fs.ErrNotExist)
	if err != nil && !missing {
		return nil, "", err
	}
	c, err := profiles.LoadProfileConfig(profile)
	if err != nil {
		return nil, "", err
	}
	return c, configETag(data, missing), nil
}

// configKey is one key of the table with the profile's value, for the API
// and the page.
type configKey struct {
	Key     string `json:"key"`
	Section string `json:"section"`
	Kind    string `json:"kind"`
	// Value is the value as `hermes config set` takes it ("" when unset).
	Value string `json:"value"`
	Set   bool   `json:"set"`
	// Default is the default in the same form ("" when there is none).
	Default     string   `json:"default"`
	DefaultNote string   `json:"default_note,omitempty"`
	Choices     []string `json:"choices,omitempty"`
	Min         *int64   `json:"min,omitempty"`
	Max         *int64   `json:"max,omitempty"`
	Summary     string   `json:"summary"`
	Want        string   `json:"want"`
	Restart     bool     `json:"restart"`
	Effect      string   `json:"effect"`
	// Sensitive: a change needs a recent login and is audited (model.*).
	Sensitive bool `json:"sensitive"`
}

// sensitiveKey reports whether changing key from the browser needs a
// recent login and is audited: every model.* key (with model.base_url and
// model.api_key_env, a change could send a key to any URL).
func sensitiveKey(key string) bool { return strings.HasPrefix(key, "model.") }

// textOf is a value of config.yaml as `hermes config set` takes it.
func textOf(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case []any:
		parts := make([]string, len(t))
		for i, x := range t {
			parts[i] = textOf(x)
		}
		return strings.Join(parts, ", ")
	case []string:
		return strings.Join(t, ", ")
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + textOf(t[k])
		}
		return strings.Join(parts, ", ")
	case map[string]string:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = x
		}
		return textOf(m)
	case time.Duration:
		return t.String()
	}
	return fmt.Sprint(v)
}

// configKeys lists the table with c's values.
func configKeys(c *profiles.Config) []configKey {
	var out []configKey
	for _, k := range profiles.Keys() {
		ck := configKey{
			Key: k.Name, Section: k.Section(), Kind: k.Kind.String(), Default: textOf(k.DefaultJSON()),
			DefaultNote: k.DefaultNote, Choices: k.Choices, Summary: k.Summary, Want: k.Want,
			Restart: k.Restart(), Effect: k.Effect.String(), Sensitive: sensitiveKey(k.Name),
		}
		if k.Kind == profiles.KindInt {
			lo, hi := k.Min, k.Max
			ck.Min, ck.Max = &lo, &hi
		}
		if v, ok := c.Get(k.Name); ok {
			ck.Value, ck.Set = textOf(v), true
		}
		out = append(out, ck)
	}
	return out
}

// configBody is GET /api/config's answer.
type configBody struct {
	Profile string `json:"profile"`
	Path    string `json:"path"`
	ETag    string `json:"etag"`
	// Config is every key of the table: its value as config.yaml has it
	// (a string, number, list or map), or null when it is not set.
	Config map[string]any `json:"config"`
	Keys   []configKey    `json:"keys"`
}

func (s *Server) configBody(ref profiles.Ref, c *profiles.Config, etag string) configBody {
	b := configBody{Profile: ref.Name(), Path: profiles.ConfigPath(ref), ETag: etag, Config: map[string]any{}, Keys: configKeys(c)}
	for _, k := range profiles.Keys() {
		v, _ := c.Get(k.Name)
		b.Config[k.Name] = v
	}
	return b
}

// apiConfigGet is GET /api/config?profile=NAME: the profile's value of
// every key of the table, with its version (also as ETag) for If-Match.
func (s *Server) apiConfigGet(w http.ResponseWriter, r *http.Request) {
	ref, err := s.profileParam(r)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", err.Error())
		return
	}
	c, etag, err := s.readConfig(ref)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "config_unreadable", err.Error())
		return
	}
	w.Header().Set("ETag", etag)
	writeJSON(w, http.StatusOK, s.configBody(ref, c, etag))
}

// valueText turns a JSON value of PUT /api/config into the text `hermes
// config set` takes: a string as it is, a number or boolean as written, a
// list or map as JSON (a YAML flow collection, which set reads).
func valueText(raw json.RawMessage) (string, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	switch t := v.(type) {
	case string:
		return t, nil
	case json.Number:
		return t.String(), nil
	case bool:
		return strconv.FormatBool(t), nil
	}
	return string(raw), nil
}

// apiConfigPut is PUT /api/config?profile=NAME with {"config": {KEY:
// VALUE, …}}: each key set as `hermes config set KEY VALUE` would (the
// same validation and message; null unsets the key), all or nothing,
// comments and every other key of the file kept. If-Match, when sent,
// must be the version the form was made from, else 412 and nothing is
// written. A change of model.* needs a login less than 5 minutes old (in
// gated mode; open-insecure refuses it) and is audited.
func (s *Server) apiConfigPut(w http.ResponseWriter, r *http.Request) {
	ref, err := s.profileParam(r)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", err.Error())
		return
	}
	profile := ref.Name()
	var req struct {
		Config map[string]json.RawMessage `json:"config"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxConfigBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Config == nil {
		writeError(w, http.StatusBadRequest, "bad_request", `the body must be {"config": {"KEY": VALUE, …}}`)
		return
	}
	keys := make([]string, 0, len(req.Config))
	for k := range req.Config {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if slices.ContainsFunc(keys, sensitiveKey) {
		if err := s.needRecentLogin(r, "changing "+strings.Join(slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return !sensitiveKey(k) }), ", ")); err != nil {
			s.audit(r, "config.refused", "profile", profile, "keys", strings.Join(keys, ","), "why", err.Error())
			writeReauth(w, s.gate, err)
			return
		}
	}
	c, etag, err := s.readConfig(ref)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "config_unreadable", err.Error())
		return
	}
	if m := r.Header.Get("If-Match"); m != "" && m != "*" && m != etag {
		writeError(w, http.StatusPreconditionFailed, "stale",
			"config.yaml of profile "+profile+" changed since this form was loaded; nothing was written: reload to see the new values, then change them again")
		return
	}
	var effects []string
	for _, key := range keys {
		raw := req.Config[key]
		if string(bytes.TrimSpace(raw)) == "null" {
			if err := unsetKey(c, key); err != nil {
				writeError(w, http.StatusBadRequest, "invalid_value", err.Error())
				return
			}
		} else {
			text, err := valueText(raw)
			if err != nil {
				writeError(w, http.StatusBadRequest, "bad_request", key+": not a JSON value")
				return
			}
			if err := c.Set(key, text); err != nil {
				writeError(w, http.StatusBadRequest, "invalid_value", err.Error())
				return
			}
		}
		if k, ok := profiles.LookupKey(key); ok {
			effects = append(effects, key+": "+k.Effect.Say(profile))
		}
	}
	path := profiles.ConfigPath(ref)
	if err := profiles.WriteConfig(s.home, path, c); err != nil {
		writeError(w, http.StatusInternalServerError, "write_failed", err.Error())
		return
	}
	s.audit(r, "config.set", "profile", profile, "keys", strings.Join(keys, ","))
	s.hub.poke()
	c, etag, err = s.readConfig(ref)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "config_unreadable", err.Error())
		return
	}
	w.Header().Set("ETag", etag)
	body := s.configBody(ref, c, etag)
	writeJSON(w, http.StatusOK, map[string]any{"profile": profile, "etag": etag, "changed": keys, "effects": effects, "config": body.Config, "keys": body.Keys})
}

// needRecentLogin refuses a sensitive change unless the request's login
// is less than recentLogin old (gated mode). Open-local (loopback, the
// per-process token: the person at this machine) is let through;
// open-insecure, where nobody logged in, is refused.
func (s *Server) needRecentLogin(r *http.Request, what string) error {
	switch s.gate.Mode() {
	case authgate.OpenLocal:
		return nil
	case authgate.OpenInsecure:
		return fmt.Errorf("%s is refused on a dashboard open without a login (--insecure); configure a login, or use hermes config set", what)
	}
	id, ok := s.gate.Identity(r)
	if !ok || id.LoginAt.IsZero() || s.now().Sub(id.LoginAt) >= recentLogin {
		return fmt.Errorf("%s needs a login less than %d minutes old; sign in again, then retry", what, int(recentLogin/time.Minute))
	}
	return nil
}

// writeReauth answers a refused sensitive change: 403 with where to sign
// in again (gated mode only: an open dashboard has no login to offer).
func writeReauth(w http.ResponseWriter, g *authgate.Gate, err error) {
	body := map[string]string{"error": "recent_login_required", "detail": err.Error()}
	if g.Mode() == authgate.Gated {
		body["login_url"] = g.URL("/login")
	}
	writeJSON(w, http.StatusForbidden, body)
}

// audit writes one audit line of a change made from the browser: the
// event, who, and what (never a value).
func (s *Server) audit(r *http.Request, event string, attrs ...any) {
	s.log.Info("dashboard.audit", append([]any{"event", event, "by", s.who(r)}, attrs...)...)
}

// configView is the body of the config page.
type configView struct {
	Profile  string
	Profiles []string
	Path     string
	ETag     string
	Sections []configSection
	Error    string
}

type configSection struct {
	Name, Description string
	Keys              []configKey
}

// pageConfig is GET /config?profile=NAME: a form of every key of the
// table, with its type, range or choices, default and when a change takes
// effect; the page's script saves it with PUT /api/config.
func (s *Server) pageConfig(w http.ResponseWriter, r *http.Request) {
	ref, err := s.profileParam(r)
	if err != nil {
		s.renderError(w, r, http.StatusNotFound, err.Error())
		return
	}
	profile := ref.Name()
	v := configView{Profile: profile, Profiles: s.profileList(), Path: profiles.ConfigPath(ref)}
	c, etag, err := s.readConfig(ref)
	if err != nil {
		v.Error = err.Error()
		s.render(w, r, http.StatusOK, pageConfigName, "Configuration", v)
		return
	}
	v.ETag = etag
	keys := configKeys(c)
	for _, sec := range profiles.KeySections() {
		cs := configSection{Name: sec.Name, Description: sec.Description}
		for _, k := range keys {
			if k.Section == sec.Name {
				cs.Keys = append(cs.Keys, k)
			}
		}
		v.Sections = append(v.Sections, cs)
	}
	s.render(w, r, http.StatusOK, pageConfigName, "Configuration", v)
}
