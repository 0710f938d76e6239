// GET /v1/responses/{id}/input_items: the input of a stored response (what
// it continued, then its own input) as the Responses API's items, in pages
// of limit items, in either order, after a cursor.

package agent

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/hermes-agent/hermes/internal/sessions"
)

// The bounds of input_items' limit, as the Responses API has them.
const (
	defaultItemsLimit = 20
	maxItemsLimit     = 100
)

// inputItem is an item of a response's input: a message ("message") or a
// tool's result ("function_call_output").
type inputItem struct {
	ID      string  `json:"id"`
	Type    string  `json:"type"`
	Status  string  `json:"status"`
	Role    string  `json:"role,omitempty"`
	Content []any   `json:"content,omitempty"`
	CallID  string  `json:"call_id,omitempty"`
	Output  *string `json:"output,omitempty"`
}

// itemList is the list envelope of input_items.
type itemList struct {
	Object  string      `json:"object"`
	Data    []inputItem `json:"data"`
	FirstID *string     `json:"first_id"`
	LastID  *string     `json:"last_id"`
	HasMore bool        `json:"has_more"`
}

// itemsQuery is what input_items takes from the query string.
type itemsQuery struct {
	limit int
	asc   bool
	after string
}

// parseItemsQuery reads limit (1 to 100, default 20), order (asc or desc,
// the default) and after (an item id); other parameters (include) are
// ignored.
func parseItemsQuery(r *http.Request) (itemsQuery, error) {
	q := itemsQuery{limit: defaultItemsLimit}
	v := r.URL.Query()
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxItemsLimit {
			return q, badField("limit", "limit must be a whole number from 1 to %d, got %q", maxItemsLimit, shorten(s, 40))
		}
		q.limit = n
	}
	switch o := v.Get("order"); o {
	case "", "desc":
	case "asc":
		q.asc = true
	default:
		return q, badField("order", "order must be asc or desc, got %q", shorten(o, 40))
	}
	q.after = v.Get("after")
	return q, nil
}

// listInputItems is GET /v1/responses/{response_id}/input_items.
func (a *Agent) listInputItems(w http.ResponseWriter, r *http.Request) error {
	if a.store == nil {
		return fail(ErrUnavailable, "no_store", "the gateway of profile %s has no sessions store", a.profile)
	}
	q, err := parseItemsQuery(r)
	if err != nil {
		return err
	}
	id := r.PathValue("response_id")
	msgs, err := a.store.ResponseInput(r.Context(), a.profile, id)
	if errors.Is(err, sessions.ErrNotFound) {
		return responseNotFound(id)
	}
	if err != nil {
		return fail(ErrUnavailable, "store_failed", "reading the sessions store: %w", err)
	}
	items := inputItems(id, msgs)
	if !q.asc {
		slices.Reverse(items)
	}
	start := 0
	if q.after != "" {
		i := slices.IndexFunc(items, func(it inputItem) bool { return it.ID == q.after })
		if i < 0 {
			return &apiError{kind: ErrBadRequest, code: "invalid_cursor", param: "after",
				msg: "after names no input item of response " + shorten(id, 80) + ": pass the id of an item this list returned"}
		}
		start = i + 1
	}
	end := min(start+q.limit, len(items))
	page := itemList{Object: "list", Data: items[start:end], HasMore: end < len(items)}
	if len(page.Data) > 0 {
		page.FirstID, page.LastID = &page.Data[0].ID, &page.Data[len(page.Data)-1].ID
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// inputItems are the stored messages of response id's input as items, in
// order. An item's id is stable: the output of an earlier response keeps
// the id it had in that response's output (msg_<its id>), and every other
// message gets one derived from its place in its session.
func inputItems(id string, msgs []sessions.Message) []inputItem {
	last := map[string]int{} // the index of each response's last message: its output
	for i, m := range msgs {
		if m.ResponseID != "" {
			last[m.ResponseID] = i
		}
	}
	items := make([]inputItem, 0, len(msgs))
	for i, m := range msgs {
		itemID := messageItemID(m)
		if m.ResponseID != "" && m.ResponseID != id && last[m.ResponseID] == i && m.Role == sessions.RoleAssistant {
			itemID = outputItemID(m.ResponseID)
		}
		items = append(items, messageItem(itemID, m))
	}
	return items
}

// outputItemID is the id of the output message of response id.
func outputItemID(id string) string { return "msg_" + strings.TrimPrefix(id, "resp_") }

// messageItemID is the id of a stored message as an input item: a digest
// of its session and its place there, so that it is the same in every
// list and after a restart.
func messageItemID(m sessions.Message) string {
	sum := sha256.Sum256([]byte(m.SessionID + "\x00" + strconv.Itoa(m.Seq)))
	return "msg_" + idEncoding.EncodeToString(sum[:15])
}

// messageItem is a stored message in the Responses API's form: a user,
// system or developer message with input_text and input_image parts, an
// assistant message with output_text, or a tool's result.
func messageItem(id string, m sessions.Message) inputItem {
	it := inputItem{ID: id, Type: "message", Status: "completed", Role: m.Role}
	switch m.Role {
	case sessions.RoleAssistant:
		it.Content = []any{outputContent{Type: "output_text", Text: m.Content, Annotations: []any{}}}
	case sessions.RoleTool:
		var tm struct {
			ToolCallID string `json:"tool_call_id"`
		}
		json.Unmarshal(m.Raw, &tm)
		out := m.Content
		it = inputItem{ID: id, Type: "function_call_output", Status: "completed", CallID: tm.ToolCallID, Output: &out}
	default:
		it.Content = inputParts(m)
	}
	return it
}

// inputParts are the parts of a stored input message: its text, or, when
// its raw form holds parts (an image), each of them.
func inputParts(m sessions.Message) []any {
	var raw struct {
		Content []struct {
			Type     string `json:"type"`
			Text     string `json:"text"`
			ImageURL struct {
				URL    string `json:"url"`
				Detail string `json:"detail"`
			} `json:"image_url"`
		} `json:"content"`
	}
	if len(m.Raw) == 0 || json.Unmarshal(m.Raw, &raw) != nil || len(raw.Content) == 0 {
		return []any{map[string]string{"type": "input_text", "text": m.Content}}
	}
	parts := make([]any, 0, len(raw.Content))
	for _, p := range raw.Content {
		switch p.Type {
		case "image_url":
			img := map[string]string{"type": "input_image", "image_url": p.ImageURL.URL, "detail": p.ImageURL.Detail}
			if img["detail"] == "" {
				img["detail"] = "auto"
			}
			parts = append(parts, img)
		case "text", "input_text", "output_text":
			parts = append(parts, map[string]string{"type": "input_text", "text": p.Text})
		}
	}
	return parts
}
