package agent

import (
	"strings"
	"testing"

	"github.com/hermes-agent/hermes/internal/profiles"
)

// TestSystemPrompt: the notes for people (HTML comment blocks) never reach
// the model; a block in a code fence is an example and stays.
func TestSystemPrompt(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "You are X.\n", "You are X."},
		{"block", "<!--\nnote\n-->\n\nYou are X.\n", "You are X."},
		{"inline", "You are <!-- not --> X.\n", "You are  X."},
		{"two", "<!-- a -->A\n<!-- b\nc -->B\n", "A\nB"},
		{"unclosed runs to the end", "You are X.\n<!-- draft\nmore", "You are X."},
		{"fenced", "Example:\n```\n<!-- kept -->\n```\n", "Example:\n```\n<!-- kept -->\n```"},
		{"bom", "\ufeff<!-- n -->\nYou.", "You."},
	} {
		if got := SystemPrompt(tc.in); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	got := SystemPrompt(string(profiles.DefaultSOUL("coder")))
	if strings.Contains(got, "profile") || strings.Contains(got, "<!--") || !strings.HasPrefix(got, "You are Hermes") {
		t.Errorf("the seeded SOUL.md sends %q", got)
	}
}
