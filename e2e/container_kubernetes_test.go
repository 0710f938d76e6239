package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
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
// then its probes, the key from the Secret, and a stop within
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

	// The probes, through the container's loopback: the startup and
	// liveness path of the manifest, the readiness route, and the
	// dashboard's public status (the portal's probe).
	if p := ctr.LivenessProbe.HTTPGet.Path; p != probeLive || ctr.StartupProbe.HTTPGet.Path != probeLive {
		t.Fatalf("the manifest's liveness and startup probes are %s and %s, want %s", p, ctr.StartupProbe.HTTPGet.Path, probeLive)
	}
	ok := func(port int, path, header string) error {
		a, err := probeHTTP(t, c, port, "GET", path, header)
		if err != nil {
			return err
		}
		if a.Status != 200 {
			return fmt.Errorf("GET %s on port %d: %d %s", path, port, a.Status, a.Body)
		}
		return nil
	}
	waitFor(t, time.Duration(ctr.StartupProbe.PeriodSeconds*ctr.StartupProbe.FailureThreshold)*time.Second, func() error {
		return ok(gatewayPort, probeLive, "")
	})
	t.Logf("startup probe passed %v after the start", time.Since(started).Round(time.Millisecond))
	waitFor(t, 30*time.Second, func() error { return ok(gatewayPort, probeReady, "") })
	waitFor(t, 30*time.Second, func() error { return ok(dashboardPort, probeStatus, "") })
	key := values["hermes/api-server-key"]
	if err := ok(gatewayPort, "/v1/models", "Authorization: Bearer "+key); err != nil {
		t.Errorf("the key of the Secret (through API_SERVER_KEY_FILE): %v", err)
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
