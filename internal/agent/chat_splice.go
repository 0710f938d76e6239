package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// field is a member withFields puts into an object: a nil value takes
// the member out.
type field struct {
	name  string
	value json.RawMessage
}

// withFields is the JSON object raw with the members of set put in: each
// member of that name (at the top level) has its value replaced, or is
// taken out for a nil value, and a member raw lacks is added at the end;
// every other byte of raw is kept. raw must be valid JSON (the relay has
// decoded it); anything but an object is an error. It is a splice, not a
// decode and an encode: it runs on every chunk of every stream.
func withFields(raw []byte, set []field) ([]byte, error) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, errors.New("not a JSON object")
	}
	out := make([]byte, 0, len(raw)+64)
	out = append(out, '{')
	var done [8]bool // set has at most len(done) members
	if len(set) > len(done) {
		return nil, errors.New("too many fields")
	}
	members := 0
	add := func(key, value []byte) {
		if members > 0 {
			out = append(out, ',')
		}
		members++
		out = append(append(append(out, key...), ':'), value...)
	}
	i++
	for {
		i = skipSpace(raw, i)
		if i >= len(raw) {
			return nil, errors.New("unterminated JSON object")
		}
		if raw[i] == '}' {
			break
		}
		if raw[i] == ',' {
			i++
			continue
		}
		keyStart := i
		keyEnd := skipValue(raw, i)
		if raw[i] != '"' || keyEnd < 0 {
			return nil, errors.New("malformed JSON object")
		}
		key := raw[keyStart:keyEnd]
		name := key[1 : len(key)-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var unquoted string
			if json.Unmarshal(key, &unquoted) != nil {
				return nil, errors.New("malformed member name")
			}
			name = []byte(unquoted)
		}
		i = skipSpace(raw, keyEnd)
		if i >= len(raw) || raw[i] != ':' {
			return nil, errors.New("malformed JSON object")
		}
		valStart := skipSpace(raw, i+1)
		valEnd := skipValue(raw, valStart)
		if valEnd < 0 {
			return nil, errors.New("malformed JSON value")
		}
		i = valEnd
		j := -1
		for k := range set {
			if string(name) == set[k].name {
				j = k
				break
			}
		}
		switch {
		case j < 0:
			add(key, raw[valStart:valEnd])
		case set[j].value != nil:
			add(key, set[j].value)
			done[j] = true
		default:
			done[j] = true
		}
	}
	for j, f := range set {
		if !done[j] && f.value != nil {
			add(mustJSON(f.name), f.value)
		}
	}
	return append(out, '}'), nil
}

// skipSpace returns the index of the first byte at or after i that is
// not JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just after the JSON value that starts at
// i, or -1 when there is none.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return -1
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end := skipValue(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && !strings.ContainsRune(",}] \t\n\r", rune(b[j])) {
		j++
	}
	if j == i {
		return -1
	}
	return j
}
