package dashboard

import (
	"io/fs"
	"net/http"
	"slices"
	"testing"

	"github.com/hermes-agent/hermes/internal/authgate"
)

// TestAssetsListed: the embedded assets are exactly the files assetList
// names (besides the generated ones), and each is served with its type,
// publicly, in every mode.
func TestAssetsListed(t *testing.T) {
	embedded, err := fs.Glob(webFS, "web/assets/*")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, a := range assetList() {
		if a.generate == nil {
			listed = append(listed, "web/assets/"+a.name)
		}
	}
	slices.Sort(listed)
	if !slices.Equal(embedded, listed) {
		t.Errorf("embedded assets %q, listed %q", embedded, listed)
	}
	f := newFixture(t, authgate.Gated, nil)
	for _, a := range assetList() {
		rec := do(f.handler(), http.MethodGet, AssetsPath+a.name, nil)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != a.contentType || rec.Body.Len() == 0 {
			t.Errorf("%s = %d %q (%d bytes)", a.name, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
			continue
		}
		etag := rec.Header().Get("ETag")
		if rec := do(f.handler(), http.MethodGet, AssetsPath+a.name, map[string]string{"If-None-Match": etag}); rec.Code != http.StatusNotModified {
			t.Errorf("%s with its ETag = %d, want 304", a.name, rec.Code)
		}
	}
	for _, target := range []string{AssetsPath + "nope.js", AssetsPath + "layout.html", AssetsPath + "..%2Ftemplates%2Flayout.html"} {
		if rec := do(f.handler(), http.MethodGet, target, nil); rec.Code == http.StatusOK {
			t.Errorf("%s = 200, want it refused", target)
		}
	}
	if rec := do(f.handler(), http.MethodGet, "/favicon.ico", nil); rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/svg+xml" {
		t.Errorf("/favicon.ico = %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
}
