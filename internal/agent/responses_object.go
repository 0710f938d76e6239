// The Responses API's response object, the wire shape the OpenAI SDKs
// read, and how it is made: for a new request, completed, or read back
// from the store.

package agent

import (
	"time"

	"github.com/hermes-agent/hermes/internal/sessions"
)

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

// newResponse is the object of a response to req created at now, in
// progress.
func newResponse(req responsesRequest, now time.Time) *response {
	res := &response{
		ID:                 sessions.NewResponseID(),
		Object:             "response",
		CreatedAt:          now.Unix(),
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
	return res
}

// storedResponse is the object of a response read back from the store.
func storedResponse(s sessions.Response) *response {
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
	return res
}

// complete fills a response with its output text and usage.
func (res *response) complete(text string, u *upstreamUsage) {
	res.Status = "completed"
	res.OutputText = text
	res.Output = []outputItem{{
		ID: outputItemID(res.ID), Type: "message", Status: "completed", Role: "assistant",
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
