// Package router holds the pinger's router drivers: each reconfigures one kind of office
// router (or runs a user hook) when a peer's address changes. The Driver interface is small
// so that each driver is one file: exec, http, routeros, strongswan, wireguard, openwrt,
// opnsense, vyos, fortigate.
package router

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// Errors shared by drivers.
var (
	// ErrApply means the router refused or failed a change; the cycle exits 1 and retries.
	ErrApply = errors.New("router change failed")
	// ErrNotFound means the configured router object (peer, connection) does not exist.
	ErrNotFound = errors.New("router object not found")
)

// Change is one address to apply. For a peer change, Peer is the peer's site, Line the
// line of it (empty: its default line) and Old/New its last applied and current address;
// for the office's own change (Self true), Peer is the office's own site, Line the line
// that pinged and Old/New are its own addresses.
type Change struct {
	Peer   site.Name
	Line   site.Line
	Self   bool
	Family wire.Family
	Old    netip.Addr // zero when nothing was applied before
	New    netip.Addr
	// SelfIP is the office's current address in Family on SelfLine: for a peer change, the
	// office's line of the same name as Line when it has one, else its default line; for a
	// self change, Line.
	SelfIP   netip.Addr
	SelfLine site.Line
}

// Ref names the peer line the change is for, as a driver's mapping does ("bj/unicom").
func (c Change) Ref() site.Peer { return site.Peer{Site: c.Peer, Line: c.Line} }

func (c Change) String() string {
	who := "peer " + c.Ref().String()
	if c.Self {
		who = "self " + c.Ref().String()
	}
	old := "none"
	if c.Old.IsValid() {
		old = c.Old.String()
	}
	return fmt.Sprintf("%s %s %s -> %s", who, c.Family, old, c.New)
}

// Driver reconfigures a router. Wants filters the changes a driver acts on (for example
// only the peers it has a mapping for); the pinger records in its state file only the
// changes a driver wanted and applied, so adding a mapping later applies it then.
// Apply must be idempotent: a change may be applied again after a failure.
type Driver interface {
	Wants(c Change) bool
	Apply(ctx context.Context, c Change) error
}

// peer is a mapping of a ppter peer to a router object, as a driver's YAML section gives it.
type peer interface {
	family() wire.Family // the address family the object follows
	check() error        // why the mapping cannot work, or nil
}

// peers maps the peer lines a driver follows ("bj", "bj/unicom") to their router objects.
// Embedded in a driver, it gives the driver its Wants.
type peers[P peer] map[site.Peer]P

// Wants accepts changes of mapped peer lines in their family.
func (m peers[P]) Wants(c Change) bool {
	p, ok := m[c.Ref()]
	return ok && !c.Self && p.family().Is(c.Family)
}

// check refuses an empty map and the first peer whose mapping cannot work, naming driver;
// it returns the peer lines mapped, for the driver's Mapped.
func (m peers[P]) check(driver string) (mapped, error) {
	if len(m) == 0 {
		return nil, fmt.Errorf("%s: no peers mapped", driver)
	}
	refs := make(mapped, 0, len(m))
	for name, p := range m {
		if err := p.check(); err != nil {
			return nil, fmt.Errorf("%s: peer %s: %w", driver, name, err)
		}
		refs = append(refs, name)
	}
	return refs, nil
}

// mapped lists the peer lines a driver maps; embedded in the driver, it gives it Mapped.
// (A slice filled once by check, not a method of the generic peers: that would be one
// more copy per driver in a binary that must fit small routers.)
type mapped []site.Peer

// Mapped lists the peer lines mapped.
func (m mapped) Mapped() []site.Peer { return m }

// Mapper is implemented by drivers that follow named peer lines: Mapped lists them, so the
// pinger can warn of a mapping naming a line the peer's answer does not list.
type Mapper interface {
	Mapped() []site.Peer
}
