package profiles

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// The validation of the table's values: Set parses a value from text
// (fromText), the readers validate what the file holds (fromNode), and both
// apply the same checks, so that what Set stores is always what the
// readers accept.

// typed is a validated value of a known key.
type typed struct {
	s    string
	i    int64
	d    time.Duration
	list []string
	m    map[string]string
}

func (k Key) refuse(text string) error {
	return fmt.Errorf("%s: want %s, got %q", k.Name, k.Want, text)
}

// checkString applies the key's choices and its check to one string.
func (k Key) checkString(s string) error {
	if k.Choices != nil && !slices.Contains(k.Choices, s) {
		return fmt.Errorf("not one of %s", strings.Join(k.Choices, ", "))
	}
	return k.check(s)
}

// fromText parses the command line's text for the key into its node.
func (k Key) fromText(text string) (*yaml.Node, error) {
	if !utf8.ValidString(text) {
		// The file must stay UTF-8 (ParseConfig refuses any other), and
		// YAML cannot write the bytes of such a string as one.
		return nil, fmt.Errorf("%s: the value is not UTF-8 text (got %q)", k.Name, text)
	}
	s := strings.TrimSpace(text)
	switch k.Kind {
	case KindInt:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil || i < k.Min || i > k.Max {
			return nil, k.refuse(text)
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(i, 10)}, nil
	case KindDuration:
		d, ok := parseDuration(s)
		if !ok || int64(d) < k.Min || int64(d) > k.Max {
			return nil, k.refuse(text)
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: formatDuration(d)}, nil
	case KindList:
		list, ok := parseList(s)
		if !ok {
			return nil, k.refuse(text)
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		if len(list) == 0 {
			seq.Style = yaml.FlowStyle
		}
		for _, e := range list {
			if err := k.checkString(e); err != nil {
				return nil, fmt.Errorf("%s: %q: %w; want %s", k.Name, e, err, k.Want)
			}
			seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: e})
		}
		return seq, nil
	case KindMap:
		pairs, ok := parseMap(s)
		if !ok {
			return nil, k.refuse(text)
		}
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		if len(pairs) == 0 {
			m.Style = yaml.FlowStyle
		}
		seen := map[string]bool{}
		for _, p := range pairs {
			if err := k.checkPair(p[0], p[1]); err != nil {
				return nil, err
			}
			if seen[p[0]] {
				return nil, fmt.Errorf("%s: %q is named twice; want %s", k.Name, p[0], k.Want)
			}
			seen[p[0]] = true
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p[0]}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p[1]})
		}
		return m, nil
	}
	if err := k.checkString(s); err != nil {
		return nil, fmt.Errorf("%s: %q: %w; want %s", k.Name, text, err, k.Want)
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}, nil
}

// fromNode validates the stored node of the key.
func (k Key) fromNode(n *yaml.Node) (typed, error) {
	wrong := func() (typed, error) {
		return typed{}, fmt.Errorf("%s: want %s, found %s", k.Name, k.Want, describeNode(n))
	}
	switch k.Kind {
	case KindInt:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil || i < k.Min || i > k.Max {
			return wrong()
		}
		return typed{i: i}, nil
	case KindDuration:
		if n.Kind != yaml.ScalarNode {
			return wrong()
		}
		var d time.Duration
		ok := false
		switch n.ShortTag() {
		case "!!str", "!!int", "!!float": // "5s", or a number of seconds
			d, ok = parseDuration(n.Value)
		}
		if !ok || int64(d) < k.Min || int64(d) > k.Max {
			return wrong()
		}
		return typed{d: d}, nil
	case KindList:
		if n.Kind != yaml.SequenceNode {
			return wrong()
		}
		list := make([]string, 0, len(n.Content))
		for _, e := range n.Content {
			e = deref(e)
			if e == nil || e.Kind != yaml.ScalarNode || e.ShortTag() != "!!str" {
				return wrong()
			}
			if err := k.checkString(e.Value); err != nil {
				return typed{}, fmt.Errorf("%s: %q: %w; want %s", k.Name, e.Value, err, k.Want)
			}
			list = append(list, e.Value)
		}
		return typed{list: list}, nil
	case KindMap:
		if n.Kind != yaml.MappingNode {
			return wrong()
		}
		m := make(map[string]string, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			name, val := deref(n.Content[i]), deref(n.Content[i+1])
			if !mapScalar(name) || !mapScalar(val) {
				return wrong()
			}
			if err := k.checkPair(name.Value, val.Value); err != nil {
				return typed{}, err
			}
			m[name.Value] = val.Value
		}
		return typed{m: m}, nil
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return wrong()
	}
	if err := k.checkString(n.Value); err != nil {
		return typed{}, fmt.Errorf("%s: %q: %w; want %s", k.Name, n.Value, err, k.Want)
	}
	return typed{s: n.Value}, nil
}

// checkPair validates one name and value of a KindMap.
func (k Key) checkPair(name, value string) error {
	if err := k.checkName(name); err != nil {
		return fmt.Errorf("%s: the name %q: %w; want %s", k.Name, name, err, k.Want)
	}
	if err := k.checkString(value); err != nil {
		return fmt.Errorf("%s: the value of %q: %w; want %s", k.Name, name, err, k.Want)
	}
	return nil
}

// mapScalar reports whether n can be a name or a value of a KindMap: a
// string, or a number YAML did not quote (a model named 4o or 3.5).
func mapScalar(n *yaml.Node) bool {
	if n == nil || n.Kind != yaml.ScalarNode {
		return false
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float":
		return true
	}
	return false
}

// parseDuration accepts a Go duration ("5s", "1500ms") or a bare number of
// seconds ("5", "2.5").
func parseDuration(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		return d, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > float64(math.MaxInt64/int64(time.Second)) {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

// parseList reads a list from the command line: "a,b", "[a, b]" (YAML flow)
// or "" / "[]" for none.
func parseList(s string) ([]string, bool) {
	if s == "" || s == "[]" {
		return nil, true
	}
	if strings.HasPrefix(s, "[") {
		var list []string
		if err := yaml.Unmarshal([]byte(s), &list); err != nil {
			return nil, false
		}
		return list, true
	}
	var list []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			list = append(list, e)
		}
	}
	return list, true
}

// parseMap reads a map from the command line: "a=b,c=d", a YAML flow
// mapping "{a: b, c: d}", or "" / "{}" for none. The pairs keep their
// order.
func parseMap(s string) ([][2]string, bool) {
	if s == "" || s == "{}" {
		return nil, true
	}
	var pairs [][2]string
	if strings.HasPrefix(s, "{") {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(s), &n); err != nil || len(n.Content) != 1 || n.Content[0].Kind != yaml.MappingNode {
			return nil, false
		}
		m := n.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			if !mapScalar(m.Content[i]) || !mapScalar(m.Content[i+1]) {
				return nil, false
			}
			pairs = append(pairs, [2]string{m.Content[i].Value, m.Content[i+1].Value})
		}
		return pairs, true
	}
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		name, value, ok := strings.Cut(e, "=")
		if !ok {
			return nil, false
		}
		pairs = append(pairs, [2]string{strings.TrimSpace(name), strings.TrimSpace(value)})
	}
	return pairs, true
}

func checkHost(s string) error {
	if s == "" {
		return errors.New("empty host")
	}
	if strings.Contains(s, "://") || strings.Contains(s, "/") {
		return errors.New("a host, not a URL")
	}
	if net.ParseIP(s) != nil {
		return nil
	}
	if h := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"); h != s && net.ParseIP(h) != nil {
		return fmt.Errorf("an IPv6 address is written without brackets here, such as %s", h)
	}
	if strings.Contains(s, ":") {
		return errors.New("a host without a port (the port is gateway.port)")
	}
	if len(s) > 253 {
		return errors.New("host name too long")
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("not a valid host name")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return errors.New("not a valid host name")
			}
		}
	}
	return nil
}

func checkOrigin(s string) error {
	if s == "*" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return errors.New("not an origin")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("an origin has no path, query or fragment")
	}
	return nil
}

// checkBaseURL refuses a URL the gateway cannot call: not http or https,
// no host (http://:9998/v1), a port out of range, credentials, a query or
// a fragment. A path without a version prefix is the operator's choice.
func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("not a URL: %w", err)
	case u.Scheme == "":
		return errors.New("not an http(s) URL: it has no scheme (start it with https://)")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("not an http(s) URL: the scheme is %s", u.Scheme)
	case u.Opaque != "" || u.Host == "":
		return errors.New("not an http(s) URL: it has no host")
	case u.Hostname() == "":
		return fmt.Errorf("it has no host, only the port %s", u.Port())
	case u.User != nil:
		return errors.New("a URL must not carry credentials (put the key in .env and name it in model.api_key_env)")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return errors.New("a base URL has no query or fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("the port %s is not one from 1 to 65535", p)
		}
	}
	if h := u.Hostname(); net.ParseIP(h) == nil && strings.ContainsFunc(h, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_')
	}) {
		return fmt.Errorf("%q is not a host name", h)
	}
	return nil
}

func checkOneLine(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if !utf8.ValidString(s) {
		return errors.New("not UTF-8 text")
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return errors.New("control characters")
	}
	return nil
}

// checkAPIKeyEnv refuses a name that is not a variable's
// (^[A-Z_][A-Z0-9_]*$) and the variables that hold hermes's own secrets:
// HERMES_* and API_SERVER_KEY. A gateway sends the variable's value to
// model.base_url, so naming one of them would send it to any URL.
func checkAPIKeyEnv(s string) error {
	if !isUpperEnvName(s) {
		return errors.New("not a variable name (upper-case letters, digits and '_', not starting with a digit)")
	}
	switch {
	case strings.HasPrefix(s, "HERMES_"):
		return errors.New("HERMES_* variables hold hermes's own settings and secrets, which a gateway never sends upstream")
	case s == APIKeyVar:
		return fmt.Errorf("%s is the key clients call this gateway with, which a gateway never sends upstream", APIKeyVar)
	}
	return nil
}

// isUpperEnvName reports whether s matches ^[A-Z_][A-Z0-9_]*$.
func isUpperEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func checkProvider(s string) error {
	if s == "" || len(s) > 64 {
		return errors.New("not a provider name")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isLowerAlnum(c) || i > 0 && (c == '-' || c == '_' || c == '.')) {
			return errors.New("not a provider name (lower-case letters, digits, '-', '_', '.')")
		}
	}
	return nil
}

// checkAliasName validates a model name a client may send: one line, not
// empty, at most maxAliasName bytes.
func checkAliasName(s string) error {
	if len(s) > maxAliasName {
		return fmt.Errorf("longer than %d bytes", maxAliasName)
	}
	return checkOneLine(s)
}

// secretSuffixes end the last part of a key that names a secret
// (compared in lower case, '-' read as '_').
var secretSuffixes = [...]string{"api_key", "token", "secret", "password"}

// IsSecretKey reports whether a dotted key names a secret: its last part
// is, or ends in, api_key, token, secret or password (OPENROUTER_API_KEY,
// telegram.bot_token). A secret belongs in the profile's .env, never in
// config.yaml, so Set refuses it. model.api_key_env names a variable and
// is not one.
func IsSecretKey(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	last = strings.ReplaceAll(strings.ToLower(last), "-", "_")
	for _, s := range secretSuffixes {
		if strings.HasSuffix(last, s) {
			return true
		}
	}
	return false
}

// EnvNameFor is the .env variable a secret's key suggests:
// telegram.bot_token → TELEGRAM_BOT_TOKEN; "NAME" when there is none.
func EnvNameFor(key string) string {
	n := strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
	if !isUpperEnvName(n) {
		return "NAME"
	}
	return n
}

// knownKey returns the key of the table that Set may set, or the refusal
// of any other: a secret (it belongs in .env), a section, a key below a
// value, an unknown key (naming the nearest known one).
func (c *Config) knownKey(key string, parts []string) (Key, error) {
	if k, ok := LookupKey(key); ok {
		return k, nil
	}
	if IsSecretKey(key) {
		env := EnvNameFor(key)
		then := ""
		if strings.HasSuffix(strings.ToLower(parts[len(parts)-1]), "api_key") && env != "NAME" {
			then = fmt.Sprintf(", then point the gateway at it: hermes %sconfig set %s %s", c.profileFlag(), KeyModelAPIKeyEnv, env)
		}
		return Key{}, fmt.Errorf("%s is a secret: it belongs in the profile's .env (mode 0600), never in %s: set it with hermes %senv set %s%s",
			key, FileConfig, c.profileFlag(), env, then)
	}
	if s, ok := section(key); ok {
		return Key{}, fmt.Errorf("%s is a section: set one of its keys, such as %s", key, s.Example)
	}
	for i := 1; i < len(parts); i++ {
		prefix := strings.Join(parts[:i], ".")
		if k, ok := LookupKey(prefix); ok {
			return Key{}, fmt.Errorf("%s is %s, not a section: cannot set %s", prefix, k.Want, key)
		}
	}
	return Key{}, fmt.Errorf("unknown key %s: hermes does not read it (the nearest key it reads is %s; hermes config help lists them all); "+
		"a key for another program can be written into %s by hand, and hermes keeps it", key, nearestKey(key), c.fileName())
}

// nearestKey returns the key of the table nearest to name by edit
// distance (in lower case; a name without a section is also compared with
// each key's part after its section).
func nearestKey(name string) string {
	name = strings.ToLower(name)
	best, bestD := "", math.MaxInt
	for _, k := range keyTable() {
		d := editDistance(name, k.Name)
		if !strings.Contains(name, ".") {
			d = min(d, editDistance(name, k.Leaf())+1)
		}
		if d < bestD {
			best, bestD = k.Name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
