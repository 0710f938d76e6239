package authgate

import (
	"html/template"
	"net/http"
	"net/url"
	"sync"
)

// pageHeaders are set on every page the gate renders: never cached, never
// framed, nothing inline (the style is the stylesheet at StylesheetPath),
// no script, forms only to this origin.
func pageHeaders(w http.ResponseWriter) {
	noStore(w)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'none'; object-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// StylesheetPath is where the gate's pages find their stylesheet (Style),
// under the path prefix: one of the static assets of the public table,
// which the app serves.
const StylesheetPath = "/assets/login.css"

// Style is the stylesheet of the gate's pages.
func Style() []byte { return []byte(pageStyle) }

const pageStyle = `body{font:16px/1.5 system-ui,sans-serif;background:#f5f5f4;color:#1c1917;margin:0}
main{max-width:24rem;margin:10vh auto;padding:2rem;background:#fff;border-radius:.75rem;box-shadow:0 1px 3px #0002}
h1{font-size:1.4rem;margin:0 0 1rem}label{display:block;margin:.75rem 0 .25rem}
input{width:100%;box-sizing:border-box;padding:.5rem;font:inherit}
button,.button{display:block;width:100%;box-sizing:border-box;margin-top:1rem;padding:.6rem;font:inherit;text-align:center;
background:#1c1917;color:#fff;border:0;border-radius:.4rem;text-decoration:none;cursor:pointer}
.error{color:#b91c1c}.note{color:#57534e;font-size:.9rem}hr{border:0;border-top:1px solid #e7e5e4;margin:1.5rem 0}`

// The gate's pages are parsed on the first page rendered: html/template's
// parse is hundreds of allocations that a process which never serves the
// gate (PID 1, the CLI, a gateway) would otherwise pay in its package
// initialisation.
var loginTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Sign in · Hermes</title><link rel="stylesheet" href="{{.Style}}"></head>
<body><main><h1>Sign in to Hermes</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{if .Open}}<p>This dashboard does not need a login (mode {{.Mode}}).</p><a class="button" href="{{.Home}}">Open the dashboard</a>
{{else}}{{range .OAuth}}<a class="button" href="{{.Href}}">Sign in with {{.DisplayName}}</a>
{{end}}{{if and .OAuth .Password}}<hr>{{end}}{{if .Password}}<form method="post" action="{{.PasswordAction}}">
<label for="username">Username</label><input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<input type="hidden" name="next" value="{{.Next}}"><button type="submit">Sign in</button></form>
{{end}}{{if not .Any}}<p class="error">No login provider is configured.</p>{{end}}{{end}}
</main></body></html>
`))
})

var errorTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Title}} · Hermes</title><link rel="stylesheet" href="{{.Style}}"></head>
<body><main><h1>{{.Title}}</h1><p>{{.Detail}}</p>
{{if .Retry}}<a class="button" href="{{.Retry}}">Try again</a>{{end}}<a class="button" href="{{.Login}}">Back to sign in</a>
</main></body></html>
`))
})

type oauthLink struct{ Href, DisplayName string }

// renderLogin renders the login page (status 200, or 401 after a refused
// password, with the same body whatever was wrong).
func (g *Gate) renderLogin(w http.ResponseWriter, r *http.Request, status int, next, errMsg string) {
	data := struct {
		Open                 bool
		Mode                 Mode
		Home, PasswordAction string
		Next, Error          string
		OAuth                []oauthLink
		Password, Any        bool
		Style                string
	}{Open: g.mode != Gated, Mode: g.mode, Home: g.URL("/"), PasswordAction: g.URL("/auth/password-login"), Next: next, Error: errMsg, Style: g.URL(StylesheetPath)}
	for _, p := range g.providers {
		info := p.Info()
		if info.Kind == KindPassword {
			data.Password = true
			continue
		}
		q := url.Values{"provider": {info.Name}}
		if next != "" {
			q.Set("next", next)
		}
		data.OAuth = append(data.OAuth, oauthLink{Href: g.URL("/auth/login") + "?" + q.Encode(), DisplayName: info.DisplayName})
	}
	data.Any = data.Password || len(data.OAuth) > 0
	pageHeaders(w)
	w.WriteHeader(status)
	loginTemplate().Execute(w, data)
}

// refusePage answers a failed login step with a small page (the browser is
// on a top-level navigation) whose status and words come from answerFor,
// and writes the audit line.
func (g *Gate) refusePage(w http.ResponseWriter, r *http.Request, why reason, provider string) {
	g.audit(r, "auth.login.failure", why, "provider", provider)
	a := answerFor(why)
	data := struct{ Title, Detail, Retry, Login, Style string }{
		Title: http.StatusText(a.status), Detail: a.detail, Login: g.URL("/login"), Style: g.URL(StylesheetPath),
	}
	if a.status == http.StatusServiceUnavailable && provider != "" {
		data.Retry = g.URL("/auth/login") + "?" + url.Values{"provider": {provider}}.Encode()
	}
	pageHeaders(w)
	w.WriteHeader(a.status)
	errorTemplate().Execute(w, data)
}
