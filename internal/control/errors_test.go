package control

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/hermes-agent/hermes/internal/supervise"
)

func TestErrorStatus(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("%w: web", supervise.ErrNotFound), 404, "not_found"},
		{fmt.Errorf("%w: bad", supervise.ErrInvalid), 400, "invalid"},
		{supervise.ErrClosed, 503, "shutting_down"},
		{fmt.Errorf("x: %w", supervise.ErrNotRunning), 409, "not_running"},
		{fmt.Errorf("%w: no", ErrForbidden), 403, "forbidden"},
		{fmt.Errorf("%w: json", ErrBadRequest), 400, "bad_request"},
		{fmt.Errorf("%w: big", ErrTooLarge), 413, "too_large"},
		{&http.MaxBytesError{Limit: 1}, 413, "too_large"},
		{ErrNoRoute, 404, "no_route"},
		{ErrMethod, 405, "method_not_allowed"},
		{errors.New("boom"), 500, "internal"},
	}
	for _, tt := range tests {
		status, code := errorStatus(tt.err)
		if status != tt.status || code != tt.code {
			t.Errorf("errorStatus(%v) = %d %s, want %d %s", tt.err, status, code, tt.status, tt.code)
		}
		if tt.code == "internal" {
			continue
		}
		// The client's APIError matches the same sentinel.
		apiErr := &APIError{Status: status, Code: code, Detail: tt.err.Error()}
		matched := false
		for _, k := range errorKinds() {
			if errors.Is(tt.err, k.err) && errors.Is(apiErr, k.err) {
				matched = true
			}
		}
		if !matched && code != "too_large" {
			t.Errorf("APIError{%s} matches none of the sentinels of %v", code, tt.err)
		}
	}
}
