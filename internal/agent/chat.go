package agent

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/hermes-agent/hermes/internal/sessions"
)

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
	if err := a.ownSession(r.Context(), sid, given); err != nil {
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

// errClientGone wraps a failed write to the client.
var errClientGone = errors.New("the client went away")

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
// answer is delivered: it queues the turn (sessions.Store.QueueTurn), in
// the order of the answers, and returns without waiting for its commit,
// so that neither the client nor its next request on the same connection
// waits for the bookkeeping. The gateway's reads of the store (the
// sessions routes, a conversation's history) wait for the turns queued
// before them, and a stopping gateway for all of them. A client
// that named its session (X-Hermes-Session-Id) resends the history each
// time, so only the messages after the last assistant message are new
// and stored; a new session stores every message the client sent. The
// SOUL.md prompt is the profile's, not the conversation's, and is not
// stored. A failure is logged: the client has its answer.
func (a *Agent) storeChatTurn(ctx context.Context, sid string, given bool, model string, in []chatMessage, reply sessions.Message, usage *sessions.Usage) {
	exchangeOf(ctx).noteUsage(usage)
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
	a.store.QueueTurn(ctx, sessions.Turn{SessionID: sid, Profile: a.profile, Model: model, Messages: msgs, Usage: usage}, func(err error) {
		cancel()
		if err != nil {
			a.log.Error("agent: storing a turn", "session", sid, "err", err)
		}
	})
}
