package authgate

import (
	"encoding/json"
	"net/http"
)

// reason is the fixed enum of everything the gate refuses; it is the audit
// log's reason and decides the answer through the one table below.
type reason string

const (
	reasonNoCookie        reason = "no_cookie"
	reasonInvalidSession  reason = "invalid_or_expired_session"
	reasonDuplicateCookie reason = "duplicate_cookie"
	reasonNoToken         reason = "no_token"
	reasonBadToken        reason = "bad_token"
	reasonBadHost         reason = "bad_host"
	reasonCrossOrigin     reason = "cross_origin"
	reasonRateLimited     reason = "rate_limited"
	reasonMethod          reason = "method_not_allowed"
	reasonNotFound        reason = "not_found"
	reasonNoProviders     reason = "no_providers"
	reasonUnknownProvider reason = "unknown_provider"
	reasonFlowMissing     reason = "flow_cookie_missing"
	reasonFlowExpired     reason = "flow_expired_or_used"
	reasonStateMismatch   reason = "state_mismatch"
	reasonIssuerMismatch  reason = "issuer_mismatch"
	reasonIdPError        reason = "idp_error"
	reasonMissingCode     reason = "missing_code"
	reasonInvalidCode     reason = "invalid_code"
	reasonTokenInvalid    reason = "id_token_invalid"
	reasonTokenExpired    reason = "token_expired"
	reasonNonceMismatch   reason = "nonce_mismatch"
	reasonWrongInstance   reason = "wrong_instance"
	reasonContractVersion reason = "contract_version"
	reasonNotAllowed      reason = "not_allowed"
	reasonUnreachable     reason = "provider_unreachable"
	reasonBadCredentials  reason = "bad_credentials"
	reasonBadForm         reason = "bad_form"
	reasonInternal        reason = "internal"
)

// answer is how a reason is told to the client.
type answer struct {
	status int
	// code is the envelope's "error"; envReason its "reason" (the CONTRACT
	// values for the session denials; the reason itself otherwise).
	code, envReason string
	detail          string
}

// answerFor maps every reason to its status and words: the one place where
// statuses are decided.
func answerFor(r reason) answer {
	switch r {
	case reasonNoCookie:
		return answer{http.StatusUnauthorized, "unauthenticated", "no_cookie", "Unauthorized"}
	case reasonInvalidSession, reasonDuplicateCookie:
		return answer{http.StatusUnauthorized, "session_expired", "invalid_or_expired_session", "Unauthorized"}
	case reasonNoToken, reasonBadToken:
		return answer{http.StatusUnauthorized, "unauthenticated", string(r), "Unauthorized"}
	case reasonBadHost:
		return answer{http.StatusBadRequest, "bad_host", string(r), "Invalid Host header. Dashboard requests must use the hostname the server was bound to."}
	case reasonCrossOrigin:
		return answer{http.StatusForbidden, "forbidden", string(r), "Cross-origin request refused."}
	case reasonRateLimited:
		return answer{http.StatusTooManyRequests, "rate_limited", string(r), "Too many login attempts; wait a minute and try again."}
	case reasonMethod:
		return answer{http.StatusMethodNotAllowed, "method_not_allowed", string(r), "Method not allowed."}
	case reasonNotFound:
		return answer{http.StatusNotFound, "not_found", string(r), "Not found: this dashboard has no login in its mode."}
	case reasonNoProviders:
		return answer{http.StatusServiceUnavailable, "no_providers", string(r), "no auth providers registered"}
	case reasonUnknownProvider:
		return answer{http.StatusNotFound, "unknown_provider", string(r), "Unknown provider."}
	case reasonFlowMissing:
		return answer{http.StatusBadRequest, "login_failed", string(r), "Missing login state cookie; start the login again."}
	case reasonFlowExpired:
		return answer{http.StatusBadRequest, "login_failed", string(r), "The login expired or was already used; start the login again."}
	case reasonStateMismatch:
		return answer{http.StatusBadRequest, "login_failed", string(r), "OAuth state mismatch (CSRF check failed); start the login again."}
	case reasonIssuerMismatch:
		return answer{http.StatusBadRequest, "login_failed", string(r), "The answer came from another identity provider; start the login again."}
	case reasonIdPError:
		return answer{http.StatusBadRequest, "login_failed", string(r), "The identity provider did not complete the login."}
	case reasonMissingCode:
		return answer{http.StatusBadRequest, "login_failed", string(r), "The identity provider sent no authorization code."}
	case reasonInvalidCode:
		return answer{http.StatusBadRequest, "login_failed", string(r), "Invalid code; start the login again."}
	case reasonTokenInvalid, reasonTokenExpired, reasonNonceMismatch, reasonContractVersion:
		return answer{http.StatusBadRequest, "login_failed", string(r), "The identity provider's token was not accepted."}
	case reasonWrongInstance, reasonNotAllowed:
		return answer{http.StatusForbidden, "forbidden", string(r), "This account may not use this dashboard."}
	case reasonUnreachable:
		return answer{http.StatusServiceUnavailable, "provider_unreachable", string(r), "Auth provider unreachable; try again in a moment."}
	case reasonBadCredentials:
		return answer{http.StatusUnauthorized, "unauthenticated", string(r), "Invalid username or password."}
	case reasonBadForm:
		return answer{http.StatusBadRequest, "bad_request", string(r), "Malformed login form."}
	}
	return answer{http.StatusInternalServerError, "internal", string(reasonInternal), "Internal error."}
}

// envelope is the JSON body of every refusal (CONTRACT §7's 401 shape).
type envelope struct {
	Error    string `json:"error"`
	Detail   string `json:"detail"`
	Reason   string `json:"reason"`
	LoginURL string `json:"login_url,omitempty"`
}

// noStore marks a response as never cacheable.
func noStore(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store, no-cache, must-revalidate")
	h.Set("Pragma", "no-cache")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	noStore(w)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// refuseJSON answers a reason with the JSON envelope.
func refuseJSON(w http.ResponseWriter, r reason, loginURL string) {
	a := answerFor(r)
	if a.status == http.StatusMethodNotAllowed && w.Header().Get("Allow") == "" {
		w.Header().Set("Allow", "POST")
	}
	writeJSON(w, a.status, envelope{Error: a.code, Detail: a.detail, Reason: a.envReason, LoginURL: loginURL})
}
