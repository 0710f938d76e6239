package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// The upstream sends a chunk and waits until the test has seen it at the
// client before it sends the next: a gateway that buffered chunks would
// never deliver the first one, and the test would time out.
func TestStreamChunksRelayedAsTheyArrive(t *testing.T) {
	const chunks = 5
	p := newProfile(t, profileOpts{})
	seen := make(chan int)
	upErr := make(chan error, 1)
	p.up.setHandler(func(w http.ResponseWriter, req upstreamRequest) {
		startSSE(w)
		for i := range chunks {
			sendChunk(w, chunkJSON(fmt.Sprintf("c%d ", i), i == 0, ""))
			select {
			case got := <-seen:
				if got != i {
					upErr <- fmt.Errorf("the client saw chunk %d, want %d", got, i)
					return
				}
			case <-time.After(5 * time.Second):
				upErr <- fmt.Errorf("chunk %d did not reach the client within 5s: the gateway buffers", i)
				return
			}
		}
		sendChunk(w, chunkJSON("", false, "stop"))
		sendChunk(w, "[DONE]")
		upErr <- nil
	})
	resp := p.open(t, "POST", "/v1/chat/completions", chatBody("hermes-coder", true, user("go")))
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	sse := newSSEReader(resp.Body)
	for i := range chunks {
		data, err := sse.next()
		if err != nil {
			t.Fatalf("chunk %d: %v (upstream: %v)", i, err, <-upErr)
		}
		if want := fmt.Sprintf("c%d ", i); !strings.Contains(string(data), want) {
			t.Fatalf("chunk %d = %s, want content %q", i, data, want)
		}
		select {
		case seen <- i:
		case err := <-upErr:
			t.Fatalf("after chunk %d: %v", i, err)
		}
	}
	rest, _ := io.ReadAll(resp.Body)
	if err := <-upErr; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rest), "[DONE]") {
		t.Errorf("the stream did not end with [DONE]: %s", rest)
	}
}

// A drain in the middle of 20 open streams lets every one of them finish
// while new requests get 503, and the server's Shutdown returns once they
// are done.
func TestDrainLetsOpenStreamsFinish(t *testing.T) {
	const streams = 20
	p := newProfile(t, profileOpts{})
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(streams)
	p.up.setHandler(func(w http.ResponseWriter, req upstreamRequest) {
		startSSE(w)
		sendChunk(w, chunkJSON("first ", true, ""))
		started.Done()
		<-release
		sendChunk(w, chunkJSON("last", false, ""))
		sendChunk(w, chunkJSON("", false, "stop"))
		sendChunk(w, "[DONE]")
	})
	type result struct {
		text string
		done bool
		err  error
	}
	results := make(chan result, streams)
	firstSeen := make(chan struct{}, streams)
	for range streams {
		go func() {
			req, _ := http.NewRequest("POST", p.srv.URL+"/v1/chat/completions", strings.NewReader(chatBody("hermes-coder", true, user("x"))))
			req.Header.Set("Authorization", "Bearer "+testKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				firstSeen <- struct{}{}
				results <- result{err: err}
				return
			}
			defer resp.Body.Close()
			sse := newSSEReader(resp.Body)
			var r result
			var b strings.Builder
			for i := 0; ; i++ {
				data, err := sse.next()
				if i == 0 {
					firstSeen <- struct{}{}
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					r.err = err
					break
				}
				if string(data) == "[DONE]" {
					r.done = true
					continue
				}
				text, _, _ := streamText(t, []sseEvent{{Data: string(data)}})
				b.WriteString(text)
			}
			r.text = b.String()
			results <- r
		}()
	}
	started.Wait()
	for range streams {
		<-firstSeen
	}

	p.agent.Drain()
	resp, body := p.call(t, "POST", "/v1/chat/completions", chatBody("hermes-coder", true, user("late")))
	if resp.StatusCode != 503 || decodeEnvelope(t, body).Error.Code != "draining" {
		t.Fatalf("a new request while draining: %d %s, want 503 draining", resp.StatusCode, body)
	}
	if resp, _ := p.call(t, "GET", "/v1/models", ""); resp.StatusCode != 503 {
		t.Errorf("GET /v1/models while draining: %d, want 503", resp.StatusCode)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- p.srv.Config.Shutdown(ctx)
	}()
	// Shutdown has begun once the listener refuses connections; it waits
	// on the open streams, so it has not returned.
	addr := p.srv.Listener.Addr().String()
	testenv.Eventually(t, 10*time.Second, "Shutdown to close the listener", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with streams open", err)
	default:
	}
	close(release)
	for range streams {
		r := <-results
		if r.err != nil || !r.done || r.text != "first last" {
			t.Errorf("a stream open at the drain ended with text %q done %v err %v, want the whole answer", r.text, r.done, r.err)
		}
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown = %v, want nil once the streams are done", err)
	}
}

func TestSSEReader(t *testing.T) {
	long := strings.Repeat("x", 100<<10)
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"plain", "data: a\n\ndata: b\n\n", []string{"a", "b"}},
		{"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", []string{"a", "b"}},
		{"no space", "data:a\n\n", []string{"a"}},
		{"comments and fields", ": keep-alive\nevent: x\nid: 1\nretry: 10\ndata: a\n\n: ping\n\n", []string{"a"}},
		{"several data lines", "data: a\ndata: b\n\n", []string{"a\nb"}},
		{"blank lines", "\n\n\ndata: a\n\n\n\n", []string{"a"}},
		{"last event without a blank line", "data: a\n\ndata: b", []string{"a", "b"}},
		{"a line over the buffer", "data: " + long + "\n\ndata: b\n\n", []string{long, "b"}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sse := newSSEReader(strings.NewReader(tt.in))
			var got []string
			for {
				data, err := sse.next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(data))
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("event %d = %.40q…, want %.40q…", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// A chunk far larger than the reader's buffer goes through whole.
func TestStreamLargeChunk(t *testing.T) {
	p := newProfile(t, profileOpts{})
	big := strings.Repeat("é", 50<<10)
	p.up.setHandler(func(w http.ResponseWriter, req upstreamRequest) {
		startSSE(w)
		sendChunk(w, chunkJSON(big, true, ""))
		sendChunk(w, chunkJSON("", false, "stop"))
		sendChunk(w, "[DONE]")
	})
	resp, body := p.call(t, "POST", "/v1/chat/completions", chatBody("hermes-coder", true, user("big")))
	text, done, errEv := streamText(t, readEvents(t, strings.NewReader(string(body))))
	if resp.StatusCode != 200 || !done || errEv != "" || text != big {
		t.Errorf("status %d done %v error %q, text of %d bytes, want %d", resp.StatusCode, done, errEv, len(text), len(big))
	}
}

// A Responses stream whose upstream fails in the middle ends with
// response.failed, and nothing is recorded.
func TestResponsesStreamFailure(t *testing.T) {
	p := newProfile(t, profileOpts{})
	p.up.setHandler(func(w http.ResponseWriter, req upstreamRequest) {
		startSSE(w)
		sendChunk(w, chunkJSON("partial ", true, ""))
		hangUp(w, req)
	})
	resp, body := p.call(t, "POST", "/v1/responses", `{"model":"hermes-coder","input":"x","stream":true}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	events := readEvents(t, strings.NewReader(string(body)))
	var names []string
	for _, ev := range events {
		names = append(names, ev.Name)
	}
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.failed"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("events %q, want %q", names, want)
	}
	last := events[len(events)-1].Data
	if !strings.Contains(last, `"status":"failed"`) || !strings.Contains(last, "upstream_dropped") {
		t.Errorf("response.failed = %s", last)
	}
	var failed struct {
		Response struct{ ID string } `json:"response"`
	}
	json.Unmarshal([]byte(last), &failed)
	if r, _ := p.call(t, "GET", "/v1/responses/"+failed.Response.ID, ""); r.StatusCode != 404 {
		t.Errorf("the failed response was recorded: GET = %d", r.StatusCode)
	}
}

// Whatever way an upstream reports the usage of a stream (its own chunk
// after the last choice, or in the chunks that carry choices), the client
// gets it the way OpenAI sends it: "usage": null in every chunk and one
// last chunk with no choices and the usage, and only when it asked.
func TestStreamUsageShapes(t *testing.T) {
	upstreams := map[string]func(w http.ResponseWriter, req upstreamRequest){
		"own chunk": echo,
		"in the last choice": func(w http.ResponseWriter, req upstreamRequest) {
			startSSE(w)
			sendChunk(w, chunkJSON("echo: ", true, ""))
			sendChunk(w, `{"id":"up-9","object":"chat.completion.chunk","created":1700000000,"model":"upstream-model","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":3}}}`)
			sendChunk(w, "[DONE]")
		},
	}
	for name, up := range upstreams {
		for _, asked := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/asked=%v", name, asked), func(t *testing.T) {
				p := newProfile(t, profileOpts{})
				p.up.setHandler(up)
				opts := ""
				if asked {
					opts = `,"stream_options":{"include_usage":true}`
				}
				resp, body := p.call(t, "POST", "/v1/chat/completions", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]`+opts+`}`)
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				events := readEvents(t, strings.NewReader(string(body)))
				var usages []string
				for i, ev := range events {
					if ev.Data == "[DONE]" {
						continue
					}
					var c map[string]json.RawMessage
					json.Unmarshal([]byte(ev.Data), &c)
					u, has := c["usage"]
					switch {
					case !asked && has:
						t.Errorf("chunk %d carries a usage the client did not ask for: %s", i, ev.Data)
					case asked && string(c["choices"]) != "[]" && string(u) != "null":
						t.Errorf("chunk %d has choices and usage %s, want null", i, u)
					case asked && string(c["choices"]) == "[]":
						usages = append(usages, string(u))
					}
				}
				if text, done, _ := streamText(t, events); text != "echo: hi" || !done {
					t.Errorf("text %q done %v", text, done)
				}
				if asked && (len(usages) != 1 || !strings.Contains(usages[0], `"total_tokens"`) || events[len(events)-2].Data == "" || !strings.Contains(events[len(events)-2].Data, `"choices":[]`)) {
					t.Errorf("usage chunks %q, want one, last before [DONE]:\n%s", usages, body)
				}
				if name == "in the last choice" && asked && !strings.Contains(usages[0], `"cached_tokens":3`) {
					t.Errorf("the upstream's usage details were lost: %s", usages[0])
				}
			})
		}
	}
}

// The reachability probe dials the proxy the transport picks, if any.
func TestDialAddr(t *testing.T) {
	p := newProfile(t, profileOpts{})
	for _, tt := range []struct {
		base, proxy, want string
	}{
		{"https://openrouter.ai/api/v1", "", "openrouter.ai:443"},
		{"http://llm.internal/v1", "", "llm.internal:80"},
		{"http://127.0.0.1:8080/v1", "", "127.0.0.1:8080"},
		{"https://openrouter.ai/api/v1", "http://proxy.example:3128", "proxy.example:3128"},
	} {
		tr := &http.Transport{}
		if tt.proxy != "" {
			u, _ := url.Parse(tt.proxy)
			tr.Proxy = http.ProxyURL(u)
		}
		p.agent.client = &http.Client{Transport: tr}
		if got, err := p.agent.dialAddr(tt.base); err != nil || got != tt.want {
			t.Errorf("dialAddr(%s) via %q = %q, %v; want %q", tt.base, tt.proxy, got, err, tt.want)
		}
	}
}
