package e2e

// The dashboard as a new user drives it (issue 18): one hermes init in a
// network namespace of its own, supervising the dashboard (password login),
// the default profile's gateway and a service that logs at every level;
// one headless Chromium through every page and action at 1280 px, every
// page and a representative set of actions again at 390 px (each page's
// accessibility check at both), with screenshots in the artifacts.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/hermes-agent/hermes/internal/authgate"
	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/dashboard"
	"github.com/hermes-agent/hermes/internal/hostenv"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/sessions"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// tickerService logs a line at each level every second: info on stderr
// (which must not read as an error), a warning on stdout, an error.
const tickerService = `argv: ["sh", "-c", "echo 'level=info msg=\"ticker running\"' >&2; while :; do echo 'level=warn msg=\"tick is slow\"'; echo 'ERROR tick failed' >&2; echo 'level=info msg=tick' >&2; sleep 1; done"]
restart: always
stop_grace: 1s
`

func TestBrowserDashboard(t *testing.T) {
	chromium := testenv.NeedProgram(t, "chromium", "drive the dashboard in a real browser (Debian package chromium)")
	began := time.Now()
	artifacts := browserArtifacts(t)
	ns := newBrowserNetns(t)
	h := newNSHome(t)
	h.service(t, "ticker", tickerService)
	sessionID, plainID := writeHostileSession(t, h.home)
	const port, user, password = 9119, "admin", "correct horse battery staple"
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	env := []string{"HERMES_DASHBOARD=1", "HERMES_DASHBOARD_HOST=127.0.0.1", "HERMES_DASHBOARD_PORT=" + strconv.Itoa(port),
		"HERMES_DASHBOARD_PUBLIC_URL=" + base, // gated on loopback
		"HERMES_DASHBOARD_BASIC_AUTH_USERNAME=" + user, "HERMES_DASHBOARD_BASIC_AUTH_PASSWORD=" + password}
	cmd := h.initCmd(subreaper, env, "gateway", "run")
	cmd.Args = append([]string{ns.nsenter, "--net=" + ns.path, "--"}, cmd.Args...)
	cmd.Path, cmd.Err = ns.nsenter, nil
	startInit(t, cmd, func(out *lockedBuffer) {
		out.mu.Lock()
		os.WriteFile(artifacts+"/init.log", out.b.Bytes(), 0o644)
		out.mu.Unlock()
	})
	h.waitReady(t)
	api := ns.client(nil)
	testenv.EventuallyNil(t, 30*time.Second, "the dashboard's /api/status to answer 200", func() error {
		resp, err := api.Get(base + "/api/status")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return errors.New(resp.Status)
		}
		return nil
	})
	svc := func(args ...string) {
		t.Helper()
		c := exec.Command(hermesBin, append([]string{"svc"}, args...)...)
		c.Env = append(os.Environ(), "HERMES_CONTROL_SOCKET="+h.socket, "HERMES_HOME="+h.home)
		if b, err := c.CombinedOutput(); err != nil {
			t.Fatalf("hermes svc %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}

	b := startBrowser(t, ns, chromium, artifacts, 6*time.Minute)
	const step = 45 * time.Second
	wait := func(what, expr string) {
		t.Helper()
		b.run(what, step, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(step-time.Second)))
	}
	eval := func(expr string) string {
		t.Helper()
		return browserGetValue(b, "evaluating "+expr, 10*time.Second, chromedp.Evaluate[string](expr))
	}
	// scriptReady is the page's script started: before, a click on a
	// button does nothing and a form submits itself as a plain GET.
	scriptReady := chromedp.WaitVisible(chromedp.CSS(`body[data-ready="yes"]`))
	openAt := func(site, path, ready string) {
		t.Helper()
		b.run("opening "+site+path, step, chromedp.Navigate(site+path), chromedp.WaitVisible(chromedp.CSS(ready)), scriptReady)
	}
	open := func(path, ready string) {
		t.Helper()
		openAt(base, path, ready)
	}
	// A page that reloads itself after a change: mark the page before
	// the action, then wait for a page without the mark whose script has
	// started (an evaluation fails while the navigation is under way).
	markPage := func() { eval(`window.hermesOldPage = true; ""`) }
	waitReloaded := func(what string) {
		t.Helper()
		testenv.EventuallyNil(t, step, what, func() error {
			ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
			defer cancel()
			v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`String(window.hermesOldPage !== true && document.body.dataset.ready === "yes")`))
			if err != nil {
				return err
			}
			if v != "true" {
				return errors.New("still the page before the reload, or its script has not started")
			}
			return nil
		})
	}
	row := func(service string) string { return `#services tr[data-service="` + service + `"]` }
	// press clicks the service's button once it is enabled and waits for
	// the result beside it to match re (a JavaScript regular expression).
	press := func(service, verb, re string) {
		t.Helper()
		b.run(verb+" "+service, step, chromedp.Click(chromedp.CSS(row(service)+` button[data-verb="`+verb+`"]:not([disabled])`)))
		wait("the "+verb+"'s result beside the button", re+`.test(document.querySelector('`+row(service)+` .result').textContent)`)
	}
	stateIs := func(service, state string) string {
		return `document.querySelector('` + row(service) + ` .state').textContent === "` + state + `"`
	}

	// Sign in (the gate's form), back on the overview.
	b.run("the login page", step, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#username")))
	b.run("signing in", step,
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#services tr[data-service="ticker"]`)))

	// 1. Live state: the page follows /api/events; the dashboard's own row
	// says it is this one; each button only when it makes sense.
	wait("the live stream", `document.getElementById("live").textContent.startsWith("Live")`)
	wait("the ticker running", `document.querySelector('#services tr[data-service="ticker"] .state').textContent === "running"`)
	if got := b.text(`#services tr[data-service="dashboard"]`); !strings.Contains(got, "this dashboard (pid") || strings.Contains(got, "stopped") {
		t.Errorf("the dashboard's own row reads %q, want it to say this is the supervised dashboard", got)
	}
	buttons := func(name string) string {
		return eval(`Array.from(document.querySelectorAll('#services tr[data-service="` + name + `"] button')).map(b => b.dataset.verb + (b.disabled ? "-" : "+")).join(" ")`)
	}
	if got := buttons("ticker"); got != "start- stop+ restart+" {
		t.Errorf("a running service's buttons: %s, want start disabled, stop and restart enabled", got)
	}
	wait("the services' CPU and memory", `/iB$/.test(document.querySelector('#services tr[data-service="ticker"] .res-mem').textContent) && / s/.test(document.querySelector('#services tr[data-service="ticker"] .res-cpu').textContent)`)
	wait("relative times", `Array.from(document.querySelectorAll("#services time")).every(e => /ago|just now/.test(e.textContent) && / UTC$/.test(e.title))`)
	eval(`window.hermesNoReload = "kept"; ""`)
	b.screenshot("overview-1280")
	b.run("stopping the ticker", step, chromedp.Click(chromedp.CSS(`#services tr[data-service="ticker"] button[data-verb="stop"]`)))
	wait("the stop's result beside the button", `/^✓ stopped$/.test(document.querySelector('#services tr[data-service="ticker"] .result').textContent)`)
	wait("the buttons of a stopped service", `document.querySelector('#services tr[data-service="ticker"] button[data-verb="start"]').disabled === false`)
	if got := buttons("ticker"); got != "start+ stop- restart-" {
		t.Errorf("a stopped service's buttons: %s, want start only", got)
	}
	b.screenshot("overview-after-stop")
	// A change made elsewhere (the CLI) shows up in place, without a reload.
	svc("start", "ticker")
	wait("the CLI's start to show", `document.querySelector('#services tr[data-service="ticker"] .state').textContent === "running"`)
	if got := eval(`window.hermesNoReload || "reloaded"`); got != "kept" {
		t.Errorf("the overview reloaded (%s); it should update in place", got)
	}
	// Restart: the button, then a new process running.
	pid := eval(`document.querySelector('` + row("ticker") + ` td[data-label="pid"]').textContent`)
	press("ticker", "restart", `/^✓ restarted( \(now (running|starting)\))?$/`)
	wait("the restarted ticker running with a new pid", stateIs("ticker", "running")+` && document.querySelector('`+row("ticker")+` td[data-label="pid"]').textContent !== `+strconv.Quote(pid))
	if got := buttons("ticker"); got != "start- stop+ restart+" {
		t.Errorf("a restarted service's buttons: %s, want start disabled, stop and restart enabled", got)
	}
	// Start: stopped elsewhere (the CLI), started with the button.
	svc("stop", "ticker")
	wait("the CLI's stop to show", stateIs("ticker", "stopped"))
	press("ticker", "start", `/^✓ started( \(now (running|starting)\))?$/`)
	wait("the started ticker running", stateIs("ticker", "running"))
	b.screenshot("overview-after-start")
	if got := eval(`window.hermesNoReload || "reloaded"`); got != "kept" {
		t.Errorf("the overview reloaded (%s) after its buttons; it should update in place", got)
	}
	checkPage(t, b, eval, "overview")

	// 6. Logs: coloured by level, not stream; filters; pause; download;
	// the boot log.
	open("/logs?service=ticker", "#log")
	wait("the ticker's lines", `document.querySelectorAll("#log .line.lv-error").length > 0 && document.querySelectorAll("#log .line.lv-info").length > 0`)
	if got := eval(`Array.from(document.querySelectorAll("#log .line")).filter(l => l.textContent.includes("level=info")).map(l => getComputedStyle(l).color === getComputedStyle(document.querySelector("#log .lv-error")).color ? "red" : "ok").join(",")`); strings.Contains(got, "red") || got == "" {
		t.Errorf("info lines written to stderr read as errors: %s", got)
	}
	b.screenshot("logs-1280")
	b.run("filtering errors", step, chromedp.SetValue(chromedp.CSS("#log-level"), "error"))
	eval(`document.getElementById("log-level").dispatchEvent(new Event("change")); ""`)
	if got := eval(`String(Array.from(document.querySelectorAll("#log .line")).filter(l => !l.hidden).every(l => l.classList.contains("lv-error")))`); got != "true" {
		t.Errorf("with errors only, other lines are shown")
	}
	b.run("filtering by text", step, chromedp.SetValue(chromedp.CSS("#log-level"), ""), chromedp.SendKeys(chromedp.CSS("#log-filter"), "slow"))
	eval(`document.getElementById("log-level").dispatchEvent(new Event("change")); ""`)
	if got := eval(`String(Array.from(document.querySelectorAll("#log .line")).filter(l => !l.hidden).every(l => l.textContent.includes("slow")))`); got != "true" {
		t.Errorf("the text filter shows lines without the text")
	}
	b.run("pausing", step, chromedp.Click(chromedp.CSS("#log-pause")))
	paused := eval(`String(document.querySelectorAll("#log .line").length)`)
	wait("new lines to wait while paused", `/paused: \d+ new lines? waiting/.test(document.getElementById("log-state").textContent)`)
	if got := eval(`String(document.querySelectorAll("#log .line").length)`); got != paused {
		t.Errorf("lines were added while paused: %s then %s", paused, got)
	}
	b.run("resuming", step, chromedp.Click(chromedp.CSS("#log-pause")))
	wait("the waiting lines to show", `document.querySelectorAll("#log .line").length > `+paused)
	dl := eval(`document.getElementById("log-download").getAttribute("href")`)
	wait("the download to hold the log", `fetch(`+strconv.Quote(dl)+`, {credentials: "same-origin"}).then(r => r.ok && r.headers.get("Content-Disposition").startsWith("attachment") ? r.text() : "").then(t => t.includes("tick failed"))`)
	b.run("the boot log", step, chromedp.SetValue(chromedp.CSS("#log-service"), "boot"))
	eval(`document.getElementById("log-service").dispatchEvent(new Event("change")); ""`)
	eval(`document.getElementById("log-filter").value = ""; document.getElementById("log-filter").dispatchEvent(new Event("input")); ""`)
	wait("the boot log's lines", `Array.from(document.querySelectorAll("#log .line")).some(l => l.textContent.includes("profile=default"))`)
	// What it says counts the lines in words a person reads (1 line, 2 lines).
	n := eval(`String(document.querySelectorAll("#log .line").length)`)
	wantState := "the whole boot log, " + n + " lines"
	if n == "1" {
		wantState = "the whole boot log, 1 line"
	}
	if got := eval(`document.getElementById("log-state").textContent`); got != wantState {
		t.Errorf("the boot log's state says %q, want %q", got, wantState)
	}
	b.screenshot("logs-boot")
	checkPage(t, b, eval, "logs")

	// 3. Configuration: generated from the table, checked as config set
	// checks, a stale form refused.
	open("/config", "#config-form")
	want := configSetMessage(t, h.home, "gateway.max_concurrent", "0")
	b.run("a value config set refuses", step, chromedp.SetValue(chromedp.CSS("#key-gateway\\.max_concurrent"), "0"), chromedp.Click(chromedp.CSS("#config-save")))
	wait("the refusal", `document.getElementById("config-result").textContent.startsWith("✗")`)
	if got := b.text("#err-gateway\\.max_concurrent"); got != want {
		t.Errorf("the field's message is %q, want config set's %q", got, want)
	}
	b.screenshot("config-refused")
	b.run("a good value", step, chromedp.SetValue(chromedp.CSS("#key-gateway\\.max_concurrent"), "8"), chromedp.Click(chromedp.CSS("#config-save")))
	wait("the save", `document.getElementById("config-result").textContent.startsWith("✓ Saved gateway.max_concurrent")`)
	if c, err := profiles.LoadProfileConfig(profiles.MustParse(h.home, profiles.Default)); err != nil {
		t.Fatal(err)
	} else if v, _ := c.Get("gateway.max_concurrent"); v != 8 {
		t.Errorf("gateway.max_concurrent = %v after the save", v)
	}
	b.screenshot("config-saved")
	// The file changes behind the form's back: the next save is refused.
	// As the hermes user, as docker exec would run it.
	c := exec.Command(hermesBin, "config", "set", "gateway.max_concurrent", "5")
	c.Env = append(os.Environ(), "HERMES_HOME="+h.home)
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 10000, Gid: 10000}}
	if outb, err := c.CombinedOutput(); err != nil {
		t.Fatalf("hermes config set: %v\n%s", err, outb)
	}
	b.run("saving a stale form", step, chromedp.SetValue(chromedp.CSS("#key-gateway\\.max_concurrent"), "9"), chromedp.Click(chromedp.CSS("#config-save")))
	wait("the stale refusal", `document.getElementById("config-result").textContent.includes("changed since this form was loaded")`)
	checkPage(t, b, eval, "config")

	// 2. Profiles: create one, delete it after the confirmation.
	open("/profiles", "#create-form")
	markPage()
	b.run("creating a profile as a copy of default", step, chromedp.SendKeys(chromedp.CSS("#create-name"), "writer"), chromedp.SetValue(chromedp.CSS("#create-from"), "default"), chromedp.Click(chromedp.CSS(`#create-form button[type="submit"]`)))
	wait("the creation's result", `document.getElementById("create-result").textContent.startsWith("✓ Created writer")`)
	waitReloaded("the page to reload with the new profile")
	b.run("the page with the new profile", step, chromedp.WaitVisible(chromedp.CSS("#profile-writer")))
	if !profiles.Exists(profiles.MustParse(h.home, "writer")) {
		t.Errorf("the profile writer was not created")
	}
	fp := func(p string) string {
		return eval(`(document.querySelector("#profile-` + p + ` dd code") || {}).textContent || ""`)
	}
	if a, b := fp("default"), fp("writer"); !strings.HasPrefix(a, "sha256:") || !strings.HasPrefix(b, "sha256:") || a == b {
		t.Errorf("key fingerprints: default %q, writer %q; want two different ones (a clone gets a fresh key)", a, b)
	}
	if got := eval(`String(document.querySelector('button[data-delete="default"]').disabled)`); got != "true" {
		t.Errorf("default's delete button is enabled")
	}
	b.screenshot("profiles-1280")
	// Its gateway starts after the page was loaded (the button is still
	// enabled): the delete is refused in the server's words, and the
	// profile stays.
	svc("start", "gateway-writer")
	b.run("asking to delete writer while its gateway runs", step, chromedp.Click(chromedp.CSS(`button[data-delete="writer"]`)), chromedp.WaitVisible(chromedp.CSS("#delete-dialog")))
	b.run("confirming", step, chromedp.SendKeys(chromedp.CSS("#delete-confirm"), "writer"), chromedp.Click(chromedp.CSS("#delete-go")))
	wait("the refusal", `/^✗ Not deleted: the gateway of profile writer is \w+: stop it first .*\(HTTP 409\)$/.test(document.querySelector("#profile-writer .result").textContent)`)
	if !profiles.Exists(profiles.MustParse(h.home, "writer")) {
		t.Fatalf("a refused delete removed the profile writer")
	}
	wait("the card to show the gateway's state now", `/^(starting|running) \(wanted (up|running)\)$/.test(document.querySelector("#profile-writer .gateway-state").textContent)`)
	b.screenshot("profiles-refused")
	svc("stop", "gateway-writer")
	b.run("asking to delete writer", step, chromedp.Click(chromedp.CSS(`button[data-delete="writer"]`)), chromedp.WaitVisible(chromedp.CSS("#delete-dialog")))
	if got := b.text("#delete-lost"); !strings.Contains(got, "SOUL.md, config.yaml, .env") || !strings.Contains(got, "sessions") {
		t.Errorf("the confirmation says %q, want it to name what is lost", got)
	}
	if got := eval(`String(document.getElementById("delete-go").disabled)`); got != "true" {
		t.Errorf("the delete is possible before the name is typed")
	}
	b.screenshot("profiles-confirm")
	markPage()
	b.run("confirming", step, chromedp.SendKeys(chromedp.CSS("#delete-confirm"), "writer"), chromedp.Click(chromedp.CSS("#delete-go")))
	wait("the deletion's result", `document.querySelector("#profile-writer .result").textContent.startsWith("✓ Deleted")`)
	testenv.Eventually(t, 10*time.Second, "the profile writer to go", func() bool { return !profiles.Exists(profiles.MustParse(h.home, "writer")) })
	waitReloaded("the page to reload without the profile")
	if got := eval(`String(document.getElementById("profile-writer") === null)`); got != "true" {
		t.Errorf("the deleted profile's card is still on the page")
	}
	if profiles.Exists(profiles.MustParse(h.home, "writer")) {
		t.Errorf("the profile writer is still there")
	}
	checkPage(t, b, eval, "profiles")

	// 5. Sessions: the list, and a transcript as Markdown in which no
	// markup of a message is live.
	open("/sessions", `#sessions-list tr[data-session="`+sessionID+`"]`)
	checkPage(t, b, eval, "sessions")
	b.screenshot("sessions-1280")
	b.run("finding the session", step, chromedp.SendKeys(chromedp.CSS("#session-filter"), "hostile"))
	if got := eval(`String(Array.from(document.querySelectorAll("#sessions-list tr[data-session]")).filter(r => !r.hidden).length)`); got != "1" {
		t.Errorf("the filter shows %s sessions, want 1", got)
	}
	open("/sessions/default/"+sessionID, ".msg-body.md")
	if got := eval(`String(window.hermesXSS)`); got != "undefined" {
		t.Errorf("markup of a message ran: window.hermesXSS = %s", got)
	}
	for _, sel := range []string{".messages script", ".messages img", `a[href^="javascript:"]`, ".messages [onerror]", ".messages b"} {
		if n := eval(`String(document.querySelectorAll(` + strconv.Quote(sel) + `).length)`); n != "0" {
			t.Errorf("the transcript has %s live %s", n, sel)
		}
	}
	if got := eval(`(document.querySelector(".messages pre.code code") || {}).textContent || ""`); got != hostileCode {
		t.Errorf("the code block reads %q, want %q kept as it was", got, hostileCode)
	}
	if got := eval(`(document.querySelector('.messages a[href="https://example.com/docs"]') || {}).rel || ""`); !strings.Contains(got, "noopener") {
		t.Errorf("the https link is missing or opens with the opener: rel %q", got)
	}
	if got := b.text(".messages"); !strings.Contains(got, "<script>") || !strings.Contains(got, "onerror") {
		t.Errorf("the hostile text is not shown as text:\n%s", got)
	}
	b.screenshot("session-markdown")
	// Rename, export and delete another session.
	open("/sessions/default/"+plainID, "#rename-form")
	eval(`document.getElementById("rename-title").value = ""; ""`)
	b.run("renaming", step, chromedp.SendKeys(chromedp.CSS("#rename-title"), "Renamed in the browser"), chromedp.Click(chromedp.CSS(`#rename-form button[type="submit"]`)))
	wait("the new title", `document.getElementById("session-title").textContent === "Renamed in the browser"`)
	for _, format := range []string{"markdown", "json"} {
		href := eval(`document.querySelector('a[href*="/export?format=` + format + `"]').getAttribute("href")`)
		wait("the "+format+" export", `fetch(`+strconv.Quote(href)+`, {credentials: "same-origin"}).then(r => r.ok && r.headers.get("Content-Disposition").startsWith("attachment") ? r.text() : "").then(t => t.includes("Renamed in the browser") && t.includes("print(42)"))`)
	}
	b.screenshot("session-renamed")
	eval(`window.confirm = () => true; ""`)
	b.run("deleting the session", step, chromedp.Click(chromedp.CSS("#session-delete")))
	wait("the deletion", `document.getElementById("session-result").textContent.startsWith("✓ Deleted")`)
	b.run("back on the list", step, chromedp.WaitVisible(chromedp.CSS(`#sessions-list tr[data-session="`+sessionID+`"]`)))
	if got := eval(`String(document.querySelector('#sessions-list tr[data-session="` + plainID + `"]') === null)`); got != "true" {
		t.Errorf("the deleted session is still listed")
	}
	open("/sessions?q=hostile", "#sessions-list")
	if got := eval(`String(document.querySelectorAll("#sessions-list tr[data-session]").length)`); got != "1" {
		t.Errorf("the search for hostile lists %s sessions, want 1", got)
	}

	// 3. Secrets: listed masked, set, revealed, a bad name refused.
	open("/secrets", "#secrets")
	if got := b.text(`#secrets tr[data-key="API_SERVER_KEY"] .secret-value`); got == "" || got == "not set" || len(got) > 12 {
		t.Errorf("API_SERVER_KEY shows %q, want it masked", got)
	}
	checkPage(t, b, eval, "secrets")
	b.run("a bad name", step, chromedp.SendKeys(chromedp.CSS("#secret-key"), "bad-name"), chromedp.SendKeys(chromedp.CSS("#secret-value"), "x"), chromedp.Click(chromedp.CSS(`#secret-form button[type="submit"]`)))
	wait("the refusal", `/✗ Not saved: .*invalid variable name.*HTTP 400/.test(document.getElementById("secret-result").textContent)`)
	const upstreamKey = "sk-or-v1-browser-test-0123456789abcdef"
	markPage()
	b.run("setting a key", step, chromedp.SetValue(chromedp.CSS("#secret-key"), "OPENROUTER_API_KEY"), chromedp.SetValue(chromedp.CSS("#secret-value"), upstreamKey), chromedp.Click(chromedp.CSS(`#secret-form button[type="submit"]`)))
	wait("the save", `document.getElementById("secret-result").textContent.startsWith("✓ OPENROUTER_API_KEY saved")`)
	waitReloaded("the page to reload with the key")
	b.run("the page again", step, chromedp.WaitVisible(chromedp.CSS(`#secrets tr[data-key="OPENROUTER_API_KEY"]`)))
	if got := b.text(`#secrets tr[data-key="OPENROUTER_API_KEY"] .secret-value`); strings.Contains(got, upstreamKey) {
		t.Errorf("the new key is shown unmasked: %q", got)
	}
	envPath := profiles.EnvPath(profiles.MustParse(h.home, profiles.Default))
	if fi, err := os.Stat(envPath); err != nil || fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != 10000 {
		t.Errorf(".env after the browser's write: %v %v, want 0600 and the hermes uid", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(envPath); !strings.Contains(string(b), "OPENROUTER_API_KEY="+upstreamKey) {
		t.Errorf(".env lacks the key set in the browser")
	}
	b.screenshot("secrets-1280")
	b.run("revealing", step, chromedp.Click(chromedp.CSS(`#secrets tr[data-key="OPENROUTER_API_KEY"] button[data-act="reveal"]`)))
	wait("the value", `document.querySelector('#secrets tr[data-key="OPENROUTER_API_KEY"] .secret-value').textContent === `+strconv.Quote(upstreamKey))
	// Remove it (DELETE /api/env), after the browser's confirmation.
	eval(`window.confirm = () => true; ""`)
	markPage()
	b.run("removing the key", step, chromedp.Click(chromedp.CSS(`#secrets tr[data-key="OPENROUTER_API_KEY"] button[data-act="delete"]`)))
	wait("the removal's result", `document.querySelector('#secrets tr[data-key="OPENROUTER_API_KEY"] .result').textContent.startsWith("✓ removed")`)
	waitReloaded("the page to reload without the key")
	if got := eval(`(r => r === null ? "gone" : r.querySelector(".secret-value").textContent)(document.querySelector('#secrets tr[data-key="OPENROUTER_API_KEY"]'))`); got != "gone" && got != "not set" {
		t.Errorf("after the removal OPENROUTER_API_KEY shows %q, want no row or not set", got)
	}
	if b, _ := os.ReadFile(envPath); strings.Contains(string(b), "OPENROUTER_API_KEY") {
		t.Errorf(".env still has the key removed in the browser:\n%s", b)
	}
	b.screenshot("secrets-removed")

	// 4. A change of model.* with a login more than 5 minutes old is
	// refused, with a link to sign in again.
	aged := startAgedDashboard(t, ns, h.home, h.socket, user, password)
	b.run("signing in to the aged dashboard", step, chromedp.Navigate(aged+"/config"), chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#config-form")), scriptReady)
	b.run("changing model.name", step, chromedp.SetValue(chromedp.CSS("#key-model\\.name"), "openai/gpt-4o-mini"), chromedp.Click(chromedp.CSS("#config-save")))
	wait("the recent-login refusal", `/^✗ Not saved: changing model\.name needs a login less than 5 minutes old; sign in again, then retry \(HTTP 403\) Sign in again$/.test(document.getElementById("config-result").textContent)`)
	if got := eval(`(document.querySelector("#config-result a") || {href: ""}).href`); got != aged+"/login?next=%2Fconfig" {
		t.Errorf("the refusal's link goes to %q, want the login page and back to /config", got)
	}
	if c, err := profiles.LoadProfileConfig(profiles.MustParse(h.home, profiles.Default)); err != nil {
		t.Fatal(err)
	} else if v, _ := c.Get("model.name"); v == "openai/gpt-4o-mini" {
		t.Errorf("model.name was changed by a login too old")
	}
	b.screenshot("config-recent-login")
	open("/no/such/page", ".error-page")
	if got := b.text(".error-code"); got != "404" {
		t.Errorf("an unknown page shows %q, want the 404 page", got)
	}
	b.screenshot("not-found")
	checkPage(t, b, eval, "404")
	// The footer: the version and the commit hermesBin was stamped with
	// (its first 8 hex digits), as script/build.sh stamps it.
	if got := b.text("footer"); hermesCommit == "" {
		t.Logf("the footer says %q; not a git checkout, so the commit is not checked", got)
	} else if !regexp.MustCompile(`^hermes \S+ · build [0-9a-f]{8}$`).MatchString(got) || !strings.HasSuffix(got, "build "+hermesCommit[:8]) {
		t.Errorf("the footer says %q, want the version and the short build commit %s", got, hermesCommit[:8])
	}

	// 7. Keyboard: Tab reaches the service buttons, every stop shows where
	// the focus is.
	open("/", `#services tr[data-service="ticker"] button[data-verb="stop"]:not([disabled])`)
	var focused []string
	for i := 0; i < 60; i++ {
		b.run("pressing Tab", 5*time.Second, chromedp.KeyEvent("\t"))
		f := eval(`(() => { const e = document.activeElement; const s = getComputedStyle(e); return (e.getAttribute("aria-label") || e.textContent.trim()).slice(0, 40) + "|" + (s.outlineStyle !== "none" && s.outlineWidth !== "0px" ? "visible" : "none"); })()`)
		focused = append(focused, f)
		if strings.HasPrefix(f, "Stop ticker|") {
			break
		}
	}
	for _, f := range focused {
		if strings.HasSuffix(f, "|none") {
			t.Errorf("the focus on %q is not visible", f)
		}
	}
	if last := focused[len(focused)-1]; !strings.HasPrefix(last, "Stop ticker|") {
		t.Errorf("Tab never reached the ticker's Stop button; it went through %q", focused)
	}

	// 7. At 390 px: no page scrolls sideways; tables are cards.
	b.run("a 390 px phone", 10*time.Second, func(ctx context.Context, _ *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: 390, Height: 844, DeviceScaleFactor: 1, Mobile: true})
		return chromedp.Void{}, err
	})
	fits := func(what string) {
		t.Helper()
		if got := eval(`document.scrollingElement.scrollWidth + " <= " + window.innerWidth`); !scrollFits(got) {
			t.Errorf("%s at 390 px scrolls sideways: scrollWidth %s", what, got)
		}
	}
	for _, p := range []struct{ path, ready, name string }{
		{"/", `#services tr[data-service="ticker"]`, "overview"},
		{"/logs?service=ticker", "#log .line", "logs"},
		{"/config", "#config-form", "config"},
		{"/profiles", "#create-form", "profiles"},
		{"/sessions", "main h1", "sessions"},
		{"/sessions/default/" + sessionID, ".msg-body.md", "session"},
		{"/secrets", "#secrets", "secrets"},
		{"/no/such/page", ".error-page", "not-found"},
	} {
		open(p.path, p.ready)
		fits(p.path)
		checkPage(t, b, eval, p.name+" at 390 px")
		b.screenshot(p.name + "-390")
	}

	// The actions again at 390 px, as on a phone: the buttons of a card.
	open("/", row("ticker"))
	if got := eval(`getComputedStyle(document.querySelector('` + row("ticker") + `')).display`); got != "block" {
		t.Errorf("at 390 px a service row is display %s, want a card (block)", got)
	}
	press("ticker", "stop", `/^✓ stopped$/`)
	wait("the buttons of a stopped service", `document.querySelector('`+row("ticker")+` button[data-verb="start"]').disabled === false`)
	press("ticker", "start", `/^✓ started( \(now (running|starting)\))?$/`)
	wait("the started ticker running", stateIs("ticker", "running"))
	fits("the overview after its buttons")
	b.screenshot("overview-390-after-start")

	open("/logs?service=ticker", "#log .line")
	b.run("filtering errors at 390 px", step, chromedp.SetValue(chromedp.CSS("#log-level"), "error"))
	eval(`document.getElementById("log-level").dispatchEvent(new Event("change")); ""`)
	wait("errors only", `Array.from(document.querySelectorAll("#log .line")).filter(l => !l.hidden).every(l => l.classList.contains("lv-error"))`)
	fits("the filtered log")

	open("/config", "#config-form")
	b.run("saving a value at 390 px", step, chromedp.SetValue(chromedp.CSS("#key-gateway\\.max_concurrent"), "7"), chromedp.Click(chromedp.CSS("#config-save")))
	wait("the save", `document.getElementById("config-result").textContent.startsWith("✓ Saved gateway.max_concurrent")`)
	if c, err := profiles.LoadProfileConfig(profiles.MustParse(h.home, profiles.Default)); err != nil {
		t.Fatal(err)
	} else if v, _ := c.Get("gateway.max_concurrent"); v != 7 {
		t.Errorf("gateway.max_concurrent = %v after the save at 390 px", v)
	}
	fits("the saved config")
	b.screenshot("config-390-saved")

	open("/profiles", "#create-form")
	markPage()
	b.run("creating a profile at 390 px", step, chromedp.SendKeys(chromedp.CSS("#create-name"), "phone"), chromedp.Click(chromedp.CSS(`#create-form button[type="submit"]`)))
	wait("the creation's result", `document.getElementById("create-result").textContent.startsWith("✓ Created phone")`)
	waitReloaded("the page to reload with the new profile")
	b.run("asking to delete phone", step, chromedp.Click(chromedp.CSS(`button[data-delete="phone"]`)), chromedp.WaitVisible(chromedp.CSS("#delete-dialog")), chromedp.SendKeys(chromedp.CSS("#delete-confirm"), "phone"))
	fits("the delete dialog")
	b.screenshot("profiles-390-confirm")
	markPage()
	b.run("confirming at 390 px", step, chromedp.Click(chromedp.CSS("#delete-go")))
	wait("the deletion's result", `document.querySelector("#profile-phone .result").textContent.startsWith("✓ Deleted")`)
	waitReloaded("the page to reload without the profile")
	if got := eval(`String(document.getElementById("profile-phone") === null)`); got != "true" || profiles.Exists(profiles.MustParse(h.home, "phone")) {
		t.Errorf("the profile phone is still there after its delete at 390 px")
	}

	open("/secrets", "#secrets")
	markPage()
	b.run("setting a key at 390 px", step, chromedp.SendKeys(chromedp.CSS("#secret-key"), "PHONE_API_KEY"), chromedp.SendKeys(chromedp.CSS("#secret-value"), "phone-secret-value"), chromedp.Click(chromedp.CSS(`#secret-form button[type="submit"]`)))
	wait("the save", `document.getElementById("secret-result").textContent.startsWith("✓ PHONE_API_KEY saved")`)
	waitReloaded("the page to reload with the key")
	eval(`window.confirm = () => true; ""`)
	markPage()
	b.run("removing it at 390 px", step, chromedp.Click(chromedp.CSS(`#secrets tr[data-key="PHONE_API_KEY"] button[data-act="delete"]`)))
	wait("the removal's result", `document.querySelector('#secrets tr[data-key="PHONE_API_KEY"] .result').textContent.startsWith("✓ removed")`)
	fits("the secrets after a removal")
	b.screenshot("secrets-390-removed")
	waitReloaded("the page to reload without the key")
	if b, _ := os.ReadFile(envPath); strings.Contains(string(b), "PHONE_API_KEY") {
		t.Errorf(".env still has the key removed at 390 px")
	}

	open("/sessions/default/"+sessionID, "#rename-form")
	eval(`document.getElementById("rename-title").value = ""; ""`)
	b.run("renaming at 390 px", step, chromedp.SendKeys(chromedp.CSS("#rename-title"), "Renamed on a phone"), chromedp.Click(chromedp.CSS(`#rename-form button[type="submit"]`)))
	wait("the new title", `document.getElementById("session-title").textContent === "Renamed on a phone"`)
	fits("the renamed session")
	t.Logf("the dashboard in the browser took %v; screenshots in %s", time.Since(began).Round(time.Millisecond), artifacts)
}

// scrollFits reads "W <= I" and reports whether it holds.
func scrollFits(s string) bool {
	var w, i int
	if _, err := fmt.Sscanf(s, "%d <= %d", &w, &i); err != nil {
		return false
	}
	return w <= i
}

// configSetMessage is what hermes config set answers for key=value on the
// home's default profile: the message the page must show.
func configSetMessage(t *testing.T, home, key, value string) string {
	t.Helper()
	c, err := profiles.LoadProfileConfig(profiles.MustParse(home, profiles.Default))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(key, value); err != nil {
		return err.Error()
	}
	t.Fatalf("config set %s %s is accepted", key, value)
	return ""
}

// axNamed are the roles whose every node needs a name.
var axNamed = map[string]bool{
	"button": true, "link": true, "textbox": true, "searchbox": true, "combobox": true, "checkbox": true,
	"spinbutton": true, "radio": true, "switch": true, "slider": true, "menuitem": true, "tab": true,
	"listbox": true, "img": true, "image": true, "dialog": true,
}

// checkPage checks the page on Chromium's accessibility tree
// (Accessibility.getFullAXTree) by named rules, and its DOM.
func checkPage(t *testing.T, b *browserTab, eval func(string) string, page string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, accessibility.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("Accessibility.enable: %v", err)
	}
	tree, err := chromedp.Call(ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	if err != nil {
		t.Fatalf("Accessibility.getFullAXTree: %v", err)
	}
	str := func(v *accessibility.Value) string {
		if v == nil || len(v.Value) == 0 {
			return ""
		}
		var s string
		if json.Unmarshal(v.Value, &s) != nil {
			return string(v.Value)
		}
		return s
	}
	h1, main, nav, unnamedNav := 0, 0, 0, 0
	for _, n := range tree.Nodes {
		if n.Ignored {
			continue
		}
		role, name := str(n.Role), strings.TrimSpace(str(n.Name))
		// Rule "named-controls": every button, link, field, image and
		// dialog has a non-empty accessible name.
		if axNamed[role] && name == "" {
			t.Errorf("%s: rule named-controls: a %s without a name (node %s)", page, role, n.NodeID)
		}
		switch role {
		case "heading":
			for _, p := range n.Properties {
				if p.Name == accessibility.PropertyNameLevel && string(p.Value.Value) == "1" {
					h1++
				}
			}
		case "main":
			main++
		case "navigation":
			nav++
			if name == "" {
				unnamedNav++
			}
		}
	}
	// Rule "landmarks": one main, one level-1 heading, a navigation, and
	// every navigation named (so that several can be told apart).
	if h1 != 1 || main != 1 || nav == 0 || unnamedNav > 0 {
		t.Errorf("%s: rule landmarks: %d level-1 headings, %d main, %d navigation (%d without a name); want one heading, one main, named navigation", page, h1, main, nav, unnamedNav)
	}
	// Rule "unique-ids": no id twice in the document.
	if dup := eval(`(() => { const seen = {}, dup = []; document.querySelectorAll("[id]").forEach(e => { if (seen[e.id]) dup.push(e.id); seen[e.id] = true; }); return dup.join(","); })()`); dup != "" {
		t.Errorf("%s: rule unique-ids: %s", page, dup)
	}
	// Rule "lang": the document says its language.
	if lang := eval(`document.documentElement.lang`); lang == "" {
		t.Errorf("%s: rule lang: no lang on <html>", page)
	}
	// Rule "labels-resolve": every aria-labelledby / aria-describedby
	// names elements that exist.
	if missing := eval(`(() => { const m = []; document.querySelectorAll("[aria-labelledby],[aria-describedby]").forEach(e => ["aria-labelledby","aria-describedby"].forEach(a => (e.getAttribute(a) || "").split(/\s+/).filter(Boolean).forEach(id => { if (!document.getElementById(id)) m.push(a + "=" + id); }))); return m.join(","); })()`); missing != "" {
		t.Errorf("%s: rule labels-resolve: %s", page, missing)
	}
}

// hostileCode is the code block of the hostile session, with markup in it.
const hostileCode = `fmt.Println("<b>not bold</b>")`

// writeHostileSession stores, in the default profile's state.db, a session
// whose messages carry a script, an image with onerror, a javascript:
// link, a code block and a plain link, and a plain one, written through
// internal/sessions as the gateway writes them, and returns their ids.
// The files are the hermes uid's, as the gateway's are.
func writeHostileSession(t *testing.T, home string) (string, string) {
	t.Helper()
	path := filepath.Join(profiles.MustParse(home, profiles.Default).Dir(), profiles.FileSessions)
	st, err := sessions.Open(path, sessions.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := sessions.NewSessionID()
	answer := "Here is the hostile test's code:\n\n```go\n" + hostileCode + "\n```\n\n" +
		"<script>window.hermesXSS = \"script\"</script>\n\n" +
		"<img src=x onerror=\"window.hermesXSS = 'img'\">\n\n" +
		"[click me](javascript:window.hermesXSS='link') and [the docs](https://example.com/docs), **bold** and `inline`."
	err = st.AppendTurn(context.Background(), sessions.Turn{
		SessionID: id, Profile: profiles.Default, Model: "test/browser-model",
		Messages: []sessions.Message{
			{Role: sessions.RoleUser, Content: "A hostile session <script>window.hermesXSS = 1</script>"},
			{Role: sessions.RoleAssistant, Content: answer},
		},
		At: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	plain := sessions.NewSessionID()
	err = st.AppendTurn(context.Background(), sessions.Turn{
		SessionID: plain, Profile: profiles.Default, Model: "test/browser-model",
		Messages: []sessions.Message{
			{Role: sessions.RoleUser, Content: "A plain session to rename"},
			{Role: sessions.RoleAssistant, Content: "Sure:\n\n```python\nprint(42)\n```"},
		},
		At: time.Now().Add(-time.Minute),
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(path + "*")
	for _, m := range matches {
		if err := os.Chown(m, 10000, 10000); err != nil {
			t.Fatal(err)
		}
	}
	return id, plain
}

// startAgedDashboard serves the dashboard's own code (dashboard.New behind
// an authgate password gate, as hermes dashboard builds them) from this
// test process, on 127.0.0.2 in the namespace (another host than the
// binary's dashboard, so that the cookies stay apart), with its server's
// clock 6 minutes ahead of the gate's: every login it sees is older than
// the 5 minutes a change of model.* or of a secret allows. The browser
// meets the "recent login" refusal there without waiting 5 minutes; the
// binary has no such clock. It returns the dashboard's URL.
func startAgedDashboard(t *testing.T, ns *browserNetns, home, socket, user, password string) string {
	t.Helper()
	var ln net.Listener
	if err := ns.inside(func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.2:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	site := "http://127.0.0.2:" + strconv.Itoa(port)
	vars := map[string]string{
		"HERMES_HOME":                          home,
		"HERMES_DASHBOARD_PUBLIC_URL":          site, // gated on loopback
		"HERMES_DASHBOARD_BASIC_AUTH_USERNAME": user, "HERMES_DASHBOARD_BASIC_AUTH_PASSWORD": password,
	}
	env := hostenv.OS()
	env.Getenv = func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	cfg, err := authgate.FromEnv(env, "127.0.0.2", port, false)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	gate, err := authgate.New(cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	client := control.NewClient(socket)
	srv, err := dashboard.New(dashboard.Config{
		Home: home, Gate: gate, Env: env,
		Control: func(context.Context) *control.Client { return client },
		Now:     func() time.Time { return time.Now().Add(6 * time.Minute) },
	})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the aged dashboard: %v", err)
		}
	})
	return site
}
