package e2e

// The pieces of the browser tests (browser_test.go): a network namespace
// of their own, a real OpenID provider in process, the real dashboard as a
// child process, nginx as the TLS terminator in front of it, headless
// Chromium driven through chromedp, and the artifacts (screenshots, logs) of
// a run.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/sessions"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// browserLog is a goroutine-safe buffer for a child's output.
type browserLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *browserLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *browserLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// browserNetns is a network namespace with nothing but loopback, held by a
// sleeping process, in which a browser test runs the browser, nginx, the
// dashboard and the OpenID provider. Chromium aborts its connections with
// net::ERR_NETWORK_CHANGED whenever an interface or an address changes in
// its namespace, and the container tests running beside this one create and
// delete Docker's veth interfaces all the time; in a namespace of its own,
// nothing changes. Ports there are free by construction.
type browserNetns struct {
	path    string // /proc/<pid>/ns/net of the holder
	nsenter string
}

func newBrowserNetns(t *testing.T) *browserNetns {
	t.Helper()
	testenv.NeedRoot(t, "give the browser, nginx and the dashboard a network namespace of their own")
	unshare := testenv.NeedProgram(t, "unshare", "make a network namespace (Debian package util-linux)")
	nsenter := testenv.NeedProgram(t, "nsenter", "run programs in a network namespace (Debian package util-linux)")
	ip := testenv.NeedProgram(t, "ip", "bring loopback up in a network namespace (Debian package iproute2)")
	sleep := testenv.NeedProgram(t, "sleep", "hold a network namespace")
	holder := exec.Command(unshare, "--net", sleep, "infinity")
	holder.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := holder.Start(); err != nil {
		t.Fatalf("unshare --net: %v", err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	n := &browserNetns{path: fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid), nsenter: nsenter}
	// unshare makes the namespace, then executes sleep in it.
	ours, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "unshare --net to make a network namespace", func() bool {
		theirs, err := os.Readlink(n.path)
		return err == nil && theirs != ours
	})
	if out, err := n.command(ip, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up in the namespace: %v\n%s", err, out)
	}
	return n
}

// command runs a program in the namespace (nsenter executes it: the
// process is the program's).
func (n *browserNetns) command(name string, args ...string) *exec.Cmd {
	return exec.Command(n.nsenter, append([]string{"--net=" + n.path, "--", name}, args...)...)
}

// inside runs f on a thread locked to it that has entered the namespace;
// the sockets f makes are the namespace's. The thread goes back to its own
// namespace before it is unlocked; should that fail, it stays locked and
// ends with its goroutine. (A thread must not end otherwise: the children
// it started would get their parent-death signal.)
func (n *browserNetns) inside(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		own, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer own.Close()
		target, err := os.Open(n.path)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering the network namespace: %w", err)
			return
		}
		err = f()
		if unix.Setns(int(own.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// listen listens on 127.0.0.1:0 in the namespace.
func (n *browserNetns) listen(t *testing.T) net.Listener {
	t.Helper()
	var ln net.Listener
	err := n.inside(func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// dial connects to addr in the namespace (an http.Transport's DialContext).
func (n *browserNetns) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.inside(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// client is an HTTP client whose connections are made in the namespace;
// tlsConf (nil for plain HTTP) configures TLS; it follows no redirect.
func (n *browserNetns) client(tlsConf *tls.Config) *http.Client {
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{DialContext: n.dial, TLSClientConfig: tlsConf},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// browserArtifacts is the directory of a test's screenshots and logs:
// $HERMES_TEST_ARTIFACTS/<TestName>/ (emptied first) when the variable is
// set, so that CI keeps them; else a temporary directory removed after the
// test.
func browserArtifacts(t *testing.T) string {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	if root := os.Getenv("HERMES_TEST_ARTIFACTS"); root != "" {
		dir := filepath.Join(root, name)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Logf("artifacts (screenshots, logs): %s", dir)
		return dir
	}
	dir := t.TempDir()
	t.Logf("artifacts (screenshots, logs): %s (removed after the test; set HERMES_TEST_ARTIFACTS to keep them)", dir)
	return dir
}

// browserOP is a real OpenID provider on loopback: zitadel/oidc's example
// OP (discovery, JWKS, code flow with PKCE, its login form), as the
// authgate's own tests run it, with one web client registered for one
// redirect URI.
type browserOP struct {
	issuer         string
	authorize      string // the authorization endpoint, from discovery
	user, password string // the example's test user, whose email is test-user@zitadel.ch (verified)
	email          string
}

func startBrowserOP(t *testing.T, ns *browserNetns, clientID, secret, redirectURI string) *browserOP {
	t.Helper()
	ln := ns.listen(t)
	issuer := "http://" + ln.Addr().String()
	// A client map of its own (not storage.RegisterClients' global one):
	// the browser tests run in parallel.
	clients := map[string]*storage.Client{clientID: storage.WebClient(clientID, secret, redirectURI)}
	router := exampleop.SetupServer(issuer, storage.NewStorageWithClients(storage.NewUserStore(issuer), clients), nil, false)
	srv := &http.Server{Handler: router, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	op := &browserOP{issuer: issuer, user: "test-user@127.0.0.1", password: "verysecure", email: "test-user@zitadel.ch"}
	resp, err := ns.client(nil).Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("the OP's discovery: %v", err)
	}
	defer resp.Body.Close()
	var disc struct {
		Authorize string `json:"authorization_endpoint"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&disc); err != nil || disc.Authorize == "" {
		t.Fatalf("the OP's discovery: %d, %v", resp.StatusCode, err)
	}
	op.authorize = disc.Authorize
	return op
}

// browserSession is a session written into the home's state.db.
type browserSession struct{ id, title string }

// browserHome makes a HERMES_HOME with the default profile (SOUL.md,
// config.yaml) and a state.db holding two sessions, written through
// internal/sessions as the gateway writes them.
func browserHome(t *testing.T) (string, []browserSession) {
	t.Helper()
	home := t.TempDir()
	for path, b := range map[string][]byte{
		profiles.SOULPath(profiles.MustParse(home, profiles.Default)):   profiles.DefaultSOUL(profiles.Default),
		profiles.ConfigPath(profiles.MustParse(home, profiles.Default)): profiles.DefaultConfig(profiles.DefaultGatewayPort),
	} {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err := sessions.Open(filepath.Join(profiles.MustParse(home, profiles.Default).Dir(), profiles.FileSessions), sessions.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ss := []browserSession{
		{sessions.NewSessionID(), "Which port does the browser test use for nginx?"},
		{sessions.NewSessionID(), "Summarise the login round trip in one sentence"},
	}
	now := time.Now()
	for i, s := range ss {
		err := st.AppendTurn(context.Background(), sessions.Turn{
			SessionID: s.id, Profile: profiles.Default, Model: "test/browser-model",
			Messages: []sessions.Message{
				{Role: sessions.RoleUser, Content: s.title},
				{Role: sessions.RoleAssistant, Content: "An answer for the browser test."},
			},
			Usage: &sessions.Usage{PromptTokens: 12, CompletionTokens: 7, TotalTokens: 19},
			At:    now.Add(-time.Duration(i+1) * time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return home, ss
}

// browserDashboard is `hermes dashboard` running as a child process.
type browserDashboard struct {
	port   int
	stderr *browserLog
	done   chan struct{} // closed when the process has exited
	err    error         // its exit, once done is closed
}

// startBrowserDashboard runs the real binary's `hermes dashboard --host
// 127.0.0.1 --port <port> --no-open` in the namespace with exactly env
// (plus PATH), waits until /api/status answers on the bind, and stops it
// (TERM, then KILL) at the end of the test. Its stderr is kept in
// artifacts/dashboard.log.
func startBrowserDashboard(t *testing.T, ns *browserNetns, artifacts string, port int, env map[string]string) *browserDashboard {
	t.Helper()
	d := &browserDashboard{port: port, stderr: &browserLog{}, done: make(chan struct{})}
	cmd := ns.command(hermesBin, "dashboard", "--host", "127.0.0.1", "--port", strconv.Itoa(d.port), "--no-open")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout = d.stderr
	cmd.Stderr = d.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s dashboard: %v", hermesBin, err)
	}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			t.Errorf("the dashboard did not stop within 10s of SIGTERM; killing it")
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-d.done
		}
		os.WriteFile(filepath.Join(artifacts, "dashboard.log"), []byte(d.stderr.String()), 0o644)
		if t.Failed() {
			t.Logf("dashboard stderr (exit: %v):\n%s", d.err, d.stderr)
		}
	})
	c := ns.client(nil)
	c.Timeout = 2 * time.Second
	status := "http://127.0.0.1:" + strconv.Itoa(d.port) + "/api/status"
	testenv.EventuallyNil(t, 30*time.Second, "GET "+status+" to answer 200", func() error {
		select {
		case <-d.done:
			t.Fatalf("the dashboard exited before it answered (%v):\n%s", d.err, d.stderr)
		default:
		}
		resp, err := c.Get(status)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	})
	return d
}

// browserCert is a self-signed certificate for 127.0.0.1 (and localhost),
// written as PEM files into dir.
type browserCert struct {
	cert              *x509.Certificate
	certFile, keyFile string
}

func newBrowserCert(t *testing.T, dir string) *browserCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "127.0.0.1", Organization: []string{"hermes e2e"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := &browserCert{cert: cert, certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(c.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// tls is a client configuration that trusts only this certificate.
func (c *browserCert) tls() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(c.cert)
	return &tls.Config{RootCAs: pool}
}

// browserNginx is nginx terminating TLS on 127.0.0.1:port in front of the
// dashboard.
type browserNginx struct {
	port   int
	errLog string
}

// browserNginxConf is nginx's whole configuration: one TLS server on
// loopback whose one location proxies to the dashboard. With a prefix
// ("/hermes"), the location is "/hermes/" and proxy_pass ends in "/", so the
// prefix is stripped; the Host header is kept, X-Forwarded-Proto and
// X-Forwarded-For are set, nothing is buffered (server-sent events), and
// redirects are passed through untouched (proxy_redirect off: every
// Location must come from the dashboard right).
const browserNginxConf = `# written by the hermes e2e browser tests
{{USER}}worker_processes 1;
pid {{DIR}}/nginx.pid;
error_log {{DIR}}/error.log info;
events { worker_connections 128; }
http {
    access_log {{DIR}}/access.log;
    client_body_temp_path {{DIR}}/tmp/body;
    proxy_temp_path {{DIR}}/tmp/proxy;
    fastcgi_temp_path {{DIR}}/tmp/fastcgi;
    uwsgi_temp_path {{DIR}}/tmp/uwsgi;
    scgi_temp_path {{DIR}}/tmp/scgi;
    server {
        listen 127.0.0.1:{{PORT}} ssl;
        server_name 127.0.0.1;
        ssl_certificate {{CERT}};
        ssl_certificate_key {{KEY}};
        location {{LOCATION}} {
            proxy_pass http://127.0.0.1:{{UPSTREAM}}{{UPSTREAM_PATH}};
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_cache off;
            proxy_read_timeout 1h;
            proxy_redirect off;
        }
    }
}
`

// startBrowserNginx starts `nginx -c CONF -p DIR -g 'daemon off;'` with
// the configuration above on 127.0.0.1:port, waits until the dashboard's
// /api/status answers through it over TLS, and stops it (TERM, then KILL of
// its process group) at the end of the test.
func startBrowserNginx(t *testing.T, ns *browserNetns, nginxPath, artifacts string, port int, cert *browserCert, upstream int, prefix string) *browserNginx {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	n := &browserNginx{port: port, errLog: filepath.Join(dir, "error.log")}
	location, upstreamPath := "/", ""
	if prefix != "" {
		location, upstreamPath = prefix+"/", "/"
	}
	user := ""
	if os.Geteuid() == 0 {
		// The workers would otherwise run as nobody, outside the test's
		// private temporary directories.
		user = "user root;\n"
	}
	conf := strings.NewReplacer(
		"{{USER}}", user, "{{DIR}}", dir, "{{PORT}}", strconv.Itoa(n.port),
		"{{CERT}}", cert.certFile, "{{KEY}}", cert.keyFile,
		"{{LOCATION}}", location, "{{UPSTREAM}}", strconv.Itoa(upstream), "{{UPSTREAM_PATH}}", upstreamPath,
	).Replace(browserNginxConf)
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(artifacts, "nginx.conf"), []byte(conf), 0o644)
	out := &browserLog{}
	cmd := ns.command(nginxPath, "-e", n.errLog, "-c", confFile, "-p", dir+"/", "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nginx: %v", err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Logf("nginx did not stop within 5s of SIGTERM; killing its process group")
		}
		// The workers too, whatever the master did.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		b, _ := os.ReadFile(n.errLog)
		os.WriteFile(filepath.Join(artifacts, "nginx-error.log"), b, 0o644)
		a, _ := os.ReadFile(filepath.Join(dir, "access.log"))
		os.WriteFile(filepath.Join(artifacts, "nginx-access.log"), a, 0o644)
		if t.Failed() {
			t.Logf("nginx output:\n%s\nnginx error.log:\n%s\nnginx access.log:\n%s", out, b, a)
		}
	})
	c := ns.client(cert.tls())
	c.Timeout = 2 * time.Second
	status := "https://127.0.0.1:" + strconv.Itoa(n.port) + prefix + "/api/status"
	testenv.EventuallyNil(t, 30*time.Second, "GET "+status+" through nginx to answer 200", func() error {
		select {
		case <-done:
			b, _ := os.ReadFile(n.errLog)
			t.Fatalf("nginx exited (%v):\n%s\n%s", waitErr, out, b)
		default:
		}
		resp, err := c.Get(status)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	})
	return n
}

// browserRequest is one request the browser sent.
type browserRequest struct {
	method, url string
	typ         network.ResourceType
}

// browserTab is headless Chromium (one tab) under chromedp, with what the
// test reads of its traffic: every request, every Set-Cookie line as
// received, every cookie the browser refused to store.
type browserTab struct {
	t         *testing.T
	ctx       context.Context // the tab; bounded by the whole browser's deadline
	artifacts string
	shots     int

	mu         sync.Mutex
	requests   []browserRequest
	setCookies []string
	blocked    []string
}

// startBrowser starts headless Chromium in the namespace (no sandbox: the
// tests run as root; certificate errors ignored: nginx's certificate is
// self-signed) with a deadline for its whole life, and enables the network
// events.
func startBrowser(t *testing.T, ns *browserNetns, chromiumPath, artifacts string, life time.Duration) *browserTab {
	t.Helper()
	// chromedp starts one program: this script enters the namespace and
	// executes Chromium, keeping the pipes chromedp talks through.
	wrapper := filepath.Join(t.TempDir(), "chromium-in-netns")
	script := "#!/bin/sh\nexec " + strconv.Quote(ns.nsenter) + " --net=" + strconv.Quote(ns.path) + " -- " + strconv.Quote(chromiumPath) + ` "$@"` + "\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	out := &browserLog{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(wrapper),
		chromedp.NoSandbox,
		chromedp.IgnoreCertErrors,
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(out),
	)
	deadline, cancelDeadline := context.WithTimeout(context.Background(), life)
	alloc, cancelAlloc := chromedp.NewExecAllocator(deadline, opts...)
	errs := &browserLog{}
	tab, cancelTab := chromedp.NewContext(alloc, chromedp.WithErrorf(func(f string, a ...any) { fmt.Fprintf(errs, f+"\n", a...) }))
	b := &browserTab{t: t, ctx: tab, artifacts: artifacts}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit
		cancelDeadline()
		if t.Failed() {
			t.Logf("chromium output (without its D-Bus complaints):\n%s\nchromedp errors:\n%s", browserWithoutDBus(out.String()), errs)
		}
	})
	record := func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, browserRequest{method: ev.Request.Method, url: ev.Request.URL, typ: ev.Type})
		case *network.EventResponseReceivedExtraInfo:
			for k, v := range ev.Headers {
				if s, ok := v.(string); ok && strings.EqualFold(k, "Set-Cookie") {
					b.setCookies = append(b.setCookies, strings.Split(s, "\n")...)
				}
			}
			for _, c := range ev.BlockedCookies {
				b.blocked = append(b.blocked, fmt.Sprintf("%q: %v", c.CookieLine, c.BlockedReasons))
			}
		}
	}
	// Listen starts the browser; its life is bounded by the deadline above
	// (a timeout on this first call would stop the browser with it).
	if err := chromedp.Listen(tab, record); err != nil {
		t.Fatalf("starting %s: %v\n%s", chromiumPath, err, browserWithoutDBus(out.String()))
	}
	start, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Call(start, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("enabling the network events: %v\n%s", err, browserWithoutDBus(out.String()))
	}
	// Registered after the browser's own cleanup, so run before it: the
	// page is still there to be dumped.
	t.Cleanup(func() {
		if t.Failed() {
			b.dump()
		}
	})
	return b
}

// browserWithoutDBus drops the lines of Chromium's output about the
// missing D-Bus (there is none in a container or under CI).
func browserWithoutDBus(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, ":ERROR:dbus/") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// run runs actions with a timeout; what names the step in a failure.
func (b *browserTab) run(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	browserGetValue(b, what, timeout, chromedp.Steps(actions...))
}

// browserGetValue runs one action that returns a value, with a timeout.
func browserGetValue[T any](b *browserTab, what string, timeout time.Duration, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// location is the tab's current URL.
func (b *browserTab) location() string {
	b.t.Helper()
	return browserGetValue(b, "reading the location", 10*time.Second, chromedp.Location())
}

// text is the text of the first element that matches the CSS selector.
func (b *browserTab) text(sel string) string {
	b.t.Helper()
	// Read in the page rather than through DOM node ids, which a late
	// DOM.documentUpdated of the navigation just finished can invalidate.
	q, _ := json.Marshal(sel)
	return browserGetValue(b, "reading the text of "+sel, 10*time.Second,
		chromedp.Evaluate[string](`(() => { const e = document.querySelector(`+string(q)+`); return e ? e.innerText : ""; })()`))
}

// screenshot saves the whole page as NN-name.png in the artifacts.
func (b *browserTab) screenshot(name string) {
	b.t.Helper()
	png := browserGetValue(b, "screenshot "+name, 20*time.Second, chromedp.FullScreenshot(100)) // quality 100: PNG
	b.shots++
	path := filepath.Join(b.artifacts, fmt.Sprintf("%02d-%s.png", b.shots, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// cookies are the browser's cookies for urls.
func (b *browserTab) cookies(urls ...string) []*network.Cookie {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: urls})
	if err != nil {
		b.t.Fatalf("reading the cookies: %v", err)
	}
	return res.Cookies
}

// traffic returns copies of what was recorded so far.
func (b *browserTab) traffic() (requests []browserRequest, setCookies, blocked []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]browserRequest(nil), b.requests...), append([]string(nil), b.setCookies...), append([]string(nil), b.blocked...)
}

// dump logs (and saves as failure.html) what the tab shows, and the
// requests it sent.
func (b *browserTab) dump() {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		b.t.Logf("the location could not be read: %v", err)
	}
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		b.t.Logf("the page could not be read: %v", err)
	}
	os.WriteFile(filepath.Join(b.artifacts, "failure.html"), []byte(html), 0o644)
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		os.WriteFile(filepath.Join(b.artifacts, "failure.png"), png, 0o644)
	}
	reqs, sc, blocked := b.traffic()
	var s strings.Builder
	for _, r := range reqs {
		fmt.Fprintf(&s, "  %s %s (%s)\n", r.method, r.url, r.typ)
	}
	b.t.Logf("the browser is at %s; page:\n%s\nrequests:\n%sSet-Cookie lines: %q\nblocked cookies: %q", loc, html, s.String(), sc, blocked)
}

// browserURLPath is the path and query of a URL, for messages.
func browserURLPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.RequestURI()
}

// browserBody reads a response body for a message.
func browserBody(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	return string(b)
}
