package e2e

// Scenario 2 of the fault suite: SIGKILL of PID 1 (the whole PID
// namespace with it) at random points of operators' changes and of the
// gateway's session writes, then boot again.

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite" // state.db's integrity_check, as the gateway's own driver sees the file

	"github.com/hermes-agent/hermes/internal/agent"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// integrityHelper (role "integrity", run as the hermes uid so that the
// files SQLite may create stay the hermes uid's) prints the answer of
// PRAGMA integrity_check on the database at path.
func integrityHelper(path string) int {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println(res)
	return 0
}

// stopOp is one operator's change: its command, and what it makes true
// once acknowledged.
type stopOp struct {
	args  []string
	apply func(m *stopModel)
}

// stopModel is what the operators were told is done.
type stopModel struct {
	modelName map[string]string // profile → model.name
	profiles  map[string]bool   // churned profile → exists
	desired   map[string]string // profile → desired_state
	envVal    map[string]string // profile → FAULT_VAR in .env (env set)
}

// checkManagedFiles parses every managed file of every profile of home:
// config.yaml, .env, gateway_state.json, auth.json; and state.db's
// integrity through the hermes uid's helper. It returns what failed.
func checkManagedFiles(t *testing.T, home, helper string) []string {
	t.Helper()
	var bad []string
	dirs := map[string]string{"default": home}
	ents, _ := os.ReadDir(filepath.Join(home, profiles.DirProfiles))
	for _, e := range ents {
		if e.IsDir() {
			dirs[e.Name()] = filepath.Join(home, profiles.DirProfiles, e.Name())
		}
	}
	for name, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, profiles.FileConfig)); err == nil {
			if _, err := profiles.LoadConfig(filepath.Join(dir, profiles.FileConfig)); err != nil {
				bad = append(bad, fmt.Sprintf("%s: config.yaml: %v", name, err))
			}
		}
		if _, err := os.Stat(filepath.Join(dir, profiles.FileEnv)); err == nil {
			if _, err := profiles.ReadEnv(filepath.Join(dir, profiles.FileEnv)); err != nil {
				bad = append(bad, fmt.Sprintf("%s: .env: %v", name, err))
			}
		}
		if _, err := os.Stat(filepath.Join(dir, gateway.StateFile)); err == nil {
			if _, err := gateway.ReadState(dir); err != nil {
				bad = append(bad, fmt.Sprintf("%s: %s: %v", name, gateway.StateFile, err))
			}
		}
		if _, err := os.Stat(agent.AuthPath(dir)); err == nil {
			if err := agent.CheckAuthFile(home, agent.AuthPath(dir)); err != nil {
				bad = append(bad, fmt.Sprintf("%s: auth.json: %v", name, err))
			}
		}
		db := filepath.Join(dir, profiles.FileSessions)
		if _, err := os.Stat(db); err == nil {
			cmd := asUID(helper, 10000, "integrity", "", helperDBEnv+"="+db)
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "ok" {
				bad = append(bad, fmt.Sprintf("%s: state.db integrity_check: %v %s", name, err, out))
			}
		}
	}
	return bad
}

const helperDBEnv = "HERMES_E2E_DB"

// TestFaultAbruptStop (scenario 2): operators run config set, env set
// (when this build has it), profile create/delete and gateway
// start/stop while the gateway writes sessions; PID 1 is SIGKILLed at a
// random point and init booted again, 20 times (200 in the long form).
// After every kill every managed file parses and state.db passes
// integrity_check; after every boot every acknowledged change is there
// (a change in flight may be either), every acknowledged session turn is
// stored, and the boot names, in one line each, every stale pid file and
// temporary of an interrupted write that the kill left in a profile, and
// nothing else. A directory that a create or delete cut short leaves
// without SOUL.md is not repaired by the boot: it is not a profile (not
// listed, no gateway), and profile create completes it.
func TestFaultAbruptStop(t *testing.T) {
	boots := faultPick(20, 200)
	f := newFaultRig(t)
	helper := testenv.Executable(t)
	r := f.boot(nil)
	gw := f.gateway("default")
	f.gateway("side")
	haveEnvSet := f.hermes("env", "set", "--help").Code == 0
	m := &stopModel{
		modelName: map[string]string{"default": "fake-model", "side": "fake-model"},
		profiles:  map[string]bool{},
		desired:   map[string]string{"default": gateway.DesiredRunning, "side": gateway.DesiredRunning},
		envVal:    map[string]string{},
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	var acked []string // stored response ids
	var ops, kills, inFlight, turns, partials int
	repairs := map[string]int{}
	client := &http.Client{Timeout: 10 * time.Second}
	run := func(ctx context.Context, args ...string) error {
		cmd := exec.CommandContext(ctx, hermesBin, args...)
		cmd.Env = append(os.Environ(), "HERMES_HOME="+f.h.home, "HERMES_CONTROL_SOCKET="+f.h.socket)
		cmd.Dir = f.h.dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	nextOp := func(i int) stopOp {
		p := []string{"default", "side"}[rng.IntN(2)]
		churn := fmt.Sprintf("churn%d", rng.IntN(3))
		switch k := rng.IntN(5); {
		case k == 0:
			v := fmt.Sprintf("fake-model-%d", i)
			return stopOp{[]string{"-p", p, "config", "set", "model.name", v}, func(m *stopModel) { m.modelName[p] = v }}
		case k == 1 && haveEnvSet:
			v := fmt.Sprintf("value-%d", i)
			return stopOp{[]string{"-p", p, "env", "set", "FAULT_VAR", v}, func(m *stopModel) { m.envVal[p] = v }}
		case k == 2 && !m.profiles[churn]:
			return stopOp{[]string{"profile", "create", churn}, func(m *stopModel) { m.profiles[churn] = true }}
		case k == 2:
			return stopOp{[]string{"profile", "delete", churn, "-y"}, func(m *stopModel) { m.profiles[churn] = false }}
		case m.desired["side"] == gateway.DesiredRunning:
			return stopOp{[]string{"-p", "side", "gateway", "stop"}, func(m *stopModel) { m.desired["side"] = gateway.DesiredStopped }}
		default:
			return stopOp{[]string{"-p", "side", "gateway", "start"}, func(m *stopModel) { m.desired["side"] = gateway.DesiredRunning }}
		}
	}
	for boot := 0; boot < boots; boot++ {
		// The kill's moment is drawn here: the operator's goroutine owns rng
		// until it ends.
		killAfter := time.Duration(100+rng.IntN(1500)) * time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var pending *stopOp // the operator's change in flight at the kill
		var mu sync.Mutex
		var dying atomic.Bool // set before the kill: what fails after it is expected
		wg.Add(2)
		go func() { // the operator
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				op := nextOp(boot*1000 + i)
				mu.Lock()
				pending = &op
				mu.Unlock()
				if err := run(ctx, op.args...); err != nil {
					if !dying.Load() {
						t.Errorf("boot %d: hermes %s: %v", boot, strings.Join(op.args, " "), err)
					}
					return
				}
				mu.Lock()
				op.apply(m)
				pending = nil
				ops++
				mu.Unlock()
			}
		}()
		go func() { // the gateway's session writes
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				id, err := gw.respond(ctx, client, fmt.Sprintf("boot %d turn %d", boot, i))
				if err != nil {
					if !dying.Load() {
						t.Errorf("boot %d: a session turn: %v", boot, err)
					}
					return
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		}()
		time.Sleep(killAfter)
		dying.Store(true)
		r.kill(t)
		kills++
		cancel()
		wg.Wait()
		if t.Failed() {
			return
		}
		if bad := checkManagedFiles(t, f.h.home, helper); len(bad) > 0 {
			t.Fatalf("after kill %d (in flight: %v):\n%s", kills, pending, strings.Join(bad, "\n"))
		}
		if pending != nil {
			inFlight++
		}

		// What the boot must repair: the dead namespace's pid files and
		// the temporaries of its interrupted writes, in every profile.
		stale := staleFiles(t, f.h.home)
		if !stale[filepath.Join(f.h.home, gateway.PIDFile)] {
			t.Errorf("boot %d: no %s of the default gateway after the kill (it was running): the check of the repairs below proves nothing", boot, gateway.PIDFile)
		}
		booted := time.Now()
		r = f.boot(nil)
		var left []string
		if n := leftTempsBefore(f.h.home, booted, &left); n[gateway.StateFile]+n[profiles.FileConfig]+n[profiles.FileEnv] > 0 {
			t.Errorf("boot %d: temporary files of interrupted writes %v not swept by the boot: %v", boot, n, left)
		}
		// The boot names every one of them, and nothing else, in a line
		// "reconcile: profile=P removed the stale PATH" (init's output is
		// copied to the test as it comes: wait for the lines).
		var named map[string]string
		testenv.EventuallyNil(t, 10*time.Second, fmt.Sprintf("boot %d to name its %d repairs", boot, len(stale)), func() error {
			var err error
			if named, err = repairLines(r.out.String()); err != nil {
				return err
			}
			for p := range stale {
				if _, ok := named[p]; !ok {
					return fmt.Errorf("no line names %s; init said:\n%s", p, r.out.String())
				}
			}
			return nil
		})
		for p, profile := range named {
			if !stale[p] {
				t.Errorf("boot %d: profile=%s says it removed the stale %s, which was not there", boot, profile, p)
			} else if want := profileOf(f.h.home, p); profile != want {
				t.Errorf("boot %d: the line on %s names profile=%s, want %s", boot, p, profile, want)
			}
			repairs[repairKind(p)]++
		}
		out := r.out.String()
		if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
			t.Fatalf("boot %d: init's output has a stack trace:\n%s", boot, out)
		}
		// Acknowledged changes (the one in flight may have gone either way).
		maybe := ""
		if pending != nil {
			maybe = strings.Join(pending.args, " ")
		}
		for p, want := range m.modelName {
			got := strings.TrimSpace(f.must("-p", p, "config", "get", "model.name"))
			if got != want && !strings.Contains(maybe, "-p "+p+" config set model.name "+got) {
				t.Errorf("boot %d: %s model.name = %q, acknowledged %q (in flight: %q)", boot, p, got, want, maybe)
			}
		}
		for p, want := range m.envVal {
			env, err := profiles.ReadEnv(profiles.EnvPath(profiles.MustParse(f.h.home, p)))
			if got := env["FAULT_VAR"]; err != nil || (got != want && !strings.Contains(maybe, "FAULT_VAR "+got)) {
				t.Errorf("boot %d: %s FAULT_VAR = %q (%v), acknowledged %q", boot, p, got, err, want)
			}
		}
		for p, want := range m.profiles {
			_, err := os.Stat(profiles.SOULPath(profiles.MustParse(f.h.home, p)))
			if got := err == nil; got != want && !strings.Contains(maybe, " "+p) {
				t.Errorf("boot %d: profile %s exists=%v, acknowledged %v (in flight: %q)", boot, p, got, want, maybe)
			}
		}
		for p, want := range m.desired {
			st, err := gateway.ReadProfileState(profiles.MustParse(f.h.home, p))
			if err != nil || (st.DesiredState != want && !strings.Contains(maybe, "-p "+p+" gateway ")) {
				t.Errorf("boot %d: %s desired_state %q (%v), acknowledged %q (in flight: %q)", boot, p, st.DesiredState, err, want, maybe)
			}
			if strings.Contains(maybe, "-p "+p+" gateway ") {
				m.desired[p] = st.DesiredState // whichever won is now the truth
			}
		}
		if pending != nil {
			// What happened to the change in flight is now the truth.
			for p := range m.modelName {
				m.modelName[p] = strings.TrimSpace(f.must("-p", p, "config", "get", "model.name"))
			}
			for _, p := range []string{"churn0", "churn1", "churn2"} {
				_, err := os.Stat(profiles.SOULPath(profiles.MustParse(f.h.home, p)))
				if m.profiles[p] = err == nil; !m.profiles[p] {
					if _, err := os.Stat(profiles.MustParse(f.h.home, p).Dir()); err == nil {
						f.checkPartialProfile(boot, p, maybe)
						m.profiles[p] = true
						partials++
					}
				}
			}
			for p := range m.envVal {
				env, _ := profiles.ReadEnv(profiles.EnvPath(profiles.MustParse(f.h.home, p)))
				m.envVal[p] = env["FAULT_VAR"]
			}
		}
		gw.waitHealth(t, 30*time.Second)
		for _, id := range acked[turns:] {
			if code, err := gw.stored(client, id); err != nil || code != 200 {
				t.Errorf("boot %d: acknowledged response %s: %d %v", boot, id, code, err)
			}
		}
		turns = len(acked)
		if t.Failed() {
			t.FailNow()
		}
	}
	// Every acknowledged turn, once more at the end.
	lost := 0
	for _, id := range acked {
		if code, err := gw.stored(client, id); err != nil || code != 200 {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged session turns lost", lost, len(acked))
	}
	envNote := "env set: not in this build (hermes env set missing), not exercised"
	if haveEnvSet {
		envNote = "env set exercised"
	}
	figure(t, "%d kills of PID 1 and boots, %d acknowledged operator changes (%d in flight at a kill), %d acknowledged session turns, %d lost; every managed file parsed and state.db passed integrity_check after every kill; %s; repairs named by the boots, each one what the dead namespace left: %v; partial profiles (no SOUL.md) left by a create or delete cut short, not listed and completed by profile create: %d; temporary files of interrupted writes left at the end: %v",
		kills, ops, inFlight, len(acked), lost, envNote, repairSummary(repairs), partials, leftTemps(f.h.home))
}

// leftTemps counts, by managed file, the temporary files that interrupted
// atomic writes left in home's profile directories.
func leftTemps(home string) map[string]int {
	return leftTempsBefore(home, time.Now().Add(time.Hour), nil)
}

// leftTempsBefore is leftTemps counting only files older than before (a
// write in flight has its own); their paths are appended to paths.
func leftTempsBefore(home string, before time.Time, paths *[]string) map[string]int {
	m := map[string]int{}
	dirs := []string{home}
	ents, _ := os.ReadDir(filepath.Join(home, profiles.DirProfiles))
	for _, e := range ents {
		dirs = append(dirs, filepath.Join(home, profiles.DirProfiles, e.Name()))
	}
	for _, dir := range dirs {
		for _, name := range []string{profiles.FileConfig, profiles.FileEnv, gateway.StateFile, profiles.FileAuth} {
			got, _ := filepath.Glob(filepath.Join(dir, safefs.TempPrefix(name)+"*"))
			for _, p := range got {
				if fi, err := os.Stat(p); err == nil && fi.ModTime().Before(before) {
					m[name]++
					if paths != nil {
						*paths = append(*paths, p)
					}
				}
			}
		}
	}
	return m
}

// staleFiles are the files the next boot's sweep must remove, as true
// values keyed by path: in every profile (profiles.List, the profiles the
// boot visits), the gateway's pid and processes files (the namespace that
// held their locks is dead) and the temporaries of interrupted writes of
// the managed files.
func staleFiles(t *testing.T, home string) map[string]bool {
	t.Helper()
	names, err := profiles.List(home)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, p := range names {
		dir := p.Dir()
		for _, name := range []string{gateway.PIDFile, gateway.ProcessesFile} {
			if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
				m[filepath.Join(dir, name)] = true
			}
		}
		for _, name := range []string{profiles.FileConfig, profiles.FileEnv, gateway.StateFile, profiles.FileAuth} {
			got, _ := filepath.Glob(filepath.Join(dir, safefs.TempPrefix(name)+"*"))
			for _, g := range got {
				m[g] = true
			}
		}
	}
	return m
}

// repairLines are the paths that init's output says the boot's sweep
// removed ("reconcile: profile=P removed the stale PATH", PATH quoted when
// it is not a plain word), each with its P.
func repairLines(out string) (map[string]string, error) {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(l), "reconcile: profile=")
		if !ok {
			continue
		}
		profile, path, ok := strings.Cut(rest, " removed the stale ")
		if !ok {
			continue
		}
		if strings.HasPrefix(path, `"`) {
			p, err := strconv.Unquote(path)
			if err != nil {
				return nil, fmt.Errorf("a repair line whose path does not unquote: %q", l)
			}
			path = p
		}
		m[filepath.Clean(path)] = profile
	}
	return m, nil
}

// profileOf is the profile whose directory holds path.
func profileOf(home, path string) string {
	dir := filepath.Dir(path)
	if dir == filepath.Clean(home) {
		return profiles.Default
	}
	return filepath.Base(dir)
}

// repairKind is what a removed file was: its name, or the file whose
// write it was the temporary of.
func repairKind(path string) string {
	base := filepath.Base(path)
	for _, name := range []string{profiles.FileConfig, profiles.FileEnv, gateway.StateFile, profiles.FileAuth} {
		if strings.HasPrefix(base, safefs.TempPrefix(name)) {
			return "temporary of " + name
		}
	}
	return base
}

// checkPartialProfile checks what an operator sees of the directory of
// profile p that holds no SOUL.md after the boot (a profile create or
// delete cut short by the kill, in flight: maybe): it is not a profile
// (profile list omits it, and the boot registered no gateway for it), and
// hermes profile create completes it in place into a whole profile.
func (f *faultRig) checkPartialProfile(boot int, p, maybe string) {
	t := f.t
	t.Helper()
	t.Logf("boot %d: a partial profile %s (no SOUL.md) is left after %q", boot, p, maybe)
	for _, l := range strings.Split(f.must("profile", "list"), "\n") {
		if fs := strings.Fields(l); len(fs) > 0 && fs[0] == p {
			t.Errorf("boot %d: profile list shows the partial profile %s: %q", boot, p, l)
		}
	}
	if st, _ := f.statuses(); st != nil {
		if _, ok := st[gateway.ServiceName(p)]; ok {
			t.Errorf("boot %d: the boot registered a gateway for the partial profile %s", boot, p)
		}
	}
	f.must("profile", "create", p)
	if _, err := os.Stat(profiles.SOULPath(profiles.MustParse(f.h.home, p))); err != nil {
		t.Errorf("boot %d: profile create %s left it without SOUL.md: %v", boot, p, err)
	}
	if _, err := profiles.LoadConfig(filepath.Join(profiles.MustParse(f.h.home, p).Dir(), profiles.FileConfig)); err != nil {
		t.Errorf("boot %d: profile create %s over a partial one: config.yaml: %v", boot, p, err)
	}
	if port, err := profiles.Port(profiles.MustParse(f.h.home, p)); err != nil || port == 0 {
		t.Errorf("boot %d: profile create %s over a partial one: no gateway port (%d, %v)", boot, p, port, err)
	}
	if env, err := profiles.ReadEnv(profiles.EnvPath(profiles.MustParse(f.h.home, p))); err != nil || env[profiles.APIKeyVar] == "" {
		t.Errorf("boot %d: profile create %s over a partial one: no %s in .env (%v)", boot, p, profiles.APIKeyVar, err)
	}
}

// repairSummary is the number of each kind of repair.
func repairSummary(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	kinds := make([]string, 0, len(m))
	for k := range m {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var b strings.Builder
	for _, k := range kinds {
		fmt.Fprintf(&b, "%d× %s; ", m[k], k)
	}
	return strings.TrimSuffix(b.String(), "; ")
}
