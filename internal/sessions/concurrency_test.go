package sessions

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hermes-agent/hermes/internal/testenv"
)

// 200 conversations of several turns each, at once, while a reader in its
// own handle lists, counts and reads in a loop: no error anywhere (no
// "database is locked"), and every count exact.
func TestConcurrentConversations(t *testing.T) {
	const conversations, turns = 200, 5
	ctx := context.Background()
	s, path := openStore(t, nil)
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()

	done := make(chan struct{})
	var reads atomic.Int64
	var readerErr error
	var readerWG sync.WaitGroup
	readerWG.Add(1)
	go func() {
		defer readerWG.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			list, err := ro.List(ctx, ListOptions{Limit: 50})
			if err == nil {
				_, err = ro.ActiveSessions(ctx, time.Now())
			}
			if err == nil && len(list) > 0 {
				var sess Session
				var msgs []Message
				sess, msgs, err = ro.Get(ctx, list[len(list)/2].ID)
				if err == nil && len(msgs) != sess.MessageCount {
					err = fmt.Errorf("session %s: count %d but %d messages", sess.ID, sess.MessageCount, len(msgs))
				}
			}
			if err != nil {
				readerErr = err
				return
			}
			reads.Add(1)
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, conversations)
	for c := range conversations {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("conv-%03d", c)
			for i := range turns {
				err := s.AppendTurn(ctx, Turn{
					SessionID: id, Profile: "default", Model: "m",
					Messages: []Message{
						{Role: RoleUser, Content: fmt.Sprintf("question %d", i)},
						{Role: RoleAssistant, Content: fmt.Sprintf("answer %d", i)},
					},
					Usage: &Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3},
				})
				if err != nil {
					errs <- fmt.Errorf("%s turn %d: %w", id, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	readerWG.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if readerErr != nil {
		t.Errorf("reader: %v", readerErr)
	}
	t.Logf("%d reader loops meanwhile", reads.Load())

	list, err := ro.List(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != conversations {
		t.Fatalf("%d sessions, want %d", len(list), conversations)
	}
	for _, sess := range list {
		_, msgs, err := ro.Get(ctx, sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		if sess.MessageCount != 2*turns || len(msgs) != 2*turns || sess.TotalTokens != 3*turns {
			t.Errorf("%s: count %d, %d messages, %d tokens; want %d, %d, %d", sess.ID, sess.MessageCount, len(msgs), sess.TotalTokens, 2*turns, 2*turns, 3*turns)
		}
		for i, m := range msgs {
			if m.Seq != i+1 {
				t.Errorf("%s: message %d has seq %d", sess.ID, i+1, m.Seq)
				break
			}
		}
	}
	if n, err := s.ActiveSessions(ctx, time.Now()); err != nil || n != conversations {
		t.Errorf("ActiveSessions = %d, %v; want %d", n, err, conversations)
	}
}

// crashHelperEnv names the database of the crash helper process.
const crashHelperEnv = "HERMES_SESSIONS_CRASH_HELPER"

// TestCrashHelper is the helper process of TestCrashSafety: it appends
// turns from a few goroutines until it is killed, printing
// "<session> <seq>" after each commit.
func TestCrashHelper(t *testing.T) {
	path := os.Getenv(crashHelperEnv)
	if path == "" {
		t.Skip("the helper process of TestCrashSafety")
	}
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("crash-%d", g)
			for n := 1; ; n++ {
				err := s.AppendTurn(context.Background(), Turn{
					SessionID: id, Profile: "default", Model: "m",
					Messages: []Message{
						{Role: RoleUser, Content: strings.Repeat("q", 500)},
						{Role: RoleAssistant, Content: strings.Repeat("a", 3000)},
					},
				})
				if err != nil {
					fmt.Println("error", err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintf(out, "%s %d\n", id, 2*n)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// The helper is SIGKILLed while it writes: the database opens, passes
// integrity_check, and holds every turn the helper reported committed.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a helper process")
	}
	path := t.TempDir() + "/state.db"
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
		cmd.Env = testenv.ChildEnv(append(os.Environ(), crashHelperEnv+"="+path)...)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		committed := map[string]int{}
		sc := bufio.NewScanner(stdout)
		lines := 0
		kill := 300 + round*200
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 2 || f[0] == "error" {
				t.Fatalf("helper: %s", sc.Text())
			}
			n, _ := strconv.Atoi(f[1])
			committed[f[0]] = max(committed[f[0]], n)
			if lines++; lines == kill {
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: helper ended with %v before it was killed (%d lines)", round, err, lines)
		}
		if _, err := os.Stat(path + "-wal"); err != nil {
			t.Errorf("round %d: no WAL after the kill: %v", round, err)
		}

		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("round %d: reopening after the kill: %v", round, err)
		}
		var check string
		if err := s.w.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
			t.Errorf("round %d: integrity_check = %q, %v", round, check, err)
		}
		for id, n := range committed {
			sess, msgs, err := s.Get(context.Background(), id)
			if err != nil {
				t.Errorf("round %d: %s: %v", round, id, err)
				continue
			}
			if sess.MessageCount < n || len(msgs) != sess.MessageCount {
				t.Errorf("round %d: %s has count %d and %d messages; the helper committed %d", round, id, sess.MessageCount, len(msgs), n)
			}
		}
		t.Logf("round %d: killed after %d committed turns", round, lines)
		s.Close()
	}
}

// A group of turns committed together: each turn's failure is its own
// (its savepoint is rolled back, the others are committed), a turn whose
// ctx ended while it waited is not written, and every caller hears of its
// own turn.
func TestGroupCommit(t *testing.T) {
	s, path := openStore(t, nil)
	db := rawDB(t, path)
	mustExec(t, db, `CREATE TRIGGER boom BEFORE INSERT ON messages WHEN new.content = 'boom' BEGIN SELECT RAISE(ABORT, 'boom refused'); END`)

	// As if a leader were at work: the turns queue up behind it.
	s.group.mu.Lock()
	s.group.writing = true
	s.group.mu.Unlock()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	bg := context.Background()
	turns := []struct {
		ctx  context.Context
		turn Turn
	}{
		{bg, turn("a", "first of a", "reply", nil)},
		{bg, turn("b", "fine", "boom", nil)}, // its second message is refused
		{cancelled, turn("c", "never written", "reply", nil)},
		{bg, turn("a", "second of a", "reply", nil)},
		{bg, turn("d", "last", "reply", nil)},
	}
	errs := make([]error, len(turns))
	var wg sync.WaitGroup
	for i, tc := range turns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.AppendTurn(tc.ctx, tc.turn)
		}()
		// Queue them in order: the order is the group's.
		testenv.Eventually(t, 10*time.Second, "the turn to queue", func() bool {
			s.group.mu.Lock()
			defer s.group.mu.Unlock()
			return len(s.group.queue) == i+1
		})
	}
	s.group.mu.Lock()
	first := s.group.queue[0]
	s.group.mu.Unlock()
	first.lead <- true
	wg.Wait()

	for i, want := range []string{"", "boom refused", "context canceled", "", ""} {
		if got := fmt.Sprint(errs[i]); want == "" && errs[i] != nil || want != "" && !strings.Contains(got, want) {
			t.Errorf("turn %d: AppendTurn = %v, want %q", i, errs[i], want)
		}
	}
	for q, want := range map[string]int{
		`SELECT count(*) FROM sessions`:                                2, // a and d
		`SELECT message_count FROM sessions WHERE id = 'a'`:            4,
		`SELECT count(*) FROM messages WHERE session_id = 'a'`:         4,
		`SELECT count(*) FROM messages WHERE session_id IN ('b', 'c')`: 0,
		`SELECT count(*) FROM messages_unindexed`:                      6,
	} {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil || n != want {
			t.Errorf("%s = %d (%v), want %d", q, n, err, want)
		}
	}
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	if s.group.writing || len(s.group.queue) > 0 {
		t.Errorf("after the group: writing %v, %d queued; want idle", s.group.writing, len(s.group.queue))
	}
}

// holdGroup makes the store's turns queue as if a leader were at work,
// and returns the function that lets the first of them lead.
func holdGroup(t *testing.T, s *Store) (release func()) {
	t.Helper()
	s.group.mu.Lock()
	s.group.writing = true
	s.group.mu.Unlock()
	return func() {
		s.group.mu.Lock()
		first := s.group.queue[0]
		s.group.mu.Unlock()
		first.lead <- true
	}
}

// QueueTurn returns before its turn is written, keeps the order of the
// calls, and Flush waits for what was queued before it.
func TestQueueTurn(t *testing.T) {
	s, _ := openStore(t, nil)
	release := holdGroup(t, s)
	bg := context.Background()
	var mu sync.Mutex
	var got []string
	for i, tr := range []Turn{
		turn("q", "first", "reply 1", nil),
		turn("q", "second", "reply 2", nil),
		{SessionID: "q", Profile: "default"}, // no messages: refused at once
		turn("q", "third", "reply 3", nil),
	} {
		s.QueueTurn(bg, tr, func(err error) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, fmt.Sprintf("%d %v", i, err))
		})
	}
	mu.Lock()
	if want := []string{"2 invalid: a turn of session q has no messages"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("done calls before the commit: %q, want %q", got, want)
	}
	mu.Unlock()
	if _, _, err := s.Get(bg, "q"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get before the commit: %v, want ErrNotFound", err)
	}
	short, cancel := context.WithCancel(bg)
	cancel()
	if err := s.Flush(short); !errors.Is(err, context.Canceled) {
		t.Errorf("Flush(cancelled) with turns waiting = %v, want context.Canceled", err)
	}

	release()
	if err := s.Flush(bg); err != nil {
		t.Fatalf("Flush = %v", err)
	}
	_, msgs, err := s.Get(bg, "q")
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range msgs {
		texts = append(texts, fmt.Sprintf("%d:%s", m.Seq, m.Content))
	}
	if want := "[1:first 2:reply 1 3:second 4:reply 2 5:third 6:reply 3]"; fmt.Sprint(texts) != want {
		t.Errorf("messages %v, want %s", texts, want)
	}
	testenv.Eventually(t, 10*time.Second, "every done call", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 4
	})
	if err := s.Flush(bg); err != nil {
		t.Errorf("Flush with nothing queued = %v", err)
	}
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	if s.group.async != 0 || s.group.writing {
		t.Errorf("after the group: %d queued turns counted, writing %v; want 0, false", s.group.async, s.group.writing)
	}
}

// Past maxQueued turns waiting, QueueTurn waits for its commit.
func TestQueueTurnBackPressure(t *testing.T) {
	s, _ := openStore(t, nil)
	release := holdGroup(t, s)
	s.group.mu.Lock()
	s.group.async = maxQueued // as if that many were waiting
	s.group.mu.Unlock()
	returned := make(chan error, 1)
	go s.QueueTurn(context.Background(), turn("p", "held", "back", nil), func(err error) { returned <- err })
	testenv.Eventually(t, 10*time.Second, "the turn to queue", func() bool {
		s.group.mu.Lock()
		defer s.group.mu.Unlock()
		return len(s.group.queue) == 1
	})
	s.group.mu.Lock()
	async := s.group.queue[0].async
	s.group.mu.Unlock()
	if async {
		t.Fatal("the turn queued past maxQueued is left to a goroutine; want QueueTurn to wait for it")
	}
	release()
	if err := <-returned; err != nil {
		t.Fatalf("QueueTurn's done = %v", err)
	}
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	if s.group.async != maxQueued {
		t.Errorf("queued turns counted %d, want the %d it found", s.group.async, maxQueued)
	}
}

// Close writes the queued turns before it closes, then refuses new ones.
func TestCloseWritesQueuedTurns(t *testing.T) {
	s, path := openStore(t, nil)
	release := holdGroup(t, s)
	done := make(chan error, 1)
	s.QueueTurn(context.Background(), turn("c", "queued", "before close", nil), func(err error) { done <- err })
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	testenv.Eventually(t, 10*time.Second, "Close to refuse new turns", func() bool {
		s.group.mu.Lock()
		defer s.group.mu.Unlock()
		return s.group.closing
	})
	if err := s.AppendTurn(context.Background(), turn("c", "after", "close", nil)); !errors.Is(err, ErrClosed) {
		t.Errorf("AppendTurn while closing = %v, want ErrClosed", err)
	}
	release()
	if err := <-closed; err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the queued turn: %v", err)
	}
	if n, err := storedMessages(t, path, "c"); err != nil || n != 2 {
		t.Errorf("after Close: %d messages (%v), want the queued turn's 2", n, err)
	}
	s.QueueTurn(context.Background(), turn("c", "after", "close", nil), func(err error) { done <- err })
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("QueueTurn after Close = %v, want ErrClosed", err)
	}
}

// A queued turn that finds the queue idle waits for others to share its
// commit, until a turn someone waits for, a Flush or a Close comes.
func TestQueueTurnGathers(t *testing.T) {
	bg := context.Background()
	for _, tc := range []struct {
		name string
		end  func(s *Store) error
	}{
		{"AppendTurn", func(s *Store) error { return s.AppendTurn(bg, turn("g", "waited for", "reply", nil)) }},
		{"Flush", func(s *Store) error { return s.Flush(bg) }},
		{"Close", func(s *Store) error { return s.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, path := openStore(t, nil)
			s.commitDelay = time.Hour
			errs := make(chan error, 3)
			for i := range 3 {
				s.QueueTurn(bg, turn("g", fmt.Sprint("queued ", i), "reply", nil), func(err error) { errs <- err })
			}
			testenv.Eventually(t, 10*time.Second, "the first turn to wait for the others", func() bool {
				s.group.mu.Lock()
				defer s.group.mu.Unlock()
				return s.group.gathering && len(s.group.queue) == 3
			})
			if _, _, err := s.Get(bg, "g"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get while the group gathers: %v, want ErrNotFound", err)
			}
			if err := tc.end(s); err != nil {
				t.Fatalf("%s = %v", tc.name, err)
			}
			for range 3 {
				if err := <-errs; err != nil {
					t.Errorf("a queued turn: %v", err)
				}
			}
			want := map[string]int{"AppendTurn": 8, "Flush": 6, "Close": 6}[tc.name]
			if n, err := storedMessages(t, path, "g"); err != nil || n != want {
				t.Errorf("after %s: %d messages (%v), want %d", tc.name, n, err, want)
			}
		})
	}
}

// storedMessages is how many messages session id has in the store at
// path, read through a handle of its own (what another process sees).
func storedMessages(t *testing.T, path, id string) (int, error) {
	t.Helper()
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	_, msgs, err := ro.Get(context.Background(), id)
	return len(msgs), err
}
