package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hermes-agent/hermes/internal/control"
	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/supervise"
)

func newChatCmd(e *Env) *cobra.Command {
	var o chatOptions
	c := profiled(annotate(&cobra.Command{
		Use:   "chat [-q PROMPT] [--resume [ID]]",
		Short: "talk to the profile's agent (hermes alone on a terminal opens it)",
		Long: `Talks to the profile's agent through its gateway: interactive on a terminal
(the reply streams as it arrives, Markdown rendered; Ctrl-C ends a reply, a
second Ctrl-C at the prompt or Ctrl-D leaves; the arrow keys edit the line
and recall earlier ones), one answer with -q or with the question on stdin
(plain text when piped). --resume continues a session: ID, or the most
recent one. A gateway that is down is started through the supervisor first.

At the prompt, these never reach the model:
` + chatCommandsHelp,
		Args: func(c *cobra.Command, args []string) error {
			// --resume ID: pflag leaves the ID of an optional value to
			// the arguments.
			if len(args) == 1 && o.resume == resumeLast && c.Flags().Changed("resume") {
				return nil
			}
			if len(args) > 0 {
				return usageError("unexpected argument %q: chat takes the prompt with -q (hermes chat -q \"PROMPT\")", args[0])
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.resume = args[0]
			}
			o.resuming = c.Flags().Changed("resume")
			return runChat(c.Context(), e, o)
		},
	}, annotOwnsInterrupt))
	c.Flags().StringVarP(&o.q, "query", "q", "", "ask one `PROMPT`, print the answer and exit")
	c.Flags().StringVar(&o.resume, "resume", "", "continue session `ID` (without one: the most recent session)")
	c.Flags().Lookup("resume").NoOptDefVal = resumeLast
	return c
}

// resumeLast is --resume without an id: the most recent session.
const resumeLast = "(last)"

// chatOptions are hermes chat's flags.
type chatOptions struct {
	q        string
	resume   string // an id, or resumeLast
	resuming bool
}

// sessionHeader carries a conversation's session id to and from the
// gateway.
const sessionHeader = "X-Hermes-Session-Id"

// chatStartWait bounds how long chat waits for a gateway it started.
const chatStartWait = 30 * time.Second

// runChat is `hermes [-p P] chat [-q PROMPT]` (CONTRACT §8): the terminal
// client of the profile's agent, through its gateway. With -q (or with
// stdin that is not a terminal) it answers once; on a terminal it is
// interactive: the reply streams as it arrives, the session continues
// across turns, Ctrl-C ends a reply and Ctrl-D leaves. A gateway that is
// down is started through the supervisor first, with a one-line note.
func runChat(ctx context.Context, e *Env, o chatOptions) error {
	q := o.q
	resumeID := o.resume
	if resumeID == resumeLast {
		resumeID = ""
	}
	if resumeID != "" {
		if err := checkSessionID(resumeID); err != nil {
			return err
		}
	}
	home, err := e.Host.Home()
	if err != nil {
		return err
	}
	profile, err := profiles.Resolve(home, e.Profile)
	if err != nil {
		return err
	}
	c, err := newChatClient(e, profile)
	if err != nil {
		return err
	}
	if err := c.ensureGateway(ctx); err != nil {
		return err
	}
	if o.resuming {
		if err := c.resume(ctx, resumeID); err != nil {
			return err
		}
	}
	switch {
	case q != "":
		return c.once(ctx, q)
	case !e.terminal():
		b, err := io.ReadAll(e.Stdin)
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(b)) == "" {
			return usageError("chat: nothing to ask (give -q \"PROMPT\", text on stdin, or run it on a terminal)")
		}
		return c.once(ctx, string(b))
	}
	return c.interactive(ctx)
}

// chatMessage is an OpenAI chat message.
type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// chatClient talks to one profile's gateway.
type chatClient struct {
	e       *Env
	home    string
	profile string
	base    string // http://host:port
	key     string
	session string
	history []chatMessage
	http    *http.Client
	// model is the model name asked for (/model); "" is hermes-<profile>.
	model string
	// render formats a reply's Markdown for the terminal.
	render bool
}

func newChatClient(e *Env, profile profiles.Ref) (*chatClient, error) {
	port, err := profiles.Port(profile)
	if err != nil {
		return nil, err
	}
	host, err := profiles.Host(profile, e.Host)
	if err != nil {
		return nil, err
	}
	// A gateway bound to every address is reached on loopback.
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	env, _ := profiles.ReadEnv(profiles.EnvPath(profile))
	key := env["API_SERVER_KEY"]
	if key == "" {
		key, _ = e.Host.Getenv("API_SERVER_KEY")
	}
	if key == "" {
		return nil, fmt.Errorf("profile %s has no API_SERVER_KEY in %s", profile, profiles.EnvPath(profile))
	}
	return &chatClient{
		e: e, home: profile.Home(), profile: profile.Name(), key: key,
		base:   "http://" + net.JoinHostPort(host, strconv.Itoa(port)),
		http:   &http.Client{},
		render: terminalWriter(e.Stdout),
	}, nil
}

// healthy reports whether the gateway answers /health as running.
func (c *chatClient) healthy(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/health", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h gateway.Health
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&h) == nil && h.Status == "ok"
}

// ensureGateway starts the profile's gateway through the supervisor when it
// does not answer, instead of failing with "connection refused".
func (c *chatClient) ensureGateway(ctx context.Context) error {
	if c.healthy(ctx) {
		return nil
	}
	name := gateway.ServiceName(c.profile)
	sctx, cancel := context.WithTimeout(ctx, supervisorTimeout)
	defer cancel()
	sup := c.e.gatewayClient(sctx)
	_, err := sup.Start(sctx, name)
	if errors.Is(err, supervise.ErrNotFound) {
		_, err = sup.RegisterGateway(sctx, c.profile, true)
	}
	switch {
	case errors.Is(err, control.ErrUnavailable):
		return fmt.Errorf("the gateway of profile %s does not answer on %s and no supervisor answers: start it with hermes -p %s gateway run", c.profile, c.base, c.profile)
	case err != nil:
		return fmt.Errorf("the gateway of profile %s does not answer on %s and could not be started: %w", c.profile, c.base, err)
	}
	fmt.Fprintf(c.e.Stderr, "hermes: the gateway of profile %s was down; started it (%s)\n", c.profile, name)
	deadline := time.Now().Add(chatStartWait)
	for !c.healthy(ctx) {
		if time.Now().After(deadline) {
			return fmt.Errorf("the gateway of profile %s was started but does not answer on %s after %s: see hermes -p %s logs", c.profile, c.base, chatStartWait, c.profile)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// once asks one question and prints the streamed answer.
func (c *chatClient) once(ctx context.Context, prompt string) error {
	c.history = append(c.history, chatMessage{Role: "user", Content: prompt})
	out := c.replyWriter()
	_, err := c.ask(ctx, out)
	out.Flush()
	if err != nil {
		return err
	}
	fmt.Fprintln(c.e.Stdout)
	return nil
}

// ask sends the history, streams the reply's text to w as it arrives and
// returns it whole.
func (c *chatClient) ask(ctx context.Context, w io.Writer) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"model":    c.modelName(),
		"messages": c.history,
		"stream":   true,
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if c.session != "" {
		req.Header.Set(sessionHeader, c.session)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", nil
		}
		return "", fmt.Errorf("the gateway of profile %s: %w", c.profile, err)
	}
	defer resp.Body.Close()
	if id := resp.Header.Get(sessionHeader); id != "" {
		c.session = id
	}
	if resp.StatusCode != http.StatusOK {
		return "", gatewayError(resp)
	}
	var reply strings.Builder
	rd := bufio.NewReader(resp.Body)
	for {
		line, err := rd.ReadString('\n')
		if data, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "data:"); ok {
			data = strings.TrimSpace(data)
			if data == "[DONE]" {
				return reply.String(), nil
			}
			var ev struct {
				Choices []struct {
					Delta struct {
						Content string `json:"content"`
					} `json:"delta"`
				} `json:"choices"`
				Error *struct {
					Message string `json:"message"`
				} `json:"error"`
			}
			if json.Unmarshal([]byte(data), &ev) == nil {
				if ev.Error != nil {
					return reply.String(), errors.New(ev.Error.Message)
				}
				for _, ch := range ev.Choices {
					io.WriteString(w, ch.Delta.Content)
					reply.WriteString(ch.Delta.Content)
				}
			}
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) && reply.Len() > 0 {
				return reply.String(), nil
			}
			return reply.String(), fmt.Errorf("the reply was cut off: %w", err)
		}
	}
}

// gatewayError turns an OpenAI error envelope into an error.
func gatewayError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var env struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &env) == nil && env.Error.Message != "" {
		return fmt.Errorf("%s (HTTP %d)", env.Error.Message, resp.StatusCode)
	}
	return fmt.Errorf("the gateway answered HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
}
