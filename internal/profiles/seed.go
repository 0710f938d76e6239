package profiles

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
)

// DefaultGatewayPort is gateway.port of the default profile when its
// config.yaml does not set one.
const DefaultGatewayPort = 8642

// ConfigPath is the path of a profile's config.yaml.
func ConfigPath(home, name string) string { return filepath.Join(Dir(home, name), FileConfig) }

// EnvPath is the path of a profile's .env.
func EnvPath(home, name string) string { return filepath.Join(Dir(home, name), FileEnv) }

// SOULPath is the path of a profile's SOUL.md, its marker.
func SOULPath(home, name string) string { return filepath.Join(Dir(home, name), FileSOUL) }

// DefaultSOUL is the SOUL.md of a new profile: the marker that makes the
// directory a profile, and the agent's persona, for the person to edit.
func DefaultSOUL(name string) []byte {
	return []byte(fmt.Sprintf(`# SOUL — profile %s

This file makes this directory a hermes profile and holds the agent's persona:
who it is, how it speaks, what it cares about. Edit it freely; deleting it
makes hermes forget the profile.

You are Hermes, a capable and candid assistant. You think before you act,
say plainly what you know and what you do not, and you ask when a request
is ambiguous.
`, name))
}

// DefaultConfig is the config.yaml of a new profile: gateway.port set to
// port (left commented out when port is 0), and every other key hermes reads
// commented out as an example. The examples come before the keys they
// document, so that keys added later by hermes config set follow them.
func DefaultConfig(port int) []byte {
	portLine := fmt.Sprintf("  port: %d", port)
	if port <= 0 {
		portLine = fmt.Sprintf("  # port: %d", DefaultGatewayPort)
	}
	return []byte(strings.Join([]string{
		"# hermes profile configuration. Change a key with: hermes config set KEY VALUE",
		"# (keys and comments that hermes does not know are kept when it rewrites this file)",
		"#",
		"# model:                                       # the upstream the gateway calls",
		"#   base_url: https://openrouter.ai/api/v1     # an OpenAI-compatible endpoint, with its version prefix",
		"#   name: anthropic/claude-sonnet-4             # the upstream model",
		"#   api_key_env: OPENROUTER_API_KEY             # the variable (e.g. in .env) that holds the key",
		"#   provider: openrouter                        # or a credential stored by: hermes login --provider NAME",
		"",
		"gateway:",
		"  # host: 127.0.0.1           # bind address (default: $HERMES_GATEWAY_HOST, else 127.0.0.1)",
		"  # cors_origins: []          # browser origins allowed to call the API, e.g. [https://app.example.com]",
		"  # max_concurrent: 8         # requests served at once",
		"  # max_body_bytes: 10485760  # largest request body, in bytes",
		"  # drain_timeout: 5s         # time a stopping gateway gives its requests (below 6s)",
		"  #",
		"  # the port of this profile's gateway: every profile has its own",
		portLine,
		"",
	}, "\n"))
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
