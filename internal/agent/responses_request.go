// The body of POST /v1/responses: its input decoded into chat messages, its
// parameters translated into the upstream's chat completion ones, and the
// chat completion request built from them.

package agent

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"

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
	if background, err := optionalBool(fields, "background"); err != nil {
		return req, err
	} else if background {
		return req, badField("background", "background responses are not supported by this gateway: send the request without background (with stream: true, a long answer arrives as it is written)")
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
	return req, translateParams(fields, req.params)
}

// translateParams puts into params the chat completion form of the
// Responses parameters among fields: temperature and top_p as they are,
// max_output_tokens as max_tokens, user, reasoning.effort as
// reasoning_effort, and text.format as response_format.
func translateParams(fields, params map[string]json.RawMessage) error {
	for _, name := range []string{"temperature", "top_p", "max_output_tokens"} {
		raw, ok := fields[name]
		if !ok || isNull(raw) {
			continue
		}
		var f float64
		if json.Unmarshal(raw, &f) != nil {
			return badField(name, "%s must be a number", name)
		}
		key := name
		if name == "max_output_tokens" {
			if f < 1 || f != float64(int64(f)) {
				return badField(name, "max_output_tokens must be a whole number of at least 1")
			}
			key = "max_tokens"
		}
		params[key] = raw
	}
	if user, err := optionalString(fields, "user"); err != nil {
		return err
	} else if user != "" {
		params["user"] = mustJSON(user)
	}
	if raw, ok := fields["reasoning"]; ok && !isNull(raw) {
		var r struct {
			Effort *string `json:"effort"`
		}
		if !isObject(raw) || json.Unmarshal(raw, &r) != nil {
			return badField("reasoning", "reasoning must be an object such as {\"effort\": \"low\"}")
		}
		if r.Effort != nil && *r.Effort != "" {
			params["reasoning_effort"] = mustJSON(*r.Effort)
		}
	}
	if raw, ok := fields["text"]; ok && !isNull(raw) {
		rf, err := responseFormat(raw)
		if err != nil {
			return err
		}
		if rf != nil {
			params["response_format"] = rf
		}
	}
	return nil
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
	texts, chatParts, image, err := decodeInputParts(parts, param)
	if err != nil {
		return chatMessage{}, err
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

// decodeInputParts decodes the parts of a message's content: the texts of
// its text parts, all its parts in the chat completions' form, and whether
// one of them is an image.
func decodeInputParts(parts []json.RawMessage, param string) (texts []string, chatParts []any, image bool, err error) {
	for j, p := range parts {
		pp := fmt.Sprintf("%s.content[%d]", param, j)
		var part struct {
			Type     string  `json:"type"`
			Text     *string `json:"text"`
			ImageURL *string `json:"image_url"`
			Detail   string  `json:"detail"`
		}
		if !isObject(p) || json.Unmarshal(p, &part) != nil {
			return nil, nil, false, badField(pp, "%s must be an object with a \"type\"", pp)
		}
		switch part.Type {
		case "input_text", "output_text", "text":
			if part.Text == nil {
				return nil, nil, false, badField(pp+".text", "%s is a text part without \"text\"", pp)
			}
			texts = append(texts, *part.Text)
			chatParts = append(chatParts, map[string]string{"type": "text", "text": *part.Text})
		case "input_image":
			if part.ImageURL == nil || *part.ImageURL == "" {
				return nil, nil, false, badField(pp+".image_url", "%s is an image without an image_url (file ids are not supported)", pp)
			}
			img := map[string]string{"url": *part.ImageURL}
			if part.Detail != "" {
				img["detail"] = part.Detail
			}
			chatParts = append(chatParts, map[string]any{"type": "image_url", "image_url": img})
			image = true
		default:
			return nil, nil, false, badField(pp+".type", "%s.type %q is not supported (want input_text, output_text or input_image)", pp, shorten(part.Type, 40))
		}
	}
	return texts, chatParts, image, nil
}

// chatJSON is the chat completions form of m: its raw JSON when it has
// one, else {"role", "content"}.
func (m chatMessage) chatJSON() json.RawMessage {
	if len(m.raw) > 0 {
		return m.raw
	}
	return mustJSON(map[string]string{"role": m.role, "content": m.text})
}

// forUpstream is the chat completion request for req: the translated
// parameters, model, and as messages SOUL.md, the request's instructions
// (never carried over from a previous response, as in OpenAI's API), the
// history, then the input.
func (req responsesRequest) forUpstream(model string, system json.RawMessage, history []json.RawMessage) ([]byte, error) {
	var msgs []json.RawMessage
	if system != nil {
		msgs = append(msgs, system)
	}
	if req.Instructions != "" {
		msgs = append(msgs, mustJSON(map[string]string{"role": "system", "content": req.Instructions}))
	}
	msgs = append(msgs, history...)
	for _, m := range req.Input {
		msgs = append(msgs, m.chatJSON())
	}
	up := maps.Clone(req.params)
	up["model"] = mustJSON(model)
	up["messages"] = mustJSON(msgs)
	if req.Stream {
		up["stream"] = json.RawMessage("true")
		up["stream_options"] = json.RawMessage(`{"include_usage":true}`)
	}
	b, err := json.Marshal(up)
	if err != nil {
		return nil, fail(errInternal, "internal_error", "encoding the upstream request: %w", err)
	}
	return b, nil
}
