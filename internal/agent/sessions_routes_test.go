package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/sessions"
)

// chatIn sends one chat turn in session sid and waits for it to be stored.
func (p *testProfile) chatIn(t *testing.T, sid, text string, stored int) {
	t.Helper()
	resp, b := p.call(t, "POST", "/v1/chat/completions", chatBody("hermes-coder", false, user(text)), SessionHeader, sid)
	if resp.StatusCode != 200 {
		t.Fatalf("chat in %s: %d %s", sid, resp.StatusCode, b)
	}
	p.session(t, sid, stored)
}

func decodeInto(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

// steppingClock is a clock that moves 10 ms at every reading, so that
// turns in a row never share a millisecond (the list's order is the last
// activity's, and a tie is broken by id).
func steppingClock() func() time.Time {
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(10 * time.Millisecond)
		return now
	}
}

func TestSessionsRoutes(t *testing.T) {
	p := newProfile(t, profileOpts{clock: steppingClock()})
	p.chatIn(t, "first", "plan a trip to Lisbon", 2)
	p.chatIn(t, "second", "what does 100% mean", 2)
	p.chatIn(t, "third", "it's a 'quoted' thing", 2)
	// A session recorded by another profile in this store is not this
	// profile's: 404 everywhere, and never listed.
	if err := p.store.AppendTurn(context.Background(), sessions.Turn{SessionID: "foreign", Profile: "other", Messages: []sessions.Message{{Role: "user", Content: "Lisbon, other profile"}}}); err != nil {
		t.Fatal(err)
	}

	list := func(query string) (int, sessions.Page, envelope) {
		t.Helper()
		resp, b := p.call(t, "GET", "/v1/sessions"+query, "")
		var page sessions.Page
		var env envelope
		if resp.StatusCode == 200 {
			decodeInto(t, b, &page)
		} else {
			env = decodeEnvelope(t, b)
		}
		return resp.StatusCode, page, env
	}
	ids := func(pg sessions.Page) string {
		var out []string
		for _, s := range pg.Sessions {
			out = append(out, s.ID)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		query, want string
		next        *int
	}{
		{"", "third,second,first", nil},
		{"?limit=2", "third,second", new(int)},
		{"?limit=2&offset=2", "first", nil},
		{"?q=lisbon", "first", nil},
		{"?q=" + url.QueryEscape("100%"), "second", nil},
		{"?q=%25", "second", nil},
		{"?q=" + url.QueryEscape("'quoted'"), "third", nil},
		{"?q=_", "", nil},
		{"?q=" + url.QueryEscape(`" OR 1=1 --`), "", nil},
	} {
		status, page, env := list(tc.query)
		if status != 200 || ids(page) != tc.want {
			t.Errorf("GET /v1/sessions%s = %d %q (%s), want %q", tc.query, status, ids(page), env.Error.Message, tc.want)
		}
		if tc.next != nil && (page.NextOffset == nil || *page.NextOffset != 2) {
			t.Errorf("GET /v1/sessions%s: next_offset %v, want 2", tc.query, page.NextOffset)
		}
	}
	for _, q := range []string{"?limit=0", "?limit=201", "?limit=x", "?offset=-1", "?q=", "?q=" + strings.Repeat("x", 2000)} {
		if status, _, env := list(q); status != 400 || env.Error.Message == "" {
			t.Errorf("GET /v1/sessions%s = %d, want 400 with a message", q, status)
		}
	}

	// One session, renamed, ended, resumed.
	resp, b := p.call(t, "GET", "/v1/sessions/first", "")
	var d sessions.Detail
	decodeInto(t, b, &d)
	if resp.StatusCode != 200 || d.Session.ID != "first" || len(d.Messages) != 2 || d.Session.State != sessions.StateActive {
		t.Fatalf("GET /v1/sessions/first = %d %s", resp.StatusCode, b)
	}
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"title": ""}`, 400},
		{`{"title": "` + strings.Repeat("x", 10<<10) + `"}`, 400},
		{`{"title": "two\nlines"}`, 400},
		{`{}`, 400},
		{`{"name": "x"}`, 400},
		{`[1]`, 400},
		{`{"ended": false}`, 400},
		{`{"title": "Lisbon in May"}`, 200},
	} {
		resp, b := p.call(t, "PATCH", "/v1/sessions/first", tc.body)
		if resp.StatusCode != tc.status {
			t.Errorf("PATCH %.40s = %d %s, want %d", tc.body, resp.StatusCode, b, tc.status)
		}
	}
	if s, _ := p.session(t, "first", 2); s.Title != "Lisbon in May" {
		t.Errorf("title %q after the rename", s.Title)
	}
	resp, b = p.call(t, "PATCH", "/v1/sessions/first", `{"ended": true}`)
	var it sessions.Item
	decodeInto(t, b, &it)
	if resp.StatusCode != 200 || it.State != sessions.StateEnded || it.EndedAt == nil || it.Title != "Lisbon in May" {
		t.Errorf("PATCH ended = %d %s", resp.StatusCode, b)
	}
	p.chatIn(t, "first", "and in June?", 4)
	if s, _ := p.session(t, "first", 4); s.EndedAt != nil {
		t.Errorf("a new turn did not reopen the ended session")
	}

	// Export.
	resp, b = p.call(t, "GET", "/v1/sessions/first/export?format=markdown", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/markdown") ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), `filename="first.md"`) || !strings.HasPrefix(string(b), "# Lisbon in May\n") || !strings.Contains(string(b), "and in June?") {
		t.Errorf("export markdown = %d %v\n%s", resp.StatusCode, resp.Header, b)
	}
	for _, q := range []string{"", "?format=json"} {
		resp, b = p.call(t, "GET", "/v1/sessions/first/export"+q, "")
		var ex sessions.Detail
		decodeInto(t, b, &ex)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || len(ex.Messages) != 4 {
			t.Errorf("export%s = %d %s", q, resp.StatusCode, b)
		}
	}
	if resp, _ = p.call(t, "GET", "/v1/sessions/first/export?format=pdf", ""); resp.StatusCode != 400 {
		t.Errorf("export pdf = %d, want 400", resp.StatusCode)
	}

	// Another profile's session, an unknown one, an invalid id: 404.
	for _, id := range []string{"foreign", "nope", "bad%20id"} {
		for _, m := range []struct{ method, suffix, body string }{{"GET", "", ""}, {"PATCH", "", `{"title":"x"}`}, {"DELETE", "", ""}, {"GET", "/export", ""}} {
			resp, b := p.call(t, m.method, "/v1/sessions/"+id+m.suffix, m.body)
			if resp.StatusCode != 404 || decodeEnvelope(t, b).Error.Code != "session_not_found" {
				t.Errorf("%s /v1/sessions/%s%s = %d %s, want 404", m.method, id, m.suffix, resp.StatusCode, b)
			}
		}
	}
	if _, _, err := p.store.Get(context.Background(), "foreign"); err != nil {
		t.Errorf("a DELETE through another profile's gateway removed its session: %v", err)
	}

	// Delete.
	resp, b = p.call(t, "DELETE", "/v1/sessions/second", "")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"deleted":true`) {
		t.Errorf("DELETE = %d %s", resp.StatusCode, b)
	}
	if resp, _ = p.call(t, "GET", "/v1/sessions/second", ""); resp.StatusCode != 404 {
		t.Errorf("GET after DELETE = %d", resp.StatusCode)
	}

	// Behind the key, in the route table.
	if resp, _ = p.call(t, "GET", "/v1/sessions", "", "Authorization", ""); resp.StatusCode != 401 {
		t.Errorf("GET /v1/sessions without the key = %d, want 401", resp.StatusCode)
	}
	names := map[string]bool{}
	for _, r := range p.agent.Routes() {
		names[r.Name] = true
	}
	for _, n := range []string{"sessions", "session", "session_update", "session_delete", "session_export"} {
		if !names[n] {
			t.Errorf("route %s is not in the table", n)
		}
	}
	if resp, _ = p.call(t, "PUT", "/v1/sessions/first", ""); resp.StatusCode != 405 || !strings.Contains(resp.Header.Get("Allow"), "PATCH") {
		t.Errorf("PUT = %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// TestStoreFull507: at sessions.max_bytes with nothing ended to prune, a
// new turn is refused with 507 naming the key, before the upstream is
// asked; the refusal is counted.
func TestStoreFull507(t *testing.T) {
	var st *sessions.Store
	p := newProfile(t, profileOpts{noDB: true, mod: func(c *Config) {
		var err error
		st, err = sessions.Open(filepath.Join(c.Dir, "capped.db"), sessions.Options{MaxBytes: 128 << 10})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		c.Store = st
	}})
	p.store = st
	big := strings.Repeat("open session text ", 600)
	for i := 0; ; i++ {
		err := st.AppendTurn(context.Background(), sessions.Turn{SessionID: "fill" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Profile: "coder", Messages: []sessions.Message{{Role: "user", Content: big}}})
		if errors.Is(err, sessions.ErrFull) {
			break
		}
		if err != nil || i > 500 {
			t.Fatalf("filling: %v", err)
		}
	}
	before := len(p.up.requests())
	for _, req := range []struct{ path, body string }{
		{"/v1/chat/completions", chatBody("hermes-coder", false, user("hi"))},
		{"/v1/chat/completions", chatBody("hermes-coder", true, user("hi"))},
		{"/v1/responses", `{"model":"hermes-coder","input":"hi"}`},
	} {
		resp, b := p.call(t, "POST", req.path, req.body)
		env := decodeEnvelope(t, b)
		if resp.StatusCode != http.StatusInsufficientStorage || env.Error.Code != "sessions_store_full" || !strings.Contains(env.Error.Message, profiles.KeySessionsMaxBytes) {
			t.Errorf("POST %s = %d %s, want 507 naming %s", req.path, resp.StatusCode, b, profiles.KeySessionsMaxBytes)
		}
	}
	if n := len(p.up.requests()); n != before {
		t.Errorf("the upstream was asked %d times for refused turns", n-before)
	}
	// store: false keeps nothing, so it is served.
	if resp, b := p.call(t, "POST", "/v1/responses", `{"model":"hermes-coder","input":"hi","store":false}`); resp.StatusCode != 200 {
		t.Errorf("store: false = %d %s", resp.StatusCode, b)
	}
	if got := st.Stats().RefusedFull; got < 4 {
		t.Errorf("RefusedFull = %d, want at least 4", got)
	}
	// Reads and deletes still work at the cap, and an end makes room.
	if resp, _ := p.call(t, "GET", "/v1/sessions", ""); resp.StatusCode != 200 {
		t.Errorf("GET /v1/sessions at the cap = %d", resp.StatusCode)
	}
	page, _ := st.ListPage(context.Background(), sessions.PageOptions{Limit: 200})
	for _, s := range page.Sessions {
		p.call(t, "PATCH", "/v1/sessions/"+s.ID, `{"ended": true}`)
	}
	if resp, b := p.call(t, "POST", "/v1/chat/completions", chatBody("hermes-coder", false, user("hi"))); resp.StatusCode != 200 {
		t.Errorf("after ending the sessions: %d %s", resp.StatusCode, b)
	}
}

// A chat turn is queued for the store once answered, and the sessions
// routes wait for it: a read right after the answer (no polling) sees
// every turn answered before it, in order.
func TestSessionsRoutesSeeQueuedTurns(t *testing.T) {
	p := newProfile(t, profileOpts{})
	history := []testMessage{}
	for i := 1; i <= 10; i++ {
		turn := "turn " + strconv.Itoa(i)
		history = append(history, user(turn))
		resp, b := p.call(t, "POST", "/v1/chat/completions", chatBody("hermes-coder", false, history...), SessionHeader, "queued")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", turn, resp.StatusCode, b)
		}
		history = append(history, asst("echo: "+turn))

		resp, b = p.call(t, "GET", "/v1/sessions/queued", "")
		var d sessions.Detail
		decodeInto(t, b, &d)
		if resp.StatusCode != 200 || len(d.Messages) != 2*i {
			t.Fatalf("after %s: GET the session: %d, %d messages; want 200, %d", turn, resp.StatusCode, len(d.Messages), 2*i)
		}
		for j, m := range d.Messages {
			if want := "turn " + strconv.Itoa(j/2+1); !strings.HasSuffix(m.Content, want) {
				t.Errorf("after %s: message %d is %q, want %s's", turn, m.Seq, m.Content, want)
			}
		}
		resp, b = p.call(t, "GET", "/v1/sessions?q="+url.QueryEscape("echo: "+turn), "")
		var page sessions.Page
		decodeInto(t, b, &page)
		if resp.StatusCode != 200 || len(page.Sessions) != 1 {
			t.Errorf("after %s: a search of its reply: %d, %d sessions; want 200, 1: %s", turn, resp.StatusCode, len(page.Sessions), b)
		}
	}
}
