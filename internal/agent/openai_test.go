package agent

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/hermes-agent/hermes/internal/sessions"
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
		acc.AddChunk(stream.Current())
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
	_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: params.Messages})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
		t.Errorf("unknown model: %v, want a 404 model_not_found", err)
	}
	wrong := sdk(p, option.WithAPIKey("wrong"))
	_, err = wrong.Chat.Completions.New(ctx, params)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Errorf("wrong key: %v, want a 401", err)
	}
}

func TestOpenAISDKModels(t *testing.T) {
	p := newProfile(t, profileOpts{})
	client := sdk(p)
	page, err := client.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if want := []string{"hermes-coder", testModel}; !reflect.DeepEqual(ids, want) {
		t.Errorf("models = %q, want %q", ids, want)
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
