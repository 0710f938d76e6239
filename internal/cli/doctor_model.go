package cli

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/supervise"
)

// What breaks a gateway, checked by hermes doctor for each profile: a
// model configured, its base URL that parses, the key variable it names
// set (in the profile's .env or the environment); with --online, one
// cheap request to the upstream. A problem fails the doctor when the
// profile's gateway is wanted up (it serves nothing that works), and warns
// otherwise; a profile with no model at all only warns (a fresh install).

// onlineTimeout bounds doctor --online's request to each upstream.
const onlineTimeout = 5 * time.Second

// modelProblem is what doctor found wrong with a profile's model.
type modelProblem struct {
	detail, fix string
	unset       bool // no model configured at all
}

// models returns one check per profile: "model <profile>".
func (d *doctor) models(ctx context.Context, online bool) []check {
	names, err := profiles.List(d.home)
	if err != nil {
		return []check{{Name: "model", Status: checkFail, Detail: oneLine(err.Error())}}
	}
	var out []check
	for _, p := range names {
		out = append(out, d.model(ctx, p, online))
	}
	return out
}

// wantedUp reports whether the supervisor wants the profile's gateway up.
func (d *doctor) wantedUp(profile string) bool {
	name := gateway.ServiceName(profile)
	for _, s := range d.services {
		if s.Name == name {
			return s.Want == supervise.WantUp || s.State == supervise.Running
		}
	}
	return false
}

func (d *doctor) model(ctx context.Context, ref profiles.Ref, online bool) check {
	profile := ref.Name()
	c := check{Name: "model " + profile}
	flag := ""
	if profile != profiles.Default {
		flag = "-p " + profile + " "
	}
	m, key, summary, prob := d.inspectModel(ref, flag)
	if prob != nil {
		c.Status, c.Detail, c.Fix = checkWarn, prob.detail, prob.fix
		if !prob.unset && d.wantedUp(profile) {
			c.Status = checkFail
			c.Detail += " (its gateway is wanted up)"
		}
		return c
	}
	c.Status, c.Detail = checkOK, summary
	if !online {
		return c
	}
	status, latency, err := probeUpstream(ctx, m.BaseURL, key)
	switch {
	case err != nil:
		c.Status, c.Detail = checkFail, fmt.Sprintf("%s; GET %s/models failed after %s: %s", summary, strings.TrimSuffix(m.BaseURL, "/"), latency.Round(time.Millisecond), oneLine(err.Error()))
		c.Fix = "check model.base_url and that this container reaches it (DNS, proxy, firewall)"
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		c.Status, c.Detail = checkFail, fmt.Sprintf("%s; the upstream refused the key: GET /models answered %d in %s", summary, status, latency.Round(time.Millisecond))
		c.Fix = fmt.Sprintf("set the right key: hermes %senv set %s", flag, orDash(m.APIKeyEnv))
	case status >= 500:
		c.Status, c.Detail = checkWarn, fmt.Sprintf("%s; the upstream answered GET /models with %d in %s", summary, status, latency.Round(time.Millisecond))
	default:
		c.Detail = fmt.Sprintf("%s; the upstream answered GET /models with %d in %s", summary, status, latency.Round(time.Millisecond))
	}
	return c
}

// inspectModel reads a profile's model and its key; prob says what
// breaks it.
func (d *doctor) inspectModel(profile profiles.Ref, flag string) (m profiles.ModelConfig, key, summary string, prob *modelProblem) {
	cfg, err := profiles.LoadProfileConfig(profile)
	if err != nil {
		return m, "", "", &modelProblem{detail: oneLine(err.Error()), fix: "fix config.yaml (hermes " + flag + "config list shows every key)"}
	}
	if m, err = cfg.Model(); err != nil {
		return m, "", "", &modelProblem{detail: oneLine(err.Error()), fix: "fix the key named: hermes " + flag + "config set KEY VALUE"}
	}
	setup := fmt.Sprintf("hermes %sconfig set %s URL; hermes %sconfig set %s NAME; hermes %sconfig set %s VARIABLE; hermes %senv set VARIABLE",
		flag, profiles.KeyModelBaseURL, flag, profiles.KeyModelName, flag, profiles.KeyModelAPIKeyEnv, flag)
	switch {
	case m.BaseURL == "" && m.Name == "":
		return m, "", "", &modelProblem{unset: true, detail: "no model configured: the gateway answers every chat with an error", fix: setup}
	case m.BaseURL == "":
		return m, "", "", &modelProblem{detail: profiles.KeyModelBaseURL + " is not set: the gateway has no upstream to call", fix: fmt.Sprintf("hermes %sconfig set %s https://openrouter.ai/api/v1", flag, profiles.KeyModelBaseURL)}
	case m.Name == "":
		return m, "", "", &modelProblem{detail: profiles.KeyModelName + " is not set: the gateway names no model upstream", fix: fmt.Sprintf("hermes %sconfig set %s NAME", flag, profiles.KeyModelName)}
	}
	summary = fmt.Sprintf("%s at %s", m.Name, m.BaseURL)
	switch {
	case m.APIKeyEnv != "":
		env, err := profiles.LoadEnvDoc(profile)
		if err != nil {
			return m, "", "", &modelProblem{detail: oneLine(err.Error()), fix: "fix or remove the line named"}
		}
		if v, ok := env.Get(m.APIKeyEnv); ok && v != "" {
			return m, v, summary + fmt.Sprintf(", key %s set in %s", m.APIKeyEnv, profiles.FileEnv), nil
		}
		if v, ok := d.e.Host.Getenv(m.APIKeyEnv); ok && v != "" {
			return m, v, summary + fmt.Sprintf(", key %s set in the environment", m.APIKeyEnv), nil
		}
		return m, "", "", &modelProblem{
			detail: fmt.Sprintf("%s names %s, which is set neither in %s nor in the environment: the upstream gets no key", profiles.KeyModelAPIKeyEnv, m.APIKeyEnv, profiles.EnvPath(profile)),
			fix:    fmt.Sprintf("hermes %senv set %s (then paste the key)", flag, m.APIKeyEnv),
		}
	case m.Provider != "":
		return m, "", summary + fmt.Sprintf(", key from provider %s (hermes login)", m.Provider), nil
	}
	return m, "", summary + ", no key (" + profiles.KeyModelAPIKeyEnv + " is not set: fine for a local upstream)", nil
}

// probeUpstream is doctor --online's one cheap request: GET
// {base_url}/models with the key, bounded by onlineTimeout. It never runs
// in the HEALTHCHECK (doctor --quiet without --online).
func probeUpstream(ctx context.Context, baseURL, key string) (status int, latency time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, onlineTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(baseURL, "/")+"/models", nil)
	if err != nil {
		return 0, 0, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	latency = time.Since(start)
	if err != nil {
		return 0, latency, err
	}
	resp.Body.Close()
	return resp.StatusCode, latency, nil
}

// configSecrets warns of the secrets that a profile's config.yaml holds
// (a key named like one: profiles.IsSecretKey): nothing reads them there,
// and the file is readable by more than the hermes uid.
func (d *doctor) configSecrets() check {
	c := check{Name: "config secrets"}
	names, _ := profiles.List(d.home)
	var found []string
	fix := ""
	for _, ref := range names {
		p := ref.Name()
		cfg, err := profiles.LoadProfileConfig(ref)
		if err != nil {
			continue
		}
		for _, k := range cfg.SecretKeys() {
			found = append(found, fmt.Sprintf("%s of %s holds %s", profiles.FileConfig, p, k))
			if fix == "" {
				flag := ""
				if p != profiles.Default {
					flag = "-p " + p + " "
				}
				fix = fmt.Sprintf("move each into .env: hermes %senv set NAME (then paste it), then hermes %sconfig unset %s", flag, flag, k)
			}
		}
	}
	if len(found) > 0 {
		c.Status, c.Detail, c.Fix = checkWarn, strings.Join(found, "; ")+": a secret belongs in .env (mode 0600), and nothing reads it from config.yaml", fix
		return c
	}
	c.Status, c.Detail = checkOK, "no secret in any config.yaml"
	return c
}
