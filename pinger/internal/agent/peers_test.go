package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ppter/ppter/shared/wire"
)

// TestCycleRefusesUnsafePeerAddresses: only public unicast peers (and the documentation
// ranges, which reach nothing) reach the driver; --allow-private-peers opens private and
// CGNAT ranges and nothing else (issue 11, point 11).
func TestCycleRefusesUnsafePeerAddresses(t *testing.T) {
	const refusedMsg = "refused peer address"
	tests := []struct {
		name         string
		family       wire.Family
		self, peer   string
		allowPrivate bool
		wantRefusal  string // empty: applied
	}{
		{name: "public ipv4", family: 4, peer: "8.8.8.8"},
		{name: "public ipv6", family: 6, peer: "2400:3200::1"},
		{name: "documentation 192.0.2.0/24", family: 4, peer: "192.0.2.5"},
		{name: "documentation 198.51.100.0/24", family: 4, peer: "198.51.100.9"},
		{name: "documentation 203.0.113.0/24", family: 4, peer: "203.0.113.99"},
		{name: "documentation 2001:db8::/32", family: 6, peer: "2001:db8::9"},
		{name: "unspecified", family: 4, peer: "0.0.0.0", wantRefusal: "0.0.0.0: unspecified address"},
		{name: "this network", family: 4, peer: "0.1.2.3", wantRefusal: "0.1.2.3: reserved"},
		{name: "loopback", family: 4, peer: "127.0.0.1", wantRefusal: "127.0.0.1: loopback address"},
		{name: "mapped loopback", family: 4, peer: "::ffff:127.0.0.1", wantRefusal: "127.0.0.1: loopback address"},
		{name: "broadcast", family: 4, peer: "255.255.255.255", wantRefusal: "255.255.255.255: reserved"},
		{name: "class E", family: 4, peer: "240.0.0.1", wantRefusal: "240.0.0.1: reserved"},
		{name: "multicast", family: 4, peer: "224.0.0.1", wantRefusal: "224.0.0.1: multicast address"},
		{name: "cloud metadata", family: 4, peer: "169.254.169.254", wantRefusal: "169.254.169.254: link-local address"},
		{name: "rfc1918 10/8", family: 4, peer: "10.0.0.1", wantRefusal: "10.0.0.1: private address (allowed only with --allow-private-peers)"},
		{name: "rfc1918 172.16/12", family: 4, peer: "172.16.5.5", wantRefusal: "private address"},
		{name: "rfc1918 192.168/16", family: 4, peer: "192.168.1.1", wantRefusal: "private address"},
		{name: "cgnat", family: 4, peer: "100.64.0.1", wantRefusal: "100.64.0.1: shared CGNAT space address"},
		{name: "benchmarking", family: 4, peer: "198.18.0.1", wantRefusal: "special-purpose"},
		{name: "own address", family: 4, self: "198.51.100.9", peer: "198.51.100.9", wantRefusal: "198.51.100.9: the office's own address"},
		{name: "ipv6 unspecified", family: 6, peer: "::", wantRefusal: "unspecified address"},
		{name: "ipv6 loopback", family: 6, peer: "::1", wantRefusal: "loopback address"},
		{name: "ipv6 link-local", family: 6, peer: "fe80::1", wantRefusal: "link-local address"},
		{name: "ipv6 multicast", family: 6, peer: "ff02::1", wantRefusal: "multicast address"},
		{name: "ipv6 ula", family: 6, peer: "fd00::1", wantRefusal: "private address"},
		{name: "ipv6 6to4", family: 6, peer: "2002:c000:204::1", wantRefusal: "special-purpose"},
		{name: "allowed private", family: 4, peer: "10.0.0.1", allowPrivate: true},
		{name: "allowed cgnat", family: 4, peer: "100.64.0.1", allowPrivate: true},
		{name: "allowed ula", family: 6, peer: "fd00::1", allowPrivate: true},
		{name: "allow does not open loopback", family: 4, peer: "127.0.0.1", allowPrivate: true, wantRefusal: "loopback address"},
		{name: "allow does not open metadata", family: 4, peer: "169.254.169.254", allowPrivate: true, wantRefusal: "link-local address"},
		{name: "allow does not open broadcast", family: 4, peer: "255.255.255.255", allowPrivate: true, wantRefusal: "reserved"},
		{name: "allow does not open own address", family: 4, self: "10.0.0.1", peer: "10.0.0.1", allowPrivate: true, wantRefusal: "the office's own address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			self, family := tc.self, wire.IPv4
			if self == "" {
				self = "203.0.113.7"
			}
			peer := wire.Peer{Site: "bj", IPv4: netip.MustParseAddr(tc.peer)}
			if tc.family == 6 {
				self, family = "2001:db8::7", wire.IPv6
				peer = wire.Peer{Site: "bj", IPv6: netip.MustParseAddr(tc.peer)}
			}
			p := &fakePinger{resp: wire.PingResponse{Site: "hz", IP: netip.MustParseAddr(self), Family: family, Peers: []wire.Peer{peer}}}
			d := &recDriver{}
			var log bytes.Buffer
			path := filepath.Join(t.TempDir(), "state.json")
			a := New(Options{Site: "hz", Pings: []Ping{{Family: tc.family, Pinger: p}}, Driver: d, StatePath: path,
				AllowPrivatePeers: tc.allowPrivate, Log: slog.New(slog.NewTextHandler(&log, nil))})
			if _, err := a.Cycle(context.Background()); err != nil {
				t.Fatalf("got %v, want a cycle that skips refused peers without failing", err)
			}
			if tc.wantRefusal == "" {
				if len(d.applied) != 1 {
					t.Errorf("got applied %q, want the peer applied (log: %s)", d.applied, log.String())
				}
				return
			}
			if len(d.applied) != 0 {
				t.Errorf("got applied %q, want nothing", d.applied)
			}
			if got := log.String(); !strings.Contains(got, "level=ERROR") || !strings.Contains(got, refusedMsg) || !strings.Contains(got, tc.wantRefusal) {
				t.Errorf("log %q does not report %q", got, tc.wantRefusal)
			}
		})
	}
}

// TestCycleRefusesDuplicatePeers: an answer listing a peer twice is refused whole.
func TestCycleRefusesDuplicatePeers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	p := &fakePinger{resp: resp("203.0.113.7",
		wire.Peer{Site: "bj", IPv4: netip.MustParseAddr("198.51.100.9")},
		wire.Peer{Site: "sh", IPv4: netip.MustParseAddr("192.0.2.5")},
		wire.Peer{Site: "bj", IPv4: netip.MustParseAddr("8.8.8.8")},
	)}
	d := &recDriver{}
	_, err := newAgent(t, path, p, d, false, nil).Cycle(context.Background())
	if !errors.Is(err, ErrBadAnswer) || !strings.Contains(err.Error(), `peer "bj" is listed twice`) {
		t.Fatalf("got %v, want ErrBadAnswer naming bj", err)
	}
	if len(d.applied) != 0 {
		t.Errorf("got applied %q, want nothing from a refused answer", d.applied)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a refused answer wrote the state file")
	}
}

// TestCycleCapsPeerChanges: at most MaxPeers peer changes per cycle; the next cycles
// apply the rest, and self changes do not count.
func TestCycleCapsPeerChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	var peers []wire.Peer
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		peers = append(peers, wire.Peer{Site: n, IPv4: netip.MustParseAddr("198.51.100.1" + string(rune('0'+len(peers))))})
	}
	p := &fakePinger{resp: resp("203.0.113.7", peers...)}
	d := &recDriver{self: true}
	a := New(Options{Site: "hz", Pings: []Ping{{Family: 4, Pinger: p}}, Driver: d, StatePath: path, MaxPeers: 2})
	want := [][]string{
		{"self hz ipv4 none -> 203.0.113.7", "peer a ipv4 none -> 198.51.100.10", "peer b ipv4 none -> 198.51.100.11"},
		{"peer c ipv4 none -> 198.51.100.12", "peer d ipv4 none -> 198.51.100.13"},
		{"peer e ipv4 none -> 198.51.100.14"},
		nil,
	}
	for i, w := range want {
		d.applied = nil
		if _, err := a.Cycle(context.Background()); err != nil {
			t.Fatalf("cycle %d: %v", i+1, err)
		}
		if got := strings.Join(d.applied, "; "); got != strings.Join(w, "; ") {
			t.Errorf("cycle %d: got %q, want %q", i+1, got, w)
		}
	}
}
