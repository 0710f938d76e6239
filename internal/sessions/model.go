package sessions

import (
	"encoding/json"
	"time"
)

// ActiveWindow is how recent a session's last activity must be for it to
// count as active (CONTRACT §7, /api/status active_sessions).
const ActiveWindow = 300 * time.Second

// TitleRunes is the length, in runes, of a session's title.
const TitleRunes = 80

// The roles of a message.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Usage is the token usage an upstream reports for a completion.
type Usage struct {
	// PromptTokens is the number of tokens of the input.
	PromptTokens int64 `json:"prompt_tokens"`
	// CompletionTokens is the number of tokens generated.
	CompletionTokens int64 `json:"completion_tokens"`
	// TotalTokens is what the upstream reports as the total (usually the
	// sum of the two; kept as reported).
	TotalTokens int64 `json:"total_tokens"`
}

func (u *Usage) add(v Usage) {
	u.PromptTokens += v.PromptTokens
	u.CompletionTokens += v.CompletionTokens
	u.TotalTokens += v.TotalTokens
}

// Session is one conversation of a profile's agent.
type Session struct {
	// ID is the session id: the X-Hermes-Session-Id header of the requests
	// that belong to it (see ValidSessionID).
	ID string `json:"id"`
	// Profile is the profile whose gateway recorded it.
	Profile string `json:"profile"`
	// Model is the model of the latest turn that named one.
	Model string `json:"model"`
	// StartedAt is the time of its first turn.
	StartedAt time.Time `json:"started_at"`
	// LastActivityAt is the time of its latest turn.
	LastActivityAt time.Time `json:"last_activity_at"`
	// EndedAt is when it was ended (EndSession); nil while it is open. A
	// new turn reopens an ended session.
	EndedAt *time.Time `json:"ended_at"`
	// MessageCount is the number of its messages.
	MessageCount int `json:"message_count"`
	// PromptTokens, CompletionTokens and TotalTokens are the usage summed
	// over the turns for which the upstream reported one (0 when it never
	// did).
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
	// Title is its first user message, on one line, truncated to
	// TitleRunes runes ("…" marks a cut).
	Title string `json:"title"`
}

// Active reports whether s counts in active_sessions at now: not ended, and
// its last activity no more than ActiveWindow before now.
func (s Session) Active(now time.Time) bool {
	return s.EndedAt == nil && now.Sub(s.LastActivityAt) <= ActiveWindow
}

// Message is one message of a session.
type Message struct {
	// SessionID is the session it belongs to (set by the store).
	SessionID string `json:"session_id"`
	// Seq is its position in the session, from 1 (set by the store).
	Seq int `json:"seq"`
	// Role is one of "system", "user", "assistant" and "tool".
	Role string `json:"role"`
	// Content is its text (for structured content, the text parts joined).
	Content string `json:"content"`
	// Raw is the original JSON of non-text content (content parts, tool
	// calls) as the client or the upstream sent it; empty for plain text.
	Raw json.RawMessage `json:"raw,omitempty"`
	// CreatedAt is when it was appended (the turn's time unless set).
	CreatedAt time.Time `json:"created_at"`
	// Model is the model that produced an assistant message (the turn's
	// model unless set); empty for the others.
	Model string `json:"model,omitempty"`
	// Usage is the usage reported for an assistant message; nil when the
	// upstream reported none.
	Usage *Usage `json:"usage,omitempty"`
	// ResponseID is the Responses API response whose turn carried it
	// (input and output alike); empty for chat-completions turns.
	ResponseID string `json:"response_id,omitempty"`
}

// Turn is what AppendTurn records: the new messages of one exchange.
type Turn struct {
	// SessionID names the session; it is created by its first turn.
	SessionID string
	// Profile is the profile serving the turn (recorded when the session
	// is created).
	Profile string
	// Model is the model that answered; it becomes the session's model and
	// the model of the turn's assistant messages that name none.
	Model string
	// Messages are the new messages, in order: the user's message(s) and
	// the assistant's reply (tool messages included). Their SessionID and
	// Seq are ignored and set by the store.
	Messages []Message
	// Usage is the usage the upstream reported for the turn, nil when it
	// reported none. It is added to the session's totals and recorded on
	// the turn's last assistant message when that has no Usage of its own.
	// When it is nil, the usages of the turn's messages are added instead.
	Usage *Usage
	// At is the time of the turn; zero means the store's clock.
	At time.Time
}

// Response is one response of the Responses API.
type Response struct {
	// ID is the response id ("resp_…", see NewResponseID).
	ID string `json:"id"`
	// SessionID is the session that holds its messages.
	SessionID string `json:"session_id"`
	// PreviousResponseID is the response it continues, empty for none.
	PreviousResponseID string `json:"previous_response_id,omitempty"`
	// Conversation is the named conversation it belongs to, if any.
	Conversation string `json:"conversation,omitempty"`
	// CreatedAt is when it was created; zero means the store's clock.
	CreatedAt time.Time `json:"created_at"`
	// Status is the Responses API status ("completed", "failed",
	// "in_progress", ...).
	Status string `json:"status"`
	// OutputText is the text of its output.
	OutputText string `json:"output_text"`
	// Model is the model that produced it.
	Model string `json:"model"`
	// Usage is the usage reported for it, nil when none was.
	Usage *Usage `json:"usage,omitempty"`
	// Deleted is set by DeleteResponse: a deleted response is kept (its
	// messages stay in its session) but cannot be read nor continued
	// (ErrDeleted).
	Deleted bool `json:"deleted"`
}

// ListOptions selects the sessions List returns.
type ListOptions struct {
	// Limit is the largest number of sessions returned; 0 or less means all.
	Limit int
	// Offset skips that many sessions of the ordering first.
	Offset int
	// ActiveOnly keeps the sessions that are active at Now (see
	// Session.Active).
	ActiveOnly bool
	// Now is the time ActiveOnly is judged at; zero means the store's clock.
	Now time.Time
	// Profile keeps the sessions recorded by that profile; "" keeps all.
	Profile string
}
