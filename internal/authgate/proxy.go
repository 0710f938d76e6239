package authgate

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientInfo is what the gate believes about the peer: its address (for
// logs and the rate limit) and whether it reached us over HTTPS (for cookie
// names when no public URL says so).
type clientInfo struct {
	ip    netip.Addr
	https bool
}

// client derives clientInfo. Forwarded headers (X-Forwarded-For,
// X-Forwarded-Proto, Forwarded) count only when the TCP peer is in
// TrustedProxies, and only for the address and the scheme: never for
// routing, the Host check or the public-path decision. The address is the
// right-most hop that is not itself a trusted proxy; an unparsable hop stops
// the walk at the last trusted one.
func (g *Gate) client(r *http.Request) clientInfo {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return clientInfo{https: r.TLS != nil}
	}
	info := clientInfo{ip: ap.Addr().Unmap(), https: r.TLS != nil}
	if !g.trusted(info.ip) {
		return info
	}
	hops, proto := forwarded(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.Trim(hops[i], "[]"))
		if err != nil {
			if ap, err2 := netip.ParseAddrPort(hops[i]); err2 == nil {
				a, err = ap.Addr(), nil
			}
		}
		if err != nil {
			break
		}
		info.ip = a.Unmap()
		if !g.trusted(info.ip) {
			break
		}
	}
	switch proto {
	case "https":
		info.https = true
	case "http":
		info.https = false
	}
	return info
}

// TrustedProxy reports whether a is one of the gate's trusted proxies
// (HERMES_DASHBOARD_TRUSTED_PROXIES): the dashboard does not bound the
// connections of such an address per address, since every client behind
// the proxy shares it.
func (g *Gate) TrustedProxy(a netip.Addr) bool { return g.trusted(a) }

func (g *Gate) trusted(a netip.Addr) bool {
	for _, p := range g.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwarded reads the hop list and the scheme the nearest proxy reports:
// X-Forwarded-For / X-Forwarded-Proto, else RFC 7239 Forwarded.
func forwarded(h http.Header) (hops []string, proto string) {
	if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
		for _, v := range xff {
			for _, f := range strings.Split(v, ",") {
				hops = append(hops, strings.TrimSpace(f))
			}
		}
	}
	if xfp := h.Values("X-Forwarded-Proto"); len(xfp) > 0 {
		parts := strings.Split(xfp[len(xfp)-1], ",")
		proto = strings.ToLower(strings.TrimSpace(parts[len(parts)-1]))
	}
	if len(hops) > 0 || proto != "" {
		return hops, proto
	}
	for _, v := range h.Values("Forwarded") {
		for _, elem := range strings.Split(v, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if !ok {
					continue
				}
				val = strings.Trim(val, `"`)
				switch strings.ToLower(k) {
				case "for":
					hops = append(hops, val)
				case "proto":
					proto = strings.ToLower(val)
				}
			}
		}
	}
	return hops, proto
}
