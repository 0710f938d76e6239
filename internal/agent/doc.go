// Package agent is a profile's agent and its HTTP surface: an
// OpenAI-compatible API that the profile's gateway process mounts on its
// gateway port (Agent.Handler), the surface that Open WebUI, LobeChat,
// LibreChat, Dify and the OpenAI SDKs speak. It also owns the profile's
// credential store, auth.json (StoreProviderKey, used by hermes login).
//
// # Surface
//
//	GET    /v1/models             the agent as the model hermes-<profile>, and model.name
//	GET    /v1/models/{id}        one of them
//	POST   /v1/chat/completions   streaming (server-sent events) or not
//	POST   /v1/responses          the Responses API: previous_response_id, conversation, stream
//	GET    /v1/responses/{id}     a stored response
//	DELETE /v1/responses/{id}     delete it (it can no longer be continued)
//
// A request naming hermes-<profile> or model.name goes to the upstream
// configured in config.yaml (model.base_url, model.name); another model
// name is a 404 model_not_found. Upstream, the agent calls only POST
// {model.base_url}/chat/completions, streamed or not, with the key of
// model.api_key_env (a variable of the gateway's environment: the
// profile's .env overlaid on Config.Env) or of model.provider (the key
// stored by hermes login --provider NAME in the profile's auth.json);
// with neither, no key is sent (local upstreams need none). The
// Responses API is implemented here, on top of chat completions.
//
// # Auth and CORS
//
// Every route requires Authorization: Bearer <API_SERVER_KEY>, the key in
// the profile's .env (re-read when the file changes). The presented and the
// expected key are hashed with SHA-256 and the digests compared with
// crypto/subtle, so the comparison takes the same time whatever the key's
// content and length. A browser origin listed in gateway.cors_origins ("*"
// for any) gets the CORS headers and its preflight requests (OPTIONS) are
// answered 204; for any other origin a preflight gets a 403 with no CORS
// header, and other requests no CORS header.
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
//	    the upstream refused the request as malformed; an invalid X-Hermes-Session-Id
//	401 no Authorization header, another scheme, a wrong key
//	404 an unknown route, model or response
//	413 a body over gateway.max_body_bytes (default 1 MiB)
//	429 gateway.max_concurrent requests (default 32) already in flight; the upstream's own 429
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
// reports (streams ask for it with stream_options.include_usage and pass
// the usage chunk on only to a client that asked for it). The turn is
// written once the answer is delivered, so the client does not wait for
// the bookkeeping; the handler (and so a drain) does. A failed upstream
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
// to every new request while the requests and streams already in flight
// run to their end; the gateway calls it on SIGTERM and then
// http.Server.Shutdown bounded by gateway.drain_timeout.
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
