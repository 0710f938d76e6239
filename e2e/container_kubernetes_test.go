package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// baseStatefulSet renders deploy/kubernetes/base with kubectl kustomize and
// returns its StatefulSet (deploy/manifests_test.go checks every field
// strictly; this test runs what it says).
func baseStatefulSet(t *testing.T) *appsv1.StatefulSet {
	t.Helper()
	kubectl := testenv.NeedProgram(t, "kubectl", "render deploy/kubernetes with kubectl kustomize (the Kubernetes client)")
	out, err := exec.Command(kubectl, "kustomize", filepath.Join(repoRoot, "deploy", "kubernetes", "base")).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v", err)
	}
	rd := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	for {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			t.Fatal("the base renders no StatefulSet")
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(doc, []byte("\nkind: StatefulSet\n")) {
			continue
		}
		var ss appsv1.StatefulSet
		if err := yaml.Unmarshal(doc, &ss); err != nil {
			t.Fatal(err)
		}
		return &ss
	}
}

// TestKubernetesPod runs the container of deploy/kubernetes/base's pod in
// Docker the way the kubelet would: its uid, gid and fsGroup (a volume
// owned by root and the fsGroup, setgid and group-writable), no
// capabilities and no privilege escalation, its environment with the
// Secret's values, the projected Secret mounted read-only with its mode,
// then its probes at the pod's own address (as the kubelet sends them, from
// outside its network namespace), the key from the Secret, a scrape of
// /metrics where the pod's annotations say with the token of the projected
// Secret's file (and 401 without it or with another), and a stop within
// terminationGracePeriodSeconds.
func TestKubernetesPod(t *testing.T) {
	t.Parallel()
	ss := baseStatefulSet(t)
	image := testImage(t)
	pod := ss.Spec.Template.Spec
	ctr := pod.Containers[0]
	sc := pod.SecurityContext
	flags := []string{"--user", fmt.Sprintf("%d:%d", *sc.RunAsUser, *sc.RunAsGroup), "--group-add", strconv.FormatInt(*sc.FSGroup, 10)}
	if ctr.SecurityContext != nil {
		if ctr.SecurityContext.AllowPrivilegeEscalation != nil && !*ctr.SecurityContext.AllowPrivilegeEscalation {
			flags = append(flags, "--security-opt", "no-new-privileges")
		}
		if caps := ctr.SecurityContext.Capabilities; caps != nil {
			for _, c := range caps.Drop {
				flags = append(flags, "--cap-drop", string(c))
			}
		}
	}

	// The Secrets' values, made up for the test, one per Secret key.
	values := map[string]string{}
	secretValue := func(name, key string) string {
		k := name + "/" + key
		if _, ok := values[k]; !ok {
			values[k] = randomHex(32)
		}
		return values[k]
	}
	env := map[string]string{}
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = secretValue(e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
		case e.ValueFrom != nil:
			t.Fatalf("env %s: only values and Secret keys are played here", e.Name)
		default:
			env[e.Name] = e.Value
		}
	}

	// The volumes: the claim is a fresh named volume prepared as the
	// kubelet prepares one for fsGroup; a projected Secret is a directory
	// of its files, owned by root and the fsGroup, with its mode.
	c := newContainer(t, true)
	fsGroup := strconv.FormatInt(*sc.FSGroup, 10)
	if r := docker(t, dockerTimeout, "run", "--rm", "--label", runLabel+"="+runID, "--user", "0:0", "--entrypoint", "sh", "-v", c.Volume+":/claim", image,
		"-c", "chown -R 0:"+fsGroup+" /claim && chmod 2775 /claim"); r.Code != 0 {
		t.Fatalf("preparing the claim: %s", r)
	}
	secretsDir := t.TempDir()
	if err := os.Chmod(secretsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	mounts := map[string]string{}
	for _, v := range pod.Volumes {
		if v.Projected == nil {
			continue
		}
		dir := filepath.Join(secretsDir, v.Name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if v.Projected.DefaultMode != nil {
			mode = os.FileMode(*v.Projected.DefaultMode)
		}
		for _, src := range v.Projected.Sources {
			if src.Secret == nil {
				t.Fatalf("volume %s: only Secret sources are played here", v.Name)
			}
			for _, it := range src.Secret.Items {
				p := filepath.Join(dir, it.Path)
				if err := os.WriteFile(p, []byte(secretValue(src.Secret.Name, it.Key)), mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chown(p, 0, int(*sc.FSGroup)); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, mode); err != nil {
					t.Fatal(err)
				}
			}
		}
		mounts[v.Name] = dir
	}
	for _, m := range ctr.VolumeMounts {
		switch {
		case mounts[m.Name] != "":
			flags = append(flags, "-v", mounts[m.Name]+":"+m.MountPath+":ro")
		case m.MountPath == "/opt/data":
			flags = append(flags, "-v", c.Volume+":"+m.MountPath)
		default:
			t.Fatalf("volume mount %s at %s: not played here", m.Name, m.MountPath)
		}
	}
	run := append([]string{"run", "-d"}, containerArgs(c, image, containerOpts{Env: env, Flags: flags})...)
	mustDocker(t, run...)
	started := time.Now()

	// The probes, as the kubelet sends them: from outside the pod's network
	// namespace to the pod's own address (never its loopback), on the
	// manifest's named port and path, within its timeoutSeconds, a status
	// from 200 to 399 a success. Then the dashboard's public status (the
	// portal's probe) and the key of the Secret, at the same address.
	if p := ctr.LivenessProbe.HTTPGet.Path; p != probeLive || ctr.StartupProbe.HTTPGet.Path != probeLive || ctr.ReadinessProbe.HTTPGet.Path != probeReady {
		t.Fatalf("the manifest's startup, liveness and readiness probes are %s, %s and %s, want %s, %s and %s",
			ctr.StartupProbe.HTTPGet.Path, p, ctr.ReadinessProbe.HTTPGet.Path, probeLive, probeLive, probeReady)
	}
	ip := podIP(t, c)
	portOf := func(name string) int {
		for _, p := range ctr.Ports {
			if p.Name == name {
				return int(p.ContainerPort)
			}
		}
		t.Fatalf("the container has no port named %q", name)
		return 0
	}
	probe := func(kind string, p *corev1.Probe) func() error {
		port := p.HTTPGet.Port.IntValue()
		if p.HTTPGet.Port.Type == intstr.String {
			port = portOf(p.HTTPGet.Port.StrVal)
		}
		u := fmt.Sprintf("http://%s%s", net.JoinHostPort(ip, strconv.Itoa(port)), p.HTTPGet.Path)
		return func() error {
			code, body, err := podGet(u, time.Duration(p.TimeoutSeconds)*time.Second, "User-Agent", "kube-probe/1.32")
			if err != nil {
				return fmt.Errorf("%s probe GET %s: %w", kind, u, err)
			}
			if code < 200 || code >= 400 {
				return fmt.Errorf("%s probe GET %s: %d %.200s", kind, u, code, body)
			}
			return nil
		}
	}
	waitFor(t, time.Duration(ctr.StartupProbe.PeriodSeconds*ctr.StartupProbe.FailureThreshold)*time.Second, probe("startup", ctr.StartupProbe))
	t.Logf("startup probe at %s passed %v after the start", ip, time.Since(started).Round(time.Millisecond))
	if err := probe("liveness", ctr.LivenessProbe)(); err != nil {
		t.Error(err)
	}
	waitFor(t, 30*time.Second, probe("readiness", ctr.ReadinessProbe))
	at := func(port int, path string) string {
		return fmt.Sprintf("http://%s%s", net.JoinHostPort(ip, strconv.Itoa(port)), path)
	}
	waitFor(t, 30*time.Second, func() error {
		u := at(portOf("dashboard"), probeStatus)
		if code, body, err := podGet(u, 10*time.Second); err != nil || code != 200 {
			return fmt.Errorf("GET %s: %d %v %.200s", u, code, err, body)
		}
		return nil
	})
	key := values["hermes/api-server-key"]
	models := at(portOf("gateway"), "/v1/models")
	if code, body, err := podGet(models, 10*time.Second, "Authorization", "Bearer "+key); err != nil || code != 200 {
		t.Errorf("GET %s with the key of the Secret (through API_SERVER_KEY_FILE): %d %v %.200s", models, code, err, body)
	}

	// Prometheus, as the README's scrape configuration has it: the pod's
	// annotations give the port and the path at the pod's address, and the
	// token is the projected Secret's file that HERMES_METRICS_TOKEN_FILE
	// names (Prometheus's credentials_file); without it, or with another,
	// the scrape is refused.
	ann := ss.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" {
		t.Fatalf("the pod's annotations %v do not ask for a scrape", ann)
	}
	scheme := ann["prometheus.io/scheme"]
	if scheme == "" {
		scheme = "http"
	}
	metricsURL := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(ip, ann["prometheus.io/port"]), ann["prometheus.io/path"])
	tokenFile := ""
	for _, m := range ctr.VolumeMounts {
		if rel, err := filepath.Rel(m.MountPath, env["HERMES_METRICS_TOKEN_FILE"]); err == nil && mounts[m.Name] != "" && !strings.HasPrefix(rel, "..") {
			tokenFile = filepath.Join(mounts[m.Name], rel)
		}
	}
	if tokenFile == "" {
		t.Fatalf("HERMES_METRICS_TOKEN_FILE=%q is no file of a mounted Secret", env["HERMES_METRICS_TOKEN_FILE"])
	}
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(b)) // as Prometheus reads its credentials_file
	last := byte('a')
	if token[len(token)-1] == last {
		last = 'b'
	}
	wrong := token[:len(token)-1] + string(last) // the same length: the constant-time comparison's case
	for what, h := range map[string][]string{
		"no Authorization": nil,
		"a wrong token":    {"Authorization", "Bearer " + wrong},
		"the token bare":   {"Authorization", token},
	} {
		if code, body, err := podGet(metricsURL, 10*time.Second, h...); err != nil || code != http.StatusUnauthorized {
			t.Errorf("GET %s with %s = %d %v %.200s, want 401", metricsURL, what, code, err, body)
		}
	}
	code, body, err := podGet(metricsURL, 10*time.Second, "Authorization", "Bearer "+token)
	if err != nil || code != 200 {
		t.Fatalf("GET %s with the token of %s = %d %v %.200s, want 200", metricsURL, tokenFile, code, err, body)
	}
	for _, want := range []string{
		`hermes_gateway_requests_total{code="200",route="health_ready"} `, // the readiness probes above
		`hermes_gateway_requests_total{code="401",route="metrics"} 3`,     // the three refusals above
		`hermes_gateway_in_flight `,
	} {
		if !strings.Contains(body, "\n"+want) {
			t.Errorf("the scrape of %s has no %q:\n%s", metricsURL, want, body)
		}
	}
	if owner := statIn(t, c, "%u:%g %a", "/opt/data/.env"); owner != fmt.Sprintf("%d:%d 600", *sc.RunAsUser, *sc.RunAsGroup) {
		t.Errorf("/opt/data/.env is %s, want the pod's uid and gid, 600", owner)
	}

	grace := int(*pod.TerminationGracePeriodSeconds)
	elapsed := stopContainer(t, c, grace)
	budget, err := time.ParseDuration(env["HERMES_STOP_GRACE"])
	if err != nil {
		t.Fatal(err)
	}
	if elapsed >= budget {
		t.Errorf("docker stop -t %d took %v, want within HERMES_STOP_GRACE %v", grace, elapsed.Round(time.Millisecond), budget)
	}
	if code := waitExit(t, c, 5*time.Second); code != 0 {
		t.Errorf("exit code %d after the stop, want 0", code)
	}
	t.Logf("stopped in %v", elapsed.Round(time.Millisecond))
}

// podIP returns the container's address on its Docker network, the pod IP
// of the kubelet and of Prometheus: not a loopback address, reached from the
// host (this test already needs the engine on this machine: it bind-mounts
// the Secret's files).
func podIP(t *testing.T, c *container) string {
	t.Helper()
	out := mustDocker(t, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", c.Name)
	for _, f := range strings.Fields(out) {
		if ip := net.ParseIP(f); ip != nil && !ip.IsLoopback() && !ip.IsUnspecified() {
			return ip.String()
		}
	}
	t.Fatalf("container %s has no address of its own on a network (%q)", c.Name, out)
	return ""
}

// podGet GETs url from the host with the given header pairs (name, value,
// ...) and returns the status and body.
func podGet(url string, timeout time.Duration, header ...string) (int, string, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return 0, "", err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
