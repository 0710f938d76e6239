package profiles

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// kind is the type of a known key's value.
type kind int

const (
	kString kind = iota
	kInt
	kDuration
	kList
	kMap
)

// keySpec describes a key that hermes reads: its type, its range, and a
// check of each string; Set and the readers (Gateway, Model) share it, so
// what Set stores is always what they accept.
type keySpec struct {
	kind     kind
	min, max int64 // kInt: the range; kDuration: the range in nanoseconds
	// check validates a string value (kString), each element (kList) or
	// each value (kMap).
	check func(string) error
	// checkName validates each name of a kMap.
	checkName func(string) error
	// want says what is expected, for messages.
	want string
}

// typed is a validated value of a known key.
type typed struct {
	s    string
	i    int64
	d    time.Duration
	list []string
	m    map[string]string
}

// maxBodyBytes bounds gateway.max_body_bytes.
const maxBodyBytes = 1 << 30

// lookupKey returns the spec of a key hermes reads (CONTRACT §5).
func lookupKey(key string) (keySpec, bool) {
	switch key {
	case "gateway.host":
		return keySpec{kind: kString, check: checkHost, want: "a host name or IP address to bind, such as 127.0.0.1 or 0.0.0.0"}, true
	case "gateway.port":
		return keySpec{kind: kInt, min: 1, max: 65535, want: "a whole number from 1 to 65535"}, true
	case "gateway.cors_origins":
		return keySpec{kind: kList, check: checkOrigin, want: `a list of origins such as "https://app.example.com,http://localhost:3000" (or "*", or "" for none)`}, true
	case "gateway.max_concurrent":
		return keySpec{kind: kInt, min: 1, max: 100000, want: "a whole number from 1 to 100000"}, true
	case "gateway.max_body_bytes":
		return keySpec{kind: kInt, min: 1, max: maxBodyBytes, want: fmt.Sprintf("a whole number of bytes from 1 to %d (1 GiB)", maxBodyBytes)}, true
	case "gateway.drain_timeout":
		return keySpec{kind: kDuration, min: 0, max: int64(GatewayStopGrace - time.Millisecond),
			want: fmt.Sprintf("a duration such as 5s or 1500ms, below the gateway's stop grace (%s)", GatewayStopGrace)}, true
	case "model.base_url":
		return keySpec{kind: kString, check: checkBaseURL, want: "an http(s) URL of an OpenAI-compatible API with its version prefix, such as https://openrouter.ai/api/v1"}, true
	case "model.name":
		return keySpec{kind: kString, check: checkOneLine, want: "a model name such as anthropic/claude-sonnet-4"}, true
	case "model.api_key_env":
		return keySpec{kind: kString, check: checkEnvName, want: "the name of the environment variable that holds the key, such as OPENROUTER_API_KEY (never the key itself)"}, true
	case "model.provider":
		return keySpec{kind: kString, check: checkProvider, want: "a provider name stored by hermes login --provider NAME, such as openrouter"}, true
	case "model.aliases":
		return keySpec{kind: kMap, check: checkOneLine, checkName: checkAliasName,
			want: `a map of the model names clients send to upstream model names, such as "gpt-4o=openai/gpt-4o,fast=openai/gpt-4o-mini" or "{gpt-4o: openai/gpt-4o}" (or "" for none)`}, true
	}
	return keySpec{}, false
}

// isSection reports whether key is a section of known keys.
func isSection(key string) bool { return key == "gateway" || key == "model" }

// exampleKey is a key of a known section, for messages.
func exampleKey(section string) string {
	if section == "model" {
		return "model.name"
	}
	return "gateway.port"
}

// checkNotUnderKnownValue refuses a key below a known value key
// (gateway.port.x): that value is not a section.
func checkNotUnderKnownValue(parts []string) error {
	for i := 1; i < len(parts); i++ {
		prefix := strings.Join(parts[:i], ".")
		if spec, ok := lookupKey(prefix); ok {
			return fmt.Errorf("%s is %s, not a section: cannot set %s", prefix, spec.want, strings.Join(parts, "."))
		}
	}
	return nil
}

func (k keySpec) refuse(key, value string) error {
	return fmt.Errorf("%s: want %s, got %q", key, k.want, value)
}

// fromText parses the command line's text for a known key into its node.
func (k keySpec) fromText(key, text string) (*yaml.Node, error) {
	s := strings.TrimSpace(text)
	switch k.kind {
	case kInt:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil || i < k.min || i > k.max {
			return nil, k.refuse(key, text)
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(i, 10)}, nil
	case kDuration:
		d, ok := parseDuration(s)
		if !ok || int64(d) < k.min || int64(d) > k.max {
			return nil, k.refuse(key, text)
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: d.String()}, nil
	case kList:
		list, ok := parseList(s)
		if !ok {
			return nil, k.refuse(key, text)
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		if len(list) == 0 {
			seq.Style = yaml.FlowStyle
		}
		for _, e := range list {
			if err := k.check(e); err != nil {
				return nil, fmt.Errorf("%s: %q: %w; want %s", key, e, err, k.want)
			}
			seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: e})
		}
		return seq, nil
	case kMap:
		pairs, ok := parseMap(s)
		if !ok {
			return nil, k.refuse(key, text)
		}
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		if len(pairs) == 0 {
			m.Style = yaml.FlowStyle
		}
		seen := map[string]bool{}
		for _, p := range pairs {
			if err := k.checkPair(key, p[0], p[1]); err != nil {
				return nil, err
			}
			if seen[p[0]] {
				return nil, fmt.Errorf("%s: %q is named twice; want %s", key, p[0], k.want)
			}
			seen[p[0]] = true
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p[0]}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p[1]})
		}
		return m, nil
	}
	if err := k.check(s); err != nil {
		return nil, fmt.Errorf("%s: %q: %w; want %s", key, text, err, k.want)
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}, nil
}

// fromNode validates the stored node of a known key.
func (k keySpec) fromNode(key string, n *yaml.Node) (typed, error) {
	wrong := func() (typed, error) {
		return typed{}, fmt.Errorf("%s: want %s, found %s", key, k.want, describeNode(n))
	}
	switch k.kind {
	case kInt:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil || i < k.min || i > k.max {
			return wrong()
		}
		return typed{i: i}, nil
	case kDuration:
		if n.Kind != yaml.ScalarNode {
			return wrong()
		}
		var d time.Duration
		ok := false
		switch n.ShortTag() {
		case "!!str", "!!int", "!!float": // "5s", or a number of seconds
			d, ok = parseDuration(n.Value)
		}
		if !ok || int64(d) < k.min || int64(d) > k.max {
			return wrong()
		}
		return typed{d: d}, nil
	case kList:
		if n.Kind != yaml.SequenceNode {
			return wrong()
		}
		list := make([]string, 0, len(n.Content))
		for _, e := range n.Content {
			e = deref(e)
			if e == nil || e.Kind != yaml.ScalarNode || e.ShortTag() != "!!str" {
				return wrong()
			}
			if err := k.check(e.Value); err != nil {
				return typed{}, fmt.Errorf("%s: %q: %w; want %s", key, e.Value, err, k.want)
			}
			list = append(list, e.Value)
		}
		return typed{list: list}, nil
	case kMap:
		if n.Kind != yaml.MappingNode {
			return wrong()
		}
		m := make(map[string]string, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			name, val := deref(n.Content[i]), deref(n.Content[i+1])
			if !mapScalar(name) || !mapScalar(val) {
				return wrong()
			}
			if err := k.checkPair(key, name.Value, val.Value); err != nil {
				return typed{}, err
			}
			m[name.Value] = val.Value
		}
		return typed{m: m}, nil
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return wrong()
	}
	if err := k.check(n.Value); err != nil {
		return typed{}, fmt.Errorf("%s: %q: %w; want %s", key, n.Value, err, k.want)
	}
	return typed{s: n.Value}, nil
}

// checkPair validates one name and value of a kMap.
func (k keySpec) checkPair(key, name, value string) error {
	if err := k.checkName(name); err != nil {
		return fmt.Errorf("%s: the name %q: %w; want %s", key, name, err, k.want)
	}
	if err := k.check(value); err != nil {
		return fmt.Errorf("%s: the value of %q: %w; want %s", key, name, err, k.want)
	}
	return nil
}

// mapScalar reports whether n can be a name or a value of a kMap: a
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

// maxAliasName bounds a name of model.aliases.
const maxAliasName = 256

// checkAliasName validates a model name a client may send: one line, not
// empty, at most maxAliasName bytes.
func checkAliasName(s string) error {
	if len(s) > maxAliasName {
		return fmt.Errorf("longer than %d bytes", maxAliasName)
	}
	return checkOneLine(s)
}

func checkHost(s string) error {
	if s == "" {
		return fmt.Errorf("empty host")
	}
	if strings.Contains(s, "://") || strings.Contains(s, "/") {
		return fmt.Errorf("a host, not a URL")
	}
	h := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if net.ParseIP(h) != nil {
		return nil
	}
	if strings.Contains(s, ":") {
		return fmt.Errorf("a host without a port (the port is gateway.port)")
	}
	if len(s) > 253 {
		return fmt.Errorf("host name too long")
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("not a valid host name")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("not a valid host name")
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
		return fmt.Errorf("not an origin")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("an origin has no path, query or fragment")
	}
	return nil
}

func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("not an http(s) URL")
	}
	if u.User != nil {
		return fmt.Errorf("a URL must not carry credentials (use model.api_key_env)")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("a base URL has no query or fragment")
	}
	return nil
}

func checkOneLine(s string) error {
	if s == "" {
		return fmt.Errorf("empty")
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("not UTF-8 text")
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("control characters")
	}
	return nil
}

func checkEnvName(s string) error {
	if !isEnvName(s) {
		return fmt.Errorf("not a variable name")
	}
	return nil
}

func checkProvider(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("not a provider name")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isLowerAlnum(c) || i > 0 && (c == '-' || c == '_' || c == '.')) {
			return fmt.Errorf("not a provider name (lower-case letters, digits, '-', '_', '.')")
		}
	}
	return nil
}
