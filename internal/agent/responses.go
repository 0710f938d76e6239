// The Responses API's routes: POST /v1/responses (on top of the upstream's
// chat completions, its history rebuilt from the sessions store, streamed or
// not), and GET and DELETE /v1/responses/{id}.

package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hermes-agent/hermes/internal/sessions"
)

// createResponse is POST /v1/responses: the Responses API implemented on
// top of the upstream's chat completions.
//
// It is stateful: with previous_response_id the history is that
// response's chain (its inputs and outputs, and those of the responses it
// continues), rebuilt from the store; with a conversation it is every
// message of the conversation's session. The upstream gets SOUL.md, then
// the request's instructions (never carried over from a previous
// response, as in OpenAI's API), then the history, then the input. The
// turn is recorded (store, the default) before the answer is sent, so
// that a client may continue it at once, and it survives a restart.
func (a *Agent) createResponse(w http.ResponseWriter, r *http.Request) error {
	sid, given, err := sessionID(r)
	if err != nil {
		return err
	}
	body, err := a.readBody(w, r)
	if err != nil {
		return err
	}
	req, err := decodeResponsesRequest(body)
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
	if a.store == nil {
		return fail(ErrUnavailable, "no_store", "the gateway of profile %s has no sessions store, which the Responses API needs; use /v1/chat/completions", a.profile)
	}
	ctx := r.Context()
	if err := a.ownSession(ctx, sid, given); err != nil {
		return err
	}
	history, sid, err := a.history(ctx, req, sid, given)
	if err != nil {
		return err
	}
	upBody, err := req.forUpstream(tgt.model, system, history)
	if err != nil {
		return err
	}
	if req.Store {
		if err := a.admitTurn(ctx); err != nil {
			return err
		}
	}
	res := newResponse(req, a.now())
	rec := turnRecord{sid: sid, req: req, tgt: tgt}
	if req.Stream {
		return a.streamResponse(w, r, res, rec, upBody)
	}
	resp, err := a.post(ctx, tgt, upBody, false)
	if err != nil {
		return err
	}
	_, c, _, text, err := readCompletion(tgt, resp)
	resp.Close()
	if err != nil {
		return err
	}
	res.complete(text, c.Usage)
	if err := a.storeResponse(ctx, res, rec, c.Model, text, c.Usage.sessions()); err != nil {
		return err
	}
	w.Header().Set(SessionHeader, sid)
	writeJSON(w, http.StatusOK, res)
	return nil
}

// history is what a response continues, as chat messages, and the session
// it is recorded in: the chain of previous_response_id, in that response's
// session (a session header naming another is refused); or every message
// of a conversation's session (likewise); else nothing, in sid. Only this
// profile's responses and conversations are found: another profile's
// previous_response_id is answered as an unknown one, another profile's
// conversation is a 404.
func (a *Agent) history(ctx context.Context, req responsesRequest, sid string, given bool) ([]json.RawMessage, string, error) {
	switch {
	case req.PreviousResponseID != "":
		prev, err := a.store.GetResponse(ctx, a.profile, req.PreviousResponseID)
		if errors.Is(err, sessions.ErrNotFound) {
			return nil, "", &apiError{kind: ErrBadRequest, code: "previous_response_not_found", param: "previous_response_id",
				msg: fmt.Sprintf("previous response %q not found (or deleted)", shorten(req.PreviousResponseID, 80))}
		}
		if err != nil {
			return nil, "", fail(ErrUnavailable, "store_failed", "reading the sessions store: %w", err)
		}
		chain, err := a.store.ResponseChain(ctx, a.profile, prev.ID)
		if err != nil {
			return nil, "", fail(ErrUnavailable, "store_failed", "reading the history of %s: %w", prev.ID, err)
		}
		if given && sid != prev.SessionID {
			return nil, "", badField("previous_response_id", "response %s belongs to session %s, but %s names %s: a continuation stays in its session", prev.ID, prev.SessionID, SessionHeader, sid)
		}
		return fromStored(chain), prev.SessionID, nil
	case req.Conversation != "":
		// A request that keeps nothing (store: false) reads the
		// conversation and does not start one.
		find := a.store.ConversationSession
		if !req.Store {
			find = a.store.FindConversation
		}
		csid, err := find(ctx, a.profile, req.Conversation)
		switch {
		case errors.Is(err, sessions.ErrOtherProfile):
			// The name is the store's: another profile's conversation
			// is neither read nor continued, nor taken over.
			return nil, "", conversationNotFound(req.Conversation)
		case !req.Store && errors.Is(err, sessions.ErrNotFound):
			return nil, sid, nil
		case err != nil:
			return nil, "", fail(ErrUnavailable, "store_failed", "reading the sessions store: %w", err)
		}
		if given && csid != sid {
			return nil, "", badField("conversation", "conversation %q is recorded in session %s, but %s names %s", req.Conversation, csid, SessionHeader, sid)
		}
		// Its chat turns queued before this request are in its history.
		if err := a.store.Flush(ctx); err != nil {
			return nil, "", fmt.Errorf("%w: %w", errClientGone, err)
		}
		_, msgs, err := a.store.Get(ctx, csid)
		if err != nil && !errors.Is(err, sessions.ErrNotFound) {
			return nil, "", fail(ErrUnavailable, "store_failed", "reading conversation %q: %w", req.Conversation, err)
		}
		return fromStored(msgs), csid, nil
	}
	return nil, sid, nil
}

// turnRecord is what storeResponse needs of the request.
type turnRecord struct {
	sid string
	req responsesRequest
	tgt target
}

// storeResponse records a completed response: its input and output in its
// session (one AppendTurn, each message tagged with the response id), then
// the response itself. With store: false nothing is recorded.
func (a *Agent) storeResponse(ctx context.Context, res *response, rec turnRecord, upModel, text string, usage *sessions.Usage) error {
	exchangeOf(ctx).noteUsage(usage)
	if !rec.req.Store {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	now := a.now().UTC()
	if upModel == "" {
		upModel = rec.tgt.model
	}
	msgs := make([]sessions.Message, 0, len(rec.req.Input)+1)
	for _, m := range rec.req.Input {
		msgs = append(msgs, sessions.Message{Role: storedRole(m.role), Content: m.text, Raw: m.raw, CreatedAt: now, ResponseID: res.ID})
	}
	msgs = append(msgs, sessions.Message{Role: sessions.RoleAssistant, Content: text, CreatedAt: now, Model: upModel, ResponseID: res.ID})
	if err := a.store.AppendTurn(ctx, sessions.Turn{SessionID: rec.sid, Profile: a.profile, Model: rec.tgt.model, Messages: msgs, Usage: usage}); err != nil {
		return fail(errInternal, "store_failed", "recording response %s in the sessions store: %w", res.ID, err)
	}
	err := a.store.PutResponse(ctx, sessions.Response{
		ID: res.ID, SessionID: rec.sid, PreviousResponseID: rec.req.PreviousResponseID, Conversation: rec.req.Conversation,
		CreatedAt: time.Unix(res.CreatedAt, 0).UTC(), Status: res.Status, OutputText: text, Model: res.Model, Usage: usage,
	})
	if err != nil {
		return fail(errInternal, "store_failed", "recording response %s in the sessions store: %w", res.ID, err)
	}
	return nil
}

// streamResponse relays the upstream's stream as Responses API events:
// response.created, response.in_progress, response.output_item.added,
// response.content_part.added, one response.output_text.delta per chunk,
// response.output_text.done, response.content_part.done,
// response.output_item.done, and response.completed once the response is
// recorded; response.failed when the upstream fails in the middle.
func (a *Agent) streamResponse(w http.ResponseWriter, r *http.Request, res *response, rec turnRecord, body []byte) error {
	resp, err := a.post(r.Context(), rec.tgt, body, true)
	if err != nil {
		return err
	}
	defer resp.Close()
	rc := startStream(w, rec.sid)
	seq := 0
	emit := func(ev map[string]any) error {
		ev["sequence_number"] = seq
		seq++
		return writeEvent(w, rc, ev["type"].(string), ev)
	}
	msgID := outputItemID(res.ID)
	item := outputItem{ID: msgID, Type: "message", Status: "in_progress", Role: "assistant", Content: []outputContent{}}
	part := outputContent{Type: "output_text", Text: "", Annotations: []any{}}
	start := []map[string]any{
		{"type": "response.created", "response": res},
		{"type": "response.in_progress", "response": res},
		{"type": "response.output_item.added", "output_index": 0, "item": item},
		{"type": "response.content_part.added", "item_id": msgID, "output_index": 0, "content_index": 0, "part": part},
	}
	for _, ev := range start {
		if err := emit(ev); err != nil {
			return err
		}
	}
	var acc streamAcc
	err = relay(rec.tgt, resp, &acc, func(_ []byte, c *chatChunk) error {
		for _, ch := range c.Choices {
			if ch.Index == 0 && ch.Delta.Content != nil && *ch.Delta.Content != "" {
				return emit(map[string]any{"type": "response.output_text.delta", "item_id": msgID, "output_index": 0, "content_index": 0, "delta": *ch.Delta.Content, "logprobs": []any{}})
			}
		}
		return nil
	})
	text := acc.text.String()
	if err == nil {
		res.complete(text, acc.usage)
		err = a.storeResponse(r.Context(), res, rec, acc.model, text, acc.usage.sessions())
	}
	if err != nil {
		if errors.Is(err, errClientGone) {
			return err
		}
		_, eb := errorStatus(err)
		res.Status = "failed"
		res.Error = &responseError{Code: eb.Error.Code, Message: eb.Error.Message}
		res.Output = []outputItem{}
		emit(map[string]any{"type": "response.failed", "response": res})
		return err
	}
	part.Text = text
	item.Status, item.Content = "completed", []outputContent{part}
	done := []map[string]any{
		{"type": "response.output_text.done", "item_id": msgID, "output_index": 0, "content_index": 0, "text": text, "logprobs": []any{}},
		{"type": "response.content_part.done", "item_id": msgID, "output_index": 0, "content_index": 0, "part": part},
		{"type": "response.output_item.done", "output_index": 0, "item": item},
		{"type": "response.completed", "response": res},
	}
	for _, ev := range done {
		if err := emit(ev); err != nil {
			return err
		}
	}
	return nil
}

// getResponse is GET /v1/responses/{id}.
func (a *Agent) getResponse(w http.ResponseWriter, r *http.Request) error {
	if a.store == nil {
		return fail(ErrUnavailable, "no_store", "the gateway of profile %s has no sessions store", a.profile)
	}
	id := r.PathValue("response_id")
	s, err := a.store.GetResponse(r.Context(), a.profile, id)
	if errors.Is(err, sessions.ErrNotFound) {
		return responseNotFound(id)
	}
	if err != nil {
		return fail(ErrUnavailable, "store_failed", "reading the sessions store: %w", err)
	}
	res := storedResponse(s)
	w.Header().Set(SessionHeader, s.SessionID)
	writeJSON(w, http.StatusOK, res)
	return nil
}

// deleteResponse is DELETE /v1/responses/{id}.
func (a *Agent) deleteResponse(w http.ResponseWriter, r *http.Request) error {
	if a.store == nil {
		return fail(ErrUnavailable, "no_store", "the gateway of profile %s has no sessions store", a.profile)
	}
	id := r.PathValue("response_id")
	err := a.store.DeleteResponse(r.Context(), a.profile, id)
	if errors.Is(err, sessions.ErrNotFound) {
		return responseNotFound(id)
	}
	if err != nil {
		return fail(ErrUnavailable, "store_failed", "writing the sessions store: %w", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "response.deleted", "deleted": true})
	return nil
}

// responseNotFound is the 404 of a response id that is unknown, deleted,
// or another profile's: the same answer for all three, so that it tells
// nothing of what another profile keeps.
func responseNotFound(id string) error {
	return &apiError{kind: ErrNotFound, code: "response_not_found", msg: fmt.Sprintf("response %q not found", shorten(id, 80))}
}

// conversationNotFound is the 404 of a conversation another profile
// recorded.
func conversationNotFound(name string) error {
	return &apiError{kind: ErrNotFound, code: "conversation_not_found", param: "conversation", msg: fmt.Sprintf("conversation %q not found", shorten(name, 80))}
}

// fromStored turns stored messages back into chat messages: the raw JSON
// when it is a whole message, else the role and the text.
func fromStored(msgs []sessions.Message) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(msgs))
	for _, m := range msgs {
		if isObject(m.Raw) {
			var probe struct {
				Role string `json:"role"`
			}
			if json.Unmarshal(m.Raw, &probe) == nil && probe.Role != "" {
				out = append(out, m.Raw)
				continue
			}
		}
		out = append(out, mustJSON(map[string]string{"role": m.Role, "content": m.Content}))
	}
	return out
}

// storedRole maps a chat role onto the store's four.
func storedRole(role string) string {
	switch role {
	case "developer":
		return sessions.RoleSystem
	case "function":
		return sessions.RoleTool
	}
	return role
}
