package profiles

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// The keys of config.yaml that hermes reads. Each is spelled here once;
// every reader, message and page asks the table (Keys, LookupKey).
const (
	KeyModelBaseURL         = "model.base_url"
	KeyModelName            = "model.name"
	KeyModelAPIKeyEnv       = "model.api_key_env"
	KeyModelProvider        = "model.provider"
	KeyModelAliases         = "model.aliases"
	KeyGatewayHost          = "gateway.host"
	KeyGatewayPort          = "gateway.port"
	KeyGatewayCORSOrigins   = "gateway.cors_origins"
	KeyGatewayMaxConcurrent = "gateway.max_concurrent"
	KeyGatewayMaxBodyBytes  = "gateway.max_body_bytes"
	KeyGatewayDrainTimeout  = "gateway.drain_timeout"
	KeySessionsIdleTimeout  = "sessions.idle_timeout"
	KeySessionsMaxBytes     = "sessions.max_bytes"
)

// The defaults of the keys, where a key has one. Readers (Gateway,
// Sessions, Host, Port) fill them in; the table states them.
const (
	// DefaultGatewayHost is gateway.host when neither config.yaml nor
	// HERMES_GATEWAY_HOST says otherwise.
	DefaultGatewayHost = "127.0.0.1"
	// DefaultGatewayPort is gateway.port of the default profile when its
	// config.yaml does not set one (other profiles get one at creation).
	DefaultGatewayPort = 8642
	// DefaultMaxConcurrent is gateway.max_concurrent when it is not set.
	DefaultMaxConcurrent = 32
	// DefaultMaxBodyBytes is gateway.max_body_bytes when it is not set.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultDrainTimeout is gateway.drain_timeout when it is not set.
	DefaultDrainTimeout = 5 * time.Second
	// DefaultIdleTimeout is sessions.idle_timeout when it is not set.
	DefaultIdleTimeout = 30 * time.Minute
	// DefaultSessionsMaxBytes is sessions.max_bytes when it is not set.
	DefaultSessionsMaxBytes = 1 << 30
)

// GatewayStopGrace is the stop_grace of a gateway service (CONTRACT §4);
// gateway.drain_timeout must stay below it, so that a stopping gateway
// finishes its requests before it is killed.
const GatewayStopGrace = 6 * time.Second

// Bounds of the keys whose range is not plain.
const (
	maxBodyBytes     = 1 << 30 // gateway.max_body_bytes: 1 GiB
	minSessionsBytes = 1 << 20 // sessions.max_bytes: 1 MiB ..
	maxSessionsBytes = 1 << 40 // .. 1 TiB
	maxAliasName     = 256     // a name of model.aliases, in bytes
)

// Kind is the type of a key's value.
type Kind int

const (
	// KindString is one line of text (checked by the key).
	KindString Kind = iota
	// KindInt is a whole number in [Min, Max].
	KindInt
	// KindDuration is a Go duration ("5s", "1500ms") or a number of
	// seconds, in [Min, Max] nanoseconds.
	KindDuration
	// KindList is a list of strings, each checked by the key.
	KindList
	// KindMap is a map of strings to strings, names and values checked.
	KindMap
)

// String is the kind's name in the schema: string, integer, duration,
// list or map.
func (k Kind) String() string {
	switch k {
	case KindInt:
		return "integer"
	case KindDuration:
		return "duration"
	case KindList:
		return "list"
	case KindMap:
		return "map"
	}
	return "string"
}

// Effect says when a running gateway takes a new value of a key: the
// truth of the gateway's code, held to it by gateway's TestKeyEffects.
type Effect int

const (
	// NextRequest: the gateway reads the key again on the request after
	// config.yaml changed (the agent watches the file).
	NextRequest Effect = iota + 1
	// Restart: the gateway reads the key once, when it starts.
	Restart
)

// String is the effect's name in the schema: next_request or restart.
func (e Effect) String() string {
	if e == Restart {
		return "restart"
	}
	return "next_request"
}

// Say tells a person when the gateway of profile takes a change, naming
// the command where a restart is needed.
func (e Effect) Say(profile string) string {
	if e == Restart {
		return fmt.Sprintf("the gateway uses it from its next start: hermes -p %s gateway restart", profile)
	}
	return "used from the gateway's next request (no restart needed)"
}

// Key is one key of config.yaml that hermes reads: its type, default,
// range or choices, what it means and when a change takes effect. Keys are
// never secrets: a secret belongs in .env (IsSecretKey), and no key of the
// table is one.
type Key struct {
	// Name is the dotted key, section first: "gateway.port".
	Name string
	Kind Kind
	// Min and Max bound a KindInt, and a KindDuration in nanoseconds.
	Min, Max int64
	// Choices, when not nil, are the only values a KindString takes.
	Choices []string
	// Format is the JSON Schema format of a KindString ("uri"), or "".
	Format string
	// Default is the value hermes uses when the key is not set: a string,
	// int64, time.Duration, []string or map[string]string by Kind; nil
	// when there is none (the key is then simply unset).
	Default any
	// DefaultNote says what else decides the default, "" when nothing
	// does.
	DefaultNote string
	// Example is a value as hermes config set takes it, for a key without
	// a default.
	Example string
	// Summary is one line for the seeded config.yaml and the help.
	Summary string
	// Description is the whole story, for the schema.
	Description string
	// Want says what a value must be, for messages.
	Want   string
	Effect Effect

	// check validates a KindString, each element of a KindList or each
	// value of a KindMap; checkName each name of a KindMap.
	check, checkName func(string) error
}

// Section is the part of the name before its first dot.
func (k Key) Section() string { s, _, _ := strings.Cut(k.Name, "."); return s }

// Leaf is the part of the name after its section.
func (k Key) Leaf() string { _, l, _ := strings.Cut(k.Name, "."); return l }

// Secret reports whether the key's name is one of a secret (IsSecretKey):
// false for every key of the table.
func (k Key) Secret() bool { return IsSecretKey(k.Name) }

// Restart reports whether a change needs a gateway restart.
func (k Key) Restart() bool { return k.Effect == Restart }

// KeySection is a section of config.yaml whose keys hermes reads.
type KeySection struct {
	Name        string
	Description string
	// Example is a key of the section, for messages.
	Example string
}

// KeySections returns the sections of the table, in its order.
func KeySections() []KeySection {
	return []KeySection{
		{Name: "model", Example: KeyModelName,
			Description: "The upstream the profile's gateway calls, and the names clients may ask for."},
		{Name: "gateway", Example: KeyGatewayPort,
			Description: "The profile's gateway: where it listens and its limits."},
		{Name: "sessions", Example: KeySessionsIdleTimeout,
			Description: "The profile's sessions store (state.db): when a session ends, how large the store may grow."},
	}
}

// Keys returns the table: every key of config.yaml that hermes reads, by
// section, in the order of the seeded config.yaml. Each call builds it
// anew: the caller may modify the result.
func Keys() []Key { return keyTable() }

// LookupKey returns the key of the table named name.
func LookupKey(name string) (Key, bool) {
	for _, k := range keyTable() {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

// section returns the section of the table named name.
func section(name string) (KeySection, bool) {
	for _, s := range KeySections() {
		if s.Name == name {
			return s, true
		}
	}
	return KeySection{}, false
}

// keyTable is the one table, built anew on each call so that nothing can
// change it.
func keyTable() []Key {
	maxDrain := GatewayStopGrace - time.Millisecond
	return []Key{{
		Name: KeyModelBaseURL, Kind: KindString, Format: "uri", check: checkBaseURL, Effect: NextRequest,
		Example: "https://openrouter.ai/api/v1",
		Summary: "an OpenAI-compatible endpoint, with its version prefix",
		Description: "An OpenAI-compatible endpoint with its version prefix, such as https://openrouter.ai/api/v1 " +
			"(http or https, a host, no credentials, query or fragment); the gateway calls POST {base_url}/chat/completions.",
		Want: "an http(s) URL of an OpenAI-compatible API with its version prefix, such as https://openrouter.ai/api/v1",
	}, {
		Name: KeyModelName, Kind: KindString, check: checkOneLine, Effect: NextRequest,
		Example:     "anthropic/claude-sonnet-4",
		Summary:     "the upstream model",
		Description: "The upstream model, such as anthropic/claude-sonnet-4 (one line). Requests naming it or hermes-<profile> go to the upstream.",
		Want:        "a model name such as anthropic/claude-sonnet-4",
	}, {
		Name: KeyModelAPIKeyEnv, Kind: KindString, check: checkAPIKeyEnv, Effect: NextRequest,
		Example: "OPENROUTER_API_KEY",
		Summary: "the variable (in .env) that holds the upstream's key",
		Description: "The name of the environment variable (in the profile's .env, or the gateway's environment) that holds the upstream's key, " +
			"never the key itself: upper-case letters, digits and '_', neither HERMES_* nor " + APIKeyVar + ", which hold hermes's own secrets.",
		Want: "the name of the environment variable that holds the key, such as OPENROUTER_API_KEY (never the key itself)",
	}, {
		Name: KeyModelProvider, Kind: KindString, check: checkProvider, Effect: NextRequest,
		Example:     "openrouter",
		Summary:     "a credential stored by hermes login --provider NAME, if no api_key_env",
		Description: "A credential stored by hermes login --provider NAME in auth.json (lower-case letters, digits, '-', '_', '.'); used when model.api_key_env is not set.",
		Want:        "a provider name stored by hermes login --provider NAME, such as openrouter",
	}, {
		Name: KeyModelAliases, Kind: KindMap, check: checkOneLine, checkName: checkAliasName, Effect: NextRequest,
		Default: map[string]string{}, Example: "{gpt-4o: openai/gpt-4o}",
		Summary: "model names clients send, routed to other upstream models",
		Description: "A map of the model names clients send to upstream model names, such as {gpt-4o: openai/gpt-4o}; " +
			"a name it does not map is served by model.name. None by default.",
		Want: `a map of the model names clients send to upstream model names, such as "gpt-4o=openai/gpt-4o,fast=openai/gpt-4o-mini" or "{gpt-4o: openai/gpt-4o}" (or "" for none)`,
	}, {
		Name: KeyGatewayHost, Kind: KindString, check: checkHost, Effect: Restart,
		Default: DefaultGatewayHost, DefaultNote: "$HERMES_GATEWAY_HOST if set (0.0.0.0 in the image), else 127.0.0.1",
		Summary:     "bind address",
		Description: "The gateway's bind address: a host name or IP address, without a port.",
		Want:        "a host name or IP address to bind, such as 127.0.0.1 or 0.0.0.0",
	}, {
		Name: KeyGatewayPort, Kind: KindInt, Min: 1, Max: 65535, Effect: Restart,
		Default: int64(DefaultGatewayPort), DefaultNote: "8642 for the default profile; profile create gives each other one the lowest free port above",
		Summary:     "the port of this profile's gateway: every profile has its own",
		Description: "The port of the profile's gateway, one per profile.",
		Want:        "a whole number from 1 to 65535",
	}, {
		Name: KeyGatewayCORSOrigins, Kind: KindList, check: checkOrigin, Effect: Restart,
		Default: []string{}, Example: "[https://app.example.com]",
		Summary:     "browser origins allowed to call the API",
		Description: `Browser origins allowed to call the gateway's API ("*" or scheme://host[:port]); none by default.`,
		Want:        `a list of origins such as "https://app.example.com,http://localhost:3000" (or "*", or "" for none)`,
	}, {
		Name: KeyGatewayMaxConcurrent, Kind: KindInt, Min: 1, Max: 100000, Effect: Restart,
		Default:     int64(DefaultMaxConcurrent),
		Summary:     "requests served at once",
		Description: "Requests the gateway serves at once; one more is refused with 429.",
		Want:        "a whole number from 1 to 100000",
	}, {
		Name: KeyGatewayMaxBodyBytes, Kind: KindInt, Min: 1, Max: maxBodyBytes, Effect: Restart,
		Default:     int64(DefaultMaxBodyBytes),
		Summary:     "largest request body, in bytes (1 MiB)",
		Description: "The largest request body the gateway accepts, in bytes (at most 1 GiB); a larger one is refused with 413.",
		Want:        fmt.Sprintf("a whole number of bytes from 1 to %d (1 GiB)", maxBodyBytes),
	}, {
		Name: KeyGatewayDrainTimeout, Kind: KindDuration, Min: 0, Max: int64(maxDrain), Effect: Restart,
		Default: DefaultDrainTimeout,
		Summary: fmt.Sprintf("time a stopping gateway gives its requests (below %s)", formatDuration(GatewayStopGrace)),
		Description: fmt.Sprintf("How long a stopping gateway lets running requests finish: a duration such as 5s or 1500ms (or a number of seconds), "+
			"from 0s to %s, below the gateway's stop grace (%s).", maxDrain, GatewayStopGrace),
		Want: fmt.Sprintf("a duration such as 5s or 1500ms, below the gateway's stop grace (%s)", GatewayStopGrace),
	}, {
		Name: KeySessionsIdleTimeout, Kind: KindDuration, Min: int64(time.Second), Max: int64(365 * 24 * time.Hour), Effect: Restart,
		Default:     DefaultIdleTimeout,
		Summary:     "a session with no turn for this long ends (it stays resumable)",
		Description: "How long a session may go without a turn before it ends (kept, marked ended, resumable): a duration from 1s to 8760h (a year).",
		Want:        "a duration such as 30m or 2h, from 1s to 8760h",
	}, {
		Name: KeySessionsMaxBytes, Kind: KindInt, Min: minSessionsBytes, Max: maxSessionsBytes, Effect: Restart,
		Default:     int64(DefaultSessionsMaxBytes),
		Summary:     "the most the sessions store holds, in bytes (1 GiB)",
		Description: "The most the sessions store's data may take, in bytes: at the cap the oldest ended sessions are pruned, then new turns are refused with 507. From 1 MiB to 1 TiB.",
		Want:        fmt.Sprintf("a whole number of bytes from %d (1 MiB) to %d (1 TiB)", minSessionsBytes, maxSessionsBytes),
	}}
}

// DefaultText is the key's default as hermes config set takes it ("" when
// the key has none): 32, 5s, [], {}.
func (k Key) DefaultText() string {
	switch d := k.Default.(type) {
	case string:
		return d
	case int64:
		return fmt.Sprint(d)
	case time.Duration:
		return formatDuration(d)
	case []string:
		return "[" + strings.Join(d, ", ") + "]"
	case map[string]string:
		parts := make([]string, 0, len(d))
		for _, n := range slices.Sorted(maps.Keys(d)) {
			parts = append(parts, n+": "+d[n])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return ""
}

// DefaultJSON is the key's default as JSON shows it: a duration as its
// text ("5s"), nil when there is none.
func (k Key) DefaultJSON() any {
	if d, ok := k.Default.(time.Duration); ok {
		return formatDuration(d)
	}
	return k.Default
}

// formatDuration writes a duration without its zero units: 30m, not 30m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
