// Package agent is a profile's agent and its HTTP surface: an
// OpenAI-compatible API that the profile's gateway process mounts on its
// gateway port (Agent.Handler), the surface that Open WebUI, LobeChat,
// LibreChat, Dify and the OpenAI SDKs speak. It also owns the profile's
// credential store, auth.json (StoreProviderKey, used by hermes login).
//
// # Surface
//
// One route table (routes.go) holds every route of the gateway: its own,
// which the gateway passes in Config.Routes (GET /health, GET /v1/health,
// GET /health/detailed), and the agent's:
//
//	GET    /v1/capabilities                    what this gateway serves, with the reference's keys
//	GET    /v1/models                          the agent's names, model.name, the names model.aliases maps
//	GET    /v1/models/{model}                  one of them (any other name is served too)
//	POST   /v1/chat/completions                streaming (server-sent events) or not
//	POST   /v1/responses                       the Responses API: previous_response_id, conversation, stream, store
//	GET    /v1/responses/{id}                  a stored response
//	DELETE /v1/responses/{id}                  delete it (it can no longer be continued)
//	GET    /v1/responses/{id}/input_items      its input items: limit (1-100, 20), order (desc, asc), after
//
// Each route has a name (the access log's and /v1/capabilities'
// endpoints', never the raw path) and an Access: Public (anyone, even
// while draining), Probe (the key, even while draining and however busy)
// or API (the key, refused while draining, within gateway.max_concurrent).
//
// # Models
//
// GET /v1/models is answered locally, without asking the upstream. Every
// model name a client sends is served: a name model.aliases maps goes to
// the upstream model it names, and every other one (hermes-<profile>,
// hermes-agent, model.name, or a name a client has hard-coded, such as
// gpt-4o) to model.name. The name the client sent comes back where the
// protocol echoes it (a completion's and each chunk's model, a response's
// model); the sessions store and the access log record the upstream
// model. A chat completion's id is the gateway's (chatcmpl-…), the same in
// every chunk of a stream, never the upstream's. Upstream, the agent calls
// only POST {model.base_url}/chat/completions, streamed or not, with the
// key of model.api_key_env (a variable of the gateway's environment: the
// profile's .env overlaid on Config.Env) or of model.provider (the key
// stored by hermes login --provider NAME in the profile's auth.json); with
// neither, no key is sent (local upstreams need none). The Responses API
// is implemented here, on top of chat completions; background: true is
// refused (400).
//
// # Access log
//
// One middleware over the table (exchange.go) gives every request an
// Exchange, which the route and the upstream call fill, and writes one
// line per request to Config.Logger at level Info: method, route, status,
// duration, bytes in and out, client address, session, the model sent and
// the upstream model with the time spent upstream, and the error code;
// never a key, a header value or a body. Config.Observe receives the same
// Exchange (metrics).
//
// # Errors
//
// Every failure is an error of one kind (ErrBadRequest, ErrUnauthorized,
// ErrNotFound, ErrTooLarge, ErrBusy, ErrUpstream, ErrUnavailable,
// ErrUpstreamTimeout, …) with a stable code and a message for a person,
// and one function, errorStatus, maps it to its status and to the OpenAI
// error envelope {"error": {"message", "type", "param", "code"}}:
//
//	400 the body is not JSON, or a field the agent uses is wrong (other fields are passed on);
//	    the upstream refused the request as malformed; an invalid X-Hermes-Session-Id;
//	    a previous_response_id that is not this profile's (previous_response_not_found,
//	    as OpenAI answers it); an input_items cursor that names no item (invalid_cursor)
//	401 no Authorization header, another scheme, a wrong key
//	404 an unknown route; a response that is not this profile's (response_not_found);
//	    a conversation (conversation_not_found) or an X-Hermes-Session-Id (session_not_found)
//	    whose session another profile recorded: a store may hold another profile's rows
//	    (hermes profile create --clone-all copies state.db), and they read as unknown ids
//	413 a body over gateway.max_body_bytes (its default: profiles.DefaultMaxBodyBytes)
//	429 gateway.max_concurrent requests (profiles.DefaultMaxConcurrent) already in flight; the upstream's own 429
//	502 the upstream failed: a 5xx, a refused key, a dropped connection, malformed JSON
//	503 draining; no model configured (the message says how to set one); no credential;
//	    SOUL.md, config.yaml or auth.json unreadable (the message names the file, owner, mode)
//	504 the upstream did not connect, answer or go on in time (Timeouts)
//
// A failure after a stream began cannot change the status: a chat
// completion stream ends with a last event {"error": {…}} and no [DONE], a
// Responses stream with response.failed.
//
// # Prompt layering
//
// The profile's SOUL.md is the system prompt: the first message the
// upstream sees, read again whenever its stamp changes (one stat per
// request, no restart). A client's own system or developer messages, and
// the Responses API's instructions, come after it, never instead of it.
// config.yaml's model section, .env and auth.json are re-read on change
// the same way; the gateway section (limits, CORS) is read once, by New.
//
// # State
//
// The chat completions API is stateless: clients send the whole
// conversation each time, so the agent passes the client's messages as
// they are (after SOUL.md) and adds nothing from the store. Each turn is
// stored (one sessions.Store.AppendTurn, one transaction) in the
// request's session, named by the X-Hermes-Session-Id header or made anew
// (sessions.NewSessionID) and returned in the same header of the answer,
// streamed or not: the messages after the last assistant message of a
// named session (those before it were stored by earlier turns), every
// message of a new one, and the reply, with the usage the upstream
// reports (streams ask for it with stream_options.include_usage; a client
// that asked gets it as OpenAI sends it, "usage": null in every chunk then
// one chunk without choices and the usage, before [DONE]). The turn is
// queued once the answer is delivered (sessions.Store.QueueTurn), so
// neither the client nor its next request on the same connection waits
// for the commit; the sessions routes and a conversation's history wait
// for the turns queued before them, and a stopping gateway for every
// queued turn (sessions.Store.Flush). A failed upstream
// call stores nothing. The SOUL.md prompt belongs to the profile, not to
// the conversation, and is not stored.
//
// The Responses API is stateful: previous_response_id rebuilds the history
// from the store (the chain of responses it continues), and a named
// conversation is a session whose every message is the history. A
// response is recorded (sessions.Store.AppendTurn, then PutResponse)
// before its answer is sent, so it can be continued at once, and after a
// restart.
//
// The sessions API (sessions_routes.go) serves the store over HTTP behind
// the key, in the sessions package's JSON: GET /v1/sessions (paged,
// newest first, q= a literal search), GET, PATCH ({"title"} renames,
// {"ended": true} ends) and DELETE /v1/sessions/{session_id}, and its
// export (?format=json|markdown). A session recorded by another profile
// is a 404. At sessions.max_bytes, with no ended session left to prune,
// a new turn is refused with 507 (code sessions_store_full, naming the
// key) before the upstream is asked (sessions.Store.Admit); a request
// with store: false keeps nothing and is served.
//
// # Streaming
//
// Upstream chunks are relayed as they arrive: each upstream event is
// written and flushed before the next is read, and nothing is buffered
// beyond one event. The agent asks the upstream for an uncompressed
// stream, and sends X-Accel-Buffering: no for proxies.
//
// # Drain
//
// Drain makes the agent answer 503 (code "draining", Connection: close)
// to every new API request (Public and Probe routes are still answered)
// while the requests and streams already in flight run to their end; the
// gateway calls it on SIGTERM and then http.Server.Shutdown bounded by
// gateway.drain_timeout.
//
// # Timeouts
//
// Upstream calls are bounded by Timeouts: Connect (10 s, dial and TLS),
// FirstByte (3 min from the request to the response headers: a
// non-streaming answer is usually generated whole before them) and Idle
// (2 min of silence in the middle of a body or stream). There is no
// overall deadline: a stream that keeps flowing is never cut, and a client
// that goes away cancels its upstream call.
package agent
