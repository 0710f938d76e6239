package agent

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/sessions"
)

// SessionHeader carries the session of a request and of its answer.
const SessionHeader = "X-Hermes-Session-Id"

// Config configures an Agent.
type Config struct {
	// Profile is the profile's name. Required.
	Profile string
	// Dir is the profile's directory; "" means that of Profile in Home.
	Dir string
	// Home is HERMES_HOME, used when Dir is "".
	Home string
	// Store is the sessions store of the profile (its state.db). nil
	// keeps no sessions, and the Responses API answers 503.
	Store *sessions.Store
	// Env looks a variable up in the gateway's environment; model.api_key_env
	// and API_SERVER_KEY are read from the profile's .env first, then from
	// Env (API_SERVER_KEY, or API_SERVER_KEY_FILE). nil means os.LookupEnv.
	Env func(string) (string, bool)
	// HTTPClient calls the upstream; nil builds one with Timeouts.Connect.
	HTTPClient *http.Client
	// Timeouts bound the calls to the upstream; zero fields take defaults.
	Timeouts Timeouts
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the access log (one line per request), failures
	// and lifecycle messages; nil discards.
	Logger *slog.Logger
	// Routes are the gateway's own routes (its health), served in the
	// same table as the agent's, behind the same access log.
	Routes []Route
	// Observe, when set, is called with every request's Exchange once it
	// is answered, after its access log line.
	Observe func(*Exchange)
}

// Agent is a profile's agent and its HTTP surface (see the package doc).
// It is safe for concurrent use.
type Agent struct {
	profile   string
	dir       string
	home      string
	agentName string
	store     *sessions.Store
	env       func(string) (string, bool)
	client    *http.Client
	timeouts  Timeouts
	now       func() time.Time
	log       *slog.Logger
	started   time.Time

	// Fixed at New from config.yaml's gateway section (the table's
	// defaults where it sets nothing: profiles.Config.Gateway).
	maxBody int64
	origins []string
	slots   chan struct{}

	// Watched files, re-read when they change.
	soul   *watched[json.RawMessage] // SOUL.md as a system message (systemMessage)
	dotenv *watched[map[string]string]
	model  *watched[profiles.ModelConfig]
	auth   *watched[authKeys]

	draining atomic.Bool

	// The route table and its mux (routes.go), fixed at New.
	table   []route
	mux     *http.ServeMux
	observe func(*Exchange)

	// What the agent saw of its upstream, for Status.
	upstream upstreamRecord
}

// New builds the agent of the profile in cfg.Dir. It reads the gateway
// section of config.yaml (limits and CORS origins, fixed for the life of
// the Agent) and fails on a configuration that cannot work; the model
// section, SOUL.md, .env and auth.json are read on each request when they
// have changed.
func New(cfg Config) (*Agent, error) {
	ref, err := profiles.Parse(cfg.Home, cfg.Profile)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if cfg.Dir == "" && cfg.Home == "" {
		return nil, errors.New("agent: neither a profile directory nor HERMES_HOME")
	}
	if cfg.Dir == "" {
		cfg.Dir = ref.Dir()
	}
	c, err := profiles.LoadConfig(filepath.Join(cfg.Dir, profiles.FileConfig))
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", cfg.Profile, err)
	}
	g, err := c.Gateway()
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", cfg.Profile, err)
	}
	a := &Agent{
		profile:   cfg.Profile,
		dir:       cfg.Dir,
		home:      cfg.Home,
		agentName: "hermes-" + cfg.Profile,
		store:     cfg.Store,
		env:       cfg.Env,
		client:    cfg.HTTPClient,
		timeouts:  cfg.Timeouts.withDefaults(),
		now:       cfg.Now,
		log:       cfg.Logger,
		maxBody:   g.MaxBodyBytes,
		origins:   g.CORSOrigins,
	}
	if a.env == nil {
		a.env = os.LookupEnv
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.slots = make(chan struct{}, g.MaxConcurrent)
	if a.client == nil {
		a.client = newHTTPClient(a.timeouts, g.MaxConcurrent)
	}
	a.started = a.now()
	a.soul = newWatched(filepath.Join(cfg.Dir, profiles.FileSOUL), loadSOUL)
	a.dotenv = newWatched(filepath.Join(cfg.Dir, profiles.FileEnv), profiles.ReadEnv)
	a.model = newWatched(filepath.Join(cfg.Dir, profiles.FileConfig), loadModel)
	a.auth = newWatched(AuthPath(cfg.Dir), loadAuthKeys)
	a.observe = cfg.Observe
	if err := a.buildRoutes(cfg.Routes); err != nil {
		return nil, err
	}
	return a, nil
}

// Drain makes the agent refuse new requests with 503 (code "draining")
// while the requests and streams in flight go on to their end. The
// gateway calls it on SIGTERM, then http.Server.Shutdown bounded by
// gateway.drain_timeout, which waits for them.
func (a *Agent) Drain() { a.draining.Store(true) }

// Handler returns the gateway's HTTP surface: the route table (the
// gateway's Config.Routes and the agent's own) behind the access log.
func (a *Agent) Handler() http.Handler { return http.HandlerFunc(a.serve) }

// handlerFunc is a route: it answers, or returns an error that wrap
// writes (when the route has written nothing yet).
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// admit refuses a request to a route of access x without the right key
// or, for an API route, while draining or over gateway.max_concurrent;
// an admitted API request holds a slot, which the caller releases.
func (a *Agent) admit(r *http.Request, x Access) error {
	if x == Public {
		return nil
	}
	if x == API && a.draining.Load() {
		return fail(ErrUnavailable, codeDraining, "the gateway of profile %s is stopping; retry shortly", a.profile)
	}
	if err := a.authorize(r); err != nil {
		return err
	}
	if x != API {
		return nil
	}
	select {
	case a.slots <- struct{}{}:
	default:
		return fail(ErrBusy, "rate_limit_exceeded", "the gateway of profile %s already serves %d requests (gateway.max_concurrent); retry shortly", a.profile, cap(a.slots))
	}
	return nil
}

const codeDraining = "draining"

// authorize checks Authorization: Bearer <API_SERVER_KEY>. Both sides are
// hashed to fixed-length digests compared with subtle.ConstantTimeCompare,
// so neither the key's content nor its length leaks through timing.
func (a *Agent) authorize(r *http.Request) error {
	want, err := a.serverKey()
	if err != nil {
		return err
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return fail(ErrUnauthorized, "missing_api_key", "no Authorization header: send Authorization: Bearer <API_SERVER_KEY of profile %s>", a.profile)
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return fail(ErrUnauthorized, "invalid_auth_scheme", "the Authorization header must use the Bearer scheme: Authorization: Bearer <API_SERVER_KEY>")
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	exp := sha256.Sum256([]byte(want))
	if subtle.ConstantTimeCompare(got[:], exp[:]) != 1 {
		return fail(ErrUnauthorized, "invalid_api_key", "invalid API key: use the API_SERVER_KEY of profile %s", a.profile)
	}
	return nil
}

// serverKey is the key clients must present: API_SERVER_KEY from the
// profile's .env (re-read when it changes), else the orchestrator's key
// from the environment (API_SERVER_KEY, or the file API_SERVER_KEY_FILE
// names: profiles.EnvAPIKey, checked the way the first boot checks it).
func (a *Agent) serverKey() (string, error) {
	vars, fresh, err := a.dotenv.get()
	if err != nil && fresh {
		a.log.Warn("agent: reading the profile's .env", "err", err)
	}
	if k := vars[profiles.APIKeyVar]; k != "" {
		return k, nil
	}
	k, _, ok, err := profiles.EnvAPIKey(a.env, a.home)
	if err != nil {
		return "", fail(ErrUnavailable, "bad_api_key", "the gateway of profile %s has no usable API key: %v", a.profile, err)
	}
	if ok {
		return k, nil
	}
	return "", fail(ErrUnavailable, "no_api_key", "the gateway of profile %s has no API_SERVER_KEY: add API_SERVER_KEY=<64 hex characters> to %s", a.profile, filepath.Join(a.dir, profiles.FileEnv))
}

// lookup reads a variable of the gateway's environment as the gateway
// sees it: the profile's .env overlaid on Config.Env. A .env that cannot
// be read is logged once per version and skipped.
func (a *Agent) lookup(name string) (string, bool) {
	vars, fresh, err := a.dotenv.get()
	if err != nil && fresh {
		a.log.Warn("agent: reading the profile's .env", "err", err)
	}
	if v, ok := vars[name]; ok {
		return v, true
	}
	return a.env(name)
}

// cors applies gateway.cors_origins. A request from an allowed origin gets
// the CORS headers; a preflight (OPTIONS with Origin and
// Access-Control-Request-Method) is answered here: 204 for an allowed
// origin, 403 without any CORS header for another. handled reports that
// the request was answered.
func (a *Agent) cors(w http.ResponseWriter, r *http.Request) (handled bool) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	allowed := slices.Contains(a.origins, "*") || slices.ContainsFunc(a.origins, func(o string) bool {
		return strings.EqualFold(strings.TrimSuffix(o, "/"), origin)
	})
	h := w.Header()
	h.Add("Vary", "Origin")
	if !allowed {
		if preflight {
			writeError(w, fail(ErrForbidden, "origin_not_allowed", "the origin %s is not in gateway.cors_origins of profile %s", origin, a.profile))
			return true
		}
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", SessionHeader+", Retry-After")
	if !preflight {
		return false
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS")
	if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" && validHeaderList(rh) {
		h.Set("Access-Control-Allow-Headers", rh)
	} else {
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, "+SessionHeader)
	}
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// validHeaderList reports whether s is a comma-separated list of header
// names (what a browser sends in Access-Control-Request-Headers).
func validHeaderList(s string) bool {
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" || len(name) > 100 {
			return false
		}
		for i := 0; i < len(name); i++ {
			c := name[i]
			if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return false
			}
		}
	}
	return true
}

// readBody reads the request's body, bounded by gateway.max_body_bytes.
func (a *Agent) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	tooLarge := func() error {
		return fail(ErrTooLarge, "request_too_large", "the request body is over gateway.max_body_bytes (%d bytes) of profile %s", a.maxBody, a.profile)
	}
	if r.ContentLength > a.maxBody {
		return nil, tooLarge()
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge()
	case err != nil:
		return nil, fail(ErrBadRequest, "body_read_failed", "reading the request body: %w", err)
	}
	return b, nil
}

// loadSOUL reads SOUL.md, the system prompt, as its system message.
func loadSOUL(path string) (json.RawMessage, error) {
	b, err := readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is missing: it is the profile's marker and the agent's persona; restore it", path)
	}
	if err != nil {
		return nil, err
	}
	return systemMessage(SystemPrompt(string(b))), nil
}

// SystemPrompt is what of a SOUL.md's text the model gets: the text
// without its HTML comment blocks (<!-- ... -->, the notes for people; an
// unclosed one runs to the end), a leading byte order mark and the blank
// space around it. A block inside a fenced code block (```) is kept: it
// is part of an example, not a note.
func SystemPrompt(soul string) string {
	soul = strings.TrimPrefix(soul, "\ufeff")
	var b strings.Builder
	fenced := false
	lines := strings.SplitAfter(soul, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.HasPrefix(strings.TrimLeft(line, " "), "```") {
			fenced = !fenced
		}
		if fenced {
			b.WriteString(line)
			continue
		}
		for {
			open := strings.Index(line, "<!--")
			if open < 0 {
				b.WriteString(line)
				break
			}
			b.WriteString(line[:open])
			rest := line[open+4:]
			for !strings.Contains(rest, "-->") && i+1 < len(lines) {
				i++
				rest = lines[i]
			}
			end := strings.Index(rest, "-->")
			if end < 0 {
				line = ""
				break
			}
			line = rest[end+3:]
			if strings.TrimSpace(line) == "" {
				break // the line of the closing marker adds nothing
			}
		}
	}
	return strings.TrimSpace(b.String())
}

// systemPrompt is SOUL.md as it is on disk now, as the system message
// of a request (nil when it holds nothing).
func (a *Agent) systemPrompt() (json.RawMessage, error) {
	s, fresh, err := a.soul.get()
	if err != nil {
		if fresh {
			a.log.Error("agent: reading SOUL.md", "err", err)
		}
		return nil, fail(ErrUnavailable, "soul_unreadable", "%w", err)
	}
	return s, nil
}

// loadModel reads the model section of config.yaml.
func loadModel(path string) (profiles.ModelConfig, error) {
	c, err := profiles.LoadConfig(path)
	if err != nil {
		return profiles.ModelConfig{}, err
	}
	return c.Model()
}

// profileFlag is "-p NAME " for a named profile, for suggested commands.
func (a *Agent) profileFlag() string {
	if a.profile == profiles.Default {
		return ""
	}
	return "-p " + a.profile + " "
}

// resolve maps the model a client names to the upstream's: a name that
// model.aliases maps goes to the model it names, and every other name
// (hermes-agent, hermes-<profile>, model.name, or whatever a client has
// hard-coded, such as gpt-4o) to model.name. A model that is not
// configured, or whose credential cannot be had, is a 503 saying how to
// fix it.
func (a *Agent) resolve(name string) (target, error) {
	m, fresh, err := a.model.get()
	if err != nil {
		if fresh {
			a.log.Error("agent: reading config.yaml", "err", err)
		}
		return target{}, fail(ErrUnavailable, "config_invalid", "%w", err)
	}
	upstream, aliased := m.Aliases[name]
	if !aliased {
		upstream = m.Name
	}
	if m.BaseURL == "" || upstream == "" {
		f := a.profileFlag()
		return target{}, fail(ErrUnavailable, "no_model_configured",
			"no model is configured for profile %s: set one with hermes %sconfig set model.base_url https://openrouter.ai/api/v1 (any OpenAI-compatible endpoint with its version prefix), hermes %sconfig set model.name MODEL, and the key with hermes %sconfig set model.api_key_env VARIABLE (a variable in %s) or hermes %slogin --provider NAME then hermes %sconfig set model.provider NAME",
			a.profile, f, f, f, filepath.Join(a.dir, profiles.FileEnv), f, f)
	}
	tgt := target{url: strings.TrimSuffix(m.BaseURL, "/") + "/chat/completions", model: upstream, requested: name}
	switch {
	case m.APIKeyEnv != "":
		k, _ := a.lookup(m.APIKeyEnv)
		if k == "" {
			return target{}, fail(ErrUnavailable, "no_credentials",
				"model.api_key_env of profile %s names %s, which is not set in the gateway's environment: add %s=<key> to %s (read again on the next request)",
				a.profile, m.APIKeyEnv, m.APIKeyEnv, filepath.Join(a.dir, profiles.FileEnv))
		}
		tgt.key = k
	case m.Provider != "":
		keys, fresh, err := a.auth.get()
		if err != nil {
			if fresh {
				a.log.Error("agent: reading auth.json", "err", err)
			}
			return target{}, fail(ErrUnavailable, "credentials_unreadable", "%w", err)
		}
		k := keys[m.Provider]
		if k == "" {
			return target{}, fail(ErrUnavailable, "no_credentials",
				"no key is stored for provider %q (model.provider of profile %s) in %s: store one with hermes %slogin --provider %s",
				m.Provider, a.profile, AuthPath(a.dir), a.profileFlag(), m.Provider)
		}
		tgt.key = k
	}
	return tgt, nil
}

// model is an entry of GET /v1/models.
type model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// ReferenceModel is the model name of the reference's gateway, which
// clients written for it send: it names the agent, like hermes-<profile>.
const ReferenceModel = "hermes-agent"

// models lists what GET /v1/models answers, locally (the upstream is not
// asked): the agent's names (hermes-<profile>, hermes-agent), model.name
// when it is set, and the names model.aliases maps, sorted.
func (a *Agent) models() []model {
	created := a.started.Unix()
	list := []model{{ID: a.agentName, Object: "model", Created: created, OwnedBy: "hermes"}}
	add := func(id, owner string) {
		if !slices.ContainsFunc(list, func(m model) bool { return m.ID == id }) {
			list = append(list, model{ID: id, Object: "model", Created: created, OwnedBy: owner})
		}
	}
	add(ReferenceModel, "hermes")
	m, _, err := a.model.get()
	if err != nil {
		return list
	}
	if m.Name != "" {
		add(m.Name, "upstream")
	}
	for _, name := range slices.Sorted(maps.Keys(m.Aliases)) {
		add(name, "upstream")
	}
	return list
}

func (a *Agent) listModels(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{"list", a.models()})
	return nil
}

// getModel is GET /v1/models/{model}: a listed model as it is listed;
// any other name is served too (by model.name), and answered as the
// agent's.
func (a *Agent) getModel(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("model")
	if id == "" {
		return &apiError{kind: ErrNotFound, code: "model_not_found", param: "model", msg: "name a model: GET /v1/models/{model}"}
	}
	for _, m := range a.models() {
		if m.ID == id {
			writeJSON(w, http.StatusOK, m)
			return nil
		}
	}
	writeJSON(w, http.StatusOK, model{ID: id, Object: "model", Created: a.started.Unix(), OwnedBy: "hermes"})
	return nil
}

// sessionID is the request's session: X-Hermes-Session-Id when present
// (validated: 400 otherwise), else a new one. given reports that the
// client named it.
func sessionID(r *http.Request) (id string, given bool, err error) {
	v := r.Header.Values(SessionHeader)
	switch len(v) {
	case 0:
		return sessions.NewSessionID(), false, nil
	case 1:
	default:
		return "", false, fail(ErrBadRequest, "invalid_session_id", "%s appears %d times; send it once", SessionHeader, len(v))
	}
	if err := sessions.ValidSessionID(v[0]); err != nil {
		return "", false, fail(ErrBadRequest, "invalid_session_id", "invalid %s: %v", SessionHeader, err)
	}
	return v[0], true, nil
}

// shorten cuts s to n bytes for a message.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
