package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// lineHandler prints init's own log records for a person reading docker
// logs: "hermes init: <message> key=value ...: <err>", one line each, no
// timestamp (docker logs has its own) and no level but for warnings and
// errors.
type lineHandler struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	attrs  []slog.Attr
}

func newLineHandler(w io.Writer, prefix string) *lineHandler {
	return &lineHandler{mu: &sync.Mutex{}, w: w, prefix: prefix}
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(h.prefix)
	switch {
	case r.Level >= slog.LevelError:
		b.WriteString("error: ")
	case r.Level >= slog.LevelWarn:
		b.WriteString("warning: ")
	}
	b.WriteString(r.Message)
	var errText string
	add := func(a slog.Attr) bool {
		switch {
		case a.Key == "component":
		case a.Key == "err":
			errText = a.Value.String()
		default:
			v := a.Value.String()
			if strings.ContainsAny(v, " \t\"=") || v == "" {
				v = fmt.Sprintf("%q", v)
			}
			fmt.Fprintf(&b, " %s=%s", a.Key, v)
		}
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	if errText != "" {
		b.WriteString(": ")
		b.WriteString(oneLine(errText))
	}
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr{}, h.attrs...), as...)
	return &c
}

func (h *lineHandler) WithGroup(string) slog.Handler { return h }
