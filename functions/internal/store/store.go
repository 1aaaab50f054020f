// Package store keeps the fleet's state: each site's addresses, the replay guard of signed
// requests, the counters that slow repeated authentication failures, and a capped stream of
// events. Redis is the production store (one server-side script per ping: replay check,
// record, change detection and peer read in a single round trip, all keys under one hash
// tag); the memory store serves local runs and refuses to start inside Function Compute.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// Errors returned (wrapped) by stores.
var (
	// ErrReplay means the nonce was already used by this site within the window.
	ErrReplay = errors.New("nonce already used")
	// ErrUnavailable means the store could not be reached.
	ErrUnavailable = errors.New("store unavailable")
	// ErrInsideFC means the memory store was asked for inside Function Compute (app refuses
	// to start).
	ErrInsideFC = errors.New("the memory:// store is for local runs only and refuses to start inside Function Compute; set redis.url to a Redis server")
)

// Event kinds written by the store.
const (
	EventAddressChanged = "address_changed"
)

// Store is the state of the fleet.
type Store interface {
	// Ping records in.Addr for in.Site in one atomic step: it refuses a replayed nonce
	// (ErrReplay), records the address and the time, detects a change (bumping the fleet
	// version and appending an event), tells whether this ping is to handle the address
	// (PingResult.Handle) and reads the peers' records. It runs at most once per call,
	// also when the client retries it.
	Ping(ctx context.Context, in PingInput) (PingResult, error)
	// Handled records that the change to addr (its reconcile and notifications) was
	// carried out for st, so the next pings do not handle it again; it also ends the
	// handling lease PingResult.Handle granted.
	Handled(ctx context.Context, st site.Name, line site.Line, addr netip.Addr) error
	// Failures returns the failed attempts counted against k in its current window.
	Failures(ctx context.Context, k FailKey) (int, error)
	// AuthFailure counts one failed attempt against k and returns the count in the
	// window, the first failure starting the window.
	AuthFailure(ctx context.Context, k FailKey) (int, error)
	// Fleet returns every recorded site and the fleet version.
	Fleet(ctx context.Context) ([]Record, int64, error)
	// Events returns up to n most recent events, newest first.
	Events(ctx context.Context, n int) ([]Event, error)
	// MarkStale records that line of st ("" its default line) was found stale with its
	// last ping at seen, and reports whether that is news (the first time for that last
	// ping), so a stale site is reported once, and again only after it came back and went
	// quiet again.
	MarkStale(ctx context.Context, st site.Name, line site.Line, seen time.Time) (bool, error)
	// AppendEvent adds an event to the capped stream.
	AppendEvent(ctx context.Context, e Event) error
	// Close releases the store's resources.
	Close() error
}

// NonceTTL is how long a nonce is remembered: a request is accepted up to auth.Window
// either side of the server's clock, so a nonce must outlive both sides, plus a minute for
// the clocks of function instances.
const NonceTTL = 2*auth.Window + time.Minute

// Options tune a store. Every field is needed: app.StoreOptions fills them from the
// configuration, which holds the defaults.
type Options struct {
	// Prefix starts every Redis key; it contains the {hash tag}.
	Prefix string
	// EventsMax caps the event stream (approximately, for Redis).
	EventsMax int64
	// FailureWindow is how long failed attempts are counted from the first one.
	FailureWindow time.Duration
	// HandleLease is how long one ping may take to handle an address change (reconcile
	// and notify) before a later ping of the site takes it over.
	HandleLease time.Duration
	// Timeout bounds dialing, each read and each write to Redis.
	Timeout time.Duration
	// Now is the clock.
	Now func() time.Time
	// ConfigID names the configuration's sites, peers and lines (app.StoreOptions hashes them):
	// a delta answers only for the configuration its since was given under, since a
	// peer added by a new configuration may not have changed for a long time.
	ConfigID string
}

// PingInput is one authenticated ping.
type PingInput struct {
	Site site.Name
	// Line is the line the ping reports: "" for the site's default line (kept where a site
	// without lines keeps its record), else one of its other declared lines.
	Line site.Line
	// Addr is the address to record (IPv4 and IPv6 are kept apart).
	Addr netip.Addr
	// Nonce is the signed request's nonce; empty for Basic authentication.
	Nonce string
	// Peers are the sites whose records are returned.
	Peers []site.Name
	// Delta asks for only the peers whose addresses changed after fleet version Since
	// (the last version the caller saw). The store answers a delta when it can tell
	// (PingResult.Delta), and every peer otherwise.
	Delta bool
	Since int64
	// Lines holds, for each peer with more than one line, its lines other than the default
	// one: their records come in Record.Lines, and a delta lists the peer with all its
	// lines when any of them changed. A peer not in it has its default line only.
	Lines map[site.Name][]site.Line
}

// PingResult is what a ping recorded and read.
type PingResult struct {
	Changed  bool
	Previous netip.Addr // invalid when the site had no address of this family
	PrevSeen time.Time  // the site's previous ping (either family); zero for its first
	Self     Record
	Version  int64
	Peers    []Record // in the order of PingInput.Peers; never-seen peers have zero fields
	// Delta tells that Peers holds only the peers whose addresses changed after
	// PingInput.Since (still in the order of PingInput.Peers); the others are as the
	// caller last saw them. False: Peers holds every peer.
	Delta bool
	// Handle tells this ping to carry out the address it recorded (reconcile the site's
	// targets, notify the change) and then call Handled: the address differs from the one
	// last handled, and no other ping holds the lease to handle it. It follows from the
	// state, not from this ping's Changed, so a change whose answer was lost is handled by
	// a later ping.
	Handle bool
	// Announced is the address of this family last handled (invalid when none): the
	// previous address to report when Handle is set.
	Announced netip.Addr
}

// FailKey names what failed attempts count against: one credential from one source.
type FailKey struct {
	// Credential is what the attempts tried: CredentialSite, CredentialDynDNS (with a
	// site name) or CredentialAdmin.
	Credential string
	// Source is the source the attempts came from (see SourceOf).
	Source netip.Prefix
}

// Credentials the limiter counts failures against.
const (
	CredentialAdmin = "admin"
)

// CredentialSite names a site's own key (a Basic password or a request signature).
func CredentialSite(s site.Name) string { return "site:" + string(s) }

// CredentialDynDNS names a site's dyndns_key.
func CredentialDynDNS(s site.Name) string { return "dyndns:" + string(s) }

// String is the key's form in Redis: "site:hz:203.0.113.7/32".
func (k FailKey) String() string { return k.Credential + ":" + k.Source.String() }

// SourceOf is the unit in which the limiter counts a source address: the IPv4 address, or
// the IPv6 /64 (one subscriber line gets a whole /64 or more, so counting addresses would
// let one line make 2^64 times the attempts). An invalid address maps to the zero prefix.
func SourceOf(a netip.Addr) netip.Prefix {
	a = a.Unmap().WithZone("")
	if !a.IsValid() {
		return netip.Prefix{}
	}
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// Record is the last known addresses of one line of a site. Times are zero when never set.
type Record struct {
	Site site.Name
	// Line is "" for the site's default line, else the name of another declared line.
	Line               site.Line
	IPv4, IPv6         netip.Addr
	Seen4, Seen6       time.Time
	Changed4, Changed6 time.Time
	// Lines are a peer's other lines (PingInput.Lines), in that order: only in
	// PingResult.Peers. Fleet returns each line as a Record of its own.
	Lines []Record
}

// slot is where a line of a site is kept (its field in the sites hash, its name in the
// changes set, the event stream and the handled hash): the site's name for its default
// line, so a site's state from before lines stays its default line's, and "site/line" for
// another line ('/' is in neither name's alphabet).
func slot(s site.Name, l site.Line) string { return site.Peer{Site: s, Line: l}.String() }

// splitSlot is the site and the line a slot names.
func splitSlot(v string) (site.Name, site.Line) {
	s, l, _ := strings.Cut(v, "/")
	return site.Name(s), site.Line(l)
}

// SeenAt is the last time the site pinged, over either family.
func (r Record) SeenAt() time.Time { return later(r.Seen4, r.Seen6) }

// ChangedAt is the last time one of the site's addresses changed.
func (r Record) ChangedAt() time.Time { return later(r.Changed4, r.Changed6) }

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Event is one entry of the event stream.
type Event struct {
	ID       string
	At       time.Time
	Kind     string
	Site     site.Name
	Line     site.Line // "" for the default line
	Family   string
	IP       string
	Previous string
	Detail   string
}

func decodeRecord(s site.Name, l site.Line, v string) (Record, error) {
	r := Record{Site: s, Line: l}
	if v == "" {
		return r, nil
	}
	var f [6]string
	rest, more := v, true
	for i := range f {
		if !more {
			return r, fmt.Errorf("record of %s: %d fields, want 6", s, i)
		}
		f[i], rest, more = strings.Cut(rest, "|")
	}
	if more {
		return r, fmt.Errorf("record of %s: more than 6 fields", s)
	}
	var err error
	if r.IPv4, err = parseAddr(f[0]); err != nil {
		return r, err
	}
	if r.IPv6, err = parseAddr(f[3]); err != nil {
		return r, err
	}
	r.Seen4, r.Changed4, r.Seen6, r.Changed6 = fromMS(f[1]), fromMS(f[2]), fromMS(f[4]), fromMS(f[5])
	return r, nil
}

func parseAddr(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	return netip.ParseAddr(s)
}

func ms(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

func fromMS(s string) time.Time {
	n, _ := strconv.ParseInt(s, 10, 64)
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

// Family returns "4" or "6" for a: the digit of its wire.Family, as the keys and records
// of the store spell it.
func Family(a netip.Addr) string {
	if wire.FamilyOf(a) == wire.IPv6 {
		return "6"
	}
	return "4"
}
