package authgate

import (
	"path"
	"slices"
	"strings"
)

// publicTable is THE public table (CONTRACT §7): the only routes reachable
// without a session in gated mode. One ServeMux pattern per line. It is a
// constant; PublicPatterns returns it as a list and a golden file pins it.
//
// A request is public only when its method is the pattern's (a GET pattern
// also takes HEAD) and its raw request path (before any '?') is byte for
// byte the pattern's path. The one wildcard, /assets/{file}, takes a single
// segment of [A-Za-z0-9._-] that starts with a letter or digit. Nothing else
// (no prefix, no cleaning, no decoding, no query, no forwarded header, no
// User-Agent) can make a request public.
const publicTable = `GET /api/status
GET /api/config/defaults
GET /api/config/schema
GET /api/model/info
GET /api/dashboard/themes
GET /api/dashboard/plugins
GET /login
GET /auth/login
GET /auth/callback
POST /auth/password-login
GET /api/auth/providers
POST /auth/logout
GET /favicon.ico
GET /assets/{file}`

// The routes the gate serves itself. All but meRoute are in the public table.
const (
	loginPageRoute     = "GET /login"
	authLoginRoute     = "GET /auth/login"
	authCallbackRoute  = "GET /auth/callback"
	passwordLoginRoute = "POST /auth/password-login"
	providersRoute     = "GET /api/auth/providers"
	logoutRoute        = "POST /auth/logout"
	meRoute            = "GET /api/auth/me"
)

// assetsPrefix is the path of the one wildcard public pattern.
const assetsPrefix = "/assets/"

// publicPatterns returns the table as a fresh slice.
func publicPatterns() []string { return strings.Split(publicTable, "\n") }

func isPublicPattern(p string) bool { return slices.Contains(publicPatterns(), p) }

// gateRoutes are the patterns the gate mounts; the app must not register
// them.
func gateRoutes() []string {
	return []string{loginPageRoute, authLoginRoute, authCallbackRoute, passwordLoginRoute, providersRoute, logoutRoute, meRoute}
}

// splitPattern splits "METHOD /path" (every pattern of the table has both).
func splitPattern(p string) (method, path string) {
	method, path, _ = strings.Cut(p, " ")
	return method, path
}

// matchPublic decides whether a request is public. requestURI is the raw
// request target exactly as it was on the request line (http.Request's
// RequestURI). It returns the matching pattern of the table.
func matchPublic(method, requestURI string) (string, bool) {
	p, _, _ := strings.Cut(requestURI, "?")
	for _, pat := range publicPatterns() {
		m, pp := splitPattern(pat)
		if method != m && !(m == "GET" && method == "HEAD") {
			continue
		}
		if pp == assetsPrefix+"{file}" {
			if name, ok := strings.CutPrefix(p, assetsPrefix); ok && validAssetName(name) {
				return pat, true
			}
			continue
		}
		if p == pp {
			return pat, true
		}
	}
	return "", false
}

// validAssetName is the segment /assets/{file} accepts: 1-128 bytes of
// [A-Za-z0-9._-], starting with a letter or digit, without "..".
func validAssetName(s string) bool {
	if s == "" || len(s) > 128 || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || (c != '.' && c != '_' && c != '-')) {
			return false
		}
	}
	return true
}

// isAPIPath: the request is for the API (deny with JSON, never a redirect).
// Decided on the cleaned, lower-cased decoded path and raw path, so that
// neither an escape, a dot segment, a case change nor a doubled slash turns
// an API request into a page request.
func isAPIPath(decoded, raw string) bool {
	api := func(p string) bool {
		p = path.Clean("/" + strings.ToLower(p))
		return p == "/api" || strings.HasPrefix(p, "/api/")
	}
	return api(decoded) || api(raw)
}
