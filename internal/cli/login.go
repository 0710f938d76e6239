package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/hermes-agent/hermes/internal/agent"
	"github.com/hermes-agent/hermes/internal/profiles"
)

func newLoginCmd(e *Env) *cobra.Command {
	var provider string
	c := profiled(&cobra.Command{
		Use:   "login --provider NAME",
		Short: "store a provider's API key (read from stdin) in the profile's auth.json",
		Long: `Reads the provider's API key from standard input (without echo on a
terminal; a trailing newline is dropped) and stores it in the profile's
auth.json (mode 0600), keeping every other key and provider. The gateway
uses it when config.yaml names the provider:

  hermes config set model.provider NAME [-p PROFILE]

Examples:
  hermes login --provider openrouter
  hermes -p coder login --provider openrouter < ~/openrouter.key`,
		RunE: func(c *cobra.Command, _ []string) error {
			if provider == "" {
				return usageError("missing --provider NAME: usage: %s (the key is read from standard input)", usageLine(c))
			}
			return runLogin(c.Context(), e, provider)
		},
	})
	c.Flags().StringVar(&provider, "provider", "", "the provider `NAME` whose key is read from standard input")
	return c
}

// maxKeyBytes bounds the key read from standard input.
const maxKeyBytes = 16 << 10

// runLogin is hermes login --provider NAME.
func runLogin(ctx context.Context, e *Env, provider string) error {
	if err := checkProvider(provider); err != nil {
		return err
	}
	home, ref, _, err := configProfile(e)
	if err != nil {
		return err
	}
	name := ref.Name()
	path := agent.AuthPath(ref.Dir())
	// A file that cannot be rewritten is refused before the key is typed.
	if err := agent.CheckAuthFile(home, path); err != nil {
		return err
	}
	key, err := readKey(ctx, e, provider)
	if err != nil {
		return err
	}
	if err := agent.StoreProviderKey(home, path, provider, key, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "✓ stored the key for provider '%s' in %s\n", provider, path)
	if c, err := profiles.LoadProfileConfig(ref); err == nil {
		if m, err := c.Model(); err == nil && m.Provider != provider {
			flag := ""
			if name != profiles.Default {
				flag = "-p " + name + " "
			}
			fmt.Fprintf(e.Stdout, "  use it with: hermes %sconfig set model.provider %s\n", flag, provider)
		}
	}
	return nil
}

// checkProvider validates a provider name with the rule of
// model.provider, so that what login stores is what config set accepts.
func checkProvider(name string) error {
	c, err := profiles.ParseConfig(nil)
	if err != nil {
		return err
	}
	if c.Set(profiles.KeyModelProvider, name) != nil {
		return usageError("--provider %q is not a provider name: lower-case letters, digits, '-', '_' and '.', such as openrouter", name)
	}
	return nil
}

// readKey reads the key from standard input: one line on a terminal,
// typed without echo after a prompt on stderr; everything up to the end
// otherwise. The trailing newline is dropped; an empty key, or one with
// spaces or several lines, is refused.
func readKey(ctx context.Context, e *Env, provider string) (string, error) {
	var raw string
	if terminal(e.Stdin) {
		fmt.Fprintf(e.Stderr, "API key for provider '%s' (input hidden): ", provider)
		line, err := readHidden(ctx, e.Stdin)
		fmt.Fprintln(e.Stderr)
		if err != nil {
			return "", err
		}
		raw = line
	} else {
		b, err := io.ReadAll(io.LimitReader(e.Stdin, maxKeyBytes+1))
		if err != nil {
			return "", fmt.Errorf("reading the key from standard input: %w", err)
		}
		if len(b) > maxKeyBytes {
			return "", fmt.Errorf("the key on standard input is over %d bytes: pipe in the key alone", maxKeyBytes)
		}
		raw = string(b)
	}
	key := strings.TrimSuffix(strings.TrimSuffix(raw, "\n"), "\r")
	switch {
	case strings.TrimSpace(key) == "":
		return "", fmt.Errorf("no key: type it, or pipe it in (hermes login --provider %s < FILE); nothing was stored", provider)
	case strings.ContainsAny(strings.TrimSpace(key), " \t\r\n"):
		return "", errors.New("the key must be one line without spaces; nothing was stored")
	}
	return strings.TrimSpace(key), nil
}

// readHidden reads one line from a terminal with its echo off, restoring
// the terminal afterwards, also when ctx is cancelled (Ctrl-C) while it
// waits.
func readHidden(ctx context.Context, in io.Reader) (string, error) {
	if f, ok := in.(*os.File); ok {
		fd := int(f.Fd())
		if old, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
			quiet := *old
			quiet.Lflag &^= unix.ECHO
			if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err == nil {
				defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
			}
		}
	}
	type result struct {
		line string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(in).ReadString('\n')
		if err == io.EOF && line != "" {
			err = nil
		}
		done <- result{line, err}
	}()
	select {
	case r := <-done:
		if r.err != nil && r.err != io.EOF {
			return "", fmt.Errorf("reading the key: %w", r.err)
		}
		return r.line, nil
	case <-ctx.Done():
		return "", errors.New("interrupted; nothing was stored")
	}
}
