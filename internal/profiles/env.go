package profiles

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// ReadEnv reads a .env file: KEY=VALUE lines, blank lines and # comments,
// an optional "export " prefix, values optionally in single quotes (taken
// literally) or double quotes (with \n, \t, \", \\ escapes); an unquoted
// value ends at " #". A later line wins over an earlier one. A missing file
// is an empty map and no error. Lines that are not KEY=VALUE make an error
// that names the file and the lines; the map then still holds every valid
// line.
func ReadEnv(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return map[string]string{}, fileError(path, err)
	}
	m, err := ParseEnv(data)
	if err != nil {
		return m, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// errEnvSyntax is wrapped by the errors of ParseEnv about malformed lines.
var errEnvSyntax = errors.New("not KEY=VALUE")

// ParseEnv parses the content of a .env file with the rules of ReadEnv.
func ParseEnv(data []byte) (map[string]string, error) {
	data = bytes.TrimPrefix(data, []byte(utf8BOM))
	m := map[string]string{}
	var bad []string
	for i, line := range strings.Split(string(data), "\n") {
		k, v, ok, err := parseEnvLine(line)
		if err != nil {
			bad = append(bad, fmt.Sprintf("line %d: %v", i+1, err))
			continue
		}
		if ok {
			m[k] = v
		}
	}
	if len(bad) > 0 {
		return m, fmt.Errorf("%w, ignored: %s", errEnvSyntax, strings.Join(bad, "; "))
	}
	return m, nil
}

// parseEnvLine parses one line; ok is false for blank and comment lines.
func parseEnvLine(line string) (key, value string, ok bool, err error) {
	s := strings.TrimSpace(strings.TrimSuffix(line, "\r"))
	if s == "" || s[0] == '#' {
		return "", "", false, nil
	}
	if rest, found := strings.CutPrefix(s, "export"); found && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
		s = strings.TrimSpace(rest)
	}
	k, v, found := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !found {
		// The line is not quoted: it may be a pasted secret.
		return "", "", false, errors.New("no '=': a line is NAME=VALUE, a # comment or blank")
	}
	if !isEnvName(k) {
		// Not quoted either: a pasted base64 key ends in '='.
		return "", "", false, errors.New("the text before '=' is not a variable name (letters, digits and '_')")
	}
	v = strings.TrimSpace(v)
	switch {
	case v == "":
	case v[0] == '\'':
		end := strings.IndexByte(v[1:], '\'')
		if end < 0 {
			return "", "", false, fmt.Errorf("%s: unterminated single quote", k)
		}
		if rest := strings.TrimSpace(v[end+2:]); rest != "" && rest[0] != '#' {
			return "", "", false, fmt.Errorf("%s: text after the closing quote", k)
		}
		v = v[1 : end+1]
	case v[0] == '"':
		var b strings.Builder
		i := 1
		for ; i < len(v) && v[i] != '"'; i++ {
			if v[i] == '\\' && i+1 < len(v) {
				i++
				switch v[i] {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case 'r':
					b.WriteByte('\r')
				case '"', '\\', '$', '\'':
					b.WriteByte(v[i])
				default:
					b.WriteByte('\\')
					b.WriteByte(v[i])
				}
				continue
			}
			b.WriteByte(v[i])
		}
		if i >= len(v) {
			return "", "", false, fmt.Errorf("%s: unterminated double quote", k)
		}
		if rest := strings.TrimSpace(v[i+1:]); rest != "" && rest[0] != '#' {
			return "", "", false, fmt.Errorf("%s: text after the closing quote", k)
		}
		v = b.String()
	default:
		if j := strings.Index(v, " #"); j >= 0 {
			v = v[:j]
		}
		if j := strings.Index(v, "\t#"); j >= 0 {
			v = v[:j]
		}
		v = strings.TrimSpace(v)
	}
	return k, v, true, nil
}

// isEnvName reports whether s is a portable environment variable name.
func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}
