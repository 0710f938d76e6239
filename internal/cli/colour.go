package cli

import "io"

// ANSI colours of the marks a person scans for.
const (
	colourRed    = "31"
	colourGreen  = "32"
	colourYellow = "33"
)

// colour reports whether what goes to w may be coloured: w is a terminal,
// NO_COLOR is unset or empty (no-color.org) and TERM is not "dumb". Piped,
// redirected or captured output is never coloured.
func (e *Env) colour(w io.Writer) bool {
	if !terminal(w) || e.Host.Getenv == nil {
		return false
	}
	if v, ok := e.Host.Getenv("NO_COLOR"); ok && v != "" {
		return false
	}
	term, _ := e.Host.Getenv("TERM")
	return term != "dumb"
}

// paint wraps s in an ANSI colour when on.
func paint(on bool, colour, s string) string {
	if !on {
		return s
	}
	return "\x1b[" + colour + "m" + s + "\x1b[0m"
}
