package control

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
	"strconv"
	"strings"
	"time"

	"github.com/hermes-agent/hermes/internal/supervise"
)

// Client speaks the control API over a Unix socket. Its methods mirror the
// routes. When nothing answers on the socket, errors wrap ErrUnavailable;
// an error answer is an *APIError. A Client is safe for concurrent use.
type Client struct {
	path string
	hc   *http.Client
}

// NewClient returns a client of the supervisor listening on socketPath
// (normally SocketPath's answer). It does not connect until a call.
func NewClient(socketPath string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socketPath)
		},
		MaxIdleConns:       4,
		IdleConnTimeout:    30 * time.Second,
		DisableCompression: true,
	}
	return &Client{path: socketPath, hc: &http.Client{Transport: tr}}
}

// Path returns the socket path the client connects to.
func (c *Client) Path() string { return c.path }

// List returns the status of every service, sorted by name.
func (c *Client) List(ctx context.Context) ([]supervise.Status, error) {
	var out []supervise.Status
	err := c.call(ctx, http.MethodGet, "/v1/services", nil, nil, &out)
	return out, err
}

// Status returns one service's status.
func (c *Client) Status(ctx context.Context, name string) (supervise.Status, error) {
	var out supervise.Status
	err := c.call(ctx, http.MethodGet, servicePath(name, ""), nil, nil, &out)
	return out, err
}

// Register registers or replaces the service spec.Name and, when start is
// true, starts it.
func (c *Client) Register(ctx context.Context, spec supervise.Spec, start bool) (supervise.Status, error) {
	var out supervise.Status
	if spec.Name == "" {
		return out, fmt.Errorf("%w: the spec has no name", supervise.ErrInvalid)
	}
	q := url.Values{"start": {strconv.FormatBool(start)}}
	err := c.call(ctx, http.MethodPut, servicePath(spec.Name, ""), q, spec, &out)
	return out, err
}

// Save is Register that also keeps the spec in HERMES_HOME/services.d
// (SavedFile), so that the service survives a restart; the spec must fit
// the hermes uid's rights, whoever asks.
func (c *Client) Save(ctx context.Context, spec supervise.Spec, start bool) (supervise.Status, error) {
	var out supervise.Status
	if spec.Name == "" {
		return out, fmt.Errorf("%w: the spec has no name", supervise.ErrInvalid)
	}
	q := url.Values{"start": {strconv.FormatBool(start)}, "save": {"true"}}
	err := c.call(ctx, http.MethodPut, servicePath(spec.Name, ""), q, spec, &out)
	return out, err
}

// Remove stops and removes a service; removing an absent one succeeds.
func (c *Client) Remove(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, servicePath(name, ""), nil, nil, nil)
}

// RegisterGateway registers the gateway of profile (the service
// gateway-<profile>, whose spec the supervisor builds itself) and, when
// start is true, starts it. The profile must exist (hold SOUL.md), else the
// error matches supervise.ErrNotFound; an invalid profile name matches
// ErrBadRequest.
func (c *Client) RegisterGateway(ctx context.Context, profile string, start bool) (supervise.Status, error) {
	var out supervise.Status
	q := url.Values{"start": {strconv.FormatBool(start)}}
	err := c.call(ctx, http.MethodPut, gatewayPath(profile), q, nil, &out)
	return out, err
}

// RemoveGateway stops and removes the gateway of profile; removing an absent
// one succeeds.
func (c *Client) RemoveGateway(ctx context.Context, profile string) error {
	return c.call(ctx, http.MethodDelete, gatewayPath(profile), nil, nil, nil)
}

// Start starts a service and returns its status once it is in effect.
func (c *Client) Start(ctx context.Context, name string) (supervise.Status, error) {
	return c.change(ctx, name, "start")
}

// Stop stops a service and returns its status once it is in effect.
func (c *Client) Stop(ctx context.Context, name string) (supervise.Status, error) {
	return c.change(ctx, name, "stop")
}

// Restart restarts a service and returns its status once it is in effect.
func (c *Client) Restart(ctx context.Context, name string) (supervise.Status, error) {
	return c.change(ctx, name, "restart")
}

func (c *Client) change(ctx context.Context, name, verb string) (supervise.Status, error) {
	var out supervise.Status
	err := c.call(ctx, http.MethodPost, servicePath(name, verb), nil, nil, &out)
	return out, err
}

// Signal sends sig (a name such as "HUP" or a number) to a service's
// process group.
func (c *Client) Signal(ctx context.Context, name, sig string) error {
	return c.call(ctx, http.MethodPost, servicePath(name, "signal"), url.Values{"sig": {sig}}, nil, nil)
}

// Health returns the supervisor's health.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var out Health
	err := c.call(ctx, http.MethodGet, "/v1/health", nil, nil, &out)
	return out, err
}

// Logs calls fn with the last tail lines of a service's log (a negative
// tail means the server's default, DefaultTail) and, when follow is true,
// with every new line until ctx is done (then it returns ctx's error) or fn
// returns an error (which Logs returns).
func (c *Client) Logs(ctx context.Context, name string, tail int, follow bool, fn func(LogLine) error) error {
	q := url.Values{}
	if tail >= 0 {
		q.Set("tail", strconv.Itoa(tail))
	}
	if follow {
		q.Set("follow", "1")
	}
	resp, err := c.do(ctx, http.MethodGet, servicePath(name, "logs"), q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var l LogLine
		if err := dec.Decode(&l); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("reading the log of %s: %w", name, err)
		}
		if err := fn(l); err != nil {
			return err
		}
	}
}

// Events calls fn with every status change until ctx is done (then it
// returns ctx's error), the server ends the stream (nil), or fn returns an
// error (which Events returns).
func (c *Client) Events(ctx context.Context, fn func(supervise.Status) error) error {
	resp, err := c.do(ctx, http.MethodGet, "/v1/events", nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	var event string
	var data []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading events: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if event == "service" && len(data) > 0 {
				var st supervise.Status
				if err := json.Unmarshal([]byte(strings.Join(data, "\n")), &st); err != nil {
					return fmt.Errorf("decoding an event: %w", err)
				}
				if err := fn(st); err != nil {
					return err
				}
			}
			event, data = "", nil
		case strings.HasPrefix(line, ":"):
			// A comment: the greeting or a heartbeat.
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				event = value
			case "data":
				data = append(data, value)
			}
		}
	}
}

func gatewayPath(profile string) string {
	return "/v1/gateways/" + url.PathEscape(profile)
}

func servicePath(name, verb string) string {
	p := "/v1/services/" + url.PathEscape(name)
	if verb != "" {
		p += "/" + verb
	}
	return p
}

// call sends in (when not nil) as JSON and decodes the answer into out
// (when not nil).
func (c *Client) call(ctx context.Context, method, path string, q url.Values, in, out any) error {
	resp, err := c.do(ctx, method, path, q, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, MaxBodyBytes))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding the answer to %s %s: %w", method, path, err)
	}
	return nil
}

// do sends a request and returns the response of a 2xx answer; any other
// answer becomes an *APIError, and a failure to connect wraps
// ErrUnavailable.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encoding the request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	u := "http://hermes" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.doErr(ctx, method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, readAPIError(resp)
}

// doErr is the error of a request that got no answer.
func (c *Client) doErr(ctx context.Context, method, path string, err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return fmt.Errorf("%w on %s (%v)", ErrUnavailable, c.path, op.Err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%s %s: %w", method, path, err)
}

// readAPIError turns an error answer into an *APIError, also when its body
// is not the usual envelope.
func readAPIError(resp *http.Response) *APIError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var eb errorBody
	if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
		return &APIError{Status: resp.StatusCode, Code: eb.Error, Detail: eb.Detail}
	}
	detail := strings.TrimSpace(string(b))
	if detail == "" {
		detail = http.StatusText(resp.StatusCode)
	}
	if i := strings.IndexByte(detail, '\n'); i >= 0 {
		detail = detail[:i]
	}
	return &APIError{Status: resp.StatusCode, Code: "http_" + strconv.Itoa(resp.StatusCode), Detail: detail}
}
