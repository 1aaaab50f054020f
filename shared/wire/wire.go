// Package wire holds the JSON types of ppter's HTTP protocol, shared by the function and the
// pinger. Fields may be added to these types; existing JSON names never change.
package wire

import "time"

// Paths of the function's HTTP trigger.
const (
	PathPing    = "/v1/ping"
	PathStatus  = "/v1/status"
	PathHealth  = "/healthz"
	PathDynDNS2 = "/nic/update"
)

// MaxBodyBytes is the largest request body the function accepts (413 above it).
const MaxBodyBytes = 8 << 10

// Address families, as reported in PingResponse.Family.
const (
	FamilyIPv4 = "ipv4"
	FamilyIPv6 = "ipv6"
)

// Target kinds and states, as reported in PingResponse.Targets.
const (
	KindDNS = "dns"
	KindVPN = "vpn"

	StateApplied = "applied"
	StatePending = "pending"
	StateError   = "error"
	StateDryRun  = "dry_run"
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
}

// PingResponse is the answer to a successful ping.
type PingResponse struct {
	Site         string    `json:"site"`
	IP           string    `json:"ip"`
	Family       string    `json:"family"`
	Changed      bool      `json:"changed"`
	PreviousIP   string    `json:"previous_ip"`
	SeenAt       time.Time `json:"seen_at"`
	FleetVersion int64     `json:"fleet_version"`
	// Delta tells that Peers lists only the peers whose addresses changed after the
	// request's since; the others are as the client last saw them. False: every peer.
	Delta   bool     `json:"delta"`
	Peers   []Peer   `json:"peers"`
	Targets []Target `json:"targets"`
}

// Peer is another site's last known addresses.
type Peer struct {
	Site      string    `json:"site"`
	IPv4      string    `json:"ipv4"`
	IPv6      string    `json:"ipv6"`
	ChangedAt time.Time `json:"changed_at,omitzero"` // absent when the peer never pinged
	SeenAt    time.Time `json:"seen_at,omitzero"`    // absent when the peer never pinged
	Stale     bool      `json:"stale"`
}

// Target is the state of one cloud resource that follows the site's address.
type Target struct {
	Kind  string `json:"kind"`
	Name  string `json:"name"`
	State string `json:"state"`
	IP    string `json:"ip"`
	Error string `json:"error,omitempty"`
}

// ErrorResponse is the body of every JSON error answer.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody carries a stable snake_case code and a human message.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

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
)
