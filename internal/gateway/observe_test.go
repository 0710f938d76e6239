package gateway

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/safefs"
	"github.com/hermes-agent/hermes/internal/supervise"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// TestObserve is the one rule of a gateway's state: the state file
// corrected by the pid lock, a pid only while the lock is not free, and
// the supervisor's view carried beside it, never deciding.
func TestObserve(t *testing.T) {
	running := &supervise.Status{Name: "gateway-default", Want: supervise.WantUp, State: supervise.Running, PID: 7}
	tests := []struct {
		name      string
		file      string // gateway_state.json; "" for none
		held      bool
		service   *supervise.Status
		wantState string
		wantPID   int
		recorded  string
		corrupt   bool
	}{
		{"no file, free", "", false, nil, StateStopped, 0, "", false},
		{"no file, held", "", true, nil, StateStarting, 0, "", false},
		{"running, held", `{"gateway_state":"running","pid":42}`, true, nil, StateRunning, 42, "running", false},
		{"running, killed", `{"gateway_state":"running","pid":42}`, false, nil, StateStopped, 0, "running", false},
		{"running, killed, the supervisor says running", `{"gateway_state":"running","pid":42}`, false, running, StateStopped, 0, "running", false},
		{"stopped, held (restarting)", `{"gateway_state":"stopped"}`, true, nil, StateStarting, 0, "stopped", false},
		{"startup failed", `{"gateway_state":"startup_failed","exit_reason":"no port"}`, false, nil, StateStartupFailed, 0, "startup_failed", false},
		{"degraded, held", `{"gateway_state":"degraded"}`, true, nil, stateDegraded, 0, "degraded", false},
		{"foreign value", `{"gateway_state":"/etc/passwd"}`, false, nil, StateUnknown, 0, "/etc/passwd", false},
		{"corrupt", `{"gateway_state":`, false, nil, StateUnknown, 0, "", true},
		{"desired wins the record", `{"gateway_state":"stopped","desired_state":"running"}`, false, nil, StateStopped, 0, "running", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			if tt.file != "" {
				if err := os.WriteFile(filepath.Join(home, StateFile), []byte(tt.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tt.held {
				l, err := LockPID(home, false)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Release()
			}
			o := Observe(profiles.MustParse(home, profiles.Default), tt.service)
			if got, want := o.State, tt.wantState; got != want {
				t.Errorf("state = %q, want %q", got, want)
			}
			if got, want := o.Running, tt.wantState == StateRunning; got != want {
				t.Errorf("running = %v, want %v", got, want)
			}
			if got, want := o.PID, tt.wantPID; got != want {
				t.Errorf("pid = %d, want %d", got, want)
			}
			if got, want := o.Recorded(), tt.recorded; got != want {
				t.Errorf("recorded = %q, want %q", got, want)
			}
			if got, want := errors.Is(o.FileErr, ErrCorrupt), tt.corrupt; got != want {
				t.Errorf("file error %v, want corrupt %v", o.FileErr, want)
			}
			if got, want := o.HasFile, tt.file != "" && !tt.corrupt; got != want {
				t.Errorf("has file = %v, want %v", got, want)
			}
			if got, want := o.Lock == LockHeld, tt.held; got != want {
				t.Errorf("lock = %s, want held %v", o.Lock, want)
			}
			if o.Service != tt.service {
				t.Errorf("service = %v, want the caller's %v", o.Service, tt.service)
			}
		})
	}
}

// TestObserveRootFollowsNoSymlink: as root, a profile directory that is a
// symlink below home is refused, never read nor locked.
func TestObserveRootFollowsNoSymlink(t *testing.T) {
	testenv.NeedRoot(t, "observe a gateway as root, through safefs")
	home, elsewhere := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(elsewhere, StateFile), []byte(`{"gateway_state":"running"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := LockPID(elsewhere, false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if err := os.MkdirAll(filepath.Join(home, "profiles"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(home, "profiles", "coder")); err != nil {
		t.Fatal(err)
	}
	o := Observe(profiles.MustParse(home, "coder"), nil)
	if !errors.Is(o.FileErr, safefs.ErrSymlink) || o.HasFile || o.Lock != LockUnknown || o.State != StateUnknown {
		t.Errorf("through a symlinked profile: %+v, want a refusal, no file, an unknown lock and state", o)
	}
}
