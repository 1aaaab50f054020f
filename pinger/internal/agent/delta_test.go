package agent

import (
	"context"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ppter/ppter/pinger/internal/state"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

func sinceString(p *int64) string {
	if p == nil {
		return "none"
	}
	return strconv.FormatInt(*p, 10)
}

// TestDeltaAnswers: the ping carries the fleet version of the last answer applied in
// full; a delta answer changes only the peers it lists (the others keep their state); a
// change that fails keeps the since where it was, so the next delta brings it again; a
// full answer (delta false) is applied as before.
func TestDeltaAnswers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	p := &fakePinger{}
	d := &recDriver{fail: map[string]bool{}}
	a := New(Options{Site: "hz", Pings: []Ping{{Family: 4, Pinger: p, Endpoint: "https://fn.example/"}}, Driver: d, StatePath: path})
	cycle := func(r wire.PingResponse) {
		t.Helper()
		p.resp = r
		d.applied = nil
		a.Cycle(context.Background()) // failures are checked through d and the state
	}
	full := resp("203.0.113.7", wire.Peer{Site: "bj", IPv4: netip.MustParseAddr("198.51.100.9")}, wire.Peer{Site: "sh", IPv4: netip.MustParseAddr("198.51.100.20")})
	full.FleetVersion = 5
	cycle(full)
	delta := resp("203.0.113.7", wire.Peer{Site: "sh", IPv4: netip.MustParseAddr("198.51.100.21")})
	delta.FleetVersion, delta.Delta = 6, true
	cycle(delta)
	if got, want := strings.Join(d.applied, "; "), "peer sh ipv4 198.51.100.20 -> 198.51.100.21"; got != want {
		t.Errorf("delta applied %q, want %q", got, want)
	}
	st, err := state.Load(path, "hz")
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Peer(site.Peer{Site: "bj"}, 4).String(); got != "198.51.100.9" {
		t.Errorf("bj, absent from the delta, is at %s in the state, want 198.51.100.9", got)
	}
	// A failing change: the since stays at 6.
	d.fail["sh"] = true
	failing := resp("203.0.113.7", wire.Peer{Site: "sh", IPv4: netip.MustParseAddr("198.51.100.22")})
	failing.FleetVersion, failing.Delta = 7, true
	cycle(failing)
	d.fail["sh"] = false
	cycle(failing)
	// An empty delta: nothing to do, the since moves on.
	empty := resp("203.0.113.7")
	empty.FleetVersion, empty.Delta = 8, true
	cycle(empty)
	cycle(empty)
	var got []string
	for _, s := range p.sinces {
		got = append(got, sinceString(s))
	}
	if want := "none 5 6 6 7 8"; strings.Join(got, " ") != want {
		t.Errorf("sinces sent: %s, want %s", strings.Join(got, " "), want)
	}
	if d.applied != nil {
		t.Errorf("an empty delta applied %v", d.applied)
	}
	if st, _ := state.Load(path, "hz"); st.Peer(site.Peer{Site: "sh"}, 4).String() != "198.51.100.22" || st.Peer(site.Peer{Site: "bj"}, 4).String() != "198.51.100.9" {
		t.Errorf("state peers %v, want sh at .22 and bj at .9", st.Peers)
	}
}

// TestSincePerFunction: a fleet version belongs to the function that gave it; a pinger
// pointed at another function sends no since.
func TestSincePerFunction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	r := resp("203.0.113.7", wire.Peer{Site: "bj", IPv4: netip.MustParseAddr("198.51.100.9")})
	r.FleetVersion = 3
	p := &fakePinger{resp: r}
	for _, ep := range []string{"https://a.example/", "https://a.example/", "https://b.example/"} {
		a := New(Options{Site: "hz", Pings: []Ping{{Family: 4, Pinger: p, Endpoint: ep}}, Driver: &recDriver{}, StatePath: path})
		if _, err := a.Cycle(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, s := range p.sinces {
		got = append(got, sinceString(s))
	}
	if want := "none 3 none"; strings.Join(got, " ") != want {
		t.Errorf("sinces sent: %s, want %s", strings.Join(got, " "), want)
	}
}
