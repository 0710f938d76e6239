package cli

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
)

// mdWriter shows a streamed reply. Plain (piped), the text goes out as it
// comes. On a terminal it goes out as it comes too, and each line, once
// its newline arrives, is drawn again rendered: headings bold, **bold**,
// *italic*, `code` and fenced code in colour, bullets as •, quotes and
// rules as lines; the Markdown marks themselves go.
type mdWriter struct {
	out    io.Writer
	render bool
	width  int
	line   strings.Builder // the current line, as received
	fence  bool            // inside a ``` block
}

func newMDWriter(out io.Writer, render bool, width int) *mdWriter {
	if width <= 0 {
		width = 80
	}
	return &mdWriter{out: out, render: render, width: width}
}

// Write passes p on, redrawing each line it completes.
func (m *mdWriter) Write(p []byte) (int, error) {
	if !m.render {
		return m.out.Write(p)
	}
	s := string(p)
	for {
		before, after, nl := strings.Cut(s, "\n")
		if before != "" {
			io.WriteString(m.out, before)
			m.line.WriteString(before)
		}
		if !nl {
			return len(p), nil
		}
		m.finish()
		io.WriteString(m.out, "\n")
		s = after
	}
}

// Flush renders the line in progress (the reply ended without a newline).
func (m *mdWriter) Flush() {
	if m.render && m.line.Len() > 0 {
		m.finish()
	}
}

// finish draws the current line again, rendered, over what was written.
func (m *mdWriter) finish() {
	raw := m.line.String()
	m.line.Reset()
	r := m.renderLine(raw)
	if r == raw {
		return
	}
	rows := (utf8.RuneCountInString(raw) - 1) / m.width // rows the raw line wrapped onto
	io.WriteString(m.out, "\r")
	if rows > 0 {
		fmt.Fprintf(m.out, "\x1b[%dA", rows)
	}
	io.WriteString(m.out, "\x1b[J"+r)
}

// ANSI styles.
const (
	ansiBold      = "\x1b[1m"
	ansiNoBold    = "\x1b[22m"
	ansiItalic    = "\x1b[3m"
	ansiNoItalic  = "\x1b[23m"
	ansiUnderline = "\x1b[4m"
	ansiCode      = "\x1b[36m"
	ansiDim       = "\x1b[2m"
	ansiReset     = "\x1b[0m"
	ansiNoColor   = "\x1b[39m"
)

// mdSyntax is the Markdown a reply is rendered from.
type mdSyntax struct {
	heading, bullet, rule, code, bold, italic, link *regexp.Regexp
}

// markdown compiles the Markdown patterns on the first line rendered, so that a
// process that never shows a reply (PID 1, every other command) does not
// compile them in its package initialisation.
var markdown = sync.OnceValue(func() *mdSyntax {
	return &mdSyntax{
		heading: regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`),
		bullet:  regexp.MustCompile(`^(\s*)[-*+]\s+(.*)$`),
		rule:    regexp.MustCompile(`^\s*([-*_])(\s*[-*_]){2,}\s*$`),
		code:    regexp.MustCompile("`([^`]+)`"),
		bold:    regexp.MustCompile(`\*\*([^*]+)\*\*|__([^_]+)__`),
		italic:  regexp.MustCompile(`(^|[^*\w])\*([^*\s][^*]*)\*`),
		link:    regexp.MustCompile(`\[([^\]]+)\]\(([^)\s]+)\)`),
	}
})

// renderLine is one line of Markdown for the terminal.
func (m *mdWriter) renderLine(s string) string {
	if strings.HasPrefix(strings.TrimSpace(s), "```") {
		m.fence = !m.fence
		return ansiDim + strings.Repeat("─", min(40, m.width)) + ansiReset
	}
	if m.fence {
		return ansiCode + s + ansiReset
	}
	md := markdown()
	switch {
	case md.rule.MatchString(s):
		return ansiDim + strings.Repeat("─", min(40, m.width)) + ansiReset
	case md.heading.MatchString(s):
		g := md.heading.FindStringSubmatch(s)
		style := ansiBold
		if len(g[1]) == 1 {
			style += ansiUnderline
		}
		return style + inline(g[2]) + ansiReset
	case md.bullet.MatchString(s):
		g := md.bullet.FindStringSubmatch(s)
		return g[1] + "• " + inline(g[2])
	case strings.HasPrefix(s, ">"):
		return ansiDim + "│ " + ansiReset + inline(strings.TrimSpace(strings.TrimPrefix(s, ">")))
	}
	return inline(s)
}

// inline renders code spans, bold, italic and links of a line; code spans
// are kept as they are inside.
func inline(s string) string {
	var b strings.Builder
	last := 0
	for _, loc := range markdown().code.FindAllStringSubmatchIndex(s, -1) {
		b.WriteString(emphasis(s[last:loc[0]]))
		b.WriteString(ansiCode + s[loc[2]:loc[3]] + ansiNoColor)
		last = loc[1]
	}
	b.WriteString(emphasis(s[last:]))
	return b.String()
}

func emphasis(s string) string {
	md := markdown()
	s = md.link.ReplaceAllString(s, "$1 ("+ansiUnderline+"$2"+"\x1b[24m)")
	s = md.bold.ReplaceAllStringFunc(s, func(x string) string {
		g := md.bold.FindStringSubmatch(x)
		return ansiBold + g[1] + g[2] + ansiNoBold
	})
	return md.italic.ReplaceAllString(s, "$1"+ansiItalic+"$2"+ansiNoItalic)
}
