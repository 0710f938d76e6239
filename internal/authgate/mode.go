package authgate

import (
	"net/netip"
	"strings"
)

// Mode is how the dashboard is protected; it is decided once at start-up
// (DecideMode) and never changes while the process runs.
type Mode string

// The three modes of CONTRACT §7.
const (
	// Gated: every route outside the public table needs a login session.
	Gated Mode = "gated"
	// OpenLocal: a loopback bind without a public URL; no login, but /api/*
	// needs the per-process token and every route checks the Host header.
	OpenLocal Mode = "open-local"
	// OpenInsecure: the operator opted out of the gate (--insecure) on a
	// bind that would otherwise be gated.
	OpenInsecure Mode = "open-insecure"
)

// DecideMode is THE one mode function (the dashboard and `hermes doctor` both
// call it). The gate engages iff the bind host is not loopback (127.0.0.0/8,
// ::1, localhost) or publicURL is set, and insecure is false; insecure on such
// a bind gives OpenInsecure; anything else is OpenLocal. An empty bind host
// (all interfaces), 0.0.0.0, ::, a LAN address or any other name counts as
// not loopback.
func DecideMode(bindHost, publicURL string, insecure bool) Mode {
	exposed := !IsLoopbackHost(bindHost) || strings.TrimSpace(publicURL) != ""
	switch {
	case exposed && !insecure:
		return Gated
	case exposed:
		return OpenInsecure
	default:
		return OpenLocal
	}
}

// IsLoopbackHost reports whether a bind or Host name is loopback: an address
// in 127.0.0.0/8 (IPv4-mapped forms included), ::1, or the name localhost
// (any case, with or without a trailing dot). Brackets and a zone are
// accepted; a port is not part of host.
func IsLoopbackHost(host string) bool {
	h := strings.TrimSpace(host)
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	if strings.EqualFold(strings.TrimSuffix(h, "."), "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	if err != nil {
		return false
	}
	return a.WithZone("").Unmap().IsLoopback()
}
