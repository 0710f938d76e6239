package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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
	var since string
	c := profiled(&cobra.Command{
		Use:   "logs [SERVICE] [-n N] [-f] [--since DURATION|TIME] [--json]",
		Short: "a service's log file across its archives (default: the profile's gateway)",
		Long: `Prints the timestamped log file of a service (default gateway-<profile>)
across its archives, oldest first; -f follows it across rotations.

--since keeps the lines written since a time: a duration back from now (90s,
10m, 2h) or a time (2026-01-02T15:04:05Z, 2026-01-02 15:04 in UTC, 2026-01-02);
with it, every such line is printed unless -n is given too. --json prints one
JSON object per line: {"service", "time", "line"} ("continued": true for the
piece of a line longer than 64 KiB).`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.service = args[0]
			}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return usageError("%v (%s)", err, seeHelp(c))
				}
				o.since = t
				if !c.Flags().Changed("lines") {
					o.n = 0
				}
			}
			return runLogs(c.Context(), e, o)
		},
	})
	c.Flags().IntVarP(&o.n, "lines", "n", 100, "print the last `N` lines (0: all)")
	c.Flags().BoolVarP(&o.follow, "follow", "f", false, "follow the log as it grows")
	c.Flags().StringVar(&since, "since", "", "only the lines since `DURATION|TIME` (10m, 2h, 2026-01-02T15:04:05Z)")
	c.Flags().BoolVar(&o.asJSON, "json", false, "print one JSON object per line")
	return c
}

// parseSince reads --since: a duration back from now (10m, 2h) or a time
// (RFC 3339; 2006-01-02 15:04[:05] or 2006-01-02T15:04[:05] in UTC; a
// date, its midnight UTC).
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("--since %s: want a duration back from now, such as 10m or 2h, without a sign", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: want a duration (90s, 10m, 2h) or a time (2026-01-02T15:04:05Z, 2026-01-02 15:04, 2026-01-02)", s)
}

// logsOptions are hermes logs' arguments.
type logsOptions struct {
	service string
	n       int
	follow  bool
	// since, when set, drops the lines written before it.
	since  time.Time
	asJSON bool
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
		service = gateway.ServiceName(p.Name())
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
	out := &recordWriter{w: e.Stdout, service: service, asJSON: o.asJSON}
	if o.since.IsZero() {
		err = printLast(out, files, o.n)
	} else {
		err = printSince(out, files, o.since, o.n)
	}
	if err != nil {
		return err
	}
	if !o.follow {
		return out.Flush()
	}
	err = followFile(ctx, out, current)
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	return err
}

// printSince writes the last n lines (all when n is 0) of the
// concatenation of files written at or after since. Files are read newest
// first and no further once one ends before since.
func printSince(w io.Writer, files []string, since time.Time, n int) error {
	var chunks [][]byte
	for i := len(files) - 1; i >= 0; i-- {
		b, err := os.ReadFile(files[i])
		if errors.Is(err, fs.ErrNotExist) {
			continue // rotated away meanwhile
		}
		if err != nil {
			return err
		}
		chunks = append(chunks, b)
		if t, ok := lastRecordTime(b); ok && t.Before(since) {
			break
		}
	}
	var kept []byte
	for i := len(chunks) - 1; i >= 0; i-- {
		for rec := range bytes.Lines(chunks[i]) {
			if t, _, _, ok := logpipe.ParseRecord(bytes.TrimSuffix(rec, []byte("\n"))); ok && t.Before(since) {
				continue
			}
			kept = append(kept, rec...)
		}
	}
	_, err := w.Write(lastLines(kept, n))
	return err
}

// lastRecordTime is the time of the last record of a file's content.
func lastRecordTime(b []byte) (time.Time, bool) {
	b = bytes.TrimSuffix(b, []byte("\n"))
	t, _, _, ok := logpipe.ParseRecord(b[bytes.LastIndexByte(b, '\n')+1:])
	return t, ok
}

// lastLines is the last n lines of all (all of it when n is 0).
func lastLines(all []byte, n int) []byte {
	if n <= 0 {
		return all
	}
	body := bytes.TrimSuffix(all, []byte("\n"))
	start := len(body)
	for k := 0; k < n && start >= 0; k++ {
		start = bytes.LastIndexByte(body[:start], '\n')
	}
	return all[start+1:]
}

// recordWriter writes log records as they are, or one JSON object per
// line; lines are written whole (a partial one waits for its end or
// Flush).
type recordWriter struct {
	w       io.Writer
	service string
	asJSON  bool
	partial []byte
}

// logRecordJSON is one line of hermes logs --json.
type logRecordJSON struct {
	Service string `json:"service"`
	// Time is the record's timestamp; empty for a line that has none.
	Time      string `json:"time,omitempty"`
	Line      string `json:"line"`
	Continued bool   `json:"continued,omitempty"`
}

func (r *recordWriter) Write(p []byte) (int, error) {
	if !r.asJSON {
		return r.w.Write(p)
	}
	r.partial = append(r.partial, p...)
	for {
		i := bytes.IndexByte(r.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		if err := r.record(r.partial[:i]); err != nil {
			return 0, err
		}
		r.partial = r.partial[i+1:]
	}
}

func (r *recordWriter) record(rec []byte) error {
	out := logRecordJSON{Service: r.service, Line: string(rec)}
	if t, cont, line, ok := logpipe.ParseRecord(rec); ok {
		out.Time, out.Line, out.Continued = t.UTC().Format(time.RFC3339Nano), string(line), cont
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = r.w.Write(append(b, '\n'))
	return err
}

// Flush writes a last line that has no newline.
func (r *recordWriter) Flush() error {
	if len(r.partial) == 0 {
		return nil
	}
	err := r.record(r.partial)
	r.partial = nil
	return err
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
	_, err := w.Write(lastLines(all, n))
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
