package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"time"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// Profiles from the browser: POST /api/profiles creates one (as hermes
// profile create: its gateway registered down, never started by itself),
// DELETE /api/profiles/{name} deletes one after a confirmation that names
// it, refused while its gateway runs. Neither registers a command line:
// the gateway's spec is the supervisor's own (RegisterGateway).

// createRequest is POST /api/profiles's body.
type createRequest struct {
	Name string `json:"name"`
	// CloneFrom is the profile whose config.yaml, SOUL.md and .env the
	// new one starts from ("" for the seeds), as --clone-from.
	CloneFrom string `json:"clone_from"`
	// Clone is --clone: from the active profile.
	Clone bool `json:"clone"`
	// CloneAll is --clone-all: also its sessions and the rest.
	CloneAll    bool   `json:"clone_all"`
	Description string `json:"description"`
}

// decodeBody decodes a small JSON body strictly into v.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// registerTimeout bounds a call to the supervisor made beside a profile
// change, which never fails because of it (CONTRACT §5).
const registerTimeout = 10 * time.Second

// apiProfileCreate is POST /api/profiles.
func (s *Server) apiProfileCreate(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", `the body must be {"name": NAME, "clone_from": PROFILE, "clone": false, "clone_all": false, "description": TEXT}`)
		return
	}
	ref, err := profiles.ParseNamed(s.home, req.Name)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_name", err.Error())
		return
	}
	if profiles.Exists(ref) {
		writeError(w, http.StatusConflict, "exists", "profile "+req.Name+" already exists")
		return
	}
	if err := s.createProfile(ref, req); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, errNoProfile) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, profiles.ErrInvalidName) || errors.Is(err, errBadCreate) {
			code = http.StatusBadRequest
		}
		writeError(w, code, "create_failed", err.Error())
		return
	}
	warning := ""
	ctx, cancel := context.WithTimeout(r.Context(), registerTimeout)
	defer cancel()
	if _, err := s.control(ctx).RegisterGateway(ctx, req.Name, false); err != nil && !errors.Is(err, control.ErrUnavailable) {
		warning = "the gateway could not be registered with the supervisor: " + err.Error()
	}
	s.audit(r, "profile.create", "profile", req.Name, "clone_from", req.CloneFrom, "clone_all", req.CloneAll)
	s.hub.poke()
	body := map[string]any{"profile": s.readProfile(r.Context(), ref, s.now())}
	if warning != "" {
		body["warning"] = warning
	}
	writeJSON(w, http.StatusCreated, body)
}

// errBadCreate is wrapped by a create request that cannot be done as
// asked.
var errBadCreate = errors.New("cannot create the profile as asked")

// deleteRequest is DELETE /api/profiles/{name}'s body: the profile's name
// typed again.
type deleteRequest struct {
	Confirm string `json:"confirm"`
}

// whatIsLost names what deleting a profile removes.
func (s *Server) whatIsLost(dir string) string {
	return fmt.Sprintf("its gateway, and everything in %s (SOUL.md, config.yaml, .env with its keys, its sessions, memories, skills, workspace)", dir)
}

// apiProfileDelete is DELETE /api/profiles/{name} with {"confirm": NAME}.
// It is refused for default, for a profile that does not exist, without
// the confirmation, and while the profile's gateway runs (409: stop it
// first).
func (s *Server) apiProfileDelete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ref, err := profiles.ParseNamed(s.home, name)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_name", err.Error())
		return
	}
	if ok, err := profiles.Lookup(ref); err != nil {
		writeError(w, http.StatusInternalServerError, "unreadable", err.Error())
		return
	} else if !ok {
		writeError(w, http.StatusNotFound, "not_found", "profile "+name+" does not exist")
		return
	}
	var req deleteRequest
	if err := decodeBody(r, &req); err != nil || req.Confirm != name {
		writeError(w, http.StatusBadRequest, "confirm", "deleting profile "+name+" removes "+s.whatIsLost(ref.Dir())+`; send {"confirm": "`+name+`"} to confirm`)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), registerTimeout)
	defer cancel()
	c := s.control(ctx)
	svc := gateway.ServiceName(name)
	st, serr := c.Status(ctx, svc)
	if v := gateway.Observe(ref, nil); v.Running || serr == nil && st.State != supervise.Stopped && st.State != supervise.Failed {
		state := v.State
		if serr == nil {
			state = string(st.State)
		}
		writeError(w, http.StatusConflict, "gateway_running",
			fmt.Sprintf("the gateway of profile %s is %s: stop it first (the Stop button of %s, or hermes -p %s gateway stop), then delete the profile", name, state, svc, name))
		return
	}
	if err := c.RemoveGateway(ctx, name); err != nil && !errors.Is(err, control.ErrUnavailable) {
		var api *control.APIError
		if !errors.As(err, &api) || api.Status != http.StatusNotFound {
			writeControlError(w, err)
			return
		}
	}
	if err := profiles.Delete(ref); err != nil {
		writeError(w, http.StatusInternalServerError, "delete_failed", err.Error())
		return
	}
	s.audit(r, "profile.delete", "profile", name)
	s.hub.poke()
	writeJSON(w, http.StatusOK, map[string]any{"deleted": name})
}

// profilesView is the body of the profiles page.
type profilesView struct {
	Profiles []profileCard
	Names    []string
	Active   string
}

// profileCard is one profile on the page.
type profileCard struct {
	profileBody
	Lost      string
	CanDelete bool
	Why       string // why it cannot be deleted now
}

// pageProfiles is GET /profiles: each profile's model, port, gateway and
// sessions, the create form and the delete buttons.
func (s *Server) pageProfiles(w http.ResponseWriter, r *http.Request) {
	v := profilesView{Names: s.profileList(), Active: profiles.Default}
	if p, err := profiles.Resolve(s.home, ""); err == nil {
		v.Active = p.Name()
	}
	for _, p := range s.readProfiles(r.Context()) {
		c := profileCard{profileBody: p, Lost: s.whatIsLost(p.Dir), CanDelete: true}
		switch {
		case p.Name == profiles.Default:
			c.CanDelete, c.Why = false, "the default profile is the home itself and cannot be deleted"
		case p.Gateway.Running:
			c.CanDelete, c.Why = false, "its gateway runs: stop it first"
		}
		v.Profiles = append(v.Profiles, c)
	}
	s.render(w, r, http.StatusOK, pageProfilesName, "Profiles", v)
}
