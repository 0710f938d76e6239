package e2e

// deploy/swarm/stack.yml on a real swarm: a one-node swarm in a throwaway
// engine (container_engine_test.go), never the host's. Every request goes
// through docker exec: to 127.0.0.1 inside the engine's container, where
// the stack publishes its ports, or inside an agent's container.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// stackFile is what the test reads of a stack file.
type stackFile struct {
	Services map[string]struct {
		Ports []struct {
			Target    int `yaml:"target"`
			Published int `yaml:"published"`
		} `yaml:"ports"`
		Secrets []struct {
			Source string `yaml:"source"`
			Target string `yaml:"target"`
		} `yaml:"secrets"`
		Deploy struct {
			Placement struct {
				Constraints []string `yaml:"constraints"`
			} `yaml:"placement"`
		} `yaml:"deploy"`
	} `yaml:"services"`
	Secrets map[string]struct {
		External bool   `yaml:"external"`
		Name     string `yaml:"name"`
	} `yaml:"secrets"`
}

// swarmAgent is one agent of the stack, as the test drives it.
type swarmAgent struct {
	service string // the stack's service name (alice)
	port    int    // its gateway's published port
	secret  string // the swarm secret holding its key
	key     string // the key the test put in it
	marker  string // written into its volume before the kill and the roll
}

const stackName = "hermes"

var labelConstraint = regexp.MustCompile(`^node\.labels\.([A-Za-z0-9._-]+)\s*==\s*true$`)

// readStack parses deploy/swarm/stack.yml into its agents and the node
// labels its placement constraints ask for.
func readStack(t *testing.T, path string) (agents []*swarmAgent, labels []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sf stackFile
	if err := yaml.Unmarshal(b, &sf); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for name, svc := range sf.Services {
		a := &swarmAgent{service: name}
		for _, p := range svc.Ports {
			if p.Target == gatewayPort {
				a.port = p.Published
			}
		}
		for _, s := range svc.Secrets {
			if s.Target == "hermes_api_key" {
				a.secret = sf.Secrets[s.Source].Name
			}
		}
		for _, c := range svc.Deploy.Placement.Constraints {
			if m := labelConstraint.FindStringSubmatch(c); m != nil {
				labels = append(labels, m[1])
			} else {
				t.Fatalf("%s: service %s: constraint %q is not node.labels.<label> == true", path, name, c)
			}
		}
		if a.port == 0 || a.secret == "" {
			t.Fatalf("%s: service %s publishes no gateway port (target %d) or has no hermes_api_key secret", path, name, gatewayPort)
		}
		agents = append(agents, a)
	}
	slices.SortFunc(agents, func(a, b *swarmAgent) int { return strings.Compare(a.service, b.service) })
	if len(agents) < 2 {
		t.Fatalf("%s runs %d agents, want several", path, len(agents))
	}
	return agents, labels
}

// TestSwarmStack deploys deploy/swarm/stack.yml, checks that every agent
// answers with the key of its secret, kills the container of one agent
// that also runs a second profile's gateway and measures how long the
// swarm takes to bring a replacement up with the agent's volume and both
// gateways, rolls every agent to a new image tag without losing any
// state, and removes the stack.
func TestSwarmStack(t *testing.T) {
	image := testImage(t)
	stackPath := filepath.Join(repoRoot, "deploy", "swarm", "stack.yml")
	agents, labels := readStack(t, stackPath)
	started := time.Now()
	e := startEngine(t, image)
	t.Cleanup(func() {
		if t.Failed() {
			r := e.docker(t, dockerTimeout, nil, append([]string{"service", "ps", "--no-trunc", "--format", "{{.Name}} {{.Image}} {{.CurrentState}} {{.Error}}"}, servicesOf(agents)...)...)
			t.Logf("swarm tasks:\n%s", indent(r.Stdout+r.Stderr))
		}
	})
	e.mustDocker(t, "swarm", "init", "--advertise-addr", "127.0.0.1")
	node := strings.TrimSpace(e.mustDocker(t, "node", "ls", "-q"))
	label := []string{"node", "update"}
	for _, l := range labels {
		label = append(label, "--label-add", l+"=true")
	}
	e.mustDocker(t, append(label, node)...)
	for _, a := range agents {
		a.key = randomHex(32)
		if r := e.docker(t, dockerTimeout, strings.NewReader(a.key+"\n"), "secret", "create", a.secret, "-"); r.Code != 0 {
			t.Fatalf("docker secret create %s: %s", a.secret, r)
		}
	}
	copyFiles(t, e.c, []containerFile{{Path: "/stack/stack.yml", Content: mustRead(t, stackPath)}})
	deploy := func(img string) {
		t.Helper()
		r := e.run(t, 2*dockerTimeout, nil, "env", "HERMES_IMAGE="+img, "docker", "stack", "deploy", "--resolve-image", "never", "-c", "/stack/stack.yml", stackName)
		if r.Code != 0 {
			t.Fatalf("docker stack deploy: %s", r)
		}
	}
	deploy(image)
	t.Logf("swarm and stack of %d agents deployed %v after the start", len(agents), time.Since(started).Round(time.Millisecond))

	// Every agent answers on its published port, with the key of its
	// secret (the first boot seeded it into the volume's .env).
	for _, a := range agents {
		waitAgent(t, e, a, 90*time.Second)
		if code := e.status(t, a.port, "/v1/models", a.key); code != 200 {
			t.Errorf("%s: GET /v1/models with the key of secret %s: %d, want 200", a.service, a.secret, code)
		}
		if code := e.status(t, a.port, "/v1/models", randomHex(32)); code != 401 {
			t.Errorf("%s: GET /v1/models with another key: %d, want 401", a.service, code)
		}
		c := e.task(t, a)
		a.marker = "marker-" + a.service + "-" + randomHex(4)
		e.execIn(t, c, "sh", "-c", "printf %s "+a.marker+" > /opt/data/workspace/e2e-marker")
		if key := e.dotenvKey(t, c); key != a.key {
			t.Errorf("%s: .env holds API_SERVER_KEY=%.8s…, want the secret's %.8s…", a.service, key, a.key)
		}
	}
	t.Logf("every agent answers %v after the start", time.Since(started).Round(time.Millisecond))

	// A second profile's gateway in one agent, started before the kill.
	victim := agents[len(agents)-1]
	before := e.task(t, victim)
	e.execIn(t, before, hermesInContainer, "profile", "create", "work")
	e.execIn(t, before, hermesInContainer, "-p", "work", "gateway", "start")
	workPort, err := strconv.Atoi(strings.TrimSpace(e.execIn(t, before, hermesInContainer, "-p", "work", "config", "get", "gateway.port")))
	if err != nil {
		t.Fatalf("the work profile's port: %v", err)
	}
	e.waitGatewayInside(t, before, "work", workPort, 30*time.Second)

	// Kill its container: the swarm starts a replacement task on the same
	// volume, which comes back with both gateways.
	r := e.bash(t, 2*time.Minute, failoverScript, before, strconv.Itoa(victim.port), probeLive)
	if r.Code != 0 {
		t.Fatalf("failover: %s", r)
	}
	ms, err := strconv.Atoi(strings.TrimSpace(r.Stdout))
	if err != nil {
		t.Fatalf("failover: %q: %v", r.Stdout, err)
	}
	t.Logf("failover of %s: task killed → replacement's gateway answering %s in %d ms", victim.service, probeLive, ms)
	after := e.task(t, victim)
	if after == before {
		t.Fatalf("%s answers from the killed container %s", victim.service, before)
	}
	e.checkState(t, victim, after)
	e.waitGatewayInside(t, after, "work", workPort, 30*time.Second)

	// Roll every agent to a new tag of the image.
	next := image + "-next"
	e.mustDocker(t, "tag", image, next)
	rollStart := time.Now()
	deploy(next)
	for _, a := range agents {
		svc := stackName + "_" + a.service
		resumed := 0
		waitFor(t, 3*time.Minute, func() error {
			st := strings.TrimSpace(e.mustDocker(t, "service", "inspect", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}", svc))
			switch st {
			case "paused", "rollback_completed", "rollback_paused":
				if resumed < 2 && e.nestedMountBusy(t, svc) {
					// The engine in a container could not mount a task's
					// secrets (its own mount table, not the image), and the
					// stack's failure_action rolled the update back: roll
					// it forward again, as an operator would.
					resumed++
					t.Logf("%s: update %s on the nested engine's secrets mount (device or resource busy); updating to %s again", svc, st, next)
					if r := e.docker(t, dockerTimeout, nil, "service", "update", "--detach", "--force", "--image", next, svc); r.Code != 0 {
						t.Logf("docker service update %s: %s", svc, r)
					}
					return fmt.Errorf("service %s: update %q, rolled forward again", svc, st)
				}
			}
			if st != "completed" {
				return fmt.Errorf("service %s: update %q", svc, st)
			}
			return nil
		})
	}
	t.Logf("rolled %d agents to %s in %v", len(agents), next, time.Since(rollStart).Round(time.Millisecond))
	for _, a := range agents {
		waitAgent(t, e, a, 60*time.Second)
		c := e.task(t, a)
		if img := strings.TrimSpace(e.mustDocker(t, "inspect", "--format", "{{.Config.Image}}", c)); img != next {
			t.Errorf("%s runs %s after the roll, want %s", a.service, img, next)
		}
		e.checkState(t, a, c)
		if code := e.status(t, a.port, "/v1/models", a.key); code != 200 {
			t.Errorf("%s after the roll: GET /v1/models with its key: %d, want 200", a.service, code)
		}
	}
	e.waitGatewayInside(t, e.task(t, victim), "work", workPort, 30*time.Second)

	// Remove the stack, its volumes and secrets, and leave the swarm; the
	// engine itself goes with the test's cleanup.
	e.mustDocker(t, "stack", "rm", stackName)
	waitFor(t, time.Minute, func() error {
		if out := strings.TrimSpace(e.mustDocker(t, "ps", "-aq", "--filter", "label=com.docker.stack.namespace="+stackName)); out != "" {
			// Exited tasks of the stack are removed with their service;
			// wait until the engine has done so.
			return fmt.Errorf("containers of the stack left: %s", strings.Fields(out))
		}
		return nil
	})
	for _, a := range agents {
		e.mustDocker(t, "volume", "rm", stackName+"_"+a.service+"-data")
		e.mustDocker(t, "secret", "rm", a.secret)
	}
	e.mustDocker(t, "swarm", "leave", "--force")
	t.Logf("whole test %v", time.Since(started).Round(time.Millisecond))
}

// failoverScript (inside the engine; $1 the task's container, $2 the
// agent's published gateway port, $3 the probe's path) kills the container
// and prints the milliseconds until a gateway answers on the port again.
// The killed container is gone before the first probe, so the answer is
// the replacement's.
const failoverScript = `set -eu
t0=$(date +%s%N)
docker kill "$1" >/dev/null
while [ "$(docker inspect -f '{{.State.Running}}' "$1")" = true ]; do sleep 0.02; done
until curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$2$3" 2>/dev/null; do
	[ $(( ($(date +%s%N) - t0) / 1000000000 )) -lt 90 ] || { echo "no gateway on port $2 after 90 s" >&2; exit 1; }
	sleep 0.05
done
echo $(( ($(date +%s%N) - t0) / 1000000 ))`

// nestedMountBusy reports whether a task of svc failed because the engine
// could not remount its secrets directory ("device or resource busy"): a
// fault of a Docker engine run inside a container, under the rolling
// update's churn of mounts, that no image can cause or avoid.
func (e *engine) nestedMountBusy(t *testing.T, svc string) bool {
	t.Helper()
	r := e.docker(t, dockerTimeout, nil, "service", "ps", "--no-trunc", "--format", "{{.Error}}", svc)
	return strings.Contains(r.Stdout, "device or resource busy") && strings.Contains(r.Stdout, "secrets")
}

func servicesOf(agents []*swarmAgent) []string {
	var s []string
	for _, a := range agents {
		s = append(s, stackName+"_"+a.service)
	}
	return s
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitAgent waits until a's gateway answers its readiness probe on its
// published port (200), and its liveness probe says it is the default
// profile's gateway, running.
func waitAgent(t *testing.T, e *engine, a *swarmAgent, timeout time.Duration) {
	t.Helper()
	base := "http://127.0.0.1:" + strconv.Itoa(a.port)
	waitFor(t, timeout, func() error {
		if r := e.run(t, 20*time.Second, nil, "curl", "-fsS", "-m", "2", "-o", "/dev/null", base+probeReady); r.Code != 0 {
			return fmt.Errorf("%s on port %d: %s %s", a.service, a.port, probeReady, strings.TrimSpace(r.Stderr))
		}
		r := e.run(t, 20*time.Second, nil, "curl", "-fsS", "-m", "2", base+probeLive)
		var h struct{ Status, Profile, State string }
		if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &h) != nil || h.Status != "ok" || h.Profile != "default" || h.State != "running" {
			return fmt.Errorf("%s on port %d: %s: %s", a.service, a.port, probeLive, r)
		}
		return nil
	})
}

// status returns the HTTP status of GET path on the published port with
// the bearer key.
func (e *engine) status(t *testing.T, port int, path, key string) int {
	t.Helper()
	r := e.run(t, 20*time.Second, nil, "curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}",
		"-H", "Authorization: Bearer "+key, "http://127.0.0.1:"+strconv.Itoa(port)+path)
	code, err := strconv.Atoi(strings.TrimSpace(r.Stdout))
	if r.Code != 0 || err != nil {
		t.Fatalf("curl %s on port %d: %s", path, port, r)
	}
	return code
}

// task returns the container of a's running task (there is one).
func (e *engine) task(t *testing.T, a *swarmAgent) string {
	t.Helper()
	var id string
	waitFor(t, 30*time.Second, func() error {
		ids := strings.Fields(e.mustDocker(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+stackName+"_"+a.service, "--filter", "status=running"))
		if len(ids) != 1 {
			return fmt.Errorf("%s has %d running containers, want 1", a.service, len(ids))
		}
		id = ids[0]
		return nil
	})
	return id
}

// execIn runs args as the hermes uid in an agent's container; it must
// succeed.
func (e *engine) execIn(t *testing.T, c string, args ...string) string {
	t.Helper()
	r := e.docker(t, dockerTimeout, nil, append([]string{"exec", "--user", hermesUser, c}, args...)...)
	if r.Code != 0 {
		t.Fatalf("docker exec %s %s (in the engine): %s", c, strings.Join(args, " "), r)
	}
	return r.Stdout
}

// dotenvKey returns API_SERVER_KEY of the volume's .env in container c.
func (e *engine) dotenvKey(t *testing.T, c string) string {
	t.Helper()
	out := e.execIn(t, c, "sh", "-c", "grep '^API_SERVER_KEY=' /opt/data/.env | tail -n 1")
	return strings.TrimPrefix(strings.TrimSpace(out), "API_SERVER_KEY=")
}

// checkState checks that the agent's volume is the one it had: its marker
// and its key.
func (e *engine) checkState(t *testing.T, a *swarmAgent, c string) {
	t.Helper()
	if got := e.execIn(t, c, "cat", "/opt/data/workspace/e2e-marker"); got != a.marker {
		t.Errorf("%s: the marker in its volume is %q, want %q: the volume was lost", a.service, got, a.marker)
	}
	if key := e.dotenvKey(t, c); key != a.key {
		t.Errorf("%s: .env holds API_SERVER_KEY=%.8s…, want %.8s…", a.service, key, a.key)
	}
}

// waitGatewayInside waits until profile's gateway in container c is the
// supervisor's running service, wanted up, and answers its liveness probe
// on port inside the container.
func (e *engine) waitGatewayInside(t *testing.T, c, profile string, port int, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, func() error {
		r := e.docker(t, dockerTimeout, nil, "exec", "--user", hermesUser, c, hermesInContainer, "-p", profile, "gateway", "status", "--json")
		var st struct {
			Service struct{ Want, State string } `json:"service"`
			State   struct {
				Desired string `json:"desired_state"`
			} `json:"state"`
		}
		if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &st) != nil {
			return fmt.Errorf("gateway status of %s in %s: %s", profile, c, r)
		}
		if st.Service.Want != "up" || st.Service.State != "running" || st.State.Desired != "running" {
			return fmt.Errorf("gateway of %s in %s: service want %s, state %s, desired_state %s", profile, c, st.Service.Want, st.Service.State, st.State.Desired)
		}
		p := e.docker(t, dockerTimeout, nil, "exec", "--user", hermesUser, c, "timeout", "10", "bash", "-c", httpProbeScript, "probe", strconv.Itoa(port), "GET", probeLive, "")
		if p.Code != 0 || !strings.HasPrefix(p.Stdout, "HTTP/1.0 200") && !strings.HasPrefix(p.Stdout, "HTTP/1.1 200") {
			return fmt.Errorf("gateway of %s in %s on port %d: %s", profile, c, port, p)
		}
		return nil
	})
}
