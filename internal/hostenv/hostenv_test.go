package hostenv

import (
	"strings"
	"testing"
)

func fakeEnv(vars map[string]string, files ...string) (Env, *strings.Builder) {
	warn := &strings.Builder{}
	return Env{
		Getenv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		Exists: func(p string) bool {
			for _, f := range files {
				if f == p {
					return true
				}
			}
			return false
		},
		Warn:     warn,
		Getuid:   func() int { return 1000 },
		UserHome: func() (string, error) { return "/home/u", nil },
	}, warn
}

func TestBool(t *testing.T) {
	tests := []struct {
		value    string
		set      bool
		want     bool
		warnings bool
	}{
		{"", false, false, false},
		{"", true, false, false},
		{"1", true, true, false},
		{"true", true, true, false},
		{"TRUE", true, true, false},
		{" Yes ", true, true, false},
		{"tRuE", true, true, false},
		{"0", true, false, false},
		{"false", true, false, false},
		{"no", true, false, false},
		{"off", true, false, true},
		{"on", true, false, true},
		{"garbage", true, false, true},
		{"2", true, false, true},
	}
	for _, tt := range tests {
		vars := map[string]string{}
		if tt.set {
			vars["X"] = tt.value
		}
		e, warn := fakeEnv(vars)
		if got := e.Bool("X"); got != tt.want {
			t.Errorf("Bool(X=%q) = %v, want %v", tt.value, got, tt.want)
		}
		if got := warn.Len() > 0; got != tt.warnings {
			t.Errorf("Bool(X=%q) warned %v (%q), want %v", tt.value, got, warn.String(), tt.warnings)
		}
		if tt.warnings && !strings.Contains(warn.String(), "X=") {
			t.Errorf("warning %q does not name the variable", warn.String())
		}
	}
}

func TestInContainer(t *testing.T) {
	tests := []struct {
		name  string
		vars  map[string]string
		files []string
		want  bool
	}{
		{"bare host", nil, nil, false},
		{"docker", nil, []string{"/.dockerenv"}, true},
		{"podman", nil, []string{"/run/.containerenv"}, true},
		{"kubernetes", map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, nil, true},
	}
	for _, tt := range tests {
		e, _ := fakeEnv(tt.vars, tt.files...)
		if got := e.InContainer(); got != tt.want {
			t.Errorf("%s: InContainer() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestHome(t *testing.T) {
	tests := []struct {
		name  string
		vars  map[string]string
		files []string
		want  string
	}{
		{"variable wins", map[string]string{"HERMES_HOME": "/data/h"}, []string{"/.dockerenv"}, "/data/h"},
		{"empty variable ignored", map[string]string{"HERMES_HOME": "  "}, nil, "/home/u/.hermes"},
		{"container default", nil, []string{"/.dockerenv"}, "/opt/data"},
		{"host default", nil, nil, "/home/u/.hermes"},
		{"cleaned", map[string]string{"HERMES_HOME": "/data//h/"}, nil, "/data/h"},
	}
	for _, tt := range tests {
		e, _ := fakeEnv(tt.vars, tt.files...)
		got, err := e.Home()
		if err != nil || got != tt.want {
			t.Errorf("%s: Home() = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestHermesIDs(t *testing.T) {
	tests := []struct {
		name     string
		vars     map[string]string
		files    []string
		uid      int
		wantUID  int
		wantGID  int
		wantErr  bool
		wantFrom string
	}{
		{"host user", nil, nil, 1000, 1000, 1001, false, "host user"},
		{"container default", nil, []string{"/.dockerenv"}, 1000, 10000, 10000, false, "image default"},
		{"root on a host", nil, nil, 0, 10000, 10000, false, "image default"},
		{"HERMES_UID wins over PUID", map[string]string{"HERMES_UID": "2000", "PUID": "3000", "PGID": "3001"}, nil, 0, 2000, 3001, false, "HERMES_UID"},
		{"PUID alias", map[string]string{"PUID": "3000"}, nil, 0, 3000, 10000, false, "PUID"},
		{"large OpenShift uid", map[string]string{"HERMES_UID": "1000680000"}, nil, 0, 1000680000, 10000, false, "HERMES_UID"},
		{"root refused", map[string]string{"HERMES_UID": "0"}, nil, 0, 0, 0, true, ""},
		{"negative refused", map[string]string{"HERMES_UID": "-5"}, nil, 0, 0, 0, true, ""},
		{"name refused", map[string]string{"PUID": "hermes"}, nil, 0, 0, 0, true, ""},
		{"too large refused", map[string]string{"HERMES_GID": "2147483647"}, nil, 0, 0, 0, true, ""},
		{"empty ignored", map[string]string{"HERMES_UID": ""}, []string{"/.dockerenv"}, 0, 10000, 10000, false, "image default"},
	}
	for _, tt := range tests {
		e, _ := fakeEnv(tt.vars, tt.files...)
		e.Getuid = func() int { return tt.uid }
		ids, err := e.HermesIDs(func() int { return 1001 })
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v, want error %v", tt.name, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if ids.UID != tt.wantUID || ids.GID != tt.wantGID || ids.Source != tt.wantFrom {
			t.Errorf("%s: got %+v, want %d:%d from %s", tt.name, ids, tt.wantUID, tt.wantGID, tt.wantFrom)
		}
	}
}

func FuzzParseBool(f *testing.F) {
	for _, s := range []string{"", "1", "true", "YES", " no ", "off", "garbage"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, known := ParseBool(s)
		norm := strings.ToLower(strings.TrimSpace(s))
		if v != (norm == "1" || norm == "true" || norm == "yes") {
			t.Errorf("ParseBool(%q) = %v", s, v)
		}
		if !known && v {
			t.Errorf("ParseBool(%q): unknown spelling parsed as true", s)
		}
	})
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"1", "10000", "0", "-1", "2147483646", "2147483647", "+5", " 5", "0x10", "99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err == nil && (id < 1 || id > MaxID) {
			t.Errorf("ParseID(%q) = %d, out of range", s, id)
		}
	})
}
