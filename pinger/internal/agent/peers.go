package agent

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/ppter/ppter/shared/ipclass"
)

// ErrPeerAddress means a peer's address in the answer is not one a router may be pointed
// at; the peer is skipped with an error in the log, and the other peers are applied.
var ErrPeerAddress = errors.New("refused peer address")

// DefaultMaxPeers is how many peer changes one cycle applies when Options.MaxPeers is zero.
const DefaultMaxPeers = 32

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
	switch c := ipclass.Of(ip); {
	case c == ipclass.LinkLocal:
		return refuse("link-local address (cloud metadata lives there)")
	case c > ipclass.Reserved:
		return refuse(c.String() + " address")
	case ip == self:
		return refuse("the office's own address")
	case c == ipclass.Reserved:
		return refuse(c.String() + " address")
	case c > ipclass.Documentation && !allowPrivate:
		return refuse(c.String() + " address (allowed only with --allow-private-peers)")
	}
	return nil
}
