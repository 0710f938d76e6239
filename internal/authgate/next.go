package authgate

import (
	"net/url"
	"path"
	"strings"
)

// maxNext bounds the post-login target.
const maxNext = 2048

// safeNext returns the post-login target if raw is a local path the browser
// cannot reinterpret as another origin, and "" otherwise. It is applied when
// next comes in (/login, /auth/login, the password form) and again before the
// redirect after the login.
//
// Accepted: an absolute path of printable ASCII without a backslash, not
// starting with //, with no scheme, host or user info, whose decoded path is
// canonical (no dot segments, no empty segments, no encoded slash, backslash
// or dot) and is not a login, auth or API route (/login*, /auth, /auth/*,
// /api, /api/*: the prefix is added by Gate.URL, never taken from next). The
// result is the escaped path plus the query; a fragment is dropped.
func safeNext(raw string) string {
	if raw == "" || len(raw) > maxNext || raw[0] != '/' || strings.HasPrefix(raw, "//") {
		return ""
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= 0x20 || c >= 0x7f || c == '\\' {
			return ""
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	p := u.Path
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") {
		return ""
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= 0x20 || c >= 0x7f || c == '\\' {
			return ""
		}
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	if clean != p {
		return ""
	}
	esc := u.EscapedPath()
	if lower := strings.ToLower(esc); strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(lower, "%2e") {
		return ""
	}
	lp := strings.ToLower(p)
	if strings.HasPrefix(lp, "/login") || lp == "/auth" || strings.HasPrefix(lp, "/auth/") ||
		lp == "/api" || strings.HasPrefix(lp, "/api/") {
		return ""
	}
	if u.RawQuery != "" {
		return esc + "?" + u.RawQuery
	}
	return esc
}
