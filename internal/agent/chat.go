package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hermes-agent/hermes/internal/sessions"
)

// chatRequest is what the gateway uses of a chat completion request. The
// other fields (temperature, tools, response_format, …) go to the
// upstream as they came, in fields.
type chatRequest struct {
	fields       map[string]json.RawMessage
	Model        string
	Messages     []chatMessage
	Stream       bool
	IncludeUsage bool
}

// chatMessage is one message of a request: its JSON as the client sent
// it, its role, and its text (the string content, or the text parts
// joined).
type chatMessage struct {
	raw  json.RawMessage
	role string
	text string
	// plain is set for a message that is only a role and a string
	// content: it is stored as text, without its raw JSON.
	plain bool
}

// chatRoles are the roles a message may have.
var chatRoles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true}

// decodeChatRequest decodes and validates the body of POST
// /v1/chat/completions. Unknown fields are kept for the upstream (clients
// send many); the fields the gateway uses are checked, and every failure
// is a 400 naming the field.
func decodeChatRequest(body []byte) (chatRequest, error) {
	var req chatRequest
	fields, err := decodeObject(body)
	if err != nil {
		return req, err
	}
	req.fields = fields
	if req.Model, err = requiredString(fields, "model", "a model such as hermes-<profile>"); err != nil {
		return req, err
	}
	raw, ok := fields["messages"]
	if !ok || isNull(raw) {
		return req, badField("messages", "messages is required: a list of {\"role\", \"content\"} objects")
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return req, badField("messages", "messages must be a list of {\"role\", \"content\"} objects")
	}
	if len(list) == 0 {
		return req, badField("messages", "messages must not be empty")
	}
	req.Messages = make([]chatMessage, len(list))
	for i, m := range list {
		cm, err := decodeChatMessage(m, i)
		if err != nil {
			return req, err
		}
		req.Messages[i] = cm
	}
	if req.Stream, err = optionalBool(fields, "stream"); err != nil {
		return req, err
	}
	if raw, ok := fields["stream_options"]; ok && !isNull(raw) {
		var so struct {
			IncludeUsage *bool `json:"include_usage"`
		}
		if !isObject(raw) || json.Unmarshal(raw, &so) != nil {
			return req, badField("stream_options", "stream_options must be an object such as {\"include_usage\": true}")
		}
		req.IncludeUsage = so.IncludeUsage != nil && *so.IncludeUsage
	}
	return req, nil
}

// decodeChatMessage checks one message: an object with a known role and a
// content that is a string, a list of parts or null.
func decodeChatMessage(raw json.RawMessage, i int) (chatMessage, error) {
	param := fmt.Sprintf("messages[%d]", i)
	var m map[string]json.RawMessage
	if !isObject(raw) || json.Unmarshal(raw, &m) != nil {
		return chatMessage{}, badField(param, "%s must be an object with \"role\" and \"content\"", param)
	}
	var role string
	if json.Unmarshal(m["role"], &role) != nil || !chatRoles[role] {
		return chatMessage{}, badField(param+".role", "%s.role must be one of system, developer, user, assistant, tool", param)
	}
	content := m["content"]
	text, err := contentText(content, param+".content")
	if err != nil {
		return chatMessage{}, err
	}
	plain := len(m) == 2 && len(content) > 0 && bytes.TrimSpace(content)[0] == '"'
	return chatMessage{raw: raw, role: role, text: text, plain: plain}, nil
}

// contentText returns the text of a message's content: a string, null, or
// a list of parts whose "text" parts are joined with newlines (other
// parts, such as images, are passed on and not part of the text).
func contentText(raw json.RawMessage, param string) (string, error) {
	if len(raw) == 0 || isNull(raw) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []json.RawMessage
	if json.Unmarshal(raw, &parts) != nil {
		return "", badField(param, "%s must be a string, a list of parts or null", param)
	}
	var texts []string
	for j, p := range parts {
		var part struct {
			Type *string `json:"type"`
			Text *string `json:"text"`
		}
		if !isObject(p) || json.Unmarshal(p, &part) != nil || part.Type == nil || *part.Type == "" {
			return "", badField(fmt.Sprintf("%s[%d]", param, j), "%s[%d] must be an object with a \"type\"", param, j)
		}
		switch *part.Type {
		case "text", "input_text", "output_text":
			if part.Text == nil {
				return "", badField(fmt.Sprintf("%s[%d].text", param, j), "%s[%d] is a text part without \"text\"", param, j)
			}
			texts = append(texts, *part.Text)
		}
	}
	return strings.Join(texts, "\n"), nil
}

// decodeObject decodes a body that must be a JSON object into its fields.
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case len(bytes.TrimSpace(body)) == 0:
			return nil, fail(ErrBadRequest, "invalid_json", "the request body is empty: send a JSON object")
		case errors.As(err, &se):
			return nil, fail(ErrBadRequest, "invalid_json", "the request body is not valid JSON (at byte %d): %v", se.Offset, err)
		case errors.As(err, &te):
			return nil, fail(ErrBadRequest, "invalid_json", "the request body must be a JSON object, not %s", te.Value)
		}
		return nil, fail(ErrBadRequest, "invalid_json", "the request body is not valid JSON: %v", err)
	}
	if fields == nil {
		return nil, fail(ErrBadRequest, "invalid_json", "the request body must be a JSON object, not null")
	}
	return fields, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func isObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{'
}

// requiredString is a field that must be a non-empty string.
func requiredString(fields map[string]json.RawMessage, name, want string) (string, error) {
	raw, ok := fields[name]
	if !ok || isNull(raw) {
		return "", badField(name, "%s is required: %s", name, want)
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", badField(name, "%s must be a string: %s", name, want)
	}
	if s == "" {
		return "", badField(name, "%s must not be empty: %s", name, want)
	}
	return s, nil
}

// optionalString is a field that is absent, null or a string.
func optionalString(fields map[string]json.RawMessage, name string) (string, error) {
	raw, ok := fields[name]
	if !ok || isNull(raw) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", badField(name, "%s must be a string", name)
	}
	return s, nil
}

// optionalBool is a field that is absent, null or a boolean.
func optionalBool(fields map[string]json.RawMessage, name string) (bool, error) {
	raw, ok := fields[name]
	if !ok || isNull(raw) {
		return false, nil
	}
	var b bool
	if json.Unmarshal(raw, &b) != nil {
		return false, badField(name, "%s must be true or false", name)
	}
	return b, nil
}

// systemMessage is the SOUL.md prompt as the first message; none when
// SOUL.md holds nothing.
func systemMessages(system string) []json.RawMessage {
	if system == "" {
		return nil
	}
	return []json.RawMessage{mustJSON(map[string]string{"role": "system", "content": system})}
}

// forUpstream is the request for the upstream: the client's fields, the
// configured model, SOUL.md as the first system message followed by the
// client's messages unchanged (its own system messages come after
// SOUL.md, never instead of it), and usage asked for when streaming.
func (req chatRequest) forUpstream(model, system string) ([]byte, error) {
	out := maps.Clone(req.fields)
	out["model"] = mustJSON(model)
	msgs := systemMessages(system)
	for _, m := range req.Messages {
		msgs = append(msgs, m.raw)
	}
	out["messages"] = mustJSON(msgs)
	if req.Stream {
		so := map[string]json.RawMessage{}
		if raw, ok := req.fields["stream_options"]; ok && !isNull(raw) {
			json.Unmarshal(raw, &so)
		}
		so["include_usage"] = json.RawMessage("true")
		out["stream_options"] = mustJSON(so)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fail(ErrBadRequest, "invalid_json", "re-encoding the request: %w", err)
	}
	return b, nil
}

// upstreamUsage is the usage an upstream reports: the counts the gateway
// stores, and the whole object (with the upstream's details, such as
// prompt_tokens_details) that it relays.
type upstreamUsage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
	raw              json.RawMessage
}

func (u *upstreamUsage) UnmarshalJSON(b []byte) error {
	type counts upstreamUsage
	var c counts
	if err := json.Unmarshal(b, &c); err != nil {
		return err
	}
	*u = upstreamUsage(c)
	u.raw = append(json.RawMessage(nil), b...)
	return nil
}

func (u upstreamUsage) MarshalJSON() ([]byte, error) {
	if len(u.raw) > 0 {
		return u.raw, nil
	}
	type counts upstreamUsage
	return json.Marshal(counts(u))
}

func (u *upstreamUsage) sessions() *sessions.Usage {
	if u == nil {
		return nil
	}
	return &sessions.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
}

// completion is what the gateway reads of a non-streaming answer.
type completion struct {
	Model   string `json:"model"`
	Choices []struct {
		Message json.RawMessage `json:"message"`
	} `json:"choices"`
	Usage *upstreamUsage  `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// maxAnswerBytes bounds a non-streaming answer of the upstream.
const maxAnswerBytes = 64 << 20

// readCompletion reads and checks a non-streaming answer; it returns the
// raw body, the assistant's message (raw and text) and the usage.
func readCompletion(tgt target, body io.Reader) (raw []byte, c completion, msg json.RawMessage, text string, err error) {
	raw, err = io.ReadAll(io.LimitReader(body, maxAnswerBytes))
	if err != nil {
		return nil, c, nil, "", err
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, c, nil, "", fail(ErrUpstream, "bad_upstream_response", "the upstream %s answered 200 with malformed JSON: %v", hostOf(tgt.url), err)
	}
	if len(c.Error) > 0 && !isNull(c.Error) {
		return nil, c, nil, "", fail(ErrUpstream, "upstream_error", "the upstream %s answered with an error: %s", hostOf(tgt.url), upstreamMessage(raw))
	}
	if len(c.Choices) == 0 || len(c.Choices[0].Message) == 0 || !isObject(c.Choices[0].Message) {
		return nil, c, nil, "", fail(ErrUpstream, "bad_upstream_response", "the upstream %s answered 200 without a message in choices", hostOf(tgt.url))
	}
	msg = c.Choices[0].Message
	var m struct {
		Content json.RawMessage `json:"content"`
	}
	json.Unmarshal(msg, &m)
	text, _ = contentText(m.Content, "content")
	return raw, c, msg, text, nil
}

// chatCompletions is POST /v1/chat/completions.
//
// The chat completions API is stateless: the client sends the whole
// conversation each time, so the upstream gets the client's messages as
// they are, after SOUL.md, and nothing from the store. The turn is stored
// in the request's session (see storeChatTurn).
func (a *Agent) chatCompletions(w http.ResponseWriter, r *http.Request) error {
	sid, given, err := sessionID(r)
	if err != nil {
		return err
	}
	body, err := a.readBody(w, r)
	if err != nil {
		return err
	}
	req, err := decodeChatRequest(body)
	if err != nil {
		return err
	}
	tgt, err := a.resolve(req.Model)
	if err != nil {
		return err
	}
	system, err := a.systemPrompt()
	if err != nil {
		return err
	}
	up, err := req.forUpstream(tgt.model, system)
	if err != nil {
		return err
	}
	if err := a.admitTurn(r.Context()); err != nil {
		return err
	}
	if req.Stream {
		return a.streamChat(w, r, tgt, req, up, sid, given)
	}
	resp, err := a.post(r.Context(), tgt, up, false)
	if err != nil {
		return err
	}
	raw, c, msg, text, err := readCompletion(tgt, resp)
	resp.Close()
	if err != nil {
		return err
	}
	model := c.Model
	if model == "" {
		model = tgt.model
	}
	out, err := withFields(raw, []field{{"id", mustJSON(newCompletionID())}, {"model", mustJSON(tgt.requested)}})
	if err != nil {
		return fail(ErrUpstream, "bad_upstream_response", "the upstream %s answered 200 with malformed JSON: %v", hostOf(tgt.url), err)
	}
	h := w.Header()
	h.Set(SessionHeader, sid)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	w.Write(out)
	http.NewResponseController(w).Flush()
	a.storeChatTurn(r.Context(), sid, given, tgt.model, req.Messages, assistantMessage(msg, text, model), c.Usage.sessions())
	return nil
}

// newCompletionID is the id of a chat completion the gateway answers: its
// own, the same in every chunk of a stream ("chatcmpl-" and 24 random
// lower-case base32 characters), never the upstream's.
func newCompletionID() string {
	var b [15]byte
	rand.Read(b[:])
	return "chatcmpl-" + idEncoding.EncodeToString(b[:])
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// field is a member withFields puts into an object: a nil value takes
// the member out.
type field struct {
	name  string
	value json.RawMessage
}

// withFields is the JSON object raw with the members of set put in: each
// member of that name (at the top level) has its value replaced, or is
// taken out for a nil value, and a member raw lacks is added at the end;
// every other byte of raw is kept. raw must be valid JSON (the relay has
// decoded it); anything but an object is an error. It is a splice, not a
// decode and an encode: it runs on every chunk of every stream.
func withFields(raw []byte, set []field) ([]byte, error) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, errors.New("not a JSON object")
	}
	out := make([]byte, 0, len(raw)+64)
	out = append(out, '{')
	var done [8]bool // set has at most len(done) members
	if len(set) > len(done) {
		return nil, errors.New("too many fields")
	}
	members := 0
	add := func(key, value []byte) {
		if members > 0 {
			out = append(out, ',')
		}
		members++
		out = append(append(append(out, key...), ':'), value...)
	}
	i++
	for {
		i = skipSpace(raw, i)
		if i >= len(raw) {
			return nil, errors.New("unterminated JSON object")
		}
		if raw[i] == '}' {
			break
		}
		if raw[i] == ',' {
			i++
			continue
		}
		keyStart := i
		keyEnd := skipValue(raw, i)
		if raw[i] != '"' || keyEnd < 0 {
			return nil, errors.New("malformed JSON object")
		}
		key := raw[keyStart:keyEnd]
		name := key[1 : len(key)-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var unquoted string
			if json.Unmarshal(key, &unquoted) != nil {
				return nil, errors.New("malformed member name")
			}
			name = []byte(unquoted)
		}
		i = skipSpace(raw, keyEnd)
		if i >= len(raw) || raw[i] != ':' {
			return nil, errors.New("malformed JSON object")
		}
		valStart := skipSpace(raw, i+1)
		valEnd := skipValue(raw, valStart)
		if valEnd < 0 {
			return nil, errors.New("malformed JSON value")
		}
		i = valEnd
		j := -1
		for k := range set {
			if string(name) == set[k].name {
				j = k
				break
			}
		}
		switch {
		case j < 0:
			add(key, raw[valStart:valEnd])
		case set[j].value != nil:
			add(key, set[j].value)
			done[j] = true
		default:
			done[j] = true
		}
	}
	for j, f := range set {
		if !done[j] && f.value != nil {
			add(mustJSON(f.name), f.value)
		}
	}
	return append(out, '}'), nil
}

// skipSpace returns the index of the first byte at or after i that is
// not JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just after the JSON value that starts at
// i, or -1 when there is none.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return -1
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end := skipValue(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && !strings.ContainsRune(",}] \t\n\r", rune(b[j])) {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

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

// errClientGone wraps a failed write to the client.
var errClientGone = errors.New("the client went away")

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

// assistantMessage is the upstream's answer as a stored message: its raw
// JSON is kept only when it holds more than text (tool calls).
func assistantMessage(raw json.RawMessage, text, model string) sessions.Message {
	var m struct {
		ToolCalls    json.RawMessage `json:"tool_calls"`
		FunctionCall json.RawMessage `json:"function_call"`
	}
	if json.Unmarshal(raw, &m) != nil || (len(m.ToolCalls) == 0 || isNull(m.ToolCalls)) && (len(m.FunctionCall) == 0 || isNull(m.FunctionCall)) {
		raw = nil
	}
	return sessions.Message{Role: sessions.RoleAssistant, Content: text, Raw: raw, Model: model}
}

// storeTimeout bounds a write to the sessions store.
const storeTimeout = 10 * time.Second

// storeChatTurn appends a chat completion turn to the session, once the
// answer is delivered (the client does not wait for the bookkeeping; the
// handler, and so a drain, does). A client
// that named its session (X-Hermes-Session-Id) resends the history each
// time, so only the messages after the last assistant message are new
// and stored; a new session stores every message the client sent. The
// SOUL.md prompt is the profile's, not the conversation's, and is not
// stored. A failure is logged: the client has its answer.
func (a *Agent) storeChatTurn(ctx context.Context, sid string, given bool, model string, in []chatMessage, reply sessions.Message, usage *sessions.Usage) {
	if a.store == nil {
		return
	}
	start := 0
	if given {
		for i := len(in) - 1; i >= 0; i-- {
			if in[i].role == "assistant" {
				start = i + 1
				break
			}
		}
	}
	now := a.now().UTC()
	msgs := make([]sessions.Message, 0, len(in)-start+1)
	for _, m := range in[start:] {
		sm := sessions.Message{Role: storedRole(m.role), Content: m.text, Raw: m.raw, CreatedAt: now}
		if m.plain {
			sm.Raw = nil
		}
		msgs = append(msgs, sm)
	}
	reply.CreatedAt = now
	msgs = append(msgs, reply)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	err := a.store.AppendTurn(ctx, sessions.Turn{SessionID: sid, Profile: a.profile, Model: model, Messages: msgs, Usage: usage})
	if err != nil {
		a.log.Error("agent: storing a turn", "session", sid, "err", err)
	}
}
