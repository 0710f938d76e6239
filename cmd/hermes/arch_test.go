package main

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/hermes-agent/hermes"

type goPackage struct {
	ImportPath string
	Dir        string
	Imports    []string
	GoFiles    []string
	Deps       []string
}

func listPackages(t *testing.T, args ...string) []goPackage {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-json"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []goPackage
	for dec.More() {
		var p goPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func internal(imports []string) []string {
	var out []string
	for _, i := range imports {
		if rest, ok := strings.CutPrefix(i, module+"/internal/"); ok {
			out = append(out, rest)
		}
	}
	return out
}

// bootOnly are the packages that only the boot (hermes init) uses: the
// edge (cli) never imports them, so that the daemon stays out of it.
var bootOnly = []string{"initd", "reconcile", "volume"}

// TestImportGraph keeps ARCHITECTURE.md's import rules true: cli (the edge)
// and boot (hermes init) are the wiring packages, and only they import the
// domain packages freely (cli no boot-only package: TestBootOnly); the
// leaves import nothing internal; the supervisor and the log pipeline know
// nothing of HTTP.
func TestImportGraph(t *testing.T) {
	allowed := map[string][]string{
		"buildinfo":           {},
		"hostenv":             {},
		"safefs":              {},
		"initd":               {},
		"procmem":             {},
		"privdrop":            {},
		"testenv":             {},
		"sessions":            {},
		"netcap":              {},
		"procstat":            {},
		"metrics":             {"hostenv", "procstat"},
		"logpipe":             {"safefs"},
		"profiles":            {"hostenv", "safefs"},
		"supervise":           {"logpipe", "procstat", "profiles", "safefs"},
		"control":             {"hostenv", "logpipe", "metrics", "netcap", "procstat", "profiles", "safefs", "supervise"},
		"control/controltest": {"control", "logpipe", "procstat", "supervise"},
		"gateway":             {"agent", "hostenv", "metrics", "netcap", "profiles", "safefs", "sessions", "supervise"},
		"agent":               {"profiles", "safefs", "sessions"},
		"volume":              {"gateway", "hostenv", "privdrop", "profiles", "safefs"},
		"reconcile":           {"gateway", "profiles", "safefs", "supervise"},
		"authgate":            {"hostenv"},
		"dashboard":           {"authgate", "buildinfo", "control", "gateway", "hostenv", "logpipe", "metrics", "netcap", "profiles", "sessions", "supervise"}, // the table of keys is profiles', never the agent's
		"boot":                {"buildinfo", "control", "dashboard", "gateway", "hostenv", "initd", "logpipe", "privdrop", "procmem", "reconcile", "safefs", "supervise", "volume"},
		"cli":                 nil, // the edge: anything but bootOnly (TestBootOnly)
	}
	noHTTP := []string{"initd", "supervise", "logpipe", "safefs", "privdrop", "hostenv", "profiles", "volume", "reconcile", "sessions", "netcap", "procmem", "boot", "procstat"}
	for _, p := range listPackages(t, module+"/internal/...") {
		name := strings.TrimPrefix(p.ImportPath, module+"/internal/")
		allow, known := allowed[name]
		if !known {
			t.Errorf("package %s is not in the import rules of this test and ARCHITECTURE.md", name)
			continue
		}
		if allow != nil {
			for _, imp := range internal(p.Imports) {
				if !slices.Contains(allow, imp) {
					t.Errorf("%s imports %s; ARCHITECTURE.md allows only %v", name, imp, allow)
				}
			}
		}
		if slices.Contains(noHTTP, name) && slices.Contains(p.Imports, "net/http") {
			t.Errorf("%s imports net/http; it must not know about HTTP", name)
		}
	}
}

// TestBootOnly: the boot-only packages are imported by boot alone, never by
// the edge (cli) nor by another domain package.
func TestBootOnly(t *testing.T) {
	for _, p := range listPackages(t, module+"/...") {
		name := strings.TrimPrefix(p.ImportPath, module+"/internal/")
		for _, imp := range internal(p.Imports) {
			if slices.Contains(bootOnly, imp) && name != "boot" && !slices.Contains(bootOnly, name) {
				t.Errorf("%s imports %s; only boot may (boot-only: %v)", p.ImportPath, imp, bootOnly)
			}
		}
	}
}

// TestBinaryDeps: the shipped binary links no test code.
func TestBinaryDeps(t *testing.T) {
	pkgs := listPackages(t, "-deps", ".")
	for _, p := range pkgs {
		switch {
		case p.ImportPath == "testing", p.ImportPath == "net/http/httptest",
			p.ImportPath == module+"/internal/testenv", p.ImportPath == module+"/internal/control/controltest",
			strings.HasPrefix(p.ImportPath, "github.com/openai/"), strings.HasPrefix(p.ImportPath, "github.com/chromedp/"),
			strings.HasPrefix(p.ImportPath, "k8s.io/"), strings.HasPrefix(p.ImportPath, "sigs.k8s.io/"),
			p.ImportPath == module+"/deploy":
			t.Errorf("the hermes binary links %s (a test-only package)", p.ImportPath)
		}
	}
}

// TestPackageDocs: every package has exactly one package doc comment.
func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t, module+"/...") {
		if len(p.GoFiles) == 0 {
			continue // test-only packages (e2e) document themselves in a test file
		}
		docs := 0
		for _, f := range p.GoFiles {
			af, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if af.Doc != nil && strings.TrimSpace(af.Doc.Text()) != "" {
				docs++
			}
		}
		if docs != 1 {
			t.Errorf("%s has %d package doc comments, want exactly 1", p.ImportPath, docs)
		}
	}
}

// TestOneFlock keeps safefs.Lock the one place that calls flock(2) (issue
// 9): a bounded, cancellable wait that names the holder, in every package
// and test of the module.
func TestOneFlock(t *testing.T) {
	for _, p := range listPackages(t, module+"/...") {
		if strings.HasSuffix(p.ImportPath, "/internal/safefs") {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(p.Dir, "*.go"))
		for _, f := range files {
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(af, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "Flock" {
					if x, ok := sel.X.(*ast.Ident); ok && (x.Name == "unix" || x.Name == "syscall") {
						t.Errorf("%s calls %s.Flock: lock through safefs.Lock, the one bounded and cancellable flock", f, x.Name)
					}
				}
				return true
			})
		}
	}
}
