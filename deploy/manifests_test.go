// Package deploy holds hermes's deployment files (kubernetes/, swarm/) and,
// in this test-only package, the check of the Kubernetes manifests: every
// kustomization under kubernetes/ is rendered with kubectl kustomize (the
// operator's tool, offline), as is every such command the README gives,
// and every object it makes is decoded strictly
// into its k8s.io/api type (an unknown or misspelt field fails), then held
// to what hermes needs of its pod: one agent per StatefulSet with its own
// volume, Service and Secret, the image's uid, the ports, the probes and a
// shutdown budget that fit the binary's constants. The swarm stack runs
// for real in e2e (TestSwarmStack). Nothing here is linked into the binary.
package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	k8sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/hermes-agent/hermes/internal/dashboard"
	"github.com/hermes-agent/hermes/internal/initd"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// The container's contract, as the binary and the image define it.
const (
	hermesUID      = 10000 // the image's hermes user and group (Dockerfile)
	dataDir        = "/opt/data"
	livenessPath   = "/health"
	readinessPath  = "/health/ready"
	metricsPath    = "/metrics"
	stopGraceVar   = "HERMES_STOP_GRACE"
	apiKeyFileVar  = profiles.APIKeyFileVar
	metricsFileVar = "HERMES_METRICS_TOKEN_FILE"
)

// rendered is what one kustomization makes, decoded.
type rendered struct {
	dir          string
	services     []*corev1.Service
	statefulSets []*appsv1.StatefulSet
}

// kinds maps apiVersion/kind to a fresh object of its type. The manifests
// may use only these; another kind fails until it is added here with its
// checks.
var kinds = map[string]func() any{
	"v1/Service":          func() any { return new(corev1.Service) },
	"apps/v1/StatefulSet": func() any { return new(appsv1.StatefulSet) },
}

// render runs kubectl kustomize on dir and decodes what it makes.
func render(t *testing.T, kubectl, dir string) rendered {
	t.Helper()
	cmd := exec.Command(kubectl, "kustomize", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	r, err := decode(out)
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v", dir, err)
	}
	r.dir = dir
	return r
}

// decode decodes every document of a rendered manifest strictly into its
// k8s.io/api type: an unknown field, a field spelt in another case, a key
// given twice or a kind that kinds does not list is an error.
func decode(out []byte) (rendered, error) {
	var r rendered
	var errs []error
	rd := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	for i := 1; ; i++ {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return r, fmt.Errorf("document %d: %w", i, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", i, err))
			continue
		}
		var tm metav1.TypeMeta
		if err := k8sjson.UnmarshalCaseSensitivePreserveInts(js, &tm); err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", i, err))
			continue
		}
		mk, ok := kinds[tm.APIVersion+"/"+tm.Kind]
		if !ok {
			errs = append(errs, fmt.Errorf("document %d is a %s %s, which this test does not know: add it to kinds with its checks", i, tm.APIVersion, tm.Kind))
			continue
		}
		obj := mk()
		strict, err := k8sjson.UnmarshalStrict(js, obj)
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d (%s): %w", i, tm.Kind, err))
			continue
		}
		for _, e := range strict {
			errs = append(errs, fmt.Errorf("document %d (%s): %w", i, tm.Kind, e))
		}
		switch o := obj.(type) {
		case *corev1.Service:
			r.services = append(r.services, o)
		case *appsv1.StatefulSet:
			r.statefulSets = append(r.statefulSets, o)
		}
	}
	return r, errors.Join(errs...)
}

// kustomizations lists the directories under kubernetes/ that hold a
// kustomization.yaml, kubernetes/ itself (the single-agent default) among
// them.
func kustomizations(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir("kubernetes", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "kustomization.yaml" {
			dirs = append(dirs, filepath.Dir(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(dirs)
	for _, want := range []string{"kubernetes", "kubernetes/base", "kubernetes/overlays/fleet"} {
		if !slices.Contains(dirs, want) {
			t.Fatalf("no %s/kustomization.yaml (found %v)", want, dirs)
		}
	}
	return dirs
}

// TestKubernetesManifests renders every kustomization and checks what it
// makes.
func TestKubernetesManifests(t *testing.T) {
	kubectl := testenv.NeedProgram(t, "kubectl", "render deploy/kubernetes with kubectl kustomize (the Kubernetes client)")
	for _, dir := range kustomizations(t) {
		t.Run(strings.TrimPrefix(dir, "kubernetes/"), func(t *testing.T) {
			r := render(t, kubectl, dir)
			if len(r.statefulSets) == 0 {
				t.Fatalf("%s makes no StatefulSet", dir)
			}
			agentSecrets := map[string]string{}
			metricsSecrets := map[string]bool{}
			for _, ss := range r.statefulSets {
				apiSecret, metricsSecret, errs := checkAgent(r, ss)
				for _, e := range errs {
					t.Error(e)
				}
				if other, dup := agentSecrets[apiSecret]; dup {
					t.Errorf("%s and %s share the Secret %s: each agent has its own key", other, ss.Name, apiSecret)
				}
				agentSecrets[apiSecret] = ss.Name
				metricsSecrets[metricsSecret] = true
			}
			if len(metricsSecrets) != 1 {
				t.Errorf("the agents read their metrics token from %d Secrets, want one for the fleet (one scrape configuration): %v", len(metricsSecrets), metricsSecrets)
			}
			if strings.HasSuffix(dir, "fleet") && len(r.statefulSets) < 2 {
				t.Errorf("the fleet runs %d agents, want several", len(r.statefulSets))
			}
		})
	}
}

// TestKubernetesDefault: deploy/kubernetes itself, what a user renders or
// applies first, is the base as it is (one agent), not the fleet.
func TestKubernetesDefault(t *testing.T) {
	kubectl := testenv.NeedProgram(t, "kubectl", "render deploy/kubernetes with kubectl kustomize (the Kubernetes client)")
	top, err := exec.Command(kubectl, "kustomize", "kubernetes").Output()
	if err != nil {
		t.Fatalf("kubectl kustomize kubernetes: %v", err)
	}
	base, err := exec.Command(kubectl, "kustomize", "kubernetes/base").Output()
	if err != nil {
		t.Fatalf("kubectl kustomize kubernetes/base: %v", err)
	}
	if !bytes.Equal(top, base) {
		t.Errorf("kubectl kustomize deploy/kubernetes does not make what the base makes:\n%s\nthe base:\n%s", top, base)
	}
}

// kustomizeCommand is a kubectl command that renders a kustomization,
// written in the docs: its path is that of the repository's root.
var kustomizeCommand = regexp.MustCompile(`kubectl\s+(?:kustomize|(?:apply|create|diff|delete)\s+-k)\s+(deploy/kubernetes[\w./-]*)`)

// issueCommand is the command of issue 17, as it is: the top of
// deploy/kubernetes, nothing after it but a space, a newline or a backquote.
var issueCommand = regexp.MustCompile("kubectl kustomize deploy/kubernetes[ \\n`]")

// TestKustomizeCommandsOfTheDocs runs, from the repository's root, each
// kubectl kustomize (or apply -k, …) the README and the manifests' comments
// tell a user to run, the issue's `kubectl kustomize deploy/kubernetes`
// among them, and checks that it renders agents and names a kustomization
// TestKubernetesManifests checks.
func TestKustomizeCommandsOfTheDocs(t *testing.T) {
	kubectl := testenv.NeedProgram(t, "kubectl", "render deploy/kubernetes with kubectl kustomize (the Kubernetes client)")
	docs := []string{"../README.md"}
	err := filepath.WalkDir("kubernetes", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yaml") {
			docs = append(docs, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	checked := kustomizations(t)
	paths := map[string][]string{} // path → the docs that give it
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range kustomizeCommand.FindAllSubmatch(b, -1) {
			p := strings.TrimRight(string(m[1]), "./")
			if !slices.Contains(paths[p], doc) {
				paths[p] = append(paths[p], doc)
			}
		}
		if doc == "../README.md" && !issueCommand.Match(b) {
			t.Errorf("the README does not give `kubectl kustomize deploy/kubernetes` (the issue's command) as it is")
		}
	}
	for _, want := range []string{"deploy/kubernetes", "deploy/kubernetes/overlays/fleet"} {
		if _, ok := paths[want]; !ok {
			t.Errorf("the docs give no kubectl command that renders %s (they give %v)", want, paths)
		}
	}
	for p, docs := range paths {
		t.Run(p, func(t *testing.T) {
			if !slices.Contains(checked, strings.TrimPrefix(p, "deploy/")) {
				t.Errorf("%v: %s is no kustomization that TestKubernetesManifests checks (%v)", docs, p, checked)
			}
			cmd := exec.Command(kubectl, "kustomize", p)
			cmd.Dir = ".."
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%v: kubectl kustomize %s, from the repository's root: %v\n%s", docs, p, err, stderr.String())
			}
			r, err := decode(out)
			if err != nil {
				t.Fatalf("kubectl kustomize %s: %v", p, err)
			}
			if len(r.statefulSets) == 0 {
				t.Errorf("%v: kubectl kustomize %s makes no agent", docs, p)
			}
		})
	}
}

// checkAgent checks one agent's StatefulSet and its Service, and returns
// the Secrets its key and its metrics token come from, and what is wrong.
func checkAgent(r rendered, ss *appsv1.StatefulSet) (apiSecret, metricsSecret string, errs []string) {
	name := ss.Name
	errorf := func(format string, args ...any) {
		errs = append(errs, fmt.Sprintf("StatefulSet %s: "+format, append([]any{name}, args...)...))
	}
	if ss.Spec.Replicas == nil || *ss.Spec.Replicas != 1 {
		errorf("replicas %v, want 1: one pod per agent (the volume has one owner)", ss.Spec.Replicas)
	}
	pod := ss.Spec.Template
	sel, err := metav1.LabelSelectorAsSelector(ss.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
		errorf("its selector %v does not select its pods %v (%v)", ss.Spec.Selector, pod.Labels, err)
	}
	for _, other := range r.statefulSets {
		if other != ss && sel.Matches(labels.Set(other.Spec.Template.Labels)) {
			errorf("its selector also selects the pods of %s", other.Name)
		}
	}

	// Its Service: headless, named by serviceName, selecting its pods only.
	var svc *corev1.Service
	for _, s := range r.services {
		if s.Name == ss.Spec.ServiceName {
			svc = s
		}
	}
	if svc == nil {
		errorf("serviceName %q names no Service of the same kustomization", ss.Spec.ServiceName)
	} else {
		if svc.Spec.ClusterIP != corev1.ClusterIPNone {
			errorf("Service %s is not headless (clusterIP %q)", svc.Name, svc.Spec.ClusterIP)
		}
		ssel := labels.SelectorFromSet(svc.Spec.Selector)
		for _, other := range r.statefulSets {
			if matches := len(svc.Spec.Selector) > 0 && ssel.Matches(labels.Set(other.Spec.Template.Labels)); matches != (other == ss) {
				errorf("Service %s selects the pods of %s: %v", svc.Name, other.Name, matches)
			}
		}
	}

	spec := pod.Spec
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		errorf("enableServiceLinks is not false: Kubernetes would set HERMES_* variables named after a Service")
	}
	sc := spec.SecurityContext
	if sc == nil || ptrIs(sc.RunAsUser, hermesUID) == false || ptrIs(sc.RunAsGroup, hermesUID) == false || ptrIs(sc.FSGroup, hermesUID) == false ||
		sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		errorf("pod securityContext %+v, want runAsUser, runAsGroup and fsGroup %d and runAsNonRoot", sc, hermesUID)
	}
	if len(spec.Containers) != 1 {
		errorf("%d containers, want one: one container per agent", len(spec.Containers))
		return "", "", errs
	}
	c := spec.Containers[0]
	if c.Image == "" {
		errorf("no image")
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}

	// The shutdown budget: the kubelet's SIGKILL comes after init's own
	// HERMES_STOP_GRACE, with room to exit.
	grace := initd.DefaultStopGrace
	if e, ok := env[stopGraceVar]; ok {
		if grace, err = time.ParseDuration(e.Value); err != nil {
			errorf("%s=%q: %v", stopGraceVar, e.Value, err)
		}
	}
	if grace > initd.DefaultStopGrace {
		errorf("%s %v is above the image's budget %v", stopGraceVar, grace, initd.DefaultStopGrace)
	}
	tgp := time.Duration(ptrVal(spec.TerminationGracePeriodSeconds, 30)) * time.Second
	if tgp < grace+2*time.Second {
		errorf("terminationGracePeriodSeconds %v, want at least %s (%v) + 2 s", tgp, stopGraceVar, grace)
	}

	// Ports.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	dashPort, _ := strconv.Atoi(dashboard.DefaultPort)
	if ports["gateway"] != profiles.DefaultGatewayPort || ports["dashboard"] != int32(dashPort) {
		errorf("container ports %v, want gateway %d and dashboard %d", ports, profiles.DefaultGatewayPort, dashPort)
	}
	if svc != nil {
		sp := map[string]string{}
		for _, p := range svc.Spec.Ports {
			sp[p.Name] = p.TargetPort.String()
		}
		if sp["gateway"] != "gateway" || sp["dashboard"] != "dashboard" {
			errorf("Service %s ports %v, want gateway and dashboard to their named container ports", svc.Name, sp)
		}
	}

	// Probes: on the gateway; liveness never restarts a container that is
	// shutting down or whose gateway the supervisor is restarting;
	// readiness takes a draining gateway out within its drain_timeout.
	probe := func(kind string, p *corev1.Probe, path string) *corev1.Probe {
		if p == nil || p.HTTPGet == nil {
			errorf("no %s probe (HTTP GET %s)", kind, path)
			return &corev1.Probe{}
		}
		if p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "gateway" {
			errorf("%s probe GET %s on port %s, want %s on the gateway port", kind, p.HTTPGet.Path, p.HTTPGet.Port.String(), path)
		}
		if p.TimeoutSeconds >= p.PeriodSeconds {
			errorf("%s probe: timeout %d s is not below its period %d s", kind, p.TimeoutSeconds, p.PeriodSeconds)
		}
		return p
	}
	window := func(p *corev1.Probe) time.Duration {
		return time.Duration(p.PeriodSeconds*p.FailureThreshold) * time.Second
	}
	live := probe("liveness", c.LivenessProbe, livenessPath)
	ready := probe("readiness", c.ReadinessProbe, readinessPath)
	start := probe("startup", c.StartupProbe, livenessPath)
	if w := window(live); w < tgp || w <= profiles.GatewayStopGrace {
		errorf("liveness gives up after %v, want at least terminationGracePeriodSeconds (%v) and above a gateway's stop_grace (%v)", w, tgp, profiles.GatewayStopGrace)
	}
	if w := window(ready); w > profiles.DefaultDrainTimeout {
		errorf("readiness takes %v to notice a draining gateway, want at most its drain_timeout %v", w, profiles.DefaultDrainTimeout)
	}
	if w := window(start); w < 30*time.Second {
		errorf("startup probe allows %v to boot, want at least 30 s", w)
	}

	// The volume: a claim of its own at /opt/data.
	var mount *corev1.VolumeMount
	mounts := map[string]corev1.VolumeMount{}
	for i, m := range c.VolumeMounts {
		mounts[m.Name] = m
		if m.MountPath == dataDir {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil {
		errorf("nothing mounted at %s", dataDir)
	} else if !slices.ContainsFunc(ss.Spec.VolumeClaimTemplates, func(pvc corev1.PersistentVolumeClaim) bool {
		return pvc.Name == mount.Name && slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteOnce)
	}) {
		errorf("%s is volume %q, not a ReadWriteOnce volumeClaimTemplate", dataDir, mount.Name)
	}

	// Secrets: the key and the metrics token are files of a Secret volume
	// (never a literal in the manifest); other secrets come from a Secret.
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef == nil {
			errorf("env %s comes from something other than a Secret", e.Name)
		}
		secret := e.Name == profiles.APIKeyVar || !strings.HasSuffix(e.Name, "_FILE") &&
			(strings.Contains(e.Name, "PASSWORD") || strings.Contains(e.Name, "TOKEN") || strings.Contains(e.Name, "SECRET"))
		if secret && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			errorf("env %s is a secret written in the manifest: take it from a Secret", e.Name)
		}
	}
	secretOf := func(v string) string {
		e, ok := env[v]
		if !ok || e.Value == "" {
			errorf("no %s", v)
			return ""
		}
		for _, m := range c.VolumeMounts {
			rel, err := filepath.Rel(m.MountPath, e.Value)
			if err != nil || strings.HasPrefix(rel, "..") {
				continue
			}
			for _, vol := range spec.Volumes {
				if vol.Name != m.Name {
					continue
				}
				if vol.Secret != nil && slices.ContainsFunc(vol.Secret.Items, func(k corev1.KeyToPath) bool { return k.Path == rel }) {
					return vol.Secret.SecretName
				}
				if vol.Projected != nil {
					for _, src := range vol.Projected.Sources {
						if src.Secret != nil && slices.ContainsFunc(src.Secret.Items, func(k corev1.KeyToPath) bool { return k.Path == rel }) {
							if ptrVal(vol.Projected.DefaultMode, 0o644)&0o007 != 0 {
								errorf("the secrets volume %s is readable by others (mode %o)", vol.Name, *vol.Projected.DefaultMode)
							}
							return src.Secret.Name
						}
					}
				}
			}
		}
		errorf("%s=%s is no file of a mounted Secret", v, e.Value)
		return ""
	}
	apiSecret = secretOf(apiKeyFileVar)
	metricsSecret = secretOf(metricsFileVar)
	if e := env["HERMES_DASHBOARD_BASIC_AUTH_PASSWORD"]; e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name != apiSecret {
		errorf("the dashboard's password comes from Secret %s, the key from %s: one Secret per agent", e.ValueFrom.SecretKeyRef.Name, apiSecret)
	}
	if apiSecret == metricsSecret {
		errorf("the key and the metrics token come from the same Secret %s: the token is the fleet's, the key the agent's", apiSecret)
	}

	// Prometheus: the gateway's /metrics.
	a := pod.Annotations
	if a["prometheus.io/scrape"] != "true" || a["prometheus.io/path"] != metricsPath || a["prometheus.io/port"] != fmt.Sprint(ports["gateway"]) {
		errorf("scrape annotations %v, want prometheus.io/scrape true, path %s, port %d", a, metricsPath, ports["gateway"])
	}
	return apiSecret, metricsSecret, errs
}

func ptrIs[T comparable](p *T, v T) bool { return p != nil && *p == v }

func ptrVal[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// TestDecodeRefuses: what the strict decoding refuses.
func TestDecodeRefuses(t *testing.T) {
	const svc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: hermes\nspec:\n  clusterIP: None\n"
	for _, tt := range []struct{ name, doc, err string }{
		{"valid", svc, ""},
		{"unknown field", svc + "  clusterIPs2: [None]\n", `unknown field "spec.clusterIPs2"`},
		{"misspelt case", svc + "  ClusterIP: None\n", `unknown field "spec.ClusterIP"`},
		{"key given twice", svc + "  clusterIP: None\n", `key "clusterIP" already set`},
		{"unknown kind", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "is a v1 ConfigMap, which this test does not know"},
		{"wrong type", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec: {replicas: one}\n", "cannot unmarshal string"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode([]byte("---\n" + tt.doc))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if tt.err == "" && err != nil || !strings.Contains(got, tt.err) {
				t.Errorf("decode = %q, want %q", got, tt.err)
			}
		})
	}
}

// TestCheckAgentRefuses: each check of checkAgent fails on the base's
// StatefulSet changed the way it guards against.
func TestCheckAgentRefuses(t *testing.T) {
	kubectl := testenv.NeedProgram(t, "kubectl", "render deploy/kubernetes with kubectl kustomize (the Kubernetes client)")
	for _, tt := range []struct {
		name   string
		change func(r *rendered, ss *appsv1.StatefulSet, c *corev1.Container)
		err    string
	}{
		{"as it is", func(*rendered, *appsv1.StatefulSet, *corev1.Container) {}, ""},
		{"two replicas", func(_ *rendered, ss *appsv1.StatefulSet, _ *corev1.Container) {
			two := int32(2)
			ss.Spec.Replicas = &two
		}, "replicas"},
		{"grace below the budget", func(_ *rendered, ss *appsv1.StatefulSet, _ *corev1.Container) {
			g := int64(8)
			ss.Spec.Template.Spec.TerminationGracePeriodSeconds = &g
		}, "terminationGracePeriodSeconds 8s, want at least HERMES_STOP_GRACE (8s) + 2 s"},
		{"service links", func(_ *rendered, ss *appsv1.StatefulSet, _ *corev1.Container) {
			ss.Spec.Template.Spec.EnableServiceLinks = nil
		}, "enableServiceLinks"},
		{"root", func(_ *rendered, ss *appsv1.StatefulSet, _ *corev1.Container) {
			ss.Spec.Template.Spec.SecurityContext.RunAsUser = new(int64)
		}, "runAsUser"},
		{"readiness on /health", func(_ *rendered, _ *appsv1.StatefulSet, c *corev1.Container) {
			c.ReadinessProbe.HTTPGet.Path = "/health"
		}, "readiness probe GET /health"},
		{"slow readiness", func(_ *rendered, _ *appsv1.StatefulSet, c *corev1.Container) { c.ReadinessProbe.FailureThreshold = 5 }, "readiness takes 10s"},
		{"hasty liveness", func(_ *rendered, _ *appsv1.StatefulSet, c *corev1.Container) { c.LivenessProbe.FailureThreshold = 1 }, "liveness gives up after 10s"},
		{"no volume claim", func(_ *rendered, ss *appsv1.StatefulSet, _ *corev1.Container) { ss.Spec.VolumeClaimTemplates = nil }, "not a ReadWriteOnce volumeClaimTemplate"},
		{"key in the manifest", func(_ *rendered, _ *appsv1.StatefulSet, c *corev1.Container) {
			c.Env = append(c.Env, corev1.EnvVar{Name: "API_SERVER_KEY", Value: "0123456789abcdef"})
		}, "env API_SERVER_KEY is a secret written in the manifest"},
		{"key file elsewhere", func(_ *rendered, _ *appsv1.StatefulSet, c *corev1.Container) {
			for i := range c.Env {
				if c.Env[i].Name == apiKeyFileVar {
					c.Env[i].Value = "/opt/data/key"
				}
			}
		}, "API_SERVER_KEY_FILE=/opt/data/key is no file of a mounted Secret"},
		{"no scrape annotation", func(_ *rendered, ss *appsv1.StatefulSet, _ *corev1.Container) {
			delete(ss.Spec.Template.Annotations, "prometheus.io/scrape")
		}, "scrape annotations"},
		{"a Service selecting every agent", func(r *rendered, _ *appsv1.StatefulSet, _ *corev1.Container) {
			r.services[0].Spec.Selector = map[string]string{"app.kubernetes.io/name": "hermes"}
			other := r.statefulSets[0].DeepCopy()
			other.Name = "hermes-other"
			other.Spec.Template.Labels = map[string]string{"app.kubernetes.io/name": "hermes", "app.kubernetes.io/instance": "other"}
			r.statefulSets = append(r.statefulSets, other)
		}, "selects the pods of hermes-other"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := render(t, kubectl, "kubernetes/base")
			ss := r.statefulSets[0]
			tt.change(&r, ss, &ss.Spec.Template.Spec.Containers[0])
			_, _, errs := checkAgent(r, ss)
			got := strings.Join(errs, "\n")
			if tt.err == "" && len(errs) != 0 || !strings.Contains(got, tt.err) {
				t.Errorf("checkAgent said:\n%s\nwant %q", got, tt.err)
			}
		})
	}
}
