package metrics

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/hermes-agent/hermes/internal/hostenv"
)

// maxTokenFile bounds the token file: a token is a line.
const maxTokenFile = 4096

// Token is the metrics token: every /metrics accepts Authorization: Bearer
// <token> when it is set. The zero Token is unset and allows nothing.
type Token struct {
	sum [sha256.Size]byte
	set bool
}

// ErrToken is wrapped by the errors of LoadToken.
var ErrToken = errors.New("metrics token")

// LoadToken reads the token from HERMES_METRICS_TOKEN, or from the file
// HERMES_METRICS_TOKEN_FILE names (its surrounding white space trimmed).
// Neither set: an unset Token, no error. Both set, an unreadable or empty
// file, or an empty value: an error naming the variable, so that a scrape
// configuration never silently stops working.
func LoadToken(getenv func(string) (string, bool)) (Token, error) {
	v, hasValue := getenv(hostenv.EnvMetricsToken)
	f, hasFile := getenv(hostenv.EnvMetricsTokenFile)
	switch {
	case hasValue && hasFile:
		return Token{}, fmt.Errorf("%w: set %s or %s, not both", ErrToken, hostenv.EnvMetricsToken, hostenv.EnvMetricsTokenFile)
	case hasFile:
		b, err := readBounded(f)
		if err != nil {
			return Token{}, fmt.Errorf("%w: %s: %w", ErrToken, hostenv.EnvMetricsTokenFile, err)
		}
		v = string(b)
	case !hasValue:
		return Token{}, nil
	}
	v = strings.TrimSpace(v)
	if v == "" {
		name := hostenv.EnvMetricsToken
		if hasFile {
			name = hostenv.EnvMetricsTokenFile + " (" + f + ")"
		}
		return Token{}, fmt.Errorf("%w: %s is empty; unset it or give it a token", ErrToken, name)
	}
	if strings.ContainsAny(v, " \t\r\n") {
		return Token{}, fmt.Errorf("%w: the token holds white space; a bearer token is one word", ErrToken)
	}
	return NewToken(v), nil
}

// NewToken is a Token of the secret s (non-empty).
func NewToken(s string) Token { return Token{sum: sha256.Sum256([]byte(s)), set: true} }

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, maxTokenFile+1)
	n, err := f.Read(b)
	if err != nil && n == 0 {
		return nil, err
	}
	if n > maxTokenFile {
		return nil, fmt.Errorf("larger than %d bytes", maxTokenFile)
	}
	return b[:n], nil
}

// Set reports whether the token is set.
func (t Token) Set() bool { return t.set }

// Allows reports whether r carries Authorization: Bearer <the token>. Both
// sides are hashed to fixed-length digests compared with
// subtle.ConstantTimeCompare, so neither the token's content nor its
// length leaks through timing. An unset Token allows nothing.
func (t Token) Allows(r *http.Request) bool {
	got, ok := Bearer(r)
	if !ok {
		// Compare anyway: a missing header costs what a wrong one does.
		got = ""
	}
	sum := sha256.Sum256([]byte(got))
	eq := subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1
	return eq && ok && t.set
}

// Bearer returns the token of r's Authorization: Bearer header.
func Bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
