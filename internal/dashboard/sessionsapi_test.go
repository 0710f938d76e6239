package dashboard

import (
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/authgate"
)

// TestSessionsLifecycleAPI: search (titles and messages), rename (the
// title's rule), export as JSON and Markdown, delete; another profile's
// session is 404.
func TestSessionsLifecycleAPI(t *testing.T) {
	f := statusFixture(t, authgate.OpenLocal, nil)
	h := f.handler()
	hdr := f.localHeaders()
	hdr["Content-Type"] = "application/json"

	rec := do(h, "GET", "/api/sessions?q=answer+to+old", hdr)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "sess_default_idle") || strings.Contains(rec.Body.String(), "sess_default_active") || !strings.Contains(rec.Body.String(), `"query":"answer to old"`) {
		t.Errorf("search = %d %s", rec.Code, rec.Body)
	}
	if rec := do(h, "GET", "/api/sessions?q=%20", hdr); rec.Code != 400 {
		t.Errorf("a blank search = %d, want 400", rec.Code)
	}

	for _, bad := range []string{`{"title":""}`, `{"title":"` + strings.Repeat("x", 10000) + `"}`, `{"title":"two\nlines"}`, `{"name":"x"}`} {
		if rec := send(h, "PATCH", "/api/sessions/default/sess_default_idle", bad, hdr); rec.Code != 400 {
			t.Errorf("PATCH %.40s = %d, want 400", bad, rec.Code)
		}
	}
	rec = send(h, "PATCH", "/api/sessions/default/sess_default_idle", `{"title":"Renamed from the browser"}`, hdr)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"title":"Renamed from the browser"`) || !strings.Contains(rec.Body.String(), `"profile":"default"`) {
		t.Errorf("rename = %d %s", rec.Code, rec.Body)
	}
	if rec := send(h, "PATCH", "/api/sessions/coder/sess_default_idle", `{"title":"x"}`, hdr); rec.Code != 404 {
		t.Errorf("rename through another profile = %d, want 404", rec.Code)
	}

	rec = do(h, "GET", "/api/sessions/default/sess_default_idle/export?format=markdown", hdr)
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/markdown") || !strings.Contains(rec.Header().Get("Content-Disposition"), "sess_default_idle.md") || !strings.Contains(rec.Body.String(), "Renamed from the browser") {
		t.Errorf("markdown export = %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	rec = do(h, "GET", "/api/sessions/default/sess_default_idle/export?format=json", hdr)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"messages"`) || !strings.Contains(rec.Header().Get("Content-Disposition"), ".json") {
		t.Errorf("json export = %d %s", rec.Code, rec.Body)
	}
	if rec := do(h, "GET", "/api/sessions/default/sess_default_idle/export?format=pdf", hdr); rec.Code != 400 {
		t.Errorf("export as pdf = %d, want 400", rec.Code)
	}

	if rec := send(h, "DELETE", "/api/sessions/default/sess_default_idle", "", hdr); rec.Code != 200 {
		t.Errorf("delete = %d %s", rec.Code, rec.Body)
	}
	if rec := do(h, "GET", "/api/sessions/default/sess_default_idle", hdr); rec.Code != 404 {
		t.Errorf("the deleted session = %d, want 404", rec.Code)
	}
	if rec := send(h, "DELETE", "/api/sessions/default/sess_nope", "", hdr); rec.Code != 404 {
		t.Errorf("delete of a missing session = %d, want 404", rec.Code)
	}
	if !strings.Contains(f.logs.String(), "event=session.rename") || !strings.Contains(f.logs.String(), "event=session.delete") {
		t.Errorf("the changes are not audited:\n%s", f.logs)
	}
}
