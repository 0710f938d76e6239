// The access log: one middleware over the route table that gives every
// request an Exchange, lets the route and the upstream call fill it, and
// writes one line per request to the gateway's log once it is answered
// (then hands the Exchange to Config.Observe).

package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hermes-agent/hermes/internal/sessions"
)

// Exchange is what the gateway records of one request: the access log's
// line, and what an observer (Config.Observe) reads. It names the route,
// never the raw path, and holds no key, no header value but the session
// the gateway validated, and nothing of a body but the model names.
type Exchange struct {
	// Method is the request's method.
	Method string
	// Route is the name of the route that took it (Route.Name), or
	// "unknown".
	Route string
	// Status is the answer's status.
	Status int
	// Start is when the request arrived; Duration how long it took to
	// answer, to the end of a stream.
	Start    time.Time
	Duration time.Duration
	// BytesIn is the size of the request body read; BytesOut of the
	// answer's body written.
	BytesIn, BytesOut int64
	// SessionID is the session of the answer (X-Hermes-Session-Id).
	SessionID string
	// Model is the model name the client sent; UpstreamModel the one the
	// upstream was asked for (model.name, or what model.aliases maps the
	// name to).
	Model, UpstreamModel string
	// Upstream is the time spent in upstream calls, from sending the
	// request to the end of its answer (of its stream).
	Upstream time.Duration
	// Client is the client's address (the peer of the connection).
	Client string
	// ErrorCode is the code of the error the request ended with, "" for
	// none.
	ErrorCode string
	// UpstreamError is ErrorCode when that error is the upstream's
	// failure (unreachable, timed out, dropped, refused the key, …), ""
	// otherwise: the kind of hermes_gateway_upstream_errors_total.
	UpstreamError string
	// PromptTokens and CompletionTokens are what the upstream reported in
	// its usage, 0 when it reported none.
	PromptTokens, CompletionTokens int64
}

type exchangeKey struct{}

// exchangeOf is the request's Exchange; a request outside the middleware
// (a test calling a handler) gets a fresh one that nobody reads.
func exchangeOf(ctx context.Context) *Exchange {
	if ex, ok := ctx.Value(exchangeKey{}).(*Exchange); ok {
		return ex
	}
	return &Exchange{}
}

// noteError keeps the code of the error a request ended with.
func (ex *Exchange) noteError(err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		ex.ErrorCode = ae.code
	case errors.Is(err, errClientGone):
		ex.ErrorCode = "client_gone"
	default:
		ex.ErrorCode = "internal_error"
	}
	if ae, ok := upstreamFault(err); ok {
		ex.UpstreamError = ae.code
	}
}

// noteUsage keeps the tokens the upstream reported (nil: none).
func (ex *Exchange) noteUsage(u *sessions.Usage) {
	if u != nil {
		ex.PromptTokens, ex.CompletionTokens = u.PromptTokens, u.CompletionTokens
	}
}

// serve is the access log over the route table: it makes the request's
// Exchange, counts what is read and written, runs the mux, and logs.
func (a *Agent) serve(w http.ResponseWriter, r *http.Request) {
	ex := &Exchange{Method: r.Method, Route: noRouteName, Start: a.now(), Client: clientAddr(r.RemoteAddr)}
	rec := &recorder{ResponseWriter: w}
	body := &countingBody{r: r.Body}
	r.Body = body
	r = r.WithContext(context.WithValue(r.Context(), exchangeKey{}, ex))
	a.mux.ServeHTTP(rec, r)
	ex.Status = rec.status
	if ex.Status == 0 {
		ex.Status = http.StatusOK
	}
	ex.Duration = a.now().Sub(ex.Start)
	ex.BytesIn, ex.BytesOut = body.n, rec.bytes
	ex.SessionID = rec.Header().Get(SessionHeader)
	a.logExchange(r.Context(), ex)
	if a.observe != nil {
		a.observe(ex)
	}
}

// logExchange writes the access log line of ex.
func (a *Agent) logExchange(ctx context.Context, ex *Exchange) {
	attrs := []slog.Attr{
		slog.String("method", ex.Method),
		slog.String("route", ex.Route),
		slog.Int("status", ex.Status),
		slog.Duration("duration", ex.Duration.Round(time.Microsecond)),
		slog.Int64("bytes_in", ex.BytesIn),
		slog.Int64("bytes_out", ex.BytesOut),
		slog.String("client", ex.Client),
	}
	if ex.SessionID != "" {
		attrs = append(attrs, slog.String("session", ex.SessionID))
	}
	if ex.Model != "" {
		attrs = append(attrs, slog.String("model", logSafe(ex.Model)))
	}
	if ex.UpstreamModel != "" {
		attrs = append(attrs, slog.String("upstream_model", logSafe(ex.UpstreamModel)),
			slog.Duration("upstream", ex.Upstream.Round(time.Microsecond)))
	}
	if ex.ErrorCode != "" {
		attrs = append(attrs, slog.String("code", ex.ErrorCode))
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
}

// logSafe is a name a client chose, fit for a log line: at most 100
// bytes, quoted when it holds anything but printable characters.
func logSafe(s string) string {
	s = shorten(s, 100)
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return s
	}
	return strconv.QuoteToASCII(s)
}

// clientAddr is the host of a connection's remote address.
func clientAddr(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// recorder is the answer's writer as the routes see it: it keeps the
// status and counts the bytes, and notes whether the answer has begun
// (an error after that is logged, not written into the middle of it).
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (rw *recorder) WriteHeader(code int) {
	if !rw.wrote {
		rw.status = code
	}
	rw.wrote = true
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if !rw.wrote {
		rw.status, rw.wrote = http.StatusOK, true
	}
	n, err := rw.ResponseWriter.Write(b)
	rw.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (Flush).
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// countingBody counts the bytes read of a request's body.
type countingBody struct {
	r io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *countingBody) Close() error { return b.r.Close() }
