package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hermes-agent/hermes/internal/gateway"
	"github.com/hermes-agent/hermes/internal/logpipe"
	"github.com/hermes-agent/hermes/internal/profiles"
	"github.com/hermes-agent/hermes/internal/supervise"
)

func newLogsCmd(e *Env) *cobra.Command {
	var o logsOptions
	c := profiled(&cobra.Command{
		Use:   "logs [SERVICE] [-n N] [-f]",
		Short: "a service's log file across its archives (default: the profile's gateway)",
		Long: `Prints the timestamped log file of a service (default gateway-<profile>)
across its archives, oldest first; -f follows it across rotations.`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.service = args[0]
			}
			return runLogs(c.Context(), e, o)
		},
	})
	c.Flags().IntVarP(&o.n, "lines", "n", 100, "print the last `N` lines (0: all)")
	c.Flags().BoolVarP(&o.follow, "follow", "f", false, "follow the log as it grows")
	return c
}

// logsOptions are hermes logs' arguments.
type logsOptions struct {
	service string
	n       int
	follow  bool
}

// runLogs is `hermes [-p P] logs [SERVICE] [-n N] [-f]` (CONTRACT §8): the
// timestamped log file of a service (default gateway-<P>) across its
// archives, oldest first; -f follows current across rotations.
func runLogs(ctx context.Context, e *Env, o logsOptions) error {
	home, err := e.Host.Home()
	if err != nil {
		return err
	}
	service := o.service
	if service == "" {
		p, err := profiles.Resolve(home, e.Profile)
		if err != nil {
			return err
		}
		service = gateway.ServiceName(p)
	}
	if err := supervise.ValidName(service); err != nil {
		return usageError("%v", err)
	}
	current := gateway.LogFile(home, service)
	files, err := logpipe.Files(current)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading the logs of %s: %w", service, err)
	}
	if len(files) == 0 && !o.follow {
		return fmt.Errorf("%s has no log yet (looked for %s)", service, current)
	}
	if err := printLast(e.Stdout, files, o.n); err != nil {
		return err
	}
	if !o.follow {
		return nil
	}
	return followFile(ctx, e.Stdout, current)
}

// printLast writes the last n lines of the concatenation of files (all of
// them when n is 0).
func printLast(w io.Writer, files []string, n int) error {
	var chunks [][]byte
	lines := 0
	for i := len(files) - 1; i >= 0; i-- {
		b, err := os.ReadFile(files[i])
		if errors.Is(err, fs.ErrNotExist) {
			continue // rotated away meanwhile
		}
		if err != nil {
			return err
		}
		chunks = append(chunks, b)
		lines += bytes.Count(b, []byte("\n"))
		if n > 0 && lines >= n {
			break
		}
	}
	var all []byte
	for i := len(chunks) - 1; i >= 0; i-- {
		all = append(all, chunks[i]...)
	}
	if n > 0 {
		body := bytes.TrimSuffix(all, []byte("\n"))
		start := len(body)
		for k := 0; k < n && start >= 0; k++ {
			start = bytes.LastIndexByte(body[:start], '\n')
		}
		all = all[start+1:]
	}
	_, err := w.Write(all)
	return err
}

// followFile copies what is appended to path until ctx is done, reopening it
// when it is rotated (a new inode at the same path).
func followFile(ctx context.Context, w io.Writer, path string) error {
	var f *os.File
	var ino uint64
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	open := func(seekEnd bool) {
		nf, err := os.Open(path)
		if err != nil {
			return
		}
		if seekEnd {
			nf.Seek(0, io.SeekEnd)
		}
		if f != nil {
			io.Copy(w, f) // the rest of the rotated file
			f.Close()
		}
		f = nf
		if st, err := nf.Stat(); err == nil {
			ino = st.Sys().(*syscall.Stat_t).Ino
		}
	}
	open(true)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if f != nil {
			if _, err := io.Copy(w, bufio.NewReader(f)); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if st, err := os.Stat(path); err == nil && (f == nil || st.Sys().(*syscall.Stat_t).Ino != ino) {
			open(false)
		}
	}
}
