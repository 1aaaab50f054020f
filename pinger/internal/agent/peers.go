package agent

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// ErrPeerAddress means a peer's address in the answer is not one a router may be pointed
// at; the peer is skipped with an error in the log, and the other peers are applied.
var ErrPeerAddress = errors.New("refused peer address")

// DefaultMaxPeers is how many peer changes one cycle applies when Options.MaxPeers is zero.
const DefaultMaxPeers = 32

// addrRange is a special-purpose range and what to call it in a refusal.
type addrRange struct {
	prefix netip.Prefix
	what   string
}

func ranges(what string, prefixes ...string) []addrRange {
	out := make([]addrRange, len(prefixes))
	for i, p := range prefixes {
		out[i] = addrRange{netip.MustParsePrefix(p), what}
	}
	return out
}

// neverPeers can never be a peer's line, whatever the options: pointing a tunnel there
// would reach this host, every host of a segment, or nothing an office owns.
var neverPeers = ranges("reserved (this network, class E or broadcast)", "0.0.0.0/8", "240.0.0.0/4")

// privatePeers are unicast but not reachable on the internet; refused unless
// --allow-private-peers (a lab where offices meet over a private network).
var privatePeers = slices.Concat(
	ranges("private", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"),
	ranges("shared CGNAT space", "100.64.0.0/10"),
	ranges("special-purpose", "192.0.0.0/24", "198.18.0.0/15", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2002::/16", "5f00::/16"),
)

// checkPeerAddr returns why ip must not be applied as a peer's address, wrapped in
// ErrPeerAddress, or nil. Accepted: public unicast addresses, and the documentation
// ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32, 3fff::/20),
// which are routed nowhere, so a tunnel pointed there reaches nothing, and which test labs
// use. Refused always: the unspecified address, loopback, link-local (169.254.0.0/16 with
// the cloud metadata address 169.254.169.254, fe80::/10), multicast, broadcast and
// reserved ranges, and the office's own address. Refused unless allowPrivate: private
// (RFC 1918, fc00::/7), CGNAT (100.64.0.0/10) and other special-purpose ranges.
func checkPeerAddr(ip, self netip.Addr, allowPrivate bool) error {
	refuse := func(what string) error { return fmt.Errorf("%w %s: %s", ErrPeerAddress, ip, what) }
	switch {
	case ip.IsUnspecified():
		return refuse("unspecified address")
	case ip.IsLoopback():
		return refuse("loopback address")
	case ip.IsLinkLocalUnicast():
		return refuse("link-local address (cloud metadata lives there)")
	case ip.IsMulticast():
		return refuse("multicast address")
	case ip == self:
		return refuse("the office's own address")
	}
	for _, r := range neverPeers {
		if r.prefix.Contains(ip) {
			return refuse(r.what + " address")
		}
	}
	if allowPrivate {
		return nil
	}
	for _, r := range privatePeers {
		if r.prefix.Contains(ip) {
			return refuse(r.what + " address (allowed only with --allow-private-peers)")
		}
	}
	return nil
}

// PublicAddr reports whether ip is an address a line may have on the internet: one
// checkPeerAddr accepts as a peer's (public unicast, or the documentation ranges labs use).
func PublicAddr(ip netip.Addr) bool { return checkPeerAddr(ip, netip.Addr{}, false) == nil }
