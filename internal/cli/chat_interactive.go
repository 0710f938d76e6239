package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chzyer/readline"
	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/sessions"
)

// chatCommandsHelp lists the slash commands (chat's usage and /help).
const chatCommandsHelp = `  /help         these commands
  /new          end this session and start a new one
  /sessions     the most recent sessions of the profile
  /resume ID    continue session ID (its messages are the history)
  /model [NAME] the model asked for; NAME asks for another from now on
  /exit         leave (so do Ctrl-D and a second Ctrl-C)
  //TEXT        sends /TEXT to the model`

// errInterrupted is a Ctrl-C at the prompt.
var errInterrupted = errors.New("interrupted")

// lineReader reads the lines typed at the prompt: io.EOF at Ctrl-D,
// errInterrupted at Ctrl-C.
type lineReader interface {
	ReadLine() (string, error)
	Close() error
}

// chatPrompt is the prompt of the interactive chat.
const chatPrompt = "› "

// readlineReader edits the line on a real terminal (history in memory,
// arrow keys, Ctrl-A/E/W/U…): chzyer/readline, in raw mode only while a
// line is read, so that a Ctrl-C during a reply is a SIGINT.
type readlineReader struct{ rl *readline.Instance }

func (r readlineReader) ReadLine() (string, error) {
	line, err := r.rl.Readline()
	if errors.Is(err, readline.ErrInterrupt) {
		return line, errInterrupted
	}
	return line, err
}

func (r readlineReader) Close() error { return r.rl.Close() }

// scanReader reads lines from a reader that only says it is a terminal
// (tests): no editing.
type scanReader struct {
	w  io.Writer
	sc *bufio.Scanner
}

func (r scanReader) ReadLine() (string, error) {
	fmt.Fprint(r.w, chatPrompt)
	if !r.sc.Scan() {
		if err := r.sc.Err(); err != nil {
			return "", err
		}
		return "", io.EOF
	}
	return r.sc.Text(), nil
}

func (r scanReader) Close() error { return nil }

// newLineReader is readline on a real terminal, else a plain scanner.
func (c *chatClient) newLineReader() (lineReader, error) {
	if f, ok := c.e.Stdin.(*os.File); ok && terminal(f) {
		rl, err := readline.NewEx(&readline.Config{
			Prompt:          chatPrompt,
			Stdin:           f,
			Stdout:          c.e.Stdout,
			Stderr:          c.e.Stderr,
			HistoryLimit:    1000,
			InterruptPrompt: "^C",
			EOFPrompt:       "",
		})
		if err != nil {
			return nil, fmt.Errorf("the terminal: %w", err)
		}
		return readlineReader{rl}, nil
	}
	sc := bufio.NewScanner(c.e.Stdin)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	return scanReader{w: c.e.Stdout, sc: sc}, nil
}

// interactive is the conversation on a terminal.
func (c *chatClient) interactive(ctx context.Context) error {
	fmt.Fprintf(c.e.Stdout, "hermes chat with hermes-%s (/help for commands; Ctrl-C ends a reply, Ctrl-D leaves)\n", c.profile)
	lr, err := c.newLineReader()
	if err != nil {
		return err
	}
	defer lr.Close()
	interrupts := make(chan os.Signal, 1)
	signal.Notify(interrupts, unix.SIGINT)
	defer signal.Stop(interrupts)
	type read struct {
		line string
		err  error
	}
	lines := make(chan read, 1)
	next := make(chan struct{}, 1)
	go func() { // the terminal's reader, for the life of the command
		for range next {
			l, err := lr.ReadLine()
			lines <- read{l, err}
			if errors.Is(err, io.EOF) {
				return
			}
		}
	}()
	defer close(next)
	interrupted := false // the last thing at the prompt was a Ctrl-C
	pending := false     // a line is being read
	for {
		if !pending {
			next <- struct{}{}
			pending = true
		}
		var r read
		select {
		case <-ctx.Done():
			fmt.Fprintln(c.e.Stdout)
			return nil
		case <-interrupts: // a SIGINT at a prompt not in raw mode; the read goes on
			r.err = errInterrupted
			fmt.Fprintln(c.e.Stdout)
		case r = <-lines:
			pending = false
		}
		switch {
		case errors.Is(r.err, errInterrupted):
			if interrupted {
				return nil
			}
			interrupted = true
			fmt.Fprintln(c.e.Stdout, "(Ctrl-C again, Ctrl-D or /exit leaves)")
			continue
		case errors.Is(r.err, io.EOF):
			fmt.Fprintln(c.e.Stdout)
			return nil
		case r.err != nil:
			return r.err
		}
		interrupted = false
		line := strings.TrimSpace(r.line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "/") && !strings.HasPrefix(line, "//") {
			leave, err := c.command(ctx, line)
			if err != nil {
				fmt.Fprintf(c.e.Stdout, "✗ %s\n", oneLine(strings.TrimPrefix(err.Error(), errUsage.Error()+": ")))
			}
			if leave {
				return nil
			}
			continue
		}
		line = strings.TrimPrefix(r.line, "/") // "//x" sends "/x"
		c.history = append(c.history, chatMessage{Role: "user", Content: line})
		drain(interrupts)
		if err := c.turn(ctx, interrupts); err != nil {
			fmt.Fprintf(c.e.Stdout, "\n✗ %s\n", oneLine(err.Error()))
		}
	}
}

// drain empties a channel of stale interrupts.
func drain(ch <-chan os.Signal) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// turn streams one reply; an interrupt ends it (what arrived is kept).
func (c *chatClient) turn(ctx context.Context, interrupts <-chan os.Signal) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		reply string
		err   error
	}
	out := c.replyWriter()
	done := make(chan result, 1)
	go func() {
		r, err := c.ask(rctx, out)
		done <- result{r, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-interrupts:
		cancel()
		r = <-done
		out.Flush()
		fmt.Fprint(c.e.Stdout, " [interrupted]")
		r.err = nil
	}
	out.Flush()
	fmt.Fprintln(c.e.Stdout)
	if r.err != nil {
		c.history = c.history[:len(c.history)-1]
		return r.err
	}
	c.history = append(c.history, chatMessage{Role: "assistant", Content: r.reply})
	return nil
}

// command runs a slash command; leave says the chat ends.
func (c *chatClient) command(ctx context.Context, line string) (leave bool, err error) {
	name, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	switch name {
	case "/help", "/?":
		fmt.Fprintln(c.e.Stdout, chatCommandsHelp)
	case "/exit", "/quit":
		return true, nil
	case "/new":
		if c.session != "" {
			if err := c.endSession(ctx); err != nil {
				return false, err
			}
			fmt.Fprintf(c.e.Stdout, "✓ ended session %s (resume it with /resume %s)\n", c.session, c.session)
		}
		c.session, c.history = "", nil
		fmt.Fprintln(c.e.Stdout, "✓ a new session starts with your next message")
	case "/sessions":
		return false, c.listSessions(ctx)
	case "/resume":
		if arg == "" {
			return false, usageError("/resume ID (see /sessions)")
		}
		if err := checkSessionID(arg); err != nil {
			return false, err
		}
		return false, c.resume(ctx, arg)
	case "/model":
		if arg != "" {
			c.model = arg
		}
		fmt.Fprintf(c.e.Stdout, "model: %s (the gateway maps it through model.aliases, else to model.name)\n", c.modelName())
	default:
		return false, fmt.Errorf("unknown command %s (see /help; //TEXT sends /TEXT to the model)", name)
	}
	return false, nil
}

// modelName is the model asked for.
func (c *chatClient) modelName() string {
	if c.model != "" {
		return c.model
	}
	return "hermes-" + c.profile
}

// api calls the gateway's sessions API: into v when the answer is 200.
func (c *chatClient) api(ctx context.Context, method, path string, body any, v any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("the gateway of profile %s: %w", c.profile, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return gatewayError(resp)
	}
	if v == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// endSession ends the current session through the gateway (/new).
func (c *chatClient) endSession(ctx context.Context) error {
	return c.api(ctx, http.MethodPatch, "/v1/sessions/"+url.PathEscape(c.session), map[string]bool{"ended": true}, nil)
}

// listSessions prints the profile's most recent sessions (/sessions).
func (c *chatClient) listSessions(ctx context.Context) error {
	var page sessions.Page
	if err := c.api(ctx, http.MethodGet, "/v1/sessions?limit=10", nil, &page); err != nil {
		return err
	}
	if len(page.Sessions) == 0 {
		fmt.Fprintf(c.e.Stdout, "profile %s has no sessions yet\n", c.profile)
		return nil
	}
	tw := tabwriter.NewWriter(c.e.Stdout, 0, 8, 2, ' ', 0)
	for _, s := range page.Sessions {
		mark := " "
		if s.ID == c.session {
			mark = "*"
		}
		fmt.Fprintf(tw, "%s %s\t%s\t%s\t%d\t%s\n", mark, s.ID, s.State, sessionTime(s.LastActivityAt), s.MessageCount, orDash(shorten(s.Title, 50)))
	}
	tw.Flush()
	if page.NextOffset != nil {
		fmt.Fprintln(c.e.Stdout, "(the 10 most recent: hermes sessions list shows more)")
	}
	return nil
}

// resume makes session id (the most recent one when id is "") the
// conversation: its user and assistant messages become the history, and
// the next turn continues it.
func (c *chatClient) resume(ctx context.Context, id string) error {
	if id == "" {
		var page sessions.Page
		if err := c.api(ctx, http.MethodGet, "/v1/sessions?limit=1", nil, &page); err != nil {
			return err
		}
		if len(page.Sessions) == 0 {
			return fmt.Errorf("profile %s has no session to resume yet", c.profile)
		}
		id = page.Sessions[0].ID
	}
	var d sessions.Detail
	if err := c.api(ctx, http.MethodGet, "/v1/sessions/"+url.PathEscape(id), nil, &d); err != nil {
		return err
	}
	c.session, c.history = d.Session.ID, nil
	for _, m := range d.Messages {
		if (m.Role == sessions.RoleUser || m.Role == sessions.RoleAssistant) && m.Content != "" {
			c.history = append(c.history, chatMessage{Role: m.Role, Content: m.Content})
		}
	}
	fmt.Fprintf(c.e.Stderr, "resumed session %s (%s, %s, %s)\n", d.Session.ID, orDash(shorten(d.Session.Title, 50)), plural(d.Session.MessageCount, "message"), d.Session.State)
	return nil
}

// replyWriter is where a reply's text goes: Markdown rendered for a
// terminal, or the text as it is.
func (c *chatClient) replyWriter() *mdWriter {
	return newMDWriter(c.e.Stdout, c.render, terminalWidth(c.e.Stdout))
}

// terminalWidth is w's width in columns, 80 when unknown.
func terminalWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return int(ws.Col)
		}
	}
	return 80
}
