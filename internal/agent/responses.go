package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hermes-agent/hermes/internal/sessions"
)

// responsesRequest is what the gateway uses of a POST /v1/responses body.
type responsesRequest struct {
	Model              string
	Input              []chatMessage
	Instructions       string
	PreviousResponseID string
	Conversation       string
	Stream             bool
	Store              bool
	// params are the upstream's chat completion parameters translated
	// from the Responses ones (temperature, top_p, max_output_tokens →
	// max_tokens, user, reasoning.effort, text.format).
	params map[string]json.RawMessage
}

// decodeResponsesRequest decodes and validates the body of POST
// /v1/responses. The input (a string, or a list of messages whose content
// is text or images) becomes chat messages; function calls and tools are
// refused with a 400 that points to /v1/chat/completions. Unknown fields
// are ignored.
func decodeResponsesRequest(body []byte) (responsesRequest, error) {
	req := responsesRequest{Store: true, params: map[string]json.RawMessage{}}
	fields, err := decodeObject(body)
	if err != nil {
		return req, err
	}
	if req.Model, err = requiredString(fields, "model", "a model such as hermes-<profile>"); err != nil {
		return req, err
	}
	if req.Input, err = decodeInput(fields["input"]); err != nil {
		return req, err
	}
	if req.Instructions, err = optionalString(fields, "instructions"); err != nil {
		return req, err
	}
	if req.PreviousResponseID, err = optionalString(fields, "previous_response_id"); err != nil {
		return req, err
	}
	if req.Conversation, err = decodeConversation(fields["conversation"]); err != nil {
		return req, err
	}
	if req.PreviousResponseID != "" && req.Conversation != "" {
		return req, badField("conversation", "previous_response_id and conversation cannot be used together: a conversation keeps its own history")
	}
	if req.Stream, err = optionalBool(fields, "stream"); err != nil {
		return req, err
	}
	if raw, ok := fields["store"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &req.Store); err != nil {
			return req, badField("store", "store must be true or false")
		}
	}
	if raw, ok := fields["tools"]; ok && !isNull(raw) {
		var tools []json.RawMessage
		if json.Unmarshal(raw, &tools) != nil {
			return req, badField("tools", "tools must be a list")
		}
		if len(tools) > 0 {
			return req, badField("tools", "tools are not supported by this gateway's Responses API: use /v1/chat/completions for tool calls")
		}
	}
	for _, name := range []string{"temperature", "top_p", "max_output_tokens"} {
		raw, ok := fields[name]
		if !ok || isNull(raw) {
			continue
		}
		var f float64
		if json.Unmarshal(raw, &f) != nil {
			return req, badField(name, "%s must be a number", name)
		}
		key := name
		if name == "max_output_tokens" {
			if f < 1 || f != float64(int64(f)) {
				return req, badField(name, "max_output_tokens must be a whole number of at least 1")
			}
			key = "max_tokens"
		}
		req.params[key] = raw
	}
	if user, err := optionalString(fields, "user"); err != nil {
		return req, err
	} else if user != "" {
		req.params["user"] = mustJSON(user)
	}
	if raw, ok := fields["reasoning"]; ok && !isNull(raw) {
		var r struct {
			Effort *string `json:"effort"`
		}
		if !isObject(raw) || json.Unmarshal(raw, &r) != nil {
			return req, badField("reasoning", "reasoning must be an object such as {\"effort\": \"low\"}")
		}
		if r.Effort != nil && *r.Effort != "" {
			req.params["reasoning_effort"] = mustJSON(*r.Effort)
		}
	}
	if raw, ok := fields["text"]; ok && !isNull(raw) {
		rf, err := responseFormat(raw)
		if err != nil {
			return req, err
		}
		if rf != nil {
			req.params["response_format"] = rf
		}
	}
	return req, nil
}

// decodeConversation reads "conversation": a name, or {"id": name}.
func decodeConversation(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || isNull(raw) {
		return "", nil
	}
	var name string
	if json.Unmarshal(raw, &name) != nil {
		var obj struct {
			ID string `json:"id"`
		}
		if !isObject(raw) || json.Unmarshal(raw, &obj) != nil {
			return "", badField("conversation", "conversation must be a name or {\"id\": name}")
		}
		name = obj.ID
	}
	if err := sessions.ValidSessionID(name); err != nil {
		return "", badField("conversation", "invalid conversation name: %v", err)
	}
	return name, nil
}

// responseFormat translates text.format into the chat completions'
// response_format (nil for plain text).
func responseFormat(raw json.RawMessage) (json.RawMessage, error) {
	var text struct {
		Format *struct {
			Type        string          `json:"type"`
			Name        string          `json:"name"`
			Schema      json.RawMessage `json:"schema"`
			Strict      *bool           `json:"strict"`
			Description string          `json:"description"`
		} `json:"format"`
	}
	if !isObject(raw) || json.Unmarshal(raw, &text) != nil {
		return nil, badField("text", "text must be an object such as {\"format\": {\"type\": \"text\"}}")
	}
	if text.Format == nil {
		return nil, nil
	}
	switch f := text.Format; f.Type {
	case "", "text":
		return nil, nil
	case "json_object":
		return json.RawMessage(`{"type":"json_object"}`), nil
	case "json_schema":
		if f.Name == "" || len(f.Schema) == 0 {
			return nil, badField("text.format", "text.format of type json_schema needs a name and a schema")
		}
		js := map[string]any{"name": f.Name, "schema": f.Schema}
		if f.Strict != nil {
			js["strict"] = *f.Strict
		}
		if f.Description != "" {
			js["description"] = f.Description
		}
		return mustJSON(map[string]any{"type": "json_schema", "json_schema": js}), nil
	default:
		return nil, badField("text.format", "text.format.type %q is not supported (want text, json_object or json_schema)", shorten(f.Type, 40))
	}
}

// decodeInput turns "input" into chat messages.
func decodeInput(raw json.RawMessage) ([]chatMessage, error) {
	if len(raw) == 0 || isNull(raw) {
		return nil, badField("input", "input is required: a string, or a list of messages")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil, badField("input", "input must not be empty")
		}
		return []chatMessage{{role: "user", text: s}}, nil
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil, badField("input", "input must be a string or a list of messages")
	}
	if len(items) == 0 {
		return nil, badField("input", "input must not be empty")
	}
	out := make([]chatMessage, 0, len(items))
	for i, it := range items {
		m, err := decodeInputItem(it, fmt.Sprintf("input[%d]", i))
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// inputRoles are the roles of an input message.
var inputRoles = map[string]bool{"user": true, "assistant": true, "system": true, "developer": true}

// decodeInputItem turns one input item, a message, into a chat message:
// text parts become a string content, images image_url parts.
func decodeInputItem(raw json.RawMessage, param string) (chatMessage, error) {
	var it struct {
		Type    *string         `json:"type"`
		Role    *string         `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if !isObject(raw) || json.Unmarshal(raw, &it) != nil {
		return chatMessage{}, badField(param, "%s must be a message object with \"role\" and \"content\"", param)
	}
	if it.Type != nil && *it.Type != "message" {
		return chatMessage{}, badField(param+".type", "%s.type %q is not supported here (only messages); use /v1/chat/completions for tool calls", param, shorten(*it.Type, 40))
	}
	if it.Role == nil || !inputRoles[*it.Role] {
		return chatMessage{}, badField(param+".role", "%s.role must be one of user, assistant, system, developer", param)
	}
	role := *it.Role
	if len(it.Content) == 0 || isNull(it.Content) {
		return chatMessage{}, badField(param+".content", "%s.content is required", param)
	}
	var s string
	if json.Unmarshal(it.Content, &s) == nil {
		return chatMessage{role: role, text: s}, nil
	}
	var parts []json.RawMessage
	if json.Unmarshal(it.Content, &parts) != nil {
		return chatMessage{}, badField(param+".content", "%s.content must be a string or a list of parts", param)
	}
	var texts []string
	var chatParts []any
	image := false
	for j, p := range parts {
		pp := fmt.Sprintf("%s.content[%d]", param, j)
		var part struct {
			Type     string  `json:"type"`
			Text     *string `json:"text"`
			ImageURL *string `json:"image_url"`
			Detail   string  `json:"detail"`
		}
		if !isObject(p) || json.Unmarshal(p, &part) != nil {
			return chatMessage{}, badField(pp, "%s must be an object with a \"type\"", pp)
		}
		switch part.Type {
		case "input_text", "output_text", "text":
			if part.Text == nil {
				return chatMessage{}, badField(pp+".text", "%s is a text part without \"text\"", pp)
			}
			texts = append(texts, *part.Text)
			chatParts = append(chatParts, map[string]string{"type": "text", "text": *part.Text})
		case "input_image":
			if part.ImageURL == nil || *part.ImageURL == "" {
				return chatMessage{}, badField(pp+".image_url", "%s is an image without an image_url (file ids are not supported)", pp)
			}
			img := map[string]string{"url": *part.ImageURL}
			if part.Detail != "" {
				img["detail"] = part.Detail
			}
			chatParts = append(chatParts, map[string]any{"type": "image_url", "image_url": img})
			image = true
		default:
			return chatMessage{}, badField(pp+".type", "%s.type %q is not supported (want input_text, output_text or input_image)", pp, shorten(part.Type, 40))
		}
	}
	text := strings.Join(texts, "\n")
	if !image || role != "user" {
		if image {
			return chatMessage{}, badField(param+".content", "%s: images are only allowed in user messages", param)
		}
		return chatMessage{role: role, text: text}, nil
	}
	return chatMessage{role: role, text: text, raw: mustJSON(map[string]any{"role": role, "content": chatParts})}, nil
}

// chatJSON is the chat completions form of m: its raw JSON when it has
// one, else {"role", "content"}.
func (m chatMessage) chatJSON() json.RawMessage {
	if len(m.raw) > 0 {
		return m.raw
	}
	return mustJSON(map[string]string{"role": m.role, "content": m.text})
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
	var history []json.RawMessage
	switch {
	case req.PreviousResponseID != "":
		prev, err := a.store.GetResponse(ctx, req.PreviousResponseID)
		if errors.Is(err, sessions.ErrNotFound) {
			return &apiError{kind: ErrBadRequest, code: "previous_response_not_found", param: "previous_response_id",
				msg: fmt.Sprintf("previous response %q not found (or deleted)", shorten(req.PreviousResponseID, 80))}
		}
		if err != nil {
			return fail(ErrUnavailable, "store_failed", "reading the sessions store: %w", err)
		}
		chain, err := a.store.ResponseChain(ctx, prev.ID)
		if err != nil {
			return fail(ErrUnavailable, "store_failed", "reading the history of %s: %w", prev.ID, err)
		}
		history = fromStored(chain)
		if given && sid != prev.SessionID {
			return badField("previous_response_id", "response %s belongs to session %s, but %s names %s: a continuation stays in its session", prev.ID, prev.SessionID, SessionHeader, sid)
		}
		sid = prev.SessionID
	case req.Conversation != "":
		csid, err := a.store.ConversationSession(ctx, req.Conversation)
		if err != nil {
			return fail(ErrUnavailable, "store_failed", "reading the sessions store: %w", err)
		}
		if given && csid != sid {
			return badField("conversation", "conversation %q is recorded in session %s, but %s names %s", req.Conversation, csid, SessionHeader, sid)
		}
		sid = csid
		_, msgs, err := a.store.Get(ctx, csid)
		if err != nil && !errors.Is(err, sessions.ErrNotFound) {
			return fail(ErrUnavailable, "store_failed", "reading conversation %q: %w", req.Conversation, err)
		}
		history = fromStored(msgs)
	}

	msgs := systemMessages(system)
	if req.Instructions != "" {
		msgs = append(msgs, mustJSON(map[string]string{"role": "system", "content": req.Instructions}))
	}
	msgs = append(msgs, history...)
	for _, m := range req.Input {
		msgs = append(msgs, m.chatJSON())
	}
	up := req.params
	up["model"] = mustJSON(tgt.model)
	up["messages"] = mustJSON(msgs)
	if req.Stream {
		up["stream"] = json.RawMessage("true")
		up["stream_options"] = json.RawMessage(`{"include_usage":true}`)
	}
	upBody, err := json.Marshal(up)
	if err != nil {
		return fail(errInternal, "internal_error", "encoding the upstream request: %w", err)
	}
	res := &response{
		ID:                 sessions.NewResponseID(),
		Object:             "response",
		CreatedAt:          a.now().Unix(),
		Status:             "in_progress",
		Model:              req.Model,
		Output:             []outputItem{},
		PreviousResponseID: nullable(req.PreviousResponseID),
		Instructions:       nullable(req.Instructions),
		Store:              req.Store,
		Tools:              []any{},
		ToolChoice:         "auto",
		Metadata:           map[string]string{},
		Text:               textConfig{Format: map[string]string{"type": "text"}},
	}
	if req.Conversation != "" {
		res.Conversation = &conversationRef{ID: req.Conversation}
	}
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
	msgID := "msg_" + strings.TrimPrefix(res.ID, "resp_")
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
	id := strings.TrimPrefix(r.URL.Path, "/v1/responses/")
	s, err := a.store.GetResponse(r.Context(), id)
	if errors.Is(err, sessions.ErrNotFound) {
		return responseNotFound(id)
	}
	if err != nil {
		return fail(ErrUnavailable, "store_failed", "reading the sessions store: %w", err)
	}
	res := &response{
		ID: s.ID, Object: "response", CreatedAt: s.CreatedAt.Unix(), Model: s.Model, Output: []outputItem{},
		PreviousResponseID: nullable(s.PreviousResponseID), Store: true, Tools: []any{}, ToolChoice: "auto",
		Metadata: map[string]string{}, Text: textConfig{Format: map[string]string{"type": "text"}},
	}
	if s.Conversation != "" {
		res.Conversation = &conversationRef{ID: s.Conversation}
	}
	var u *upstreamUsage
	if s.Usage != nil {
		u = &upstreamUsage{PromptTokens: s.Usage.PromptTokens, CompletionTokens: s.Usage.CompletionTokens, TotalTokens: s.Usage.TotalTokens}
	}
	res.complete(s.OutputText, u)
	res.Status = s.Status
	w.Header().Set(SessionHeader, s.SessionID)
	writeJSON(w, http.StatusOK, res)
	return nil
}

// deleteResponse is DELETE /v1/responses/{id}.
func (a *Agent) deleteResponse(w http.ResponseWriter, r *http.Request) error {
	if a.store == nil {
		return fail(ErrUnavailable, "no_store", "the gateway of profile %s has no sessions store", a.profile)
	}
	id := strings.TrimPrefix(r.URL.Path, "/v1/responses/")
	err := a.store.DeleteResponse(r.Context(), id)
	if errors.Is(err, sessions.ErrNotFound) {
		return responseNotFound(id)
	}
	if err != nil {
		return fail(ErrUnavailable, "store_failed", "writing the sessions store: %w", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "response.deleted", "deleted": true})
	return nil
}

func responseNotFound(id string) error {
	return &apiError{kind: ErrNotFound, code: "response_not_found", msg: fmt.Sprintf("response %q not found", shorten(id, 80))}
}

// response is a Responses API response object, with the fields the
// OpenAI SDKs read.
type response struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	CreatedAt          int64             `json:"created_at"`
	Status             string            `json:"status"`
	Error              *responseError    `json:"error"`
	IncompleteDetails  any               `json:"incomplete_details"`
	Instructions       *string           `json:"instructions"`
	Model              string            `json:"model"`
	Output             []outputItem      `json:"output"`
	OutputText         string            `json:"output_text"`
	ParallelToolCalls  bool              `json:"parallel_tool_calls"`
	PreviousResponseID *string           `json:"previous_response_id"`
	Conversation       *conversationRef  `json:"conversation,omitempty"`
	Store              bool              `json:"store"`
	Text               textConfig        `json:"text"`
	ToolChoice         string            `json:"tool_choice"`
	Tools              []any             `json:"tools"`
	Usage              *responseUsage    `json:"usage"`
	Metadata           map[string]string `json:"metadata"`
}

type responseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type conversationRef struct {
	ID string `json:"id"`
}

type textConfig struct {
	Format map[string]string `json:"format"`
}

type outputItem struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Status  string          `json:"status"`
	Role    string          `json:"role"`
	Content []outputContent `json:"content"`
}

type outputContent struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
}

type responseUsage struct {
	InputTokens         int64          `json:"input_tokens"`
	InputTokensDetails  map[string]int `json:"input_tokens_details"`
	OutputTokens        int64          `json:"output_tokens"`
	OutputTokensDetails map[string]int `json:"output_tokens_details"`
	TotalTokens         int64          `json:"total_tokens"`
}

// complete fills a response with its output text and usage.
func (res *response) complete(text string, u *upstreamUsage) {
	res.Status = "completed"
	res.OutputText = text
	res.Output = []outputItem{{
		ID: "msg_" + strings.TrimPrefix(res.ID, "resp_"), Type: "message", Status: "completed", Role: "assistant",
		Content: []outputContent{{Type: "output_text", Text: text, Annotations: []any{}}},
	}}
	if u != nil {
		res.Usage = &responseUsage{
			InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.TotalTokens,
			InputTokensDetails: map[string]int{"cached_tokens": 0}, OutputTokensDetails: map[string]int{"reasoning_tokens": 0},
		}
	}
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
