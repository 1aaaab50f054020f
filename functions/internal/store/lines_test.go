package store

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ppter/ppter/shared/site"
)

// TestLines runs against both stores: each line of a site keeps its own addresses, a
// site's default line is where a site without lines keeps its record, and a peer with lines
// comes with every line (in a delta too, when one of them changed).
func TestLines(t *testing.T) {
	for name, newStore := range stores() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{t: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)}
			s := newStore(t, options(clk.Now, "{ppter}"))
			lines := map[site.Name][]site.Line{"bj": {"unicom"}}
			pingLine := func(l site.Line, addr string, nonce string) PingResult {
				t.Helper()
				r, err := s.Ping(ctx, PingInput{Site: "bj", Line: l, Addr: mustAddr(addr), Nonce: nonce})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			if r := pingLine("", "203.0.113.7", "n1"); !r.Changed || !r.Handle {
				t.Fatalf("default line's first ping: %+v", r)
			}
			r := pingLine("unicom", "198.51.100.2", "n2")
			if !r.Changed || r.Previous.IsValid() || !r.Handle || r.Self.Line != "unicom" || r.Self.IPv4 != src2 {
				t.Fatalf("unicom's first ping: changed=%v previous=%v handle=%v self=%+v", r.Changed, r.Previous, r.Handle, r.Self)
			}
			if err := s.Handled(ctx, "bj", "unicom", src2); err != nil {
				t.Fatal(err)
			}
			if r := pingLine("", "203.0.113.7", "n3"); r.Changed || r.Previous != src {
				t.Fatalf("default line moved with the other: changed=%v previous=%v", r.Changed, r.Previous)
			}
			if r := pingLine("unicom", "198.51.100.2", "n4"); r.Changed || r.Handle {
				t.Fatalf("unicom after Handled: changed=%v handle=%v", r.Changed, r.Handle)
			}
			hz, err := s.Ping(ctx, PingInput{Site: "hz", Addr: src, Nonce: "h1", Peers: []site.Name{"bj", "sh"}, Lines: lines})
			if err != nil {
				t.Fatal(err)
			}
			bj := hz.Peers[0]
			if bj.IPv4 != src || bj.Line != "" || len(bj.Lines) != 1 || bj.Lines[0].Line != "unicom" || bj.Lines[0].IPv4 != src2 || len(hz.Peers[1].Lines) != 0 {
				t.Fatalf("peers = %+v", hz.Peers)
			}
			v := hz.Version
			clk.Add(time.Minute)
			pingLine("unicom", "198.51.100.9", "n5")
			for _, delta := range []bool{true, false} {
				in := PingInput{Site: "hz", Addr: src, Nonce: "h2" + map[bool]string{true: "d"}[delta], Peers: []site.Name{"bj", "sh"}, Lines: lines, Delta: delta, Since: v}
				d, err := s.Ping(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				want := 2
				if delta {
					want = 1
				}
				if len(d.Peers) != want || d.Peers[0].IPv4 != src || len(d.Peers[0].Lines) != 1 || d.Peers[0].Lines[0].IPv4 != mustAddr("198.51.100.9") {
					t.Fatalf("delta=%v: peers = %+v", delta, d.Peers)
				}
			}
			recs, _, err := s.Fleet(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range recs {
				got = append(got, slot(r.Site, r.Line)+"="+r.IPv4.String())
			}
			if want := []string{"bj=203.0.113.7", "bj/unicom=198.51.100.9", "hz=203.0.113.7"}; !slices.Equal(got, want) {
				t.Fatalf("fleet = %v, want %v", got, want)
			}
			evs, err := s.Events(ctx, 1)
			if err != nil || len(evs) != 1 || evs[0].Site != "bj" || evs[0].Line != "unicom" || evs[0].IP != "198.51.100.9" {
				t.Fatalf("events = %+v, %v", evs, err)
			}
			for _, l := range []site.Line{"", "unicom"} {
				if news, err := s.MarkStale(ctx, "bj", l, clk.Now()); err != nil || !news {
					t.Fatalf("MarkStale(%q) = %v, %v: each line is its own", l, news, err)
				}
			}
		})
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
