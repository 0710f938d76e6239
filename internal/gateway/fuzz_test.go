package gateway

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadState: any content gives a state or an error wrapping
// ErrCorrupt, never a panic; and the gateway's change to a file that reads
// keeps every other key and reads back. (The change is applied in memory:
// the file write's fsync would slow the fuzzer to a crawl; the writers'
// file protocol has its own tests.)
func FuzzReadState(f *testing.F) {
	for _, seed := range []string{
		`{"gateway_state":"running","desired_state":"stopped","pid":42,"updated_at":"2026-01-02T03:04:05Z"}`,
		"\xEF\xBB\xBF{\"gateway_state\": \"running\", \"timestamp\": 1700000000}",
		`{"desired_updated_at": 1700000000.25, "platforms": {"x": {"state": null}}}`,
		`{"pid": "1"}`, `{"pid": 1e99}`, `[]`, `null`, ``, `{`, "\xEF\xBB\xBF",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	path := filepath.Join(dir, StateFile)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		st, err := ReadState(dir)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ReadState(%q) = %v, want nil or ErrCorrupt", data, err)
			}
			return
		}
		m, err := parseObject(data)
		if err != nil {
			t.Fatalf("parseObject(%q) = %v after ReadState read it", data, err)
		}
		applyRuntime(m, func(r *Runtime) { r.State = StateRunning })
		after, err := parseState(mustJSON(m))
		if err != nil {
			t.Fatalf("state after the gateway's change over %q = %v", data, err)
		}
		for k := range st.Raw {
			if _, ok := after.Raw[k]; !ok && !isRuntimeKey(k) {
				t.Fatalf("UpdateRuntime over %q lost the key %q", data, k)
			}
		}
		if after.DesiredState != st.DesiredState || after.GatewayState != StateRunning {
			t.Fatalf("UpdateRuntime over %q: desired %q -> %q, state %q", data, st.DesiredState, after.DesiredState, after.GatewayState)
		}
	})
}

func isRuntimeKey(k string) bool {
	switch k {
	case keyGatewayState, keyPID, keyStartTime, keyUpdatedAt, keyExitReason:
		return true
	}
	return false
}
