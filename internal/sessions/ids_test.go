package sessions

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

var newIDRE = regexp.MustCompile(`^(sess|resp)_[a-z2-7]{24}$`)

func TestNewIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		for _, id := range []string{NewSessionID(), NewResponseID()} {
			if !newIDRE.MatchString(id) {
				t.Fatalf("new id %q does not match %s", id, newIDRE)
			}
			if err := ValidSessionID(id); err != nil {
				t.Fatalf("a new id is refused: %v", err)
			}
			if seen[id] {
				t.Fatalf("id %q made twice", id)
			}
			seen[id] = true
		}
	}
}

func TestValidSessionID(t *testing.T) {
	tests := []struct {
		id   string
		want string // "" for valid, else a part of the error
	}{
		{"sess_abcdefghijklmnopqrstuvwx", ""},
		{"a", ""},
		{"Client.Chosen:ID-1_2", ""},
		{"550e8400-e29b-41d4-a716-446655440000", ""},
		{strings.Repeat("x", 128), ""},
		{"", "empty session id"},
		{strings.Repeat("x", 129), "129 bytes long; at most 128"},
		{"a b", `has ' ' at byte 1`},
		{"a/b", `has '/' at byte 1`},
		{"../etc", `has '/' at byte 2`},
		{"id\n", `has '\n' at byte 2`},
		{"naïve", `has 'ï' at byte 2`},
		{"a\x00", `has '\x00' at byte 1`},
		{"\xff", `has '�' at byte 0`},
		{"a%20b", `has '%' at byte 1`},
	}
	for _, tt := range tests {
		err := ValidSessionID(tt.id)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("ValidSessionID(%q) = %v, want nil", tt.id, err)
		case tt.want != "" && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("ValidSessionID(%q) = %v, want ErrInvalid with %q", tt.id, err, tt.want)
		}
	}
}

func FuzzValidSessionID(f *testing.F) {
	for _, s := range []string{"sess_abc", "", "a b", "x:y.z-w_v", strings.Repeat("a", 129), "naïve", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidSessionID(id)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ValidSessionID(%q) = %v, not ErrInvalid", id, err)
			}
			return
		}
		if len(id) < 1 || len(id) > MaxIDLength {
			t.Fatalf("accepted %q of length %d", id, len(id))
		}
		for i := 0; i < len(id); i++ {
			if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-", rune(id[i])) {
				t.Fatalf("accepted %q with byte %q", id, id[i])
			}
		}
	})
}
