// Package ownaddr checks, for --expect-own-address, that the address the function saw in a
// ping is one of this host's own. On the office router it should be: when it is not, a
// transparent proxy on the router (OpenClash, passwall, a Clash TUN…) most likely sent the
// ping out through a proxy server, or the line is behind carrier NAT. Each finding is logged
// once per address, not at every cycle of --watch.
package ownaddr

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/ppter/ppter/pinger/internal/agent"
	"github.com/ppter/ppter/shared/ipclass"
	"github.com/ppter/ppter/shared/wire"
)

// Help is where the warnings send the user.
const Help = "pinger/README.md#transparent-proxies-on-the-router"

// verdict is what an address the function saw means for this host.
type verdict int

const (
	// own: the address is one of the host's.
	own verdict = iota
	// proxied: the host has a public address of that family and the function saw another
	// one: something on the way, most likely a transparent proxy, sent the ping.
	proxied
	// behindNAT: the host has no public address of that family (its WAN is in CGNAT
	// 100.64.0.0/10 or private space): the line is behind carrier NAT or another router.
	behindNAT
)

// classify tells what seen means for a host whose addresses are host; for proxied it also
// returns the host's public addresses of seen's family.
func classify(seen netip.Addr, host []netip.Addr) (verdict, []string) {
	var public []string
	for _, a := range host {
		a = a.Unmap().WithZone("")
		if a == seen {
			return own, nil
		}
		if a.Is4() == seen.Is4() && ipclass.Of(a) <= ipclass.Documentation { // an address a line may have (labs use documentation ones)
			public = append(public, a.String())
		}
	}
	if len(public) > 0 {
		return proxied, public
	}
	return behindNAT, nil
}

// HostAddrs returns the addresses of this host's interfaces.
func HostAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("listing this host's addresses: %w", err)
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		var ip net.IP
		switch a := a.(type) {
		case *net.IPNet:
			ip = a.IP
		case *net.IPAddr:
			ip = a.IP
		}
		if addr, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, addr.Unmap())
		}
	}
	return out, nil
}

// Checker compares the address of each ping with the host's addresses and logs a warning
// the first time an address is not the host's.
type Checker struct {
	addrs func() ([]netip.Addr, error)
	log   *slog.Logger

	mu         sync.Mutex
	warned     map[netip.Addr]bool
	listFailed bool
}

// New returns a Checker listing the host's addresses with addrs (HostAddrs, or a fake in
// tests) at each check of an address not warned of yet, so a new WAN address is seen at
// once.
func New(addrs func() ([]netip.Addr, error), log *slog.Logger) *Checker {
	return &Checker{addrs: addrs, log: log, warned: map[netip.Addr]bool{}}
}

// Check classifies seen and logs a warning when it is not the host's and was not warned of
// before; an address already warned of is not checked again, nor the host's addresses
// listed for it. An error listing the host's addresses is logged once and checks nothing.
func (c *Checker) Check(seen netip.Addr) {
	seen = seen.Unmap().WithZone("")
	c.mu.Lock()
	warned := c.warned[seen]
	c.mu.Unlock()
	if warned {
		return
	}
	host, err := c.addrs()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if !c.listFailed {
			c.log.Warn("--expect-own-address cannot list this host's addresses; the ping's address is not checked", "err", err)
		}
		c.listFailed = true
		return
	}
	v, public := classify(seen, host)
	if v == own || c.warned[seen] {
		return
	}
	c.warned[seen] = true
	family := wire.FamilyOf(seen).String()
	if v == proxied {
		c.log.Warn("the function saw this office at an address that is not this host's: a transparent proxy on the router most likely sent the ping through a proxy server, and the VPN would be pointed at it; exempt the function's domain from the proxy",
			"ip", seen.String(), "family", family, "host", strings.Join(public, ","), "help", Help)
		return
	}
	c.log.Warn("this host has no public "+family+" address: the line is behind carrier NAT or another router, so the address the function saw is not this host's and inbound VPN connections will not reach it",
		"ip", seen.String(), "family", family, "help", Help)
}

// Wrap returns p with the address of each of its successful pings checked. An answer
// without an ip is left to the agent to refuse.
func (c *Checker) Wrap(p agent.Pinger) agent.Pinger { return checked{p, c} }

type checked struct {
	next agent.Pinger
	c    *Checker
}

func (p checked) Ping(ctx context.Context, since *int64) (wire.PingResponse, error) {
	resp, err := p.next.Ping(ctx, since)
	if err != nil {
		return resp, err
	}
	if resp.IP.IsValid() {
		p.c.Check(resp.IP)
	}
	return resp, nil
}
