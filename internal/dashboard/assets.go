package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hermes-agent/hermes/internal/authgate"
)

// AssetsPath is the path under which the static assets are served
// (public: the gate's /assets/{file}).
const AssetsPath = "/assets/"

//go:embed web
var webFS embed.FS

// asset is one static file: its name under AssetsPath, its type, and
// where its content comes from.
type asset struct {
	name        string
	contentType string
	// generate builds the content; nil means the embedded
	// web/assets/<name>.
	generate func() []byte
	body     []byte
	etag     string
}

// assetList is every static file the dashboard serves, listed one by one
// (assets_test.go checks it against the embedded directory).
func assetList() []asset {
	return []asset{
		{name: "app.css", contentType: "text/css; charset=utf-8"},
		{name: "app.js", contentType: "text/javascript; charset=utf-8"},
		{name: "api.js", contentType: "text/javascript; charset=utf-8"},
		{name: "overview.js", contentType: "text/javascript; charset=utf-8"},
		{name: "logs.js", contentType: "text/javascript; charset=utf-8"},
		{name: "config.js", contentType: "text/javascript; charset=utf-8"},
		{name: "profiles.js", contentType: "text/javascript; charset=utf-8"},
		{name: "sessions.js", contentType: "text/javascript; charset=utf-8"},
		{name: "secrets.js", contentType: "text/javascript; charset=utf-8"},
		{name: "markdown.js", contentType: "text/javascript; charset=utf-8"},
		{name: faviconAsset, contentType: "image/svg+xml"},
		{name: "theme.css", contentType: "text/css; charset=utf-8", generate: themeCSS},
		// The login gate's pages link their stylesheet here.
		{name: strings.TrimPrefix(authgate.StylesheetPath, AssetsPath), contentType: "text/css; charset=utf-8", generate: authgate.Style},
	}
}

// loadAssets reads or builds every asset once, with its ETag.
func loadAssets() (map[string]asset, error) {
	out := map[string]asset{}
	for _, a := range assetList() {
		if a.generate != nil {
			a.body = a.generate()
		} else {
			b, err := webFS.ReadFile("web/assets/" + a.name)
			if err != nil {
				return nil, fmt.Errorf("dashboard: asset %s: %w", a.name, err)
			}
			a.body = b
		}
		sum := sha256.Sum256(a.body)
		a.etag = `"` + hex.EncodeToString(sum[:8]) + `"`
		out[a.name] = a
	}
	return out, nil
}

// serveAsset is GET /assets/{file}: one of the files of assetList (any
// other name is 404), revalidated on every use (no-cache) against its ETag,
// which changes with its content.
func (s *Server) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := s.assets[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	a.serve(w, r)
}

// serveFavicon is GET /favicon.ico, for the browsers that ask for it
// whatever the page says: the dashboard's SVG icon.
func (s *Server) serveFavicon(w http.ResponseWriter, r *http.Request) {
	s.assets[faviconAsset].serve(w, r)
}

// faviconAsset is the icon's asset name.
const faviconAsset = "favicon.svg"

func (a asset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}
