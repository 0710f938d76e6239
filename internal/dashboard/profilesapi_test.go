package dashboard

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/profiles"
)

// TestProfilesAPI: create a profile from the browser; delete it only with
// its name typed again, never default, never while its gateway runs (the
// answer says to stop it first); bad names are 400.
func TestProfilesAPI(t *testing.T) {
	f := newFixture(t, authgate.OpenLocal, nil)
	h := f.handler()
	hdr := f.localHeaders()
	hdr["Content-Type"] = "application/json"

	tests := []struct {
		body string
		code int
		want string
	}{
		{`{"name":"Bad Name"}`, 400, "invalid"},
		{`{"name":"default"}`, 400, ""},
		{`{"nom":"x"}`, 400, "the body must be"},
		{`{"name":"writer"}`, 201, `"name":"writer"`},
		{`{"name":"writer"}`, 409, "already exists"},
	}
	for _, tt := range tests {
		rec := send(h, "POST", "/api/profiles", tt.body, hdr)
		if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.want) {
			t.Errorf("POST /api/profiles %s = %d %s, want %d with %q", tt.body, rec.Code, rec.Body, tt.code, tt.want)
		}
	}
	if !profiles.Exists(profiles.MustParse(f.home, "writer")) {
		t.Fatal("profile writer was not created")
	}
	if port, err := profiles.Port(profiles.MustParse(f.home, "writer")); err != nil || port == 0 {
		t.Errorf("writer's port = %d, %v", port, err)
	}
	if !strings.Contains(f.logs.String(), "event=profile.create") {
		t.Errorf("the creation is not audited:\n%s", f.logs)
	}

	dir := profiles.MustParse(f.home, "writer").Dir()
	if rec := send(h, "DELETE", "/api/profiles/writer", `{}`, hdr); rec.Code != 400 || !strings.Contains(rec.Body.String(), "SOUL.md, config.yaml, .env") {
		t.Errorf("DELETE without the confirmation = %d %s, want 400 naming what is lost", rec.Code, rec.Body)
	}
	if rec := send(h, "DELETE", "/api/profiles/writer", `{"confirm":"other"}`, hdr); rec.Code != 400 {
		t.Errorf("DELETE with the wrong name = %d", rec.Code)
	}
	// Its gateway runs: refused, and the profile stays.
	writeState(t, dir, map[string]any{"gateway_state": "running", "desired_state": "running", "pid": os.Getpid()})
	holdLock(t, dir)
	if rec := send(h, "DELETE", "/api/profiles/writer", `{"confirm":"writer"}`, hdr); rec.Code != 409 || !strings.Contains(rec.Body.String(), "stop it first") {
		t.Errorf("DELETE while the gateway runs = %d %s, want 409 saying to stop it first", rec.Code, rec.Body)
	}
	if !profiles.Exists(profiles.MustParse(f.home, "writer")) {
		t.Fatal("a refused delete removed the profile")
	}

	other := f.addProfile(t, "scratch", 8650)
	if rec := send(h, "DELETE", "/api/profiles/scratch", `{"confirm":"scratch"}`, hdr); rec.Code != 200 {
		t.Errorf("DELETE scratch = %d %s", rec.Code, rec.Body)
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("profiles/scratch is still there: %v", err)
	}
	for _, target := range []string{"/api/profiles/default", "/api/profiles/nobody", "/api/profiles/..%2Fetc"} {
		if rec := send(h, "DELETE", target, `{"confirm":"default"}`, hdr); rec.Code != 400 && rec.Code != 404 {
			t.Errorf("DELETE %s = %d, want 400 or 404", target, rec.Code)
		}
	}
	if !profiles.Exists(profiles.MustParse(f.home, profiles.Default)) {
		t.Fatal("default is gone")
	}
}

// TestProfilesPage: one card per profile with its model, port, gateway and
// sessions; default's and a running gateway's delete buttons are disabled
// with the reason.
func TestProfilesPage(t *testing.T) {
	f := statusFixture(t, authgate.OpenLocal, nil)
	rec := do(f.handler(), "GET", "/profiles", map[string]string{"Host": "127.0.0.1:9119"})
	page := rec.Body.String()
	for _, want := range []string{`id="profile-default"`, `id="profile-coder"`, "anthropic/claude-sonnet-4", "8643", `aria-label="Delete profile default" disabled`, "its gateway runs: stop it first", `<label for="create-name">Name</label>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the profiles page lacks %q", want)
		}
	}
}

// TestProfileClone: a profile made from another one has its config and
// SOUL.md, its own port and a fresh key (another fingerprint); clone_all
// alone copies the active profile, as hermes profile create --clone-all.
func TestProfileClone(t *testing.T) {
	f := newFixture(t, authgate.OpenLocal, nil)
	h := f.handler()
	hdr := f.localHeaders()
	hdr["Content-Type"] = "application/json"
	writeFile(t, profiles.EnvPath(profiles.MustParse(f.home, profiles.Default)), "API_SERVER_KEY=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n")
	rec := send(h, "POST", "/api/profiles", `{"name":"copy","clone_from":"default","description":"a copy"}`, hdr)
	if rec.Code != 201 {
		t.Fatalf("clone = %d %s", rec.Code, rec.Body)
	}
	c, err := profiles.LoadProfileConfig(profiles.MustParse(f.home, "copy"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get("model.name"); v != "anthropic/claude-sonnet-4" {
		t.Errorf("the clone's model.name = %v", v)
	}
	if p, _ := profiles.Port(profiles.MustParse(f.home, "copy")); p == 8642 || p == 0 {
		t.Errorf("the clone's port = %d", p)
	}
	if !strings.Contains(rec.Body.String(), `"key_fingerprint":"sha256:`) || strings.Contains(rec.Body.String(), profiles.Fingerprint("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")) {
		t.Errorf("the clone's key is not a fresh one: %s", rec.Body)
	}
	if rec := send(h, "POST", "/api/profiles", `{"name":"other","clone_from":"nobody"}`, hdr); rec.Code != 400 && rec.Code != 404 {
		t.Errorf("clone from nobody = %d %s", rec.Code, rec.Body)
	}
	// clone_all alone copies everything of the active profile, as the
	// CLI's --clone-all does.
	coder := f.addProfile(t, "coder", 8650)
	writeFile(t, filepath.Join(coder, "memories", "MEMORY.md"), "the coder's memory\n")
	writeFile(t, filepath.Join(f.home, profiles.FileActiveProfile), "coder\n")
	if rec := send(h, "POST", "/api/profiles", `{"name":"other","clone_all":true}`, hdr); rec.Code != 201 {
		t.Fatalf("clone_all without a source = %d %s, want 201 (a full copy of the active profile)", rec.Code, rec.Body)
	}
	c, err = profiles.LoadProfileConfig(profiles.MustParse(f.home, "other"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get("model.name"); v != "local/coder" {
		t.Errorf("clone_all alone: the copy's model.name = %v, want the active profile's local/coder", v)
	}
	if b, err := os.ReadFile(filepath.Join(profiles.MustParse(f.home, "other").Dir(), "memories", "MEMORY.md")); err != nil || string(b) != "the coder's memory\n" {
		t.Errorf("clone_all alone: the active profile's memories were not copied: %q, %v", b, err)
	}
}
