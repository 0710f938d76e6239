package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/hermes-agent/hermes/internal/sessions"
	"github.com/hermes-agent/hermes/internal/testenv"
)

// sdk is the official OpenAI Go client pointed at the agent, unchanged
// but for its base URL and key.
func sdk(p *testProfile, opts ...option.RequestOption) openai.Client {
	return openai.NewClient(append([]option.RequestOption{
		option.WithBaseURL(p.srv.URL + "/v1/"),
		option.WithAPIKey(testKey),
		option.WithMaxRetries(0),
	}, opts...)...)
}

func TestOpenAISDKChatCompletions(t *testing.T) {
	p := newProfile(t, profileOpts{})
	client := sdk(p)
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{
		Model:    "hermes-coder",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."), openai.UserMessage("hello sdk")},
	}

	var httpResp *http.Response
	c, err := client.Chat.Completions.New(ctx, params, option.WithResponseInto(&httpResp))
	if err != nil {
		t.Fatalf("Chat.Completions.New: %v", err)
	}
	if got, want := c.Choices[0].Message.Content, "echo: hello sdk"; got != want {
		t.Errorf("content = %q, want %q", got, want)
	}
	if c.Usage.TotalTokens != 10 {
		t.Errorf("usage = %+v, want the upstream's", c.Usage)
	}
	if httpResp.Header.Get(SessionHeader) == "" {
		t.Errorf("no %s on the answer", SessionHeader)
	}

	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := client.Chat.Completions.NewStreaming(ctx, params)
	acc := openai.ChatCompletionAccumulator{}
	chunks := 0
	for stream.Next() {
		if !acc.AddChunk(stream.Current()) {
			t.Errorf("the SDK's accumulator refused chunk %d: %s", chunks, stream.Current().RawJSON())
		}
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if got, want := acc.Choices[0].Message.Content, "echo: hello sdk"; got != want {
		t.Errorf("streamed content = %q, want %q", got, want)
	}
	if chunks < 3 || acc.Usage.TotalTokens == 0 {
		t.Errorf("%d chunks, usage %+v: want several chunks and the usage", chunks, acc.Usage)
	}
	if got, want := p.up.last(t).Messages, []testMessage{system(testSOUL), system("Be brief."), user("hello sdk")}; !reflect.DeepEqual(got, want) {
		t.Errorf("upstream messages = %+v, want %+v", got, want)
	}

	// Errors arrive as the SDK's *openai.Error with the status.
	var apiErr *openai.Error
	wrong := sdk(p, option.WithAPIKey("wrong"))
	_, err = wrong.Chat.Completions.New(ctx, params)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Errorf("wrong key: %v, want a 401", err)
	}
}

// A client hard-coded to a model name is served: hermes-agent (the
// reference's name), gpt-4o, anything; the name it sent comes back where
// the protocol echoes it, the id is the gateway's, the same in every
// chunk and never the upstream's, streamed or not; model.aliases routes
// the names it maps to their own upstream model; the usage reaches a
// streaming client that asks for it as the SDK reads it.
func TestOpenAISDKModelNames(t *testing.T) {
	p := newProfile(t, profileOpts{config: aliasConfig})
	client := sdk(p)
	ctx := context.Background()
	tests := []struct{ sent, upstream string }{
		{"hermes-agent", testModel},
		{"hermes-coder", testModel},
		{"gpt-4o", "big-model"},     // model.aliases
		{"fast", "small-model"},     // model.aliases
		{"gpt-4.1-mini", testModel}, // a name the profile does not map
		{testModel, testModel},
	}
	for _, tt := range tests {
		t.Run(tt.sent, func(t *testing.T) {
			params := openai.ChatCompletionNewParams{Model: tt.sent, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
			c, err := client.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := p.up.last(t).model(); got != tt.upstream {
				t.Errorf("the upstream was asked for %q, want %q", got, tt.upstream)
			}
			if c.Model != tt.sent || !strings.HasPrefix(c.ID, "chatcmpl-") || c.ID == "chatcmpl-1" {
				t.Errorf("answer id %q model %q, want the gateway's id and the model sent, %q", c.ID, c.Model, tt.sent)
			}

			for _, withUsage := range []bool{true, false} {
				sp := params
				if withUsage {
					sp.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
				}
				stream := client.Chat.Completions.NewStreaming(ctx, sp)
				acc := openai.ChatCompletionAccumulator{}
				ids := map[string]bool{}
				for stream.Next() {
					ch := stream.Current()
					if !acc.AddChunk(ch) {
						t.Errorf("the accumulator refused %s", ch.RawJSON())
					}
					ids[ch.ID] = true
					if ch.Model != tt.sent {
						t.Errorf("a chunk names the model %q, want %q", ch.Model, tt.sent)
					}
				}
				if err := stream.Err(); err != nil {
					t.Fatalf("stream: %v", err)
				}
				if len(ids) != 1 || ids["chatcmpl-1"] || !strings.HasPrefix(acc.ID, "chatcmpl-") || acc.ID == c.ID {
					t.Errorf("chunk ids %v (accumulated %q), want one id of the gateway's, new for this request", ids, acc.ID)
				}
				if got := p.up.last(t).model(); got != tt.upstream {
					t.Errorf("the streamed upstream call asked for %q, want %q", got, tt.upstream)
				}
				if got := acc.Usage.TotalTokens > 0; got != withUsage {
					t.Errorf("include_usage=%v: usage %+v reached the client", withUsage, acc.Usage)
				}
				if acc.Choices[0].Message.Content != "echo: hi" {
					t.Errorf("streamed content = %q", acc.Choices[0].Message.Content)
				}
			}

			r, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: tt.sent, Input: text("hi")})
			if err != nil {
				t.Fatalf("Responses.New: %v", err)
			}
			if r.Model != tt.sent || p.up.last(t).model() != tt.upstream {
				t.Errorf("response model %q, upstream asked for %q; want %q and %q", r.Model, p.up.last(t).model(), tt.sent, tt.upstream)
			}
		})
	}
	// The store records the upstream model, not only the name sent.
	list, err := p.store.List(ctx, sessions.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	models := map[string]bool{}
	for _, s := range list {
		models[s.Model] = true
	}
	if want := map[string]bool{testModel: true, "big-model": true, "small-model": true}; !reflect.DeepEqual(models, want) {
		t.Errorf("the sessions record the models %v, want the upstream's %v", models, want)
	}
}

func TestOpenAISDKModels(t *testing.T) {
	p := newProfile(t, profileOpts{config: aliasConfig})
	client := sdk(p)
	ctx := context.Background()
	page, err := client.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if want := []string{"hermes-coder", "hermes-agent", testModel, "fast", "gpt-4o"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("models = %q, want %q", ids, want)
	}
	for _, id := range []string{"hermes-agent", "gpt-4o", "o3-mini"} {
		if m, err := client.Models.Get(ctx, id); err != nil || m.ID != id {
			t.Errorf("Models.Get(%s) = %+v, %v", id, m, err)
		}
	}
}

// text is the string input of a Responses request.
func text(s string) responses.ResponseNewParamsInputUnion {
	return responses.ResponseNewParamsInputUnion{OfString: openai.String(s)}
}

// A chain of responses through previous_response_id, which goes on after
// the agent and its store are closed and reopened on the same state.db.
func TestOpenAISDKResponsesChainSurvivesRestart(t *testing.T) {
	p := newProfile(t, profileOpts{})
	ctx := context.Background()
	client := sdk(p)

	r1, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "hermes-coder", Input: text("one"), Instructions: openai.String("Count.")})
	if err != nil {
		t.Fatalf("first response: %v", err)
	}
	if got := r1.OutputText(); got != "echo: one" {
		t.Errorf("first output = %q", got)
	}
	if got, want := p.up.last(t).Messages, []testMessage{system(testSOUL), system("Count."), user("one")}; !reflect.DeepEqual(got, want) {
		t.Errorf("upstream messages = %+v, want SOUL.md, the instructions, the input: %+v", got, want)
	}
	r2, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "hermes-coder", Input: text("two"), PreviousResponseID: openai.String(r1.ID)})
	if err != nil {
		t.Fatalf("second response: %v", err)
	}
	want := []testMessage{system(testSOUL), user("one"), asst("echo: one"), user("two")}
	if got := p.up.last(t).Messages; !reflect.DeepEqual(got, want) {
		t.Errorf("upstream messages of the continuation = %+v, want %+v", got, want)
	}

	// Streamed, still in the chain.
	stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "hermes-coder", Input: text("three"), PreviousResponseID: openai.String(r2.ID)})
	var types []string
	var deltas strings.Builder
	var r3 responses.Response
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		switch ev.Type {
		case "response.output_text.delta":
			deltas.WriteString(ev.Delta)
		case "response.completed":
			r3 = ev.Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	for _, typ := range []string{"response.created", "response.output_text.delta", "response.output_text.done", "response.completed"} {
		if !contains(types, typ) {
			t.Errorf("stream events %q lack %s", types, typ)
		}
	}
	if types[0] != "response.created" || types[len(types)-1] != "response.completed" {
		t.Errorf("stream events %q: want response.created first and response.completed last", types)
	}
	if deltas.String() != "echo: three" || r3.OutputText() != "echo: three" || r3.ID == "" {
		t.Errorf("streamed deltas %q, completed response %q (%s), want echo: three", deltas.String(), r3.OutputText(), r3.ID)
	}

	// Restart: close the agent's server and its store, reopen both on the
	// same state.db, and continue the chain.
	p.srv.Close()
	if err := p.store.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := sessions.Open(filepath.Join(p.dir, "state.db"), sessions.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a, err := New(Config{Profile: "coder", Dir: p.dir, Store: st, Env: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	p.agent, p.store, p.srv = a, st, httptest.NewServer(a.Handler())
	t.Cleanup(p.srv.Close)
	client = sdk(p)

	got, err := client.Responses.Get(ctx, r3.ID, responses.ResponseGetParams{})
	if err != nil || got.OutputText() != "echo: three" || got.Status != "completed" {
		t.Fatalf("Get after the restart = %+v, %v", got, err)
	}
	r4, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "hermes-coder", Input: text("four"), PreviousResponseID: openai.String(r3.ID)})
	if err != nil {
		t.Fatalf("continuing after the restart: %v", err)
	}
	want = []testMessage{system(testSOUL), user("one"), asst("echo: one"), user("two"), asst("echo: two"), user("three"), asst("echo: three"), user("four")}
	if got := p.up.last(t).Messages; !reflect.DeepEqual(got, want) {
		t.Errorf("upstream messages after the restart = %+v, want %+v", got, want)
	}
	if r4.PreviousResponseID != r3.ID {
		t.Errorf("previous_response_id = %q, want %q", r4.PreviousResponseID, r3.ID)
	}

	// A deleted response can be neither read nor continued.
	if err := client.Responses.Delete(ctx, r4.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	var apiErr *openai.Error
	if _, err := client.Responses.Get(ctx, r4.ID, responses.ResponseGetParams{}); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("Get of a deleted response: %v, want 404", err)
	}
	_, err = client.Responses.New(ctx, responses.ResponseNewParams{Model: "hermes-coder", Input: text("five"), PreviousResponseID: openai.String(r4.ID)})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "previous_response_not_found" {
		t.Errorf("continuing a deleted response: %v, want 400 previous_response_not_found", err)
	}
}

func TestOpenAISDKResponsesConversation(t *testing.T) {
	p := newProfile(t, profileOpts{})
	ctx := context.Background()
	client := sdk(p)
	conv := responses.ResponseNewParamsConversationUnion{OfString: openai.String("project-x")}
	var sids []string
	for _, in := range []string{"alpha", "beta"} {
		var httpResp *http.Response
		_, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "hermes-coder", Input: text(in), Conversation: conv}, option.WithResponseInto(&httpResp))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		sids = append(sids, httpResp.Header.Get(SessionHeader))
	}
	want := []testMessage{system(testSOUL), user("alpha"), asst("echo: alpha"), user("beta")}
	if got := p.up.last(t).Messages; !reflect.DeepEqual(got, want) {
		t.Errorf("upstream messages of the conversation = %+v, want %+v", got, want)
	}
	if sids[0] == "" || sids[0] != sids[1] {
		t.Errorf("sessions of the conversation = %q, want one", sids)
	}
	// Another conversation starts afresh.
	if _, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "hermes-coder", Input: text("gamma"),
		Conversation: responses.ResponseNewParamsConversationUnion{OfConversationObject: &responses.ResponseConversationParam{ID: "project-y"}}}); err != nil {
		t.Fatal(err)
	}
	if got, want := p.up.last(t).Messages, []testMessage{system(testSOUL), user("gamma")}; !reflect.DeepEqual(got, want) {
		t.Errorf("upstream messages of a new conversation = %+v, want %+v", got, want)
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// itemText is the role and text of an input item.
func itemText(t *testing.T, it responses.ResponseItemUnion) string {
	t.Helper()
	var m struct {
		Role    string `json:"role"`
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	}
	if err := json.Unmarshal([]byte(it.RawJSON()), &m); err != nil || it.Type != "message" || len(m.Content) != 1 {
		t.Fatalf("item %s is not a message with one part", it.RawJSON())
	}
	want := "input_text"
	if m.Role == "assistant" {
		want = "output_text"
	}
	if m.Content[0].Type != want {
		t.Errorf("a %s item has a part of type %q, want %s", m.Role, m.Content[0].Type, want)
	}
	return m.Role + ":" + m.Content[0].Text
}

// Responses.InputItems.List: the input of a response (what it continued,
// then its own input), desc by default, asc on request, in pages of limit
// items after a cursor, with the list envelope the SDK's pager follows.
func TestOpenAISDKResponsesInputItems(t *testing.T) {
	p := newProfile(t, profileOpts{})
	client := sdk(p)
	ctx := context.Background()
	r1, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "hermes-agent", Input: text("one")})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "hermes-agent", PreviousResponseID: openai.String(r1.ID),
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage("be terse", responses.EasyInputMessageRoleSystem),
			responses.ResponseInputItemParamOfMessage("two", responses.EasyInputMessageRoleUser),
		}}})
	if err != nil {
		t.Fatal(err)
	}
	asc := []string{"user:one", "assistant:echo: one", "system:be terse", "user:two"}

	page, err := client.Responses.InputItems.List(ctx, r2.ID, responses.InputItemListParams{})
	if err != nil {
		t.Fatalf("InputItems.List: %v", err)
	}
	var got []string
	for _, it := range page.Data {
		got = append(got, itemText(t, it))
	}
	desc := slices.Clone(asc)
	slices.Reverse(desc)
	if !reflect.DeepEqual(got, desc) || page.HasMore || !strings.Contains(page.RawJSON(), `"object":"list"`) {
		t.Errorf("input items (default order) = %q, has_more %v; want %q, newest first, in a list: %s", got, page.HasMore, desc, page.RawJSON())
	}
	// The output of r1 is an input of r2, under the id it had in r1.
	if id := page.Data[2].ID; id != r1.Output[0].ID {
		t.Errorf("r1's answer has the item id %q in r2's input, want its output id %q", id, r1.Output[0].ID)
	}
	var env struct {
		FirstID string `json:"first_id"`
		LastID  string `json:"last_id"`
	}
	if json.Unmarshal([]byte(page.RawJSON()), &env); env.FirstID != page.Data[0].ID || env.LastID != page.Data[3].ID {
		t.Errorf("first_id %q last_id %q, want %q and %q", env.FirstID, env.LastID, page.Data[0].ID, page.Data[3].ID)
	}

	// Pages of 3 in ascending order, followed by the SDK's pager.
	params := responses.InputItemListParams{Limit: openai.Int(3), Order: responses.InputItemListParamsOrderAsc}
	page, err = client.Responses.InputItems.List(ctx, r2.ID, params)
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, it := range page.Data {
		got = append(got, itemText(t, it))
	}
	if !reflect.DeepEqual(got, asc[:3]) || !page.HasMore {
		t.Errorf("first page = %q, has_more %v; want %q and more", got, page.HasMore, asc[:3])
	}
	next, err := page.GetNextPage()
	if err != nil || next == nil || len(next.Data) != 1 || itemText(t, next.Data[0]) != asc[3] || next.HasMore {
		t.Fatalf("next page = %+v, %v; want the last item and no more", next, err)
	}
	got = nil
	iter := client.Responses.InputItems.ListAutoPaging(ctx, r2.ID, responses.InputItemListParams{Limit: openai.Int(1), Order: responses.InputItemListParamsOrderAsc})
	for iter.Next() {
		got = append(got, itemText(t, iter.Current()))
	}
	if err := iter.Err(); err != nil || !reflect.DeepEqual(got, asc) {
		t.Errorf("auto-paging one by one = %q, %v; want %q", got, err, asc)
	}
	// After a cursor, in the default order.
	page, err = client.Responses.InputItems.List(ctx, r2.ID, responses.InputItemListParams{After: openai.String(page.Data[0].ID)})
	if err != nil || len(page.Data) != 0 || page.HasMore {
		t.Errorf("after the oldest item, newest first: %+v, %v; want nothing", page, err)
	}

	// The first response's input is its own.
	page, err = client.Responses.InputItems.List(ctx, r1.ID, responses.InputItemListParams{})
	if err != nil || len(page.Data) != 1 || itemText(t, page.Data[0]) != "user:one" {
		t.Errorf("input items of the first response = %+v, %v", page, err)
	}

	var apiErr *openai.Error
	_, err = client.Responses.InputItems.List(ctx, r2.ID, responses.InputItemListParams{After: openai.String("msg_nosuchitem")})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "invalid_cursor" || apiErr.Param != "after" {
		t.Errorf("an unknown cursor: %v, want 400 invalid_cursor on after", err)
	}
	_, err = client.Responses.InputItems.List(ctx, "resp_nosuchresponse", responses.InputItemListParams{})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "response_not_found" {
		t.Errorf("input items of an unknown response: %v, want 404 response_not_found", err)
	}
	if err := client.Responses.Delete(ctx, r2.ID); err != nil {
		t.Fatal(err)
	}
	_, err = client.Responses.InputItems.List(ctx, r2.ID, responses.InputItemListParams{})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("input items of a deleted response: %v, want 404", err)
	}
}

// store: false keeps nothing: no response, no session, no conversation;
// background: true is refused with a clear 400.
func TestOpenAISDKResponsesStoreFalseAndBackground(t *testing.T) {
	p := newProfile(t, profileOpts{})
	client := sdk(p)
	ctx := context.Background()
	conv := responses.ResponseNewParamsConversationUnion{OfString: openai.String("scratch")}
	for _, stream := range []bool{false, true} {
		params := responses.ResponseNewParams{Model: "gpt-4o", Input: text("forget me"), Store: openai.Bool(false), Conversation: conv}
		var r responses.Response
		if stream {
			s := client.Responses.NewStreaming(ctx, params)
			for s.Next() {
				if ev := s.Current(); ev.Type == "response.completed" {
					r = ev.Response
				}
			}
			if err := s.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
		} else {
			got, err := client.Responses.New(ctx, params)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			r = *got
		}
		if r.OutputText() != "echo: forget me" || !strings.Contains(r.RawJSON(), `"store":false`) || r.ID == "" {
			t.Errorf("stream=%v: response %q id %q, want it with store: false: %s", stream, r.OutputText(), r.ID, r.RawJSON())
		}
		var apiErr *openai.Error
		if _, err := client.Responses.Get(ctx, r.ID, responses.ResponseGetParams{}); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
			t.Errorf("stream=%v: Get of a store: false response: %v, want 404", stream, err)
		}
		if _, err := client.Responses.InputItems.List(ctx, r.ID, responses.InputItemListParams{}); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
			t.Errorf("stream=%v: input items of a store: false response: %v, want 404", stream, err)
		}
	}
	if list, err := p.store.List(ctx, sessions.ListOptions{}); err != nil || len(list) != 0 {
		t.Errorf("store: false left sessions %+v, %v", list, err)
	}
	if _, err := p.store.FindConversation(ctx, "coder", "scratch"); !errors.Is(err, sessions.ErrNotFound) {
		t.Errorf("store: false started the conversation: %v", err)
	}

	var apiErr *openai.Error
	_, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "hermes-agent", Input: text("later"), Background: openai.Bool(true)})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "background" || !strings.Contains(apiErr.Message, "background responses are not supported") {
		t.Errorf("background: true = %v, want a 400 on background that says so", err)
	}
	if n := len(p.up.requests()); n != 2 {
		t.Errorf("the upstream was called %d times, want 2 (never for the refused request)", n)
	}
}

// Every bad input the issue lists is answered with the error envelope the
// SDK parses (*openai.Error with status, code and param).
func TestOpenAISDKBadInput(t *testing.T) {
	p := newProfile(t, profileOpts{config: "model: {base_url: BASE, name: m, api_key_env: TEST_UPSTREAM_KEY}\ngateway: {max_body_bytes: 2000}\n"})
	other := newProfile(t, profileOpts{})
	client, otherClient := sdk(p), sdk(other)
	ctx := context.Background()
	// A response and a conversation of the other profile.
	theirs, err := otherClient.Responses.New(ctx, responses.ResponseNewParams{Model: "hermes-agent", Input: text("their secret"),
		Conversation: responses.ResponseNewParamsConversationUnion{OfString: openai.String("shared-name")}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}
	tests := []struct {
		name   string
		call   func() error
		status int
		code   string
		param  string
	}{
		{"malformed JSON, chat", func() error {
			_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "m", Messages: msgs}, option.WithRequestBody("application/json", []byte(`{"model":"m","messages":[`)))
			return err
		}, 400, "invalid_json", ""},
		{"malformed JSON, responses", func() error {
			_, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "m"}, option.WithRequestBody("application/json", []byte(`{"model":`)))
			return err
		}, 400, "invalid_json", ""},
		{"a body over the limit, chat", func() error {
			_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(strings.Repeat("x", 3000))}})
			return err
		}, 413, "request_too_large", ""},
		{"a body over the limit, responses", func() error {
			_, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "m", Input: text(strings.Repeat("x", 3000))})
			return err
		}, 413, "request_too_large", ""},
		{"an unknown response", func() error {
			_, err := client.Responses.Get(ctx, "resp_doesnotexist", responses.ResponseGetParams{})
			return err
		}, 404, "response_not_found", ""},
		{"another profile's response, get", func() error {
			_, err := client.Responses.Get(ctx, theirs.ID, responses.ResponseGetParams{})
			return err
		}, 404, "response_not_found", ""},
		{"another profile's response, delete", func() error {
			return client.Responses.Delete(ctx, theirs.ID)
		}, 404, "response_not_found", ""},
		{"another profile's response, input items", func() error {
			_, err := client.Responses.InputItems.List(ctx, theirs.ID, responses.InputItemListParams{})
			return err
		}, 404, "response_not_found", ""},
		{"another profile's response, continued", func() error {
			_, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "m", Input: text("x"), PreviousResponseID: openai.String(theirs.ID)})
			return err
		}, 400, "previous_response_not_found", "previous_response_id"},
		{"a bad input_items limit", func() error {
			_, err := client.Responses.InputItems.List(ctx, theirs.ID, responses.InputItemListParams{Limit: openai.Int(500)})
			return err
		}, 400, "invalid_request", "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var apiErr *openai.Error
			err := tt.call()
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want an *openai.Error", err)
			}
			if apiErr.StatusCode != tt.status || apiErr.Code != tt.code || apiErr.Param != tt.param || apiErr.Message == "" || apiErr.Type == "" {
				t.Errorf("error = %d code %q param %q type %q message %q, want %d %q %q", apiErr.StatusCode, apiErr.Code, apiErr.Param, apiErr.Type, apiErr.Message, tt.status, tt.code, tt.param)
			}
			if strings.Contains(apiErr.RawJSON(), "their secret") {
				t.Errorf("another profile's data reached the client: %s", apiErr.RawJSON())
			}
		})
	}
	// The other profile's conversation name is a new conversation here:
	// none of its history.
	if _, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: "m", Input: text("mine"),
		Conversation: responses.ResponseNewParamsConversationUnion{OfString: openai.String("shared-name")}}); err != nil {
		t.Fatal(err)
	}
	if got, want := p.up.last(t).Messages, []testMessage{system(testSOUL), user("mine")}; !reflect.DeepEqual(got, want) {
		t.Errorf("a conversation of the same name in another profile: upstream messages %+v, want %+v", got, want)
	}
}

// A stream the client abandons mid-way cancels the upstream call and
// leaves nothing half-written in state.db, for chat completions and for
// the Responses API.
func TestOpenAISDKAbandonedStream(t *testing.T) {
	for _, api := range []string{"chat", "responses"} {
		t.Run(api, func(t *testing.T) {
			p := newProfile(t, profileOpts{})
			cancelled := make(chan struct{})
			p.up.setHandler(func(w http.ResponseWriter, req upstreamRequest) {
				startSSE(w)
				sendChunk(w, chunkJSON("partial ", true, ""))
				<-req.ctx.Done()
				close(cancelled)
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			client := sdk(p)
			got := ""
			if api == "chat" {
				s := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("go on")},
					StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
				for s.Next() {
					if ch := s.Current(); len(ch.Choices) > 0 && ch.Choices[0].Delta.Content != "" {
						got = ch.Choices[0].Delta.Content
						cancel() // the client leaves in the middle of the answer
					}
				}
			} else {
				s := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "gpt-4o", Input: text("go on"),
					Conversation: responses.ResponseNewParamsConversationUnion{OfString: openai.String("left")}})
				for s.Next() {
					if ev := s.Current(); ev.Type == "response.output_text.delta" {
						got = ev.Delta
						cancel()
					}
				}
			}
			if got != "partial " {
				t.Fatalf("the client read %q before leaving, want the first chunk", got)
			}
			select {
			case <-cancelled:
			case <-time.After(10 * time.Second):
				t.Fatal("the upstream call was not cancelled when the client left")
			}
			// The handler has returned once the agent's slot is free.
			testenv.Eventually(t, 5*time.Second, "the request to end", func() bool { return len(p.agent.slots) == 0 })
			if err := p.store.Flush(context.Background()); err != nil { // a chat turn queued, if any
				t.Fatal(err)
			}
			list, err := p.store.List(context.Background(), sessions.ListOptions{})
			if err != nil || len(list) != 0 {
				t.Errorf("an abandoned stream left sessions in state.db: %+v, %v", list, err)
			}
			if api == "responses" {
				sid, err := p.store.FindConversation(context.Background(), "coder", "left")
				if err == nil {
					if _, msgs, _ := p.store.Get(context.Background(), sid); len(msgs) != 0 {
						t.Errorf("an abandoned response left messages: %+v", msgs)
					}
				}
			}
		})
	}
}
