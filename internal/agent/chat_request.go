package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// chatRoles are the roles a message may have.
var chatRoles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true}

// chatRequest is what the gateway uses of a chat completion request. The
// other fields (temperature, tools, response_format, …) go to the
// upstream as they came, in fields.
type chatRequest struct {
	body         []byte // as the client sent it
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
	req.body, req.fields = body, fields
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

// systemMessage is SOUL.md's prompt as the first message of a request,
// {"content": text, "role": "system"}; nil when SOUL.md holds nothing.
// loadSOUL makes it once each time the file changes, not every request
// that sends it.
func systemMessage(text string) json.RawMessage {
	if text == "" {
		return nil
	}
	return mustJSON(map[string]string{"role": "system", "content": text})
}

// forUpstream is the request for the upstream: the client's fields, the
// configured model, SOUL.md as the first system message followed by the
// client's messages unchanged (its own system messages come after
// SOUL.md, never instead of it), and usage asked for when streaming. It
// is the client's body with those members put in (withFields), not a
// decode and an encode: every other byte is the client's.
func (req chatRequest) forUpstream(model string, sys json.RawMessage) ([]byte, error) {
	n := 2
	for _, m := range req.Messages {
		n += len(m.raw) + 1
	}
	if sys != nil {
		n += len(sys) + 1
	}
	msgs := make([]byte, 0, n)
	msgs = append(msgs, '[')
	msgs = append(msgs, sys...)
	for i, m := range req.Messages {
		if i > 0 || sys != nil {
			msgs = append(msgs, ',')
		}
		msgs = append(msgs, m.raw...)
	}
	msgs = append(msgs, ']')
	set := []field{{"model", mustJSON(model)}, {"messages", msgs}}
	if req.Stream {
		so := map[string]json.RawMessage{}
		if raw, ok := req.fields["stream_options"]; ok && !isNull(raw) {
			json.Unmarshal(raw, &so)
		}
		so["include_usage"] = json.RawMessage("true")
		set = append(set, field{"stream_options", mustJSON(so)})
	}
	b, err := withFields(req.body, set)
	if err != nil {
		return nil, fail(ErrBadRequest, "invalid_json", "re-encoding the request: %w", err)
	}
	return b, nil
}
