package control

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/hermes-agent/hermes/internal/supervise"
)

// Errors of the control package. The server maps them (and the
// supervisor's) to HTTP statuses in errorStatus; the client maps answers
// back to an *APIError that matches them with errors.Is.
var (
	// ErrUnavailable is wrapped by the client when nothing answers on the
	// socket (missing, refused, not a socket, not reachable).
	ErrUnavailable = errors.New("no supervisor is answering")
	// ErrInUse is wrapped by Listen when a live supervisor already answers
	// on the socket.
	ErrInUse = errors.New("control socket is in use by a live supervisor")
	// ErrForbidden is wrapped when the caller may not do what it asked.
	ErrForbidden = errors.New("forbidden")
	// ErrBadRequest is wrapped when a request is malformed (bad JSON, bad
	// query parameter).
	ErrBadRequest = errors.New("bad request")
	// ErrTooLarge is wrapped when a request body exceeds MaxBodyBytes.
	ErrTooLarge = errors.New("request body too large")
	// ErrNoRoute is wrapped when no route matches the path.
	ErrNoRoute = errors.New("no such route")
	// ErrMethod is wrapped when the path exists but not with that method.
	ErrMethod = errors.New("method not allowed")
	// ErrNotManaged is wrapped when a route's subject is not managed by
	// this supervisor (the gateway routes of a supervisor without
	// Config.Gateways).
	ErrNotManaged = errors.New("not managed by this supervisor")
)

// errorKind is one row of the error table: a sentinel, its HTTP status and
// its wire code.
type errorKind struct {
	err    error
	status int
	code   string
}

// errorKinds is the table behind errorStatus and APIError.Is. Order
// matters only when an error wraps several sentinels: the first wins.
func errorKinds() []errorKind {
	return []errorKind{
		{ErrForbidden, http.StatusForbidden, "forbidden"},
		{ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
		{ErrBadRequest, http.StatusBadRequest, "bad_request"},
		{ErrNoRoute, http.StatusNotFound, "no_route"},
		{ErrMethod, http.StatusMethodNotAllowed, "method_not_allowed"},
		{ErrNotManaged, http.StatusNotFound, "not_managed"},
		{supervise.ErrNotFound, http.StatusNotFound, "not_found"},
		{supervise.ErrInvalid, http.StatusBadRequest, "invalid"},
		{supervise.ErrClosed, http.StatusServiceUnavailable, "shutting_down"},
		{supervise.ErrNotRunning, http.StatusConflict, "not_running"},
		{supervise.ErrOwner, http.StatusForbidden, "forbidden"},
	}
}

// errorStatus is the one place where errors become HTTP statuses and wire
// codes. Errors it does not know are internal (500).
func errorStatus(err error) (status int, code string) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge, "too_large"
	}
	for _, k := range errorKinds() {
		if errors.Is(err, k.err) {
			return k.status, k.code
		}
	}
	return http.StatusInternalServerError, "internal"
}

// errorBody is the wire shape of an error.
type errorBody struct {
	Error  string `json:"error"`
	Detail string `json:"detail"`
}

// APIError is an error answer of the control API. Detail is the sentence
// for a person (what the CLI prints).
type APIError struct {
	Status int    // HTTP status
	Code   string // short code, such as "not_found"
	Detail string // a sentence for a person
}

// Error returns the detail.
func (e *APIError) Error() string {
	if e.Detail != "" {
		return e.Detail
	}
	return fmt.Sprintf("control API error %d %s", e.Status, e.Code)
}

// Is reports whether target is the sentinel behind e's code, so that
// callers can write errors.Is(err, supervise.ErrNotFound).
func (e *APIError) Is(target error) bool {
	for _, k := range errorKinds() {
		if k.code == e.Code && k.err == target {
			return true
		}
	}
	return false
}
