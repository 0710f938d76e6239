package sessions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Format is an export's format.
type Format string

// The formats of Export.
const (
	FormatJSON     Format = "json"
	FormatMarkdown Format = "markdown"
)

// ParseFormat reads a format's name ("json", "markdown" or "md"); anything
// else is refused with ErrInvalid.
func ParseFormat(name string) (Format, error) {
	switch strings.ToLower(name) {
	case "json":
		return FormatJSON, nil
	case "markdown", "md":
		return FormatMarkdown, nil
	}
	return "", fmt.Errorf("%w: unknown export format %q; want json or markdown", ErrInvalid, name)
}

// ContentType is the media type of an export in f.
func (f Format) ContentType() string {
	if f == FormatMarkdown {
		return "text/markdown; charset=utf-8"
	}
	return "application/json"
}

// Ext is the file name extension of an export in f.
func (f Format) Ext() string {
	if f == FormatMarkdown {
		return ".md"
	}
	return ".json"
}

// Export writes d in f: JSON is the Detail itself, indented (what Show
// answers); Markdown is a document for a person (Markdown).
func Export(w io.Writer, d Detail, f Format) error {
	switch f {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	case FormatMarkdown:
		_, err := w.Write(Markdown(d))
		return err
	}
	return fmt.Errorf("%w: unknown export format %q", ErrInvalid, f)
}

// exportTime prints a time in an export: UTC, to the second.
func exportTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// roleNames are the headings of the roles.
var roleNames = map[string]string{RoleSystem: "System", RoleUser: "User", RoleAssistant: "Assistant", RoleTool: "Tool"}

// Markdown is d as a Markdown document: the title, the session's facts,
// then each message under a heading of its role and time, its text as
// written, and what it holds besides text (images, files, audio, tool
// calls and results) as lines of its own; JSON nobody can read otherwise
// is shown in a code block.
func Markdown(d Detail) []byte {
	var b bytes.Buffer
	s := d.Session
	title := s.Title
	if title == "" {
		title = "Session " + s.ID
	}
	fmt.Fprintf(&b, "# %s\n\n", oneLine(title))
	fmt.Fprintf(&b, "- Session: `%s`\n", s.ID)
	fmt.Fprintf(&b, "- Profile: %s\n", s.Profile)
	if s.Model != "" {
		fmt.Fprintf(&b, "- Model: %s\n", s.Model)
	}
	fmt.Fprintf(&b, "- Started: %s\n", exportTime(s.StartedAt))
	fmt.Fprintf(&b, "- Last activity: %s\n", exportTime(s.LastActivityAt))
	if s.EndedAt != nil {
		fmt.Fprintf(&b, "- Ended: %s\n", exportTime(*s.EndedAt))
	}
	fmt.Fprintf(&b, "- Messages: %d\n", s.MessageCount)
	if s.TotalTokens != 0 {
		fmt.Fprintf(&b, "- Tokens: %d (prompt %d, completion %d)\n", s.TotalTokens, s.PromptTokens, s.CompletionTokens)
	}
	for _, m := range d.Messages {
		name := roleNames[m.Role]
		if name == "" {
			name = m.Role
		}
		head := name
		if m.Model != "" && m.Role == RoleAssistant {
			head += " (" + m.Model + ")"
		}
		x := extras(m.Raw)
		if x.toolCallID != "" {
			head += " — result of `" + x.toolCallID + "`"
		}
		fmt.Fprintf(&b, "\n---\n\n## %s · %s\n\n", head, exportTime(m.CreatedAt))
		var blocks []string
		if text := strings.TrimRight(m.Content, "\n"); text != "" {
			blocks = append(blocks, text)
		}
		blocks = append(blocks, x.lines...)
		switch {
		case len(blocks) == 0 && len(m.Raw) > 0 && x.toolCallID == "":
			blocks = append(blocks, codeBlock("json", indentJSON(m.Raw)))
		case len(blocks) == 0:
			blocks = append(blocks, "*(empty)*")
		}
		for i, bl := range blocks {
			if i > 0 {
				b.WriteString("\n")
			}
			b.WriteString(strings.TrimRight(bl, "\n"))
			b.WriteString("\n")
		}
	}
	return b.Bytes()
}

// oneLine joins s's lines with spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// codeBlock fences text, with a fence longer than any run of backticks in
// it.
func codeBlock(lang, text string) string {
	fence := "```"
	for strings.Contains(text, fence) {
		fence += "`"
	}
	return fence + lang + "\n" + strings.TrimRight(text, "\n") + "\n" + fence + "\n"
}

func indentJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return string(raw)
	}
	return b.String()
}

// extra is what a message holds besides its text, as Markdown lines.
type extra struct {
	lines      []string
	toolCallID string
}

// extras reads a message's raw JSON: a message object (content parts,
// tool_calls, function_call, tool_call_id) or a list of content parts.
func extras(raw json.RawMessage) extra {
	var x extra
	if len(raw) == 0 {
		return x
	}
	var obj struct {
		Content      json.RawMessage `json:"content"`
		ToolCalls    []toolCall      `json:"tool_calls"`
		FunctionCall *function       `json:"function_call"`
		ToolCallID   string          `json:"tool_call_id"`
		// Refusal is chat completions' refusal of an assistant message.
		Refusal string `json:"refusal"`
		// Responses API items.
		Type      string `json:"type"`
		CallID    string `json:"call_id"`
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
		Output    any    `json:"output"`
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		x.lines = partLines(raw)
		return x
	}
	if json.Unmarshal(raw, &obj) != nil {
		return x
	}
	x.toolCallID = obj.ToolCallID
	x.lines = partLines(obj.Content)
	for _, tc := range obj.ToolCalls {
		x.lines = append(x.lines, callLines(tc.ID, tc.Function.Name, tc.Function.Arguments)...)
	}
	if obj.FunctionCall != nil {
		x.lines = append(x.lines, callLines("", obj.FunctionCall.Name, obj.FunctionCall.Arguments)...)
	}
	if obj.Refusal != "" {
		x.lines = append(x.lines, refusalLine(obj.Refusal))
	}
	switch obj.Type {
	case "function_call":
		x.lines = append(x.lines, callLines(obj.CallID, obj.Name, obj.Arguments)...)
	case "function_call_output":
		x.toolCallID = obj.CallID
		if out, ok := obj.Output.(string); ok && isJSONValue(out) {
			x.lines = append(x.lines, codeBlock("json", indentJSON(json.RawMessage(out))))
		} else if ok {
			x.lines = append(x.lines, codeBlock("", out))
		} else if obj.Output != nil {
			b, _ := json.MarshalIndent(obj.Output, "", "  ")
			x.lines = append(x.lines, codeBlock("json", string(b)))
		}
	}
	return x
}

type toolCall struct {
	ID       string   `json:"id"`
	Function function `json:"function"`
}

type function struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// callLines shows a tool call: its name and id, then its arguments.
func callLines(id, name, args string) []string {
	head := "**Tool call** `" + name + "`"
	if id != "" {
		head += " (`" + id + "`)"
	}
	out := []string{head}
	if args != "" {
		out = append(out, codeBlock("json", indentJSON(json.RawMessage(args))))
	}
	return out
}

// partLines shows the parts of a content list that are not text.
func partLines(raw json.RawMessage) []string {
	var parts []map[string]any
	if json.Unmarshal(raw, &parts) != nil {
		return nil
	}
	var out []string
	for _, p := range parts {
		typ, _ := p["type"].(string)
		switch typ {
		case "text", "input_text", "output_text":
			continue // already in Content
		case "image_url", "input_image":
			url := ""
			switch v := p["image_url"].(type) {
			case string:
				url = v
			case map[string]any:
				url, _ = v["url"].(string)
			}
			if url == "" {
				if id, _ := p["file_id"].(string); id != "" {
					url = "file id " + id
				}
			}
			out = append(out, "*[image: "+shortURL(url)+"]*")
		case "input_audio":
			format := ""
			if a, ok := p["input_audio"].(map[string]any); ok {
				format, _ = a["format"].(string)
			}
			out = append(out, "*[audio"+prefixed(": ", format)+"]*")
		case "file", "input_file":
			name := ""
			if f, ok := p["file"].(map[string]any); ok {
				name, _ = f["filename"].(string)
			}
			if n, _ := p["filename"].(string); n != "" {
				name = n
			}
			if id, _ := p["file_id"].(string); name == "" && id != "" {
				name = "file id " + id
			}
			out = append(out, "*[file"+prefixed(": ", name)+"]*")
		case "refusal":
			r, _ := p["refusal"].(string)
			out = append(out, refusalLine(r))
		default:
			b, _ := json.MarshalIndent(p, "", "  ")
			out = append(out, codeBlock("json", string(b)))
		}
	}
	return out
}

// refusalLine shows a model's refusal.
func refusalLine(r string) string { return "*[refusal: " + oneLine(r) + "]*" }

// isJSONValue reports whether s is a JSON object or array (a tool's output
// shown indented).
func isJSONValue(s string) bool {
	t := strings.TrimSpace(s)
	return t != "" && (t[0] == '{' || t[0] == '[') && json.Valid([]byte(t))
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

// shortURL keeps a data: URL to its media type.
func shortURL(u string) string {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		mt, _, _ := strings.Cut(rest, ";")
		return "inline " + mt + fmt.Sprintf(", %d bytes", len(u))
	}
	if len(u) > 200 {
		return u[:200] + "…"
	}
	return u
}
