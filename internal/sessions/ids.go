package sessions

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxIDLength is the longest session id (and conversation name) accepted.
const MaxIDLength = 128

// idEncoding is lower-case base32 without padding: URL-safe and within the
// alphabet ValidSessionID accepts.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns prefix followed by 24 characters (120 random bits).
func newID(prefix string) string {
	var b [15]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
	return prefix + idEncoding.EncodeToString(b[:])
}

// NewSessionID returns a fresh session id: "sess_" and 24 random lower-case
// base32 characters.
func NewSessionID() string { return newID("sess_") }

// NewResponseID returns a fresh Responses API id: "resp_" and 24 random
// lower-case base32 characters.
func NewResponseID() string { return newID("resp_") }

// ValidSessionID accepts the ids NewSessionID makes and those a client
// chooses: 1 to MaxIDLength characters, each an ASCII letter, a digit, or
// one of "._:-". Anything else is refused with an error wrapping ErrInvalid
// that says why (the gateway answers 400 with it).
func ValidSessionID(id string) error { return validID("session id", id) }

func validID(what, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	case len(id) > MaxIDLength:
		return fmt.Errorf("%w: %s is %d bytes long; at most %d are allowed", ErrInvalid, what, len(id), MaxIDLength)
	}
	for i, r := range id {
		if r >= utf8.RuneSelf || !idByte(byte(r)) {
			return fmt.Errorf("%w: %s %q has %q at byte %d; allowed are ASCII letters, digits and . _ : -", ErrInvalid, what, id, r, i)
		}
	}
	return nil
}

func idByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._:-", c) >= 0
}
