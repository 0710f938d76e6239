package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Timeouts bound the calls to the upstream. A zero field takes its
// default.
type Timeouts struct {
	// Connect bounds the TCP connection and the TLS handshake (default
	// 10s). It applies to the HTTP client New builds; a Config.HTTPClient
	// brings its own.
	Connect time.Duration
	// FirstByte bounds the time from sending the request to the
	// upstream's response headers (default 3m). A non-streaming answer
	// usually arrives whole, so this bounds its whole generation; long
	// generations should stream.
	FirstByte time.Duration
	// Idle bounds the silence between two reads of the upstream's body,
	// between two chunks of a stream above all (default 2m).
	Idle time.Duration
}

// Default upstream timeouts.
const (
	DefaultConnectTimeout   = 10 * time.Second
	DefaultFirstByteTimeout = 3 * time.Minute
	DefaultIdleTimeout      = 2 * time.Minute
)

func (t Timeouts) withDefaults() Timeouts {
	if t.Connect <= 0 {
		t.Connect = DefaultConnectTimeout
	}
	if t.FirstByte <= 0 {
		t.FirstByte = DefaultFirstByteTimeout
	}
	if t.Idle <= 0 {
		t.Idle = DefaultIdleTimeout
	}
	return t
}

// newHTTPClient is the client of the upstream when Config.HTTPClient is
// nil: the proxy from the environment, Timeouts.Connect for the dial and
// the TLS handshake, and enough idle connections per host for
// gateway.max_concurrent requests at once. It has no overall timeout: the
// watchdog of each call bounds the waits instead, so that a long stream
// that keeps flowing is never cut.
func newHTTPClient(t Timeouts, conns int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = t.Connect
	tr.MaxIdleConns = max(100, conns)
	tr.MaxIdleConnsPerHost = max(2, conns)
	return &http.Client{Transport: tr}
}

// target is where a request goes: the upstream's endpoint, its model name
// and the key (empty for an upstream that needs none), and the model name
// the client sent (echoed back to it).
type target struct {
	url       string // {base_url}/chat/completions
	model     string
	key       string
	requested string
}

// errFirstByte and errIdle are the causes with which the watchdog cancels
// an upstream call.
var (
	errFirstByte = errors.New("no answer in time")
	errIdle      = errors.New("silent for too long")
)

// upstreamBody is the body of a 200 answer of the upstream; every Read
// re-arms the idle watchdog. Close releases the call.
type upstreamBody struct {
	r      io.ReadCloser
	timer  *time.Timer
	idle   time.Duration
	ctx    context.Context
	cancel context.CancelCauseFunc
	tgt    target
	t      Timeouts
	// ex is the request's Exchange, and start when the call began: Close
	// adds the call's time to ex.Upstream.
	ex    *Exchange
	start time.Time
	done  bool
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	if err != nil && err != io.EOF {
		err = b.classify(err)
	}
	return n, err
}

// drainWait bounds the reading of what follows the end of an answer (the
// end of a chunked body after [DONE]), so that the connection goes back
// to the pool instead of being closed.
const drainWait = 50 * time.Millisecond

func (b *upstreamBody) Close() error {
	if !b.done {
		b.done = true
		b.ex.Upstream += time.Since(b.start)
	}
	b.timer.Reset(drainWait)
	io.CopyN(io.Discard, b.r, 64<<10)
	b.timer.Stop()
	b.cancel(context.Canceled)
	return b.r.Close()
}

// classify turns a failure to read the body into a 504 (the watchdog
// fired) or a 502 (the connection dropped).
func (b *upstreamBody) classify(err error) error {
	cause := context.Cause(b.ctx)
	if errors.Is(cause, context.Canceled) {
		return fmt.Errorf("%w: %w", errClientGone, err)
	}
	if errors.Is(cause, errIdle) || errors.Is(cause, errFirstByte) {
		return fail(ErrUpstreamTimeout, "upstream_timeout", "the upstream %s sent nothing for %s in the middle of its answer", hostOf(b.tgt.url), b.t.Idle)
	}
	return fail(ErrUpstream, "upstream_dropped", "the upstream %s dropped the connection in the middle of its answer: %w", hostOf(b.tgt.url), err)
}

// post sends body to the upstream's chat completions endpoint and returns
// the body of a 200 answer. Any other answer or failure is an error of the
// right kind: 504 when a timeout fired, 502 for a failure of the upstream,
// 400 when the upstream refused the request as malformed, 429 when it
// rate-limits. When ctx is done (the client went away) the error wraps
// ctx's error.
func (a *Agent) post(ctx context.Context, tgt target, body []byte, stream bool) (*upstreamBody, error) {
	ex := exchangeOf(ctx)
	ex.Model, ex.UpstreamModel = tgt.requested, tgt.model
	start := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	var answered atomic.Bool // the headers are in: the watchdog now bounds silence
	timer := time.AfterFunc(a.timeouts.FirstByte, func() {
		if answered.Load() {
			cancel(errIdle)
		} else {
			cancel(errFirstByte)
		}
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tgt.url, bytes.NewReader(body))
	if err != nil {
		timer.Stop()
		cancel(nil)
		return nil, fail(ErrUnavailable, "bad_base_url", "model.base_url gives an invalid endpoint %q: %w", tgt.url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hermes-gateway")
	if stream {
		req.Header.Set("Accept", "text/event-stream")
		// No transparent gzip: a compressed stream is released in
		// blocks, not chunk by chunk.
		req.Header.Set("Accept-Encoding", "identity")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	if tgt.key != "" {
		req.Header.Set("Authorization", "Bearer "+tgt.key)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		timer.Stop()
		cause := context.Cause(ctx)
		cancel(nil)
		ex.Upstream += time.Since(start)
		return nil, a.callError(ctx, tgt, cause, err)
	}
	b := &upstreamBody{r: resp.Body, timer: timer, idle: a.timeouts.Idle, ctx: ctx, cancel: cancel, tgt: tgt, t: a.timeouts, ex: ex, start: start}
	answered.Store(true)
	timer.Reset(a.timeouts.Idle)
	if resp.StatusCode != http.StatusOK {
		defer b.Close()
		return nil, statusError(tgt, resp, b)
	}
	a.upstream.ok(a.now().UTC())
	return b, nil
}

// callError classifies a failed request (no answer at all).
func (a *Agent) callError(ctx context.Context, tgt target, cause, err error) error {
	host := hostOf(tgt.url)
	var ne net.Error
	switch {
	case errors.Is(cause, errFirstByte):
		return fail(ErrUpstreamTimeout, "upstream_timeout", "the upstream %s did not answer within %s", host, a.timeouts.FirstByte)
	case errors.As(err, &ne) && ne.Timeout():
		return fail(ErrUpstreamTimeout, "upstream_timeout", "cannot connect to the upstream %s within %s: %w", host, a.timeouts.Connect, err)
	case cause != nil && ctx.Err() != nil:
		return fmt.Errorf("%w: %w", errClientGone, cause)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return fail(ErrUpstream, "upstream_unreachable", "cannot reach the upstream %s (model.base_url): %w", host, unwrapURL(err))
	}
	return fail(ErrUpstream, "upstream_dropped", "the upstream %s closed the connection without an answer: %w", host, unwrapURL(err))
}

// unwrapURL drops the *url.Error layer, whose text repeats the method and
// URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// statusError describes an answer of the upstream other than 200.
func statusError(tgt target, resp *http.Response, body io.Reader) error {
	b, _ := io.ReadAll(io.LimitReader(body, 64<<10))
	detail := upstreamMessage(b)
	host := hostOf(tgt.url)
	code := resp.StatusCode
	switch {
	case code == http.StatusBadRequest || code == http.StatusUnprocessableEntity:
		return fail(ErrBadRequest, "upstream_rejected", "the upstream %s rejected the request (%d): %s", host, code, detail)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return fail(ErrUpstream, "upstream_auth", "the upstream %s refused the key (%d): %s; check model.api_key_env or the key stored with hermes login", host, code, detail)
	case code == http.StatusNotFound:
		return fail(ErrUpstream, "upstream_not_found", "the upstream answered 404 for POST %s: check model.base_url (with its version prefix, such as /v1) and model.name %q: %s", tgt.url, tgt.model, detail)
	case code == http.StatusTooManyRequests:
		return fail(ErrBusy, "upstream_rate_limited", "the upstream %s is rate-limiting this key (429): %s", host, detail)
	case code == http.StatusGatewayTimeout || code == http.StatusRequestTimeout:
		return fail(ErrUpstreamTimeout, "upstream_timeout", "the upstream %s timed out (%d): %s", host, code, detail)
	}
	return fail(ErrUpstream, "upstream_error", "the upstream %s failed (%d): %s", host, code, detail)
}

// upstreamMessage extracts the message of an upstream's error body (the
// OpenAI envelope, or a bare message), cut to a readable length.
func upstreamMessage(b []byte) string {
	var env struct {
		Error json.RawMessage `json:"error"`
		Msg   string          `json:"message"`
	}
	msg := ""
	if json.Unmarshal(b, &env) == nil {
		var inner struct {
			Message string `json:"message"`
		}
		switch {
		case json.Unmarshal(env.Error, &inner) == nil && inner.Message != "":
			msg = inner.Message
		case len(env.Error) > 0 && env.Error[0] == '"':
			json.Unmarshal(env.Error, &msg)
		default:
			msg = env.Msg
		}
	}
	if msg == "" {
		msg = strings.TrimSpace(string(b))
	}
	if msg == "" {
		return "no details"
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	return msg
}

// hostOf is the host of an upstream URL, for messages (never a key).
func hostOf(u string) string {
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		return p.Host
	}
	return "(invalid URL)"
}

// maxEventBytes bounds one server-sent event of the upstream.
const maxEventBytes = 8 << 20

// sseReader reads the events of a server-sent event stream (the
// upstream's stream of chat completion chunks): it joins an event's data
// lines and skips comments and the other fields.
type sseReader struct {
	br   *bufio.Reader
	data []byte
	line []byte
}

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{br: bufio.NewReaderSize(r, 4<<10)}
}

// next returns the data of the next event, valid until the next call; at
// the end of the stream it returns io.EOF (after a last event that was not
// followed by a blank line).
func (s *sseReader) next() ([]byte, error) {
	s.data = s.data[:0]
	seen := false
	for {
		line, err := s.readLine()
		if err != nil {
			if err == io.EOF && seen {
				return s.data, nil
			}
			return nil, err
		}
		if len(line) == 0 {
			if seen {
				return s.data, nil
			}
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		if len(field) == 0 || string(field) != "data" {
			continue // a comment (": keep-alive") or event:, id:, retry:
		}
		value = bytes.TrimPrefix(value, []byte(" "))
		if seen {
			s.data = append(s.data, '\n')
		}
		s.data = append(s.data, value...)
		seen = true
		if len(s.data) > maxEventBytes {
			return nil, fail(ErrUpstream, "bad_upstream_response", "the upstream sent an event over %d bytes", maxEventBytes)
		}
	}
}

// readLine returns the next line without its end of line.
func (s *sseReader) readLine() ([]byte, error) {
	line, err := s.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		s.line = append(s.line[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = s.br.ReadSlice('\n')
			s.line = append(s.line, line...)
			if len(s.line) > maxEventBytes {
				return nil, fail(ErrUpstream, "bad_upstream_response", "the upstream sent a line over %d bytes", maxEventBytes)
			}
		}
		line = s.line
	}
	if err != nil && (err != io.EOF || len(line) == 0) {
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, nil
}
