package api

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/shared/wire"
)

// TestAppendPingFields fails when a field is added to the ping answer's types: appendPing
// writes each by hand and must learn the new one (then list it here).
func TestAppendPingFields(t *testing.T) {
	for _, tt := range []struct {
		v    any
		tags string
	}{
		{wire.PingResponse{}, "site ip family changed previous_ip seen_at fleet_version delta peers targets line,omitempty"},
		{wire.Peer{}, "site ipv4 ipv6 changed_at,omitzero seen_at,omitzero stale lines,omitempty"},
		{wire.PeerLine{}, "name ipv4 ipv6 seen_at,omitzero changed_at,omitzero stale"},
		{wire.Target{}, "kind name state ip error,omitempty"},
	} {
		typ := reflect.TypeOf(tt.v)
		var tags []string
		for i := range typ.NumField() {
			tags = append(tags, typ.Field(i).Tag.Get("json"))
		}
		if got := strings.Join(tags, " "); got != tt.tags {
			t.Errorf("%s has the fields %q, appendPing writes %q: teach appendPing the change", typ, got, tt.tags)
		}
	}
}

// TestAppendPingIsJSON holds marshalPing to json.Marshal, byte for byte, over answers
// drawn at random (fixed seed) and the cases appendPing leaves to encoding/json.
func TestAppendPingIsJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 2))
	cst := time.FixedZone("CST", 8*3600)
	addrs := []netip.Addr{{}, netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("::ffff:198.51.100.1"), netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("fe80::1%a<b")}
	strs := []string{"", "hz", "office-1", `a"b`, "a<b>&c", "é", "\u2028", "\x7f", "\xff", "tab\t"}
	times := []time.Time{{}, time.UnixMilli(1764000000123).UTC(), time.Unix(1764000000, 5).In(cst),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 23, 0, 0, 0, time.FixedZone("odd", 5*3600+30*60+15))}
	pick := func(n int) int {
		if rng.IntN(3) > 0 { // mostly the common values, as answers are
			return rng.IntN(min(n, 3))
		}
		return rng.IntN(n)
	}
	a := func() netip.Addr { return addrs[pick(len(addrs))] }
	s := func() string { return strs[pick(len(strs))] }
	tm := func() time.Time { return times[pick(len(times))] }
	var fellBack int
	for range 3000 {
		r := wire.PingResponse{Site: s(), IP: a(), Family: wire.Family(rng.IntN(8)), Changed: rng.IntN(2) == 0,
			PreviousIP: a(), SeenAt: tm(), FleetVersion: rng.Int64() - rng.Int64(), Delta: rng.IntN(2) == 0, Line: s()}
		if rng.IntN(5) > 0 {
			r.Peers = make([]wire.Peer, rng.IntN(4))
		}
		for i := range r.Peers {
			r.Peers[i] = wire.Peer{Site: s(), IPv4: a(), IPv6: a(), ChangedAt: tm(), SeenAt: tm(), Stale: rng.IntN(2) == 0}
			if rng.IntN(3) == 0 {
				r.Peers[i].Lines = make([]wire.PeerLine, rng.IntN(3))
			}
			for j := range r.Peers[i].Lines {
				r.Peers[i].Lines[j] = wire.PeerLine{Name: s(), IPv4: a(), IPv6: a(), SeenAt: tm(), ChangedAt: tm(), Stale: rng.IntN(2) == 0}
			}
		}
		if rng.IntN(5) > 0 {
			r.Targets = make([]wire.Target, rng.IntN(3))
		}
		for i := range r.Targets {
			r.Targets[i] = wire.Target{Kind: wire.Kind(s()), Name: s(), State: wire.State(s()), IP: a(), Error: s()}
		}
		want, wantErr := json.Marshal(&r)
		got, gotErr := marshalPing(&r)
		if (gotErr != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("%+v:\n got %s %v\nwant %s %v", r, got, gotErr, want, wantErr)
		}
		if _, ok := appendPing(nil, &r); !ok {
			fellBack++
		}
	}
	if fellBack == 0 || fellBack == 3000 {
		t.Fatalf("%d of 3000 answers left to encoding/json: the draw misses a path", fellBack)
	}
}

// TestAppendPingAllocs: a steady answer with one peer is one buffer.
func TestAppendPingAllocs(t *testing.T) {
	now := time.UnixMilli(1764000000123).UTC()
	r := wire.PingResponse{Site: "hz", IP: netip.MustParseAddr("203.0.113.7"), Family: wire.IPv4, SeenAt: now, FleetVersion: 7,
		Peers:   []wire.Peer{{Site: "bj", IPv4: netip.MustParseAddr("198.51.100.1"), ChangedAt: now, SeenAt: now}},
		Targets: []wire.Target{}}
	if got := testing.AllocsPerRun(100, func() { _, _ = marshalPing(&r) }); got != 1 {
		t.Errorf("marshalPing allocates %v times, want 1", got)
	}
}
