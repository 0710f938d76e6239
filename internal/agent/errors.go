package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// The kinds of failure a request can meet. Every error the handlers return
// wraps exactly one of them (through apiError), and errorStatus maps each
// kind to its HTTP status and OpenAI error type: the one place where
// failures become answers.
var (
	// ErrBadRequest: the body is not JSON or a field the gateway uses is
	// wrong (400).
	ErrBadRequest = errors.New("bad request")
	// ErrUnauthorized: no or wrong API_SERVER_KEY (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: a browser origin not in gateway.cors_origins (403).
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: an unknown route, model or response (404).
	ErrNotFound = errors.New("not found")
	// ErrMethod: a known route with another method (405).
	ErrMethod = errors.New("method not allowed")
	// ErrTooLarge: a body over gateway.max_body_bytes (413).
	ErrTooLarge = errors.New("request body too large")
	// ErrBusy: gateway.max_concurrent requests already in flight (429), or
	// the upstream's own rate limit.
	ErrBusy = errors.New("too many requests")
	// ErrUpstream: the upstream failed: a 5xx, a refused key, a dropped
	// connection, malformed JSON (502).
	ErrUpstream = errors.New("upstream failure")
	// ErrUnavailable: the gateway cannot serve now: draining, no model
	// configured, no credential, an unreadable file (503).
	ErrUnavailable = errors.New("unavailable")
	// ErrUpstreamTimeout: the upstream did not connect, answer or send
	// its next chunk in time (504).
	ErrUpstreamTimeout = errors.New("upstream timeout")
)

// apiError is a failure with what the client is told: the kind (one of
// the Err variables above), a stable code, and a message for a person.
// The cause, when there is one, is kept for logs and errors.Is.
type apiError struct {
	kind  error
	code  string
	msg   string
	param string
	cause error
}

func (e *apiError) Error() string {
	if e.cause != nil && e.msg == "" {
		return e.cause.Error()
	}
	return e.msg
}

// Unwrap exposes both the kind and the cause to errors.Is and errors.As.
func (e *apiError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// fail builds an apiError of kind with code and a formatted message; a %w
// in format is kept as its cause.
func fail(kind error, code, format string, a ...any) *apiError {
	err := fmt.Errorf(format, a...)
	return &apiError{kind: kind, code: code, msg: err.Error(), cause: errors.Unwrap(err)}
}

// badField is a 400 about one request field.
func badField(param, format string, a ...any) *apiError {
	e := fail(ErrBadRequest, "invalid_request", format, a...)
	e.param = param
	return e
}

// errorBody is the OpenAI error envelope.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    string  `json:"code"`
}

// errorStatus is the one mapping from a failure to its answer: the HTTP
// status, and the envelope's type, code and message. An error that wraps
// no known kind is an internal error (500) whose detail stays in the log.
func errorStatus(err error) (status int, body errorBody) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{kind: errInternal, code: "internal_error", msg: "internal error", cause: err}
	}
	status, typ := http.StatusInternalServerError, "server_error"
	switch ae.kind {
	case ErrBadRequest:
		status, typ = http.StatusBadRequest, "invalid_request_error"
	case ErrUnauthorized:
		status, typ = http.StatusUnauthorized, "authentication_error"
	case ErrForbidden:
		status, typ = http.StatusForbidden, "permission_error"
	case ErrNotFound:
		status, typ = http.StatusNotFound, "invalid_request_error"
	case ErrMethod:
		status, typ = http.StatusMethodNotAllowed, "invalid_request_error"
	case ErrTooLarge:
		status, typ = http.StatusRequestEntityTooLarge, "invalid_request_error"
	case ErrBusy:
		status, typ = http.StatusTooManyRequests, "rate_limit_error"
	case ErrUpstream:
		status, typ = http.StatusBadGateway, "upstream_error"
	case ErrUnavailable:
		status, typ = http.StatusServiceUnavailable, "service_unavailable"
	case ErrUpstreamTimeout:
		status, typ = http.StatusGatewayTimeout, "upstream_timeout"
	case ErrStoreFull:
		status, typ = http.StatusInsufficientStorage, "insufficient_storage"
	}
	body.Error = errorDetail{Message: ae.Error(), Type: typ, Code: ae.code}
	if ae.param != "" {
		p := ae.param
		body.Error.Param = &p
	}
	return status, body
}

// errInternal is the kind of an error that is a bug or an unexpected
// failure of this process (500).
var errInternal = errors.New("internal error")

// writeError answers err with its status and envelope (errorStatus). A
// 429 or 503 carries Retry-After; a draining gateway closes the
// connection.
func writeError(w http.ResponseWriter, err error) {
	status, body := errorStatus(err)
	switch status {
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
	case http.StatusServiceUnavailable:
		if body.Error.Code == codeDraining {
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
		}
	}
	writeJSON(w, status, body)
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"message":"internal error: encoding the answer","type":"server_error","param":null,"code":"internal_error"}}`)
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
