// Package state keeps the pinger's state file: the last address the router driver applied
// for each peer line (and for each line of the office itself), per address family. The file is written
// atomically (temp file, fsync, rename) and only after the driver succeeded, so a failed
// apply is retried on the next cycle.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"time"

	"github.com/ppter/ppter/pinger/internal/atomicfile"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// Version is the format version written to the file.
const Version = 1

// ErrCorrupt means the file exists but cannot be read as a state file.
var ErrCorrupt = errors.New("state file unreadable")

// Addrs holds one address per family; a zero Addr means none applied yet.
type Addrs struct {
	IPv4 netip.Addr `json:"ipv4,omitzero"`
	IPv6 netip.Addr `json:"ipv6,omitzero"`
}

// Get returns the address of family.
func (a Addrs) Get(family wire.Family) netip.Addr {
	if family.Is(wire.IPv6) {
		return a.IPv6
	}
	return a.IPv4
}

// Set sets the address of family.
func (a *Addrs) Set(family wire.Family, ip netip.Addr) {
	if family.Is(wire.IPv6) {
		a.IPv6 = ip
	} else {
		a.IPv4 = ip
	}
}

// State is what the pinger last applied.
type State struct {
	Version int       `json:"version"`
	Site    site.Name `json:"site"`
	Self    Addrs     `json:"self"` // the ping without a line (--line unset)
	// SelfLines holds the office's own addresses of its named lines (--line, lines:).
	SelfLines map[site.Line]Addrs `json:"self_lines,omitempty"`
	// Peers is keyed by peer line: "bj" (bj's default line) or "bj/unicom".
	Peers     map[site.Peer]Addrs `json:"peers"`
	UpdatedAt time.Time           `json:"updated_at,omitzero"`
	// Fleet holds, per function and family (see FleetKey), the fleet version of the last
	// answer whose changes were all applied: the since of the next ping.
	Fleet map[string]int64 `json:"fleet_versions,omitempty"`
}

// FleetKey names a function (its URL) and an address family in State.Fleet: a version is
// only meaningful to the function that gave it. The lines of one office share it: every
// answer lists the same peers with all their lines, whichever line pinged, and the pings
// of one cycle all ask from the version read at its start.
func FleetKey(endpoint string, family wire.Family) string { return family.String() + " " + endpoint }

// Since returns the fleet version recorded for key, or nil.
func (st *State) Since(key string) *int64 {
	v, ok := st.Fleet[key]
	if !ok {
		return nil
	}
	return &v
}

// SetSince records v for key and reports whether that changed the state.
func (st *State) SetSince(key string, v int64) bool {
	if old, ok := st.Fleet[key]; ok && old == v {
		return false
	}
	if st.Fleet == nil {
		st.Fleet = map[string]int64{}
	}
	st.Fleet[key] = v
	return true
}

// New returns an empty state for s.
func New(s site.Name) *State {
	return &State{Version: Version, Site: s, Peers: map[site.Peer]Addrs{}}
}

// SelfAddr returns the applied own address of line l ("" the ping without a line) in family.
func (st *State) SelfAddr(l site.Line, family wire.Family) netip.Addr {
	if l == "" {
		return st.Self.Get(family)
	}
	return st.SelfLines[l].Get(family)
}

// SetSelf records the applied own address of line l in family.
func (st *State) SetSelf(l site.Line, family wire.Family, ip netip.Addr) {
	if l == "" {
		st.Self.Set(family, ip)
		return
	}
	if st.SelfLines == nil {
		st.SelfLines = map[site.Line]Addrs{}
	}
	a := st.SelfLines[l]
	a.Set(family, ip)
	st.SelfLines[l] = a
}

// Peer returns the applied address of peer line p in family.
func (st *State) Peer(p site.Peer, family wire.Family) netip.Addr {
	return st.Peers[p].Get(family)
}

// SetPeer records the applied address of peer line p in family.
func (st *State) SetPeer(p site.Peer, family wire.Family, ip netip.Addr) {
	a := st.Peers[p]
	a.Set(family, ip)
	st.Peers[p] = a
}

// Load reads the state at path. A missing file, or one written for another site, gives an
// empty state, so everything is applied on the first run.
func Load(path string, s site.Name) (*State, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return New(s), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	var st State
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	if st.Version != Version {
		return nil, fmt.Errorf("%w: %s: version %d, want %d", ErrCorrupt, path, st.Version, Version)
	}
	if st.Site != s {
		return New(s), nil
	}
	if st.Peers == nil {
		st.Peers = map[site.Peer]Addrs{}
	}
	return &st, nil
}

// MoveAside renames the (unreadable) state file at path to path.corrupt-TIME, keeping it
// for a look, and returns the new name.
func MoveAside(path string, now time.Time) (string, error) {
	to := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	if err := os.Rename(path, to); err != nil {
		return "", fmt.Errorf("move state %s aside: %w", path, err)
	}
	return to, nil
}

// Save writes st to path atomically (see package atomicfile); the directory is created
// (0700) when missing.
func Save(path string, st *State) error {
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	return atomicfile.WriteFile(path, append(raw, '\n'), 0o600)
}
