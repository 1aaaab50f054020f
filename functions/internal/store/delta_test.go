package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ppter/ppter/internal/redistest"
	"github.com/ppter/ppter/shared/site"
)

// pingSince pings with PingInput.Delta set.
func pingSince(t *testing.T, s Store, st site.Name, nonce string, since int64, peers ...site.Name) PingResult {
	t.Helper()
	r, err := s.Ping(context.Background(), PingInput{Site: st, Addr: src, Nonce: nonce, Peers: peers, Delta: true, Since: since})
	if err != nil {
		t.Fatalf("Ping(%s since %d) = %v", st, since, err)
	}
	return r
}

func names(rs []Record) []site.Name {
	out := []site.Name{}
	for _, r := range rs {
		out = append(out, r.Site)
	}
	return out
}

// TestDelta runs against both stores: a since the store can serve is answered with the
// peers changed after it, any other with every peer.
func TestDelta(t *testing.T) {
	for name, newStore := range stores() {
		t.Run(name, func(t *testing.T) {
			clk := &clock{t: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)}
			s := newStore(t, options(clk.Now, "{ppter}"))
			peers := []site.Name{"bj", "sh", "gz"}
			ping(t, s, "bj", src, "n-bj-1")
			ping(t, s, "sh", src, "n-sh-1")
			v := ping(t, s, "hz", src, "n-hz-1", peers...).Version
			ping(t, s, "sh", src2, "n-sh-2") // sh moves after v
			tests := []struct {
				name      string
				since     int64
				wantDelta bool
				want      []site.Name
			}{
				{"changed after since", v, true, []site.Name{"sh"}},
				{"nothing changed", v + 1, true, []site.Name{}},
				{"since from the start", 0, true, []site.Name{"bj", "sh"}},
				{"since ahead of the fleet (a restore)", v + 5, false, peers},
				{"since below any version", -1, false, peers},
			}
			for i, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					r := pingSince(t, s, "hz", "n-hz-d"+string(rune('a'+i)), tt.since, peers...)
					if r.Delta != tt.wantDelta || !slices.Equal(names(r.Peers), tt.want) {
						t.Fatalf("delta=%v peers=%v, want delta=%v peers=%v", r.Delta, names(r.Peers), tt.wantDelta, tt.want)
					}
					if r.Version != v+1 {
						t.Errorf("version %d, want %d", r.Version, v+1)
					}
				})
			}
			// The delta's records are the peers' current ones.
			r := pingSince(t, s, "hz", "n-hz-last", v, peers...)
			if len(r.Peers) != 1 || r.Peers[0].IPv4 != src2 {
				t.Fatalf("delta peers %+v, want sh at %v", r.Peers, src2)
			}
			// Without Delta (an old pinger) every peer comes, whatever changed.
			if r := ping(t, s, "hz", src, "n-hz-old", peers...); r.Delta || !slices.Equal(names(r.Peers), peers) {
				t.Fatalf("delta=%v peers=%v, want every peer", r.Delta, names(r.Peers))
			}
		})
	}
}

// TestRedisDeltaFloor: a since from before the changes set was kept (state written by a
// version without it), past a change the set missed (made by such a version during a
// deploy), or given under another configuration (its peers may differ) gets every peer;
// the set is then complete from the version of that answer on.
func TestRedisDeltaFloor(t *testing.T) {
	c := redistest.Client(t)
	prefix := redistest.Namespace()
	opt := options(time.Now, prefix)
	opt.ConfigID = "one"
	s := NewRedisClient(c, opt)
	ctx := context.Background()
	peers := []site.Name{"bj"}
	ping(t, s, "bj", src, "n-1")
	v := ping(t, s, "hz", src, "n-2", peers...).Version
	c.Del(ctx, prefix+":changes") // as before the set existed
	r := pingSince(t, s, "hz", "n-3", v, peers...)
	if r.Delta || len(r.Peers) != 1 {
		t.Fatalf("delta without a changes set: %+v", r)
	}
	v = r.Version
	if r := pingSince(t, s, "hz", "n-4", v, peers...); !r.Delta || len(r.Peers) != 0 || r.Version != v {
		t.Fatalf("after the floor was set: delta=%v peers=%v version %d, want an empty delta at %d", r.Delta, names(r.Peers), r.Version, v)
	}
	if r := pingSince(t, s, "hz", "n-5", v-1, peers...); r.Delta {
		t.Fatalf("since below the floor answered as a delta: %+v", r)
	}
	// A change the set missed: the version moves without it.
	c.Incr(ctx, prefix+":version")
	if r := pingSince(t, s, "hz", "n-6", v, peers...); r.Delta {
		t.Fatalf("delta past a change the set missed: %+v", r)
	}
	if r := pingSince(t, s, "hz", "n-7", v+1, peers...); !r.Delta {
		t.Fatalf("since at the new floor: delta=%v, want a delta", r.Delta)
	}
	// A change the set missed, then one it saw: the first is still below the floor.
	c.Incr(ctx, prefix+":version")
	ping(t, s, "bj", src2, "n-8")
	if r := pingSince(t, s, "hz", "n-9", v+1, peers...); r.Delta {
		t.Fatalf("delta across a change the set missed: %+v", r)
	}
	if r := pingSince(t, s, "hz", "n-10", v+2, peers...); !r.Delta || len(r.Peers) != 1 || r.Peers[0].IPv4 != src2 {
		t.Fatalf("since at the raised floor: delta=%v peers=%+v, want bj at %v", r.Delta, r.Peers, src2)
	}
	// Another configuration (a deploy that adds peers): every since from before gets
	// every peer, and the version moves so the steady since does too.
	opt.ConfigID = "two"
	s2 := NewRedisClient(c, opt)
	v = v + 3
	r = pingSince(t, s2, "hz", "n-11", v, "bj", "sh")
	if r.Delta || len(r.Peers) != 2 || r.Version != v+1 {
		t.Fatalf("since under another configuration: delta=%v peers=%v version %d, want every peer at %d", r.Delta, names(r.Peers), r.Version, v+1)
	}
	if r := pingSince(t, s2, "hz", "n-12", v+1, "bj", "sh"); !r.Delta || len(r.Peers) != 0 {
		t.Fatalf("since from the new configuration: delta=%v peers=%v, want an empty delta", r.Delta, names(r.Peers))
	}
}
