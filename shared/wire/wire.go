// Package wire holds the JSON types of ppter's HTTP protocol, shared by the function and the
// pinger. Fields may be added to these types; existing JSON names never change.
package wire

import (
	"fmt"
	"net/netip"
	"time"
)

// Paths of the function's HTTP trigger.
const (
	PathPing    = "/v1/ping"
	PathStatus  = "/v1/status"
	PathHealth  = "/healthz"
	PathDynDNS2 = "/nic/update"
)

// MaxBodyBytes is the largest request body the function accepts (413 above it).
const MaxBodyBytes = 8 << 10

// Family is an IP address family. Its text and JSON form is "ipv4" or "ipv6"; the zero
// Family, a setting left out, is IPv4.
type Family uint8

// Address families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// FamilyOf returns the family of a; an IPv4-mapped IPv6 address is IPv4.
func FamilyOf(a netip.Addr) Family {
	if a.Unmap().Is4() {
		return IPv4
	}
	return IPv6
}

// Is reports whether f is g, the zero Family being IPv4.
func (f Family) Is(g Family) bool { return f.String() == g.String() }

// Of reports whether a is an address of family f.
func (f Family) Of(a netip.Addr) bool { return a.IsValid() && f.Is(FamilyOf(a)) }

// String returns "ipv4" or "ipv6".
func (f Family) String() string {
	if f == IPv6 {
		return "ipv6"
	}
	return "ipv4"
}

// MarshalText implements encoding.TextMarshaler.
func (f Family) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText accepts ipv4, ipv6, 4, 6, and empty for IPv4.
func (f *Family) UnmarshalText(b []byte) error {
	switch string(b) {
	case "ipv4", "4", "":
		*f = IPv4
	case "ipv6", "6":
		*f = IPv6
	default:
		return fmt.Errorf("family %q: want ipv4 or ipv6", b)
	}
	return nil
}

// AddrString is a's text on the wire: "" for the zero Addr (where String says "invalid IP").
func AddrString(a netip.Addr) string { b, _ := a.MarshalText(); return string(b) }

// Kind is the kind of a cloud target.
type Kind string

// Target kinds.
const (
	KindDNS Kind = "dns"
	KindVPN Kind = "vpn"
)

// State is the state of a cloud target.
type State string

// Target states.
const (
	StateApplied State = "applied"
	StatePending State = "pending"
	StateError   State = "error"
	StateDryRun  State = "dry_run"
)

// PingRequest is the optional JSON object a site sends to POST /v1/ping. An empty body is
// the same as {}. Unknown fields are ignored so newer pingers can talk to older functions.
type PingRequest struct {
	// Agent names the client, e.g. "ppter-pinger/1.2.0". Informational only (logged).
	Agent string `json:"agent,omitempty"`
	// Since is the fleet_version of the last answer the client applied in full. With it
	// the answer may be a delta (PingResponse.Delta): only the peers whose addresses
	// changed after that version. Absent: every peer, as for clients that predate it.
	Since *int64 `json:"since,omitempty"`
	// Line names the office line this ping reports (a site's `lines`). Empty: the site's
	// default line, as for clients that predate lines. The body is signed, so the line is
	// authenticated.
	Line string `json:"line,omitempty"`
}

// PingResponse is the answer to a successful ping. A zero address is "" in JSON.
type PingResponse struct {
	Site         string     `json:"site"`
	IP           netip.Addr `json:"ip"`
	Family       Family     `json:"family"`
	Changed      bool       `json:"changed"`
	PreviousIP   netip.Addr `json:"previous_ip"`
	SeenAt       time.Time  `json:"seen_at"`
	FleetVersion int64      `json:"fleet_version"`
	// Delta tells that Peers lists only the peers whose addresses changed after the
	// request's since; the others are as the client last saw them. False: every peer.
	Delta   bool     `json:"delta"`
	Peers   []Peer   `json:"peers"`
	Targets []Target `json:"targets"`
	// Line is the line that was recorded; absent for a site without declared lines.
	Line string `json:"line,omitempty"`
}

// Peer is another site's last known addresses.
type Peer struct {
	Site      string     `json:"site"`
	IPv4      netip.Addr `json:"ipv4"`
	IPv6      netip.Addr `json:"ipv6"`
	ChangedAt time.Time  `json:"changed_at,omitzero"` // absent when the peer never pinged
	SeenAt    time.Time  `json:"seen_at,omitzero"`    // absent when the peer never pinged
	Stale     bool       `json:"stale"`
	// Lines holds every declared line of the peer, default line first; absent for a peer
	// without declared lines. The fields above are the default line's.
	Lines []PeerLine `json:"lines,omitempty"`
}

// PeerLine is one line of a peer that declares lines.
type PeerLine struct {
	Name      string     `json:"name"`
	IPv4      netip.Addr `json:"ipv4"`
	IPv6      netip.Addr `json:"ipv6"`
	SeenAt    time.Time  `json:"seen_at,omitzero"`    // absent when the line never pinged
	ChangedAt time.Time  `json:"changed_at,omitzero"` // absent when the line never pinged
	Stale     bool       `json:"stale"`
}

// Addr returns the peer's address of family f (zero when it has none).
func (p Peer) Addr(f Family) netip.Addr {
	if f.Is(IPv6) {
		return p.IPv6
	}
	return p.IPv4
}

// Target is the state of one cloud resource that follows the site's address.
type Target struct {
	Kind  Kind       `json:"kind"`
	Name  string     `json:"name"`
	State State      `json:"state"`
	IP    netip.Addr `json:"ip"`
	Error string     `json:"error,omitempty"`
}

// ErrorResponse is the body of every JSON error answer.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody carries a stable snake_case code and a human message.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// ServerTime is the function's clock when it answered, in UTC and whole seconds
	// (RFC 3339). The function puts it in every error it makes; an error made elsewhere (a
	// gateway, an older function) may lack it, hence omitzero: a client reads the zero time
	// as no hint. It is not signed: a client may use it to correct its own clock only
	// within a bound of its own (the pinger's is in pinger/README.md).
	ServerTime time.Time `json:"server_time,omitzero"`
}

// ServerTime is t as ErrorBody.ServerTime carries it: UTC, whole seconds.
func ServerTime(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// Error codes of ErrorBody.Code.
const (
	CodeBadRequest       = "bad_request"
	CodeBadJSON          = "bad_json"
	CodeBadBody          = "bad_body"
	CodeUnauthorized     = "unauthorized"
	CodeStaleTimestamp   = "stale_timestamp"
	CodeReplayed         = "replayed_nonce"
	CodeTooLarge         = "body_too_large"
	CodeTooManyFailures  = "too_many_failures"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeNotFound         = "not_found"
	CodeUnavailable      = "store_unavailable"
	CodeInternal         = "internal"
	CodeUnknownLine      = "unknown_line"
)
