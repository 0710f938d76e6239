package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// How a command is declared (root.go lists them all; each group has its
// own file):
//
//	c := &cobra.Command{
//		Use:   "show [NAME] [--json]", // what follows "hermes [<group>]": name, then the usage
//		Short: "show a profile",        // one line, lower case, for the command lists
//		Long:  "…",                     // optional: the paragraphs of its --help
//		RunE: func(c *cobra.Command, args []string) error { … },
//	}
//
// Use is the command's usage line and its positional arguments at once:
// NAME is required, [NAME] optional, NAME... or [ARGS...] any number,
// [-x ...] and --flag VALUE are flags (argsFromUse checks the count, so
// RunE gets what Use says). Flags are pflag's: c.Flags().BoolVar(…), with
// the value's name in backquotes in the usage text ("print the last `N`
// lines"). A group (subcommands, no RunE) gets its help and its
// unknown-subcommand error from finish. Annotations: profiled(c) when the
// command acts on a profile (its help lists the global -p/--profile, which
// its usage line leaves out: that stays "usage: hermes <command> …");
// ownsInterrupt for a command that handles SIGINT itself.

// annotation keys.
const (
	// annotProfiled: the command acts on -p PROFILE (its help lists the
	// global flags).
	annotProfiled = "hermes/profiled"
	// annotOwnsInterrupt: the command handles SIGINT itself (chat: Ctrl-C
	// ends a reply, not the program); its context ends on SIGTERM only.
	annotOwnsInterrupt = "hermes/owns-interrupt"
	// annotRepeatable marks a flag that may be given more than once.
	annotRepeatable = "hermes/repeatable"
	// annotFooter is text the help prints after the commands and flags
	// (config: the table of keys).
	annotFooter = "hermes/footer"
)

func annotate(c *cobra.Command, key string) *cobra.Command {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[key] = "yes"
	return c
}

// profiled marks c (and its subcommands) as acting on -p PROFILE.
func profiled(c *cobra.Command) *cobra.Command { return annotate(c, annotProfiled) }

func isProfiled(c *cobra.Command) bool {
	for ; c != nil; c = c.Parent() {
		if c.Annotations[annotProfiled] != "" {
			return true
		}
	}
	return false
}

func ownsInterrupt(c *cobra.Command) bool { return c != nil && c.Annotations[annotOwnsInterrupt] != "" }

// repeatable marks the flag name of c as one that may be given more than
// once (--env K=V...).
func repeatable(c *cobra.Command, name string) {
	f := c.Flags().Lookup(name)
	if f.Annotations == nil {
		f.Annotations = map[string][]string{}
	}
	f.Annotations[annotRepeatable] = []string{"yes"}
}

// path is the command's words after "hermes": "gateway status".
func path(c *cobra.Command) string {
	p := c.CommandPath()
	if i := strings.IndexByte(p, ' '); i >= 0 {
		return p[i+1:]
	}
	return ""
}

// usageLine is "hermes gateway status [--json]": hermes, then the
// command's words, then its arguments. The global -p/--profile is not in
// it (it goes before or after the verb; the help lists it under the global
// flags): a usage line is always "usage: hermes <command> …", which is what
// the reference's container test looks for (docker run IMAGE login --help
// wants "usage: hermes login").
func usageLine(c *cobra.Command) string {
	if !c.HasParent() {
		return "hermes <command> [arguments]"
	}
	var b strings.Builder
	b.WriteString("hermes ")
	if p := c.Parent(); p.HasParent() {
		b.WriteString(path(p) + " ")
	}
	b.WriteString(c.Use)
	if c.HasAvailableSubCommands() && !strings.Contains(c.Use, "<command>") {
		b.WriteString(" <command> [arguments]")
	}
	return b.String()
}

// seeHelp is the hint at the end of an error line.
func seeHelp(c *cobra.Command) string {
	if !c.HasParent() {
		return "see hermes help"
	}
	return "see hermes " + path(c) + " --help"
}

// finish makes the tree behave as every hermes command does: quiet cobra
// (errors are exitCode's), the help text, positional arguments checked
// from Use, groups that say what they have, flags given twice refused,
// and typos answered with the nearest spelling.
func finish(e *Env, root *cobra.Command) {
	root.SilenceErrors, root.SilenceUsage = true, true
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetIn(e.Stdin)
	root.SetOut(e.Stdout)
	root.SetErr(e.Stderr)
	root.SetHelpFunc(func(c *cobra.Command, _ []string) { writeHelp(e.Stdout, c) })
	root.SetFlagErrorFunc(flagError)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.DisableFlagsInUseLine = true
		c.Flags().SortFlags = false
		if c.Flags().Lookup("help") == nil {
			c.Flags().BoolP("help", "h", false, "show this help")
		}
		if c.HasSubCommands() && c.RunE == nil && c.Run == nil {
			c.Args = cobra.ArbitraryArgs
			c.RunE = groupRun
		}
		if c.Args == nil {
			c.Args = argsFromUse(c.Use)
		}
		onceFlags(c.Flags())
		onceFlags(c.PersistentFlags())
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// groupRun is a group's RunE: alone (or with help) it prints its help on
// stdout and exits 0, as cobra, kubectl, docker and gh do for a group: a
// group alone asks what it has, and is not one of issue 11's mistakes (an
// unknown command or flag, a missing argument, a flag given twice). With a
// word that is not one of its commands it says so: one ✗ line, exit 1.
func groupRun(c *cobra.Command, args []string) error {
	if len(args) == 0 || args[0] == "help" {
		return c.Help()
	}
	return unknownCommand(c, args[0])
}

// unknownCommand is the error for a word that is not a command of c.
func unknownCommand(c *cobra.Command, word string) error {
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() || sub.Name() == "help" {
			names = append(names, sub.Name())
			names = append(names, sub.Aliases...)
		}
	}
	what := "command"
	if c.HasParent() {
		what = path(c) + " command"
	}
	return usageError("unknown %s %q%s (%s)", what, word, didYouMean(word, names, ""), seeHelp(c))
}

// argsFromUse checks the positional arguments against what Use says:
// NAME required, [NAME] optional, NAME... / [ARGS...] any number more.
func argsFromUse(use string) cobra.PositionalArgs {
	var required, optional []string
	variadic := false
	words := useWords(use)
	for i := 1; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "--" || strings.HasPrefix(w, "[-") || strings.HasPrefix(w, "<"):
		case strings.HasPrefix(w, "-"):
			i++ // the flag's value
		case strings.Contains(w, "..."):
			variadic = true
		case strings.HasPrefix(w, "["):
			optional = append(optional, strings.Trim(w, "[]"))
		default:
			required = append(required, w)
		}
	}
	return func(c *cobra.Command, args []string) error {
		if len(args) < len(required) {
			return usageError("missing %s: usage: %s", strings.Join(required[len(args):], " "), usageLine(c))
		}
		if !variadic && len(args) > len(required)+len(optional) {
			extra := args[len(required)+len(optional):]
			return usageError("unexpected argument %q: usage: %s", extra[0], usageLine(c))
		}
		return nil
	}
}

// useWords splits a usage line into words, a bracketed group being one.
func useWords(use string) []string {
	var words []string
	depth, start := 0, -1
	for i, r := range use + " " {
		switch {
		case r == '[':
			if depth == 0 && start < 0 {
				start = i
			}
			depth++
		case r == ']':
			depth--
		case r == ' ' && depth == 0:
			if start >= 0 {
				words = append(words, use[start:i])
				start = -1
			}
		default:
			if start < 0 {
				start = i
			}
		}
	}
	return words
}

// onceFlags wraps each flag's value so that a flag given twice with
// different values is refused (a repeatable flag is exempt).
func onceFlags(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if _, done := f.Value.(*onceValue); done || f.Annotations[annotRepeatable] != nil {
			return
		}
		f.Value = &onceValue{Value: f.Value, flag: f}
	})
}

// onceValue is a flag's value that may be set once (or again to the same).
type onceValue struct {
	pflag.Value
	flag  *pflag.Flag
	first *string
}

func (v *onceValue) Set(s string) error {
	if v.first != nil {
		if *v.first == s {
			return nil
		}
		return &twiceError{flag: v.flag, first: *v.first, second: s}
	}
	if err := v.Value.Set(s); err != nil {
		return err
	}
	v.first = &s
	return nil
}

// twiceError is a flag given twice with different values.
type twiceError struct {
	flag          *pflag.Flag
	first, second string
}

func (x *twiceError) Error() string {
	return fmt.Sprintf("%s given twice (%q, then %q): give it once", flagName(x.flag), x.first, x.second)
}

// flagName is "-n, --lines" or "--json".
func flagName(f *pflag.Flag) string {
	if f.Shorthand != "" {
		return "-" + f.Shorthand + ", --" + f.Name
	}
	return "--" + f.Name
}

// flagError turns pflag's errors into one line that names the mistake and
// the nearest valid spelling.
func flagError(c *cobra.Command, err error) error {
	var (
		notExist *pflag.NotExistError
		needs    *pflag.ValueRequiredError
		invalid  *pflag.InvalidValueError
		twice    *twiceError
		syntax   *pflag.InvalidSyntaxError
	)
	hint := seeHelp(c)
	switch {
	case errors.As(err, &twice):
		return usageError("%s (%s)", twice.Error(), hint)
	case errors.As(err, &notExist):
		name := notExist.GetSpecifiedName()
		if sh := notExist.GetSpecifiedShortnames(); sh != "" {
			if len(sh) > 1 {
				// -jsn: a long flag with one dash, or a typo of one.
				if f := c.Flags().Lookup(sh); f != nil {
					return usageError("unknown flag -%s: did you mean --%s? (%s)", sh, sh, hint)
				}
				if s := didYouMean(sh, longFlags(c), "--"); s != "" {
					return usageError("unknown flag -%s%s (%s)", sh, s, hint)
				}
				return usageError("unknown flag -%s in -%s (%s)", name, sh, takes(c))
			}
			return usageError("unknown flag -%s (%s)", name, takes(c))
		}
		if s := didYouMean(name, longFlags(c), "--"); s != "" {
			return usageError("unknown flag --%s%s (%s)", name, s, hint)
		}
		return usageError("unknown flag --%s (%s)", name, takes(c))
	case errors.As(err, &needs):
		return usageError("%s needs a value: usage: %s", flagName(needs.GetFlag()), usageLine(c))
	case errors.As(err, &invalid):
		f := invalid.GetFlag()
		if kind := valueKind(f); kind != "" {
			return usageError("%s: %q is not %s (%s)", flagName(f), invalid.GetValue(), kind, hint)
		}
		return usageError("%s %q: %v (%s)", flagName(f), invalid.GetValue(), errors.Unwrap(err), hint)
	case errors.As(err, &syntax):
		return usageError("bad flag syntax %s (%s)", syntax.GetSpecifiedFlag(), hint)
	}
	return usageError("%s (%s)", err.Error(), hint)
}

// takes is "hermes logs takes -n/--lines, -f/--follow, …": the valid
// spellings, when no one is near the mistake.
func takes(c *cobra.Command) string {
	var names []string
	add := func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		if f.Shorthand != "" {
			names = append(names, "-"+f.Shorthand+"/--"+f.Name)
		} else {
			names = append(names, "--"+f.Name)
		}
	}
	c.LocalFlags().VisitAll(add)
	if isProfiled(c) {
		c.InheritedFlags().VisitAll(add)
	}
	return strings.Join(append([]string{"hermes"}, strings.Fields(path(c))...), " ") + " takes " + strings.Join(names, ", ")
}

// longFlags are the long names c accepts, its own and the global ones.
func longFlags(c *cobra.Command) []string {
	var names []string
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	})
	c.InheritedFlags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	})
	return names
}

// valueKind says what a flag's value must be.
func valueKind(f *pflag.Flag) string {
	switch f.Value.Type() {
	case "int", "uint", "int64":
		return "a whole number"
	case "duration":
		return "a duration (such as 30s, 5m or 1h)"
	case "bool":
		return "true or false"
	}
	return ""
}

// didYouMean is ": did you mean "x"?" for the nearest of names to word,
// or "" when none is near.
func didYouMean(word string, names []string, prefix string) string {
	best, bestD := "", -1
	for _, n := range names {
		d := levenshtein(strings.ToLower(word), strings.ToLower(n))
		if strings.HasPrefix(n, word) && len(word) >= 2 {
			d = min(d, 1)
		}
		if bestD < 0 || d < bestD {
			best, bestD = n, d
		}
	}
	if bestD < 0 || bestD*3 > len(word) {
		return ""
	}
	if prefix == "" {
		return fmt.Sprintf(": did you mean %q?", best)
	}
	return fmt.Sprintf(": did you mean %s%s?", prefix, best)
}

// levenshtein is the edit distance between a and b, a swap of two
// neighbours counting as one edit (optimal string alignment).
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	before := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], before[j-2]+1) // a transposition
			}
		}
		before, prev, cur = prev, cur, before
	}
	return prev[len(rb)]
}

// writeHelp is every command's --help: the usage line, the description,
// the commands (of a group), the flags.
func writeHelp(w io.Writer, c *cobra.Command) {
	fmt.Fprintf(w, "usage: %s\n", usageLine(c))
	if text := strings.TrimSpace(c.Long); text != "" {
		fmt.Fprintf(w, "\n%s\n", text)
	} else if c.Short != "" {
		fmt.Fprintf(w, "\n%s.\n", upperFirst(c.Short))
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprint(w, "\ncommands:\n")
		var rows [][2]string
		for _, sub := range c.Commands() {
			if !sub.IsAvailableCommand() && !(sub.Name() == "help" && !c.HasParent()) {
				continue
			}
			left := sub.Use
			if !c.HasParent() {
				left = sub.Name()
			}
			if len(sub.Aliases) > 0 && c.HasParent() {
				left += " (or " + strings.Join(sub.Aliases, ", ") + ")"
			}
			rows = append(rows, [2]string{left, sub.Short})
		}
		writeRows(w, rows)
	}
	local := c.LocalFlags()
	onlyHelp := true
	local.VisitAll(func(f *pflag.Flag) { onlyHelp = onlyHelp && (f.Name == "help" || f.Hidden) })
	if local.HasAvailableFlags() && !(onlyHelp && c.HasAvailableSubCommands()) {
		fmt.Fprint(w, "\nflags:\n")
		writeFlags(w, local)
	}
	if inherited := c.InheritedFlags(); inherited.HasAvailableFlags() && isProfiled(c) {
		fmt.Fprint(w, "\nglobal flags:\n")
		writeFlags(w, inherited)
	}
	if footer := strings.TrimSpace(c.Annotations[annotFooter]); footer != "" {
		fmt.Fprintf(w, "\n%s\n", footer)
	}
	if c.HasAvailableSubCommands() {
		if !c.HasParent() {
			fmt.Fprint(w, "\nhermes <command> --help shows a command's arguments and flags.\n")
		} else {
			fmt.Fprintf(w, "\nhermes %s <command> --help shows a command's flags.\n", path(c))
		}
	}
}

// writeFlags lists flags as "-n, --lines N  what it does (default 100)".
func writeFlags(w io.Writer, fs *pflag.FlagSet) {
	var rows [][2]string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		name, usage := pflag.UnquoteUsage(f)
		if f.Value.Type() == "bool" {
			name = ""
		}
		left := "    --" + f.Name
		if f.Shorthand != "" {
			left = "-" + f.Shorthand + ", --" + f.Name
		}
		if name != "" {
			left += " " + name
		}
		switch f.DefValue {
		case "", "false", "0", "[]":
		default:
			if f.Name != "help" {
				usage += " (default " + f.DefValue + ")"
			}
		}
		rows = append(rows, [2]string{left, usage})
	})
	writeRows(w, rows)
}

// writeRows prints two aligned columns, wrapping a long left column onto
// its own line.
func writeRows(w io.Writer, rows [][2]string) {
	width := 0
	for _, r := range rows {
		if len(r[0]) <= 34 {
			width = max(width, len(r[0]))
		}
	}
	indent := strings.Repeat(" ", 2+width+2)
	for _, r := range rows {
		lines := wrap(r[1], max(helpWidth-len(indent), 30))
		if len(r[0]) > width {
			fmt.Fprintf(w, "  %s\n", r[0])
		} else {
			fmt.Fprintf(w, "  %-*s  %s\n", width, r[0], lines[0])
			lines = lines[1:]
		}
		for _, l := range lines {
			fmt.Fprintf(w, "%s%s\n", indent, l)
		}
	}
}

// helpWidth is the width help text is wrapped to.
const helpWidth = 88

// wrap breaks s into lines of at most width runes (a longer word stands
// alone); a newline in s is kept.
func wrap(s string, width int) []string {
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			switch {
			case line == "":
				line = word
			case len(line)+1+len(word) > width:
				lines = append(lines, line)
				line = word
			default:
				line += " " + word
			}
		}
		lines = append(lines, line)
	}
	return lines
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
