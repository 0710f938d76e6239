package profiles

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestConfigSizeLimit: issue 9's attack. A 22 MB config.yaml took 169 s
// to parse, and the public /api/model/info parses it: a config.yaml is
// read at most MaxConfigBytes, past it a clear error naming the file and
// the limit, without reading it.
func TestConfigSizeLimit(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, size int) string {
		p := filepath.Join(dir, name)
		b := []byte("gateway:\n  port: 8650\n#")
		b = append(b, bytes.Repeat([]byte("x"), size-len(b)-1)...)
		b = append(b, '\n')
		if err := os.WriteFile(p, b, 0o640); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name string
		size int
		ok   bool
	}{
		{"at the limit", MaxConfigBytes, true},
		{"one byte over", MaxConfigBytes + 1, false},
		{"22 MB", 22 << 20, false},
	} {
		p := write(strings.ReplaceAll(c.name, " ", "_")+".yaml", c.size)
		cfg, err := LoadConfig(p)
		switch {
		case c.ok && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.ok:
			if g, err := cfg.Gateway(); err != nil || g.Port != 8650 {
				t.Errorf("%s: %+v %v", c.name, g, err)
			}
		case err == nil:
			t.Errorf("%s: no error", c.name)
		case !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "1 MiB"):
			t.Errorf("%s: %v; want the file and the limit named", c.name, err)
		}
	}
}

// TestConfigNotRegular: a config.yaml that is a FIFO (planted by whoever
// can write the profile) is refused at once, not waited on.
func TestConfigNotRegular(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := LoadConfig(p); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("LoadConfig of a FIFO: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("LoadConfig of a FIFO is still waiting after 10s")
	}
}

// laughs is a "billion laughs" document: levels of aliases, each n wide.
func laughs(levels, n int) string {
	var b strings.Builder
	b.WriteString("a0: &a0 [")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`"lol"`)
	}
	b.WriteString("]\n")
	for l := 1; l <= levels; l++ {
		fmt.Fprintf(&b, "a%d: &a%d [", l, l)
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", l-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

// TestConfigAliasBomb: alias expansion is bounded before anything
// expands it: the classic billion laughs, and the wide form that YAML's
// own ratio check lets through (few aliases, each naming a big node).
func TestConfigAliasBomb(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
	}{
		{"billion laughs", laughs(8, 9)},
		{"wide", laughs(1, 1000)},
		{"wide, deep", laughs(3, 300)},
		{"self reference", "a: &a [1, *a]\n"},
		{"within YAML's own ratio", laughs(0, 1000) + "pad: [" + strings.Repeat("1, ", 3000) + "1]\na1: [" + strings.Repeat("*a0, ", 389) + "*a0]\n"},
	} {
		_, err := ParseConfig([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), "alias") {
			t.Errorf("%s: ParseConfig = %v, want an error about aliases", c.name, err)
		}
	}
	// Aliases a person writes are fine.
	in := "base: &base {name: m, base_url: https://x.example/v1}\nmodel:\n  <<: *base\n  api_key_env: K\nlist: [*base, *base]\n"
	cfg, err := ParseConfig([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := cfg.Model(); err != nil || m.APIKeyEnv != "K" {
		t.Errorf("Model() = %+v, %v", m, err)
	}
}

// TestConfigCache: LoadConfig parses a file once per version of it
// (device, inode, size, modification and change times); the answer, error
// included, is reused until the file changes, and a caller that changes
// its copy never changes another's.
func TestConfigCache(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte("gateway:\n  port: 8650\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	port := func() int {
		t.Helper()
		c, err := LoadConfig(p)
		if err != nil {
			t.Fatal(err)
		}
		g, _ := c.Gateway()
		return g.Port
	}
	n := configParses.Load()
	first, second := port(), port()
	if first != 8650 || second != 8650 || configParses.Load() != n+1 {
		t.Fatalf("two loads of one version: %d parses", configParses.Load()-n)
	}
	// A copy that is changed does not change the cached one.
	c, _ := LoadConfig(p)
	if err := c.Set("gateway.port", "8651"); err != nil {
		t.Fatal(err)
	}
	if port() != 8650 {
		t.Fatal("Set on one copy changed the cache")
	}
	// Same size, same mtime, new content in place: the change time moves.
	fi, _ := os.Stat(p)
	if err := os.WriteFile(p, []byte("gateway:\n  port: 8652\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	if got := port(); got != 8652 {
		t.Errorf("after an in-place rewrite: port %d", got)
	}
	// Replaced by rename (a new inode).
	tmp := p + ".new"
	os.WriteFile(tmp, []byte("gateway:\n  port: 8653\n"), 0o640)
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	if got := port(); got != 8653 {
		t.Errorf("after a rename: port %d", got)
	}
	// An error is cached with its version too.
	os.WriteFile(p, []byte("gateway: [\n"), 0o640)
	n = configParses.Load()
	for i := 0; i < 3; i++ {
		if _, err := LoadConfig(p); err == nil {
			t.Fatal("no error for invalid YAML")
		}
	}
	if configParses.Load() != n+1 {
		t.Errorf("an invalid file was parsed %d times", configParses.Load()-n)
	}
}

// TestConfigCacheConcurrent: copies handed out by the cache are read and
// changed at once (go test -race).
func TestConfigCacheConcurrent(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(p, []byte("base: &b {name: m}\nmodel:\n  <<: *b\n  base_url: https://x.example/v1\ngateway:\n  port: 8650\n"), 0o640)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				c, err := LoadConfig(p)
				if err != nil {
					t.Error(err)
					return
				}
				c.Get("model.name")
				c.Model()
				c.Bytes()
				if j%2 == 0 {
					c.Set("gateway.port", "8651")
				}
				if g, _ := c.Gateway(); j%2 == 1 && g.Port != 8650 {
					t.Errorf("port %d", g.Port)
				}
			}
		}()
	}
	wg.Wait()
}

// TestConfigLargeMapping: a mapping of many keys is checked in one pass
// (decoding checks duplicates in quadratic time: a minute for 1 MiB), and
// a duplicate among them is still found.
func TestConfigLargeMapping(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 10_000; i++ {
		fmt.Fprintf(&b, "k%d: %d\n", i, i)
	}
	if _, err := ParseConfig([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	b.WriteString("k7: again\n")
	if _, err := ParseConfig([]byte(b.String())); err == nil || !strings.Contains(err.Error(), `"k7" already defined at line 8`) {
		t.Errorf("duplicate: %v", err)
	}
}

// BenchmarkParseConfig: a 1 MiB mapping of short keys against a 1 MiB list
// (the anchor): their ratio stays near 1 (it was about 500 when decoding
// checked the keys pairwise).
func BenchmarkParseConfig(b *testing.B) {
	var flat, list strings.Builder
	for i := 0; flat.Len() < MaxConfigBytes-32; i++ {
		fmt.Fprintf(&flat, "k%d: 1\n", i)
	}
	list.WriteString("x:\n")
	for i := 0; list.Len() < MaxConfigBytes-32; i++ {
		fmt.Fprintf(&list, "  - %d\n", i)
	}
	for _, c := range []struct{ name, in string }{{"list", list.String()}, {"mapping", flat.String()}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := ParseConfig([]byte(c.in)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzCheckDocument: the one-pass check refuses what decoding the whole
// document refuses, and accepts what it accepts, but for aliases (bounded
// more tightly here, and counted differently by YAML's own ratio).
func FuzzCheckDocument(f *testing.F) {
	for _, s := range []string{"a: 1\n", "a: 1\na: 2\n", "? [1]\n: x\n", "? {a: 1}\n: x\n", "a: &x [1]\n*x : 2\n",
		"a: !!int x\n", "a: !!binary '%%'\n", "a: !!float 1\n", "b: &b {x: 1}\nc:\n  <<: *b\n", "c:\n  <<: [1]\n",
		"c:\n  <<: 5\n", "c:\n  \"<<\": 5\n", "c:\n  !!merge <<: [{a: 1}, {b: 2}]\n", "a: &a [1, *a]\n", laughs(3, 5),
		"a: !!timestamp 2001-12-14\n", "a: !!bool maybe\n", "a: !!null x\n", "a: !custom x\n", "? &k a\n: 1\n? *k\n: 2\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(in), &doc); err != nil || doc.Kind != yaml.DocumentNode {
			return
		}
		ours := checkDocument(&doc)
		if ours != nil && (errors.Is(ours, errAliases) || strings.Contains(ours.Error(), "alias")) {
			return
		}
		var v any
		theirs := doc.Decode(&v)
		if theirs != nil && strings.Contains(theirs.Error(), "excessive aliasing") {
			return
		}
		if (ours == nil) != (theirs == nil) {
			t.Fatalf("%q: checkDocument says %v, decoding says %v", in, ours, theirs)
		}
	})
}

// TestConfigCacheBound: the cache keeps at most maxCachedConfigs files and
// maxCachedBytes of them, forgetting the least recently used.
func TestConfigCacheBound(t *testing.T) {
	dir := t.TempDir()
	// Big files as the cache would hold them (parsing them is not the
	// point here), then small ones loaded for real.
	configCache.Lock()
	for i := 0; i < 6; i++ {
		configCache.tick++
		configCache.m[filepath.Join(dir, fmt.Sprintf("big%d.yaml", i))] = &cachedConfig{stamp: fileStamp{size: MaxConfigBytes}, used: configCache.tick}
	}
	configCache.Unlock()
	for i := 0; i < maxCachedConfigs+5; i++ {
		p := filepath.Join(dir, fmt.Sprintf("small%d.yaml", i))
		os.WriteFile(p, []byte("a: 1\n"), 0o640)
		if _, err := LoadConfig(p); err != nil {
			t.Fatal(err)
		}
		configCache.Lock()
		n, b := len(configCache.m), cachedBytes()
		configCache.Unlock()
		if n > maxCachedConfigs || b > maxCachedBytes {
			t.Fatalf("after %d small files: %d files, %d bytes cached", i+1, n, b)
		}
	}
	configCache.Lock()
	_, last := configCache.m[filepath.Join(dir, fmt.Sprintf("small%d.yaml", maxCachedConfigs+4))]
	configCache.Unlock()
	if !last {
		t.Error("the file loaded last is not cached")
	}
}
