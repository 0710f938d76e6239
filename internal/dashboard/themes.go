package dashboard

import (
	"fmt"
	"net/http"
	"strings"
)

// theme is one built-in look of the dashboard: CSS custom properties that
// the stylesheet (assets/app.css) uses and nothing else defines.
type theme struct {
	Name  string
	Label string
	// Vars are the CSS variables, in order.
	Vars []themeVar
}

type themeVar struct{ name, value string }

// defaultTheme is the theme used when the browser states no preference.
const defaultTheme = "light"

// themes returns the built-in themes: the one source of /api/dashboard/themes
// and of the generated assets/theme.css.
func themes() []theme {
	return []theme{
		{Name: "light", Label: "Light", Vars: []themeVar{
			{"--bg", "#f7f7f5"},
			{"--surface", "#ffffff"},
			{"--text", "#1d1d1f"},
			{"--muted", "#5f6368"},
			{"--border", "#d9d9d6"},
			{"--accent", "#3f51b5"},
			{"--accent-text", "#ffffff"},
			{"--ok", "#1b7f3b"},
			{"--warn", "#9a6700"},
			{"--bad", "#b3261e"},
			{"--code-bg", "#f0f0ec"},
		}},
		{Name: "dark", Label: "Dark", Vars: []themeVar{
			{"--bg", "#151517"},
			{"--surface", "#1f1f23"},
			{"--text", "#e8e8ea"},
			{"--muted", "#a0a0a8"},
			{"--border", "#34343a"},
			{"--accent", "#8c9eff"},
			{"--accent-text", "#10101a"},
			{"--ok", "#5fd38d"},
			{"--warn", "#e3b341"},
			{"--bad", "#ff8a80"},
			{"--code-bg", "#26262b"},
		}},
	}
}

// themeCSS is assets/theme.css: the default theme on :root, the dark one
// when the browser prefers it, and each theme under [data-theme=<name>]
// for a page that picks one.
func themeCSS() []byte {
	var b strings.Builder
	b.WriteString("/* generated from the dashboard's built-in themes (GET /api/dashboard/themes) */\n")
	block := func(selector string, t theme, indent string) {
		fmt.Fprintf(&b, "%s%s {\n", indent, selector)
		for _, v := range t.Vars {
			fmt.Fprintf(&b, "%s  %s: %s;\n", indent, v.name, v.value)
		}
		fmt.Fprintf(&b, "%s}\n", indent)
	}
	for _, t := range themes() {
		if t.Name == defaultTheme {
			block(":root", t, "")
		}
	}
	for _, t := range themes() {
		if t.Name == "dark" {
			b.WriteString("@media (prefers-color-scheme: dark) {\n")
			block(":root:not([data-theme])", t, "  ")
			b.WriteString("}\n")
		}
	}
	for _, t := range themes() {
		block(fmt.Sprintf(":root[data-theme=%q]", t.Name), t, "")
	}
	return []byte(b.String())
}

// themeBody is one theme in /api/dashboard/themes.
type themeBody struct {
	Name      string            `json:"name"`
	Label     string            `json:"label"`
	Variables map[string]string `json:"variables"`
}

// apiThemes is GET /api/dashboard/themes (public).
func (s *Server) apiThemes(w http.ResponseWriter, r *http.Request) {
	var out []themeBody
	for _, t := range themes() {
		vars := make(map[string]string, len(t.Vars))
		for _, v := range t.Vars {
			vars[v.name] = v.value
		}
		out = append(out, themeBody{Name: t.Name, Label: t.Label, Variables: vars})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"default":    defaultTheme,
		"stylesheet": s.gate.URL(AssetsPath + "theme.css"),
		"themes":     out,
	})
}
