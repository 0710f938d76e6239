package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// chatChunk is what the gateway reads of a streamed chunk.
type chatChunk struct {
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *upstreamUsage  `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// streamAcc gathers what a stream said, for the store.
type streamAcc struct {
	text     strings.Builder
	model    string
	finished bool
	usage    *upstreamUsage
}

func (s *streamAcc) add(c *chatChunk) (delta string) {
	if c.Model != "" {
		s.model = c.Model
	}
	if c.Usage != nil {
		s.usage = c.Usage
	}
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			continue
		}
		if ch.Delta.Content != nil {
			delta = *ch.Delta.Content
			s.text.WriteString(delta)
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			s.finished = true
		}
	}
	return delta
}

// relay reads the upstream's stream and calls emit for every chunk as it
// arrives. It ends at [DONE], or at the end of a stream whose answer had
// finished; a stream that drops, stalls, sends malformed JSON or an error
// is an error (the chunks before it were emitted).
func relay(tgt target, body io.Reader, acc *streamAcc, emit func(data []byte, c *chatChunk) error) error {
	sse := newSSEReader(body)
	for {
		data, err := sse.next()
		if err == io.EOF {
			if acc.finished {
				return nil
			}
			return fail(ErrUpstream, "upstream_dropped", "the upstream %s closed the stream before the answer finished", hostOf(tgt.url))
		}
		if err != nil {
			return err
		}
		if string(data) == "[DONE]" {
			return nil
		}
		var c chatChunk
		if err := json.Unmarshal(data, &c); err != nil {
			return fail(ErrUpstream, "bad_upstream_response", "the upstream %s sent a malformed chunk: %v", hostOf(tgt.url), err)
		}
		if len(c.Error) > 0 && !isNull(c.Error) {
			return fail(ErrUpstream, "upstream_error", "the upstream %s failed in the middle of its answer: %s", hostOf(tgt.url), upstreamMessage(data))
		}
		acc.add(&c)
		if err := emit(data, &c); err != nil {
			return err
		}
	}
}

// streamChat relays the upstream's stream to the client, one event and
// one flush per upstream chunk. Every chunk carries the gateway's id and
// the model the client named, as the non-streamed answer does. The usage
// the upstream reports goes to a client that asked for it
// (stream_options.include_usage) the way OpenAI sends it: "usage": null in
// every chunk, then one chunk with no choices and the usage, before
// [DONE]. A failure after the answer began is sent as a last event
// {"error": {…}} with no [DONE].
func (a *Agent) streamChat(w http.ResponseWriter, r *http.Request, tgt target, req chatRequest, body []byte, sid string, given bool) error {
	resp, err := a.post(r.Context(), tgt, body, true)
	if err != nil {
		return err
	}
	defer resp.Close()
	rc := startStream(w, sid)
	id, model := mustJSON(newCompletionID()), mustJSON(tgt.requested)
	set := []field{{"id", id}, {"model", model}, {"usage", nil}}
	if req.IncludeUsage {
		set[2].value = json.RawMessage("null")
	}
	var acc streamAcc
	var created int64
	send := func(data []byte) error {
		if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
			return fmt.Errorf("%w: %w", errClientGone, err)
		}
		if err := rc.Flush(); err != nil {
			return fmt.Errorf("%w: %w", errClientGone, err)
		}
		return nil
	}
	err = relay(tgt, resp, &acc, func(data []byte, c *chatChunk) error {
		if c.Created != 0 {
			created = c.Created
		}
		if len(c.Choices) == 0 && c.Usage != nil {
			return nil // the usage, sent in its own chunk at the end
		}
		out, err := withFields(data, set)
		if err != nil {
			return fail(ErrUpstream, "bad_upstream_response", "the upstream %s sent a malformed chunk: %v", hostOf(tgt.url), err)
		}
		return send(out)
	})
	if err == nil && req.IncludeUsage && acc.usage != nil {
		if created == 0 {
			created = a.now().Unix()
		}
		err = send(mustJSON(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": []any{}, "usage": acc.usage}))
	}
	if err != nil {
		if !errors.Is(err, errClientGone) {
			_, body := errorStatus(err)
			writeEvent(w, rc, "", body)
		}
		return err
	}
	upModel := acc.model
	if upModel == "" {
		upModel = tgt.model
	}
	w.Write([]byte("data: [DONE]\n\n"))
	rc.Flush()
	a.storeChatTurn(r.Context(), sid, given, tgt.model, req.Messages, assistantMessage(nil, acc.text.String(), upModel), acc.usage.sessions())
	return nil
}

// startStream writes the headers of a server-sent event stream, with the
// session, and flushes them.
func startStream(w http.ResponseWriter, sid string) *http.ResponseController {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	if sid != "" {
		h.Set(SessionHeader, sid)
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	return rc
}

// writeEvent writes one server-sent event (with an event: line when name
// is set) and flushes it.
func writeEvent(w io.Writer, rc *http.ResponseController, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if name != "" {
		buf.WriteString("event: ")
		buf.WriteString(name)
		buf.WriteByte('\n')
	}
	buf.WriteString("data: ")
	buf.Write(b)
	buf.WriteString("\n\n")
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("%w: %w", errClientGone, err)
	}
	if err := rc.Flush(); err != nil {
		return fmt.Errorf("%w: %w", errClientGone, err)
	}
	return nil
}
