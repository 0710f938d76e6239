package authgate

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// passwordProvider checks the one username and password of
// HERMES_DASHBOARD_BASIC_AUTH_*. Every attempt does the same work whatever
// the username: the password is always checked, the username is compared
// through keyed digests in constant time, and only then are the two answers
// combined.
type passwordProvider struct {
	username string // shown as the signed-in user; not a secret
	key      []byte // random per process; keys the digests below
	userSum  []byte // HMAC(key, username)
	verifier passwordVerifier
	// slots bounds the hash computations running at once (bcrypt and
	// argon2id are deliberately expensive).
	slots chan struct{}
}

func (*passwordProvider) sealed() {}

// Info implements Provider.
func (*passwordProvider) Info() ProviderInfo {
	return ProviderInfo{Name: "password", DisplayName: "Password", Kind: KindPassword}
}

// passwordVerifier reports whether a password is the configured one.
type passwordVerifier interface{ verify(password []byte) bool }

// plainVerifier compares HMAC digests, so the comparison takes the same time
// whatever the lengths.
type plainVerifier struct{ key, sum []byte }

func (v plainVerifier) verify(pw []byte) bool {
	return subtle.ConstantTimeCompare(mac(v.key, pw), v.sum) == 1
}

type bcryptVerifier struct{ hash []byte }

func (v bcryptVerifier) verify(pw []byte) bool {
	return bcrypt.CompareHashAndPassword(v.hash, pw) == nil
}

// argon2idVerifier holds a parsed PHC string $argon2id$v=19$m=..,t=..,p=..$salt$hash.
type argon2idVerifier struct {
	memory, time uint32
	threads      uint8
	salt, hash   []byte
}

func (v argon2idVerifier) verify(pw []byte) bool {
	got := argon2.IDKey(pw, v.salt, v.time, v.memory, v.threads, uint32(len(v.hash)))
	return subtle.ConstantTimeCompare(got, v.hash) == 1
}

func mac(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// Limits on argon2id parameters, so that a hash cannot make every login
// attempt allocate or spin without bound.
const (
	maxArgonMemoryKiB = 1 << 20 // 1 GiB
	maxArgonTime      = 16
	// maxPHCBytes bounds an argon2id salt and hash (decoded): the hash's
	// length is the key length computed at every login.
	maxPHCBytes = 1024
	// maxBcryptCost bounds a bcrypt hash's cost (2^cost rounds: 16 is
	// seconds per login, 31 would be hours).
	maxBcryptCost = 16
	// bcryptLen is the length of a bcrypt hash: $2b$NN$, 22 characters of
	// salt, 31 of hash.
	bcryptLen = 60
	// bcryptAlphabet is bcrypt's base64 alphabet.
	bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// passwordFromEnv builds the password provider. Unset username and password
// and hash: not configured (nil, nil). Anything partial or malformed: a Skip
// whose reason names the variables, never their values.
func passwordFromEnv(username, password, hash string) (Provider, *Skip) {
	if username == "" && password == "" && hash == "" {
		return nil, nil
	}
	skip := func(format string, args ...any) (Provider, *Skip) {
		return nil, &Skip{Provider: "password", Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case username == "":
		return skip("%s is set but %s is not", passwordVarNames(password, hash), EnvUsername)
	case password == "" && hash == "":
		return skip("%s is set but neither %s nor %s is", EnvUsername, EnvPassword, EnvPasswordHash)
	case password != "" && hash != "":
		return skip("both %s and %s are set; set only one", EnvPassword, EnvPasswordHash)
	}
	key := make([]byte, 32)
	rand.Read(key)
	p := &passwordProvider{username: username, key: key, userSum: mac(key, []byte(username)), slots: make(chan struct{}, 2)}
	if password != "" {
		p.verifier = plainVerifier{key: key, sum: mac(key, []byte(password))}
		return p, nil
	}
	v, err := parsePasswordHash(hash)
	if err != nil {
		return skip("%s: %v", EnvPasswordHash, err)
	}
	p.verifier = v
	return p, nil
}

func passwordVarNames(password, hash string) string {
	if hash != "" {
		return EnvPasswordHash
	}
	return EnvPassword
}

// parsePasswordHash accepts bcrypt ($2a$, $2b$, $2y$) and argon2id PHC
// strings. Errors describe the shape, never the value.
func parsePasswordHash(h string) (passwordVerifier, error) {
	switch {
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		cost, err := bcrypt.Cost([]byte(h))
		if err != nil || len(h) != bcryptLen || h[6] != '$' || strings.Trim(h[7:], bcryptAlphabet) != "" {
			return nil, errors.New("not a valid bcrypt hash ($2b$<cost>$ then 53 characters of [./A-Za-z0-9])")
		}
		if cost > maxBcryptCost {
			return nil, fmt.Errorf("bcrypt cost %d is over %d (every login would take minutes)", cost, maxBcryptCost)
		}
		return bcryptVerifier{hash: []byte(h)}, nil
	case strings.HasPrefix(h, "$argon2id$"):
		return parseArgon2id(h)
	}
	return nil, errors.New("not a bcrypt ($2a$, $2b$, $2y$) or argon2id ($argon2id$v=19$m=..,t=..,p=..$salt$hash) hash")
}

func parseArgon2id(h string) (passwordVerifier, error) {
	bad := errors.New("not a valid argon2id PHC string ($argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>, unpadded base64)")
	parts := strings.Split(h, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v=19" {
		return nil, bad
	}
	v := argon2idVerifier{}
	seen := map[string]bool{}
	for _, kv := range strings.Split(parts[3], ",") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || seen[k] {
			return nil, bad
		}
		seen[k] = true
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil || n == 0 {
			return nil, bad
		}
		switch k {
		case "m":
			v.memory = uint32(n)
		case "t":
			v.time = uint32(n)
		case "p":
			if n > 255 {
				return nil, bad
			}
			v.threads = uint8(n)
		default:
			return nil, bad
		}
	}
	if !seen["m"] || !seen["t"] || !seen["p"] {
		return nil, bad
	}
	if v.memory > maxArgonMemoryKiB || v.time > maxArgonTime || v.memory < 8*uint32(v.threads) {
		return nil, fmt.Errorf("argon2id parameters out of range (m ≤ %d KiB, t ≤ %d, m ≥ 8·p)", maxArgonMemoryKiB, maxArgonTime)
	}
	var err1, err2 error
	v.salt, err1 = base64.RawStdEncoding.Strict().DecodeString(parts[4])
	v.hash, err2 = base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(v.salt) < 8 || len(v.hash) < 16 || len(v.salt) > maxPHCBytes || len(v.hash) > maxPHCBytes {
		return nil, bad
	}
	return v, nil
}

// account is the budget a login naming username is charged to: the
// configured username's own, or the one shared by every other name. The
// name is compared in constant time, as in check.
func (p *passwordProvider) account(username string) string {
	if subtle.ConstantTimeCompare(mac(p.key, []byte(username)), p.userSum) == 1 {
		return p.username
	}
	return unknownAccount
}

// check reports whether username and password are the configured ones. It
// does the same work for a wrong username as for a wrong password.
func (p *passwordProvider) check(ctx context.Context, username, password string) bool {
	if !waitSlot(ctx, p.slots) {
		return false
	}
	defer func() { <-p.slots }()
	passOK := p.verifier.verify([]byte(password))
	userOK := subtle.ConstantTimeCompare(mac(p.key, []byte(username)), p.userSum) == 1
	return passOK && userOK
}
