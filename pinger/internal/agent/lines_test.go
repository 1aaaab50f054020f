package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ppter/ppter/pinger/internal/router"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// mapDriver applies the peer lines it maps, as the drivers with a peers map do.
type mapDriver struct {
	recDriver
	mapped []site.Peer
}

var _ router.Mapper = (*mapDriver)(nil)

func (d *mapDriver) Wants(c router.Change) bool { return c.Self || slices.Contains(d.mapped, c.Ref()) }
func (d *mapDriver) Mapped() []site.Peer        { return d.mapped }

// TestLinesStateAndWarning: the office's lines keep their own addresses, a peer's lines
// theirs; a mapped line the peer's answer does not list is warned of once per process.
func TestLinesStateAndWarning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	bj := wire.Peer{Site: "bj", IPv4: netip.MustParseAddr("198.51.100.9"), Lines: []wire.PeerLine{
		{Name: "telecom", IPv4: netip.MustParseAddr("198.51.100.9")}, {Name: "unicom", IPv4: netip.MustParseAddr("198.51.100.20")}}}
	sh := wire.Peer{Site: "sh", IPv4: netip.MustParseAddr("192.0.2.5")}
	telecom := &fakePinger{resp: resp("203.0.113.7", bj, sh)}
	telecom.resp.Line = "telecom"
	unicom := &fakePinger{resp: resp("203.0.113.8", bj, sh)}
	unicom.resp.Line = "unicom"
	d := &mapDriver{recDriver: recDriver{self: true}, mapped: []site.Peer{{Site: "bj", Line: "unicom"}, {Site: "sh", Line: "unicom"}}}
	var logs bytes.Buffer
	a := New(Options{Site: "hz", Driver: d, StatePath: path, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Pings: []Ping{{Line: "telecom", Family: 4, Pinger: telecom}, {Line: "unicom", Family: 4, Pinger: unicom}}})
	for range 2 {
		if _, err := a.Cycle(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// Every line's own address first: a peer change's SelfIP may be any line's.
	want := []string{"self hz/telecom ipv4 none -> 203.0.113.7", "self hz/unicom ipv4 none -> 203.0.113.8", "peer bj/unicom ipv4 none -> 198.51.100.20"}
	if !slices.Equal(d.applied, want) {
		t.Errorf("applied %q, want %q", d.applied, want)
	}
	if n := strings.Count(logs.String(), "peer=sh/unicom"); n != 1 {
		t.Errorf("sh/unicom warned of %d times, want once:\n%s", n, logs.String())
	}

	unicom.resp.Line = "telecom"
	_, err := a.Cycle(context.Background())
	if !errors.Is(err, ErrBadAnswer) {
		t.Errorf("answer for another line: got %v, want ErrBadAnswer", err)
	}
	// The README's refusal table quotes this message.
	if want := `ping of line unicom over ipv4: unexpected ping answer: answer is for line "telecom", not "unicom"`; err == nil || err.Error() != want {
		t.Errorf("answer for another line: got %v, want %q", err, want)
	}
}

// TestSelfIPOfTheChangesLine runs the exec driver over two lines: a change of a peer's
// line gets the office's address on the line of that name, else on its default line; a
// line whose ping failed gives the address the state holds for it.
func TestSelfIPOfTheChangesLine(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "hook.log")
	d, err := router.NewExec(router.ExecConfig{
		Command: `echo "$PPTER_EVENT $PPTER_PEER/$PPTER_PEER_LINE $PPTER_SELF_LINE $PPTER_SELF_IP" >> "$HOOK_OUT"`,
		Self:    true, Peers: []site.Peer{{Site: "bj"}, {Site: "bj", Line: "unicom"}, {Site: "sh", Line: "mobile"}},
		Env: []string{"PATH=/usr/bin:/bin", "HOOK_OUT=" + out},
	})
	if err != nil {
		t.Fatal(err)
	}
	bj := wire.Peer{Site: "bj", IPv4: netip.MustParseAddr("198.51.100.9"), Lines: []wire.PeerLine{
		{Name: "telecom", IPv4: netip.MustParseAddr("198.51.100.9")}, {Name: "unicom", IPv4: netip.MustParseAddr("198.51.100.20")}}}
	sh := wire.Peer{Site: "sh", IPv4: netip.MustParseAddr("192.0.2.5"), Lines: []wire.PeerLine{{Name: "mobile", IPv4: netip.MustParseAddr("192.0.2.5")}}}
	telecom := &fakePinger{resp: resp("203.0.113.7", bj, sh)}
	telecom.resp.Line = "telecom"
	unicom := &fakePinger{resp: resp("203.0.113.8", bj, sh)}
	unicom.resp.Line = "unicom"
	a := New(Options{Site: "hz", Driver: d, StatePath: filepath.Join(dir, "state.json"),
		Pings: []Ping{{Line: "telecom", Family: 4, Pinger: telecom}, {Line: "unicom", Family: 4, Pinger: unicom}}})
	if _, err := a.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	unicom.err = errors.New("unicom is down")
	bj.Lines[1].IPv4 = netip.MustParseAddr("198.51.100.21")
	telecom.resp.Peers = []wire.Peer{bj}
	if _, err := a.Cycle(context.Background()); err == nil {
		t.Fatal("got no error, want unicom's")
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := "self hz/telecom telecom 203.0.113.7\nself hz/unicom unicom 203.0.113.8\npeer bj/ telecom 203.0.113.7\npeer bj/unicom unicom 203.0.113.8\npeer sh/mobile telecom 203.0.113.7\n" +
		"peer bj/unicom unicom 203.0.113.8\n"
	if got := strings.ReplaceAll(string(b), "self /", "self hz/"); got != want {
		t.Errorf("hook saw\n%s\nwant\n%s", got, want)
	}
}

// TestWarnLines: two lines answering one address, and a public bind address that is not
// the answer's, are each warned of once per address.
func TestWarnLines(t *testing.T) {
	tests := []struct {
		name           string
		unicom, bind   string // unicom's answer and bind address
		same, mismatch int    // warnings expected over two cycles
	}{
		{name: "distinct addresses", unicom: "203.0.113.8"},
		{name: "same address", unicom: "203.0.113.7", same: 1},
		{name: "bind address answered", unicom: "203.0.113.8", bind: "203.0.113.8"},
		{name: "public bind address not answered", unicom: "203.0.113.9", bind: "203.0.113.8", mismatch: 1},
		{name: "private bind address behind NAT", unicom: "203.0.113.8", bind: "192.168.2.2"},
		{name: "both", unicom: "203.0.113.7", bind: "203.0.113.8", same: 1, mismatch: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			telecom := &fakePinger{resp: resp("203.0.113.7")}
			telecom.resp.Line = "telecom"
			unicom := &fakePinger{resp: resp(tc.unicom)}
			unicom.resp.Line = "unicom"
			var bind netip.Addr
			if tc.bind != "" {
				bind = netip.MustParseAddr(tc.bind)
			}
			var logs bytes.Buffer
			a := New(Options{Site: "hz", Driver: &recDriver{}, StatePath: filepath.Join(t.TempDir(), "state.json"), Log: slog.New(slog.NewTextHandler(&logs, nil)),
				Pings: []Ping{{Line: "telecom", Family: 4, Pinger: telecom}, {Line: "unicom", Family: 4, Pinger: unicom, BindAddress: bind}}})
			for range 2 {
				if _, err := a.Cycle(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if got := strings.Count(logs.String(), `lines="telecom unicom" ip=203.0.113.7`); got != tc.same {
				t.Errorf("same-address warnings: got %d, want %d:\n%s", got, tc.same, logs.String())
			}
			if got := strings.Count(logs.String(), "not from its bind address: a NAT or route mismatch\" line=unicom bind_address="+tc.bind); got != tc.mismatch {
				t.Errorf("bind address warnings: got %d, want %d:\n%s", got, tc.mismatch, logs.String())
			}
		})
	}
}

// fnPinger answers as the function does: in full, or with an empty delta when since is
// already at the fleet's version.
type fnPinger struct {
	resp   wire.PingResponse
	sinces []string
}

func (f *fnPinger) Ping(_ context.Context, since *int64) (wire.PingResponse, error) {
	f.sinces = append(f.sinces, sinceString(since))
	r := f.resp
	if since != nil && *since >= r.FleetVersion {
		r.Peers, r.Delta = nil, true
	}
	return r, nil
}

// twoLines returns the pings of the office's lines telecom and unicom to one function,
// each answering with peers at fleet version 5.
func twoLines(peers ...wire.Peer) (telecom, unicom *fnPinger, pings []Ping) {
	telecom = &fnPinger{resp: resp("203.0.113.7", peers...)}
	telecom.resp.Line, telecom.resp.FleetVersion = "telecom", 5
	unicom = &fnPinger{resp: resp("203.0.113.8", peers...)}
	unicom.resp.Line, unicom.resp.FleetVersion = "unicom", 5
	return telecom, unicom, []Ping{
		{Line: "telecom", Family: 4, Pinger: telecom, Endpoint: "https://fn.example/"},
		{Line: "unicom", Family: 4, Pinger: unicom, Endpoint: "https://fn.example/"}}
}

// TestLinesDryRunPeerOnce: with two lines, each answer lists the same peers, but a dry run
// reports each peer change once, and warns of a stale peer once.
func TestLinesDryRunPeerOnce(t *testing.T) {
	_, _, pings := twoLines(wire.Peer{Site: "bj", IPv4: netip.MustParseAddr("198.51.100.9"), Stale: true})
	var out, logs bytes.Buffer
	a := New(Options{Site: "hz", Driver: &recDriver{}, StatePath: filepath.Join(t.TempDir(), "state.json"), DryRun: true, Out: &out,
		Log: slog.New(slog.NewTextHandler(&logs, nil)), Pings: pings})
	res, err := a.Cycle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "would apply peer bj ipv4 none -> 198.51.100.9\n"; got != want {
		t.Errorf("dry run printed %q, want %q", got, want)
	}
	if len(res.Pending) != 1 {
		t.Errorf("%d changes pending, want 1: %v", len(res.Pending), res.Pending)
	}
	if n := strings.Count(logs.String(), `"peer is stale" peer=bj`); n != 1 {
		t.Errorf("stale peer warned of %d times, want once:\n%s", n, logs.String())
	}
}

// TestLinesFailingPeerOnceAndRetried: with two lines, a peer change the driver fails is
// tried once in the cycle, and the since stays where it was, though the second line's
// answer brings no change that was not tried: the next cycle asks for the full answer again
// and applies the change.
func TestLinesFailingPeerOnceAndRetried(t *testing.T) {
	telecom, unicom, pings := twoLines(wire.Peer{Site: "bj", IPv4: netip.MustParseAddr("198.51.100.9")})
	d := &recDriver{fail: map[string]bool{"bj": true}}
	a := New(Options{Site: "hz", Driver: d, StatePath: filepath.Join(t.TempDir(), "state.json"), Pings: pings})
	res, err := a.Cycle(context.Background())
	if !errors.Is(err, router.ErrApply) {
		t.Fatalf("got %v, want ErrApply", err)
	}
	change := "peer bj ipv4 none -> 198.51.100.9"
	if !slices.Equal(d.tried, []string{change}) {
		t.Errorf("driver tried %q, want %q once", d.tried, change)
	}
	if len(res.Failed) != 1 {
		t.Errorf("%d changes failed, want 1: %v", len(res.Failed), res.Failed)
	}
	if n := strings.Count(err.Error(), router.ErrApply.Error()); n != 1 {
		t.Errorf("the error names the failure %d times, want once: %v", n, err)
	}
	d.fail = nil
	for range 2 {
		if _, err := a.Cycle(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(d.applied, []string{change}) {
		t.Errorf("the next cycles applied %q, want %q", d.applied, change)
	}
	for _, p := range []*fnPinger{telecom, unicom} {
		if got, want := strings.Join(p.sinces, " "), "none none 5"; got != want {
			t.Errorf("line %s sent sinces %s, want %s", p.resp.Line, got, want)
		}
	}
}

// TestFleets: one answer per fleet key, in the pings' order: the newest, a full one before
// a delta of the same version, else the first.
func TestFleets(t *testing.T) {
	tests := []struct {
		name    string
		answers []answer
		want    []site.Line
	}{
		{name: "first of equals", answers: []answer{{line: "a", version: 5, fleetKey: "k"}, {line: "b", version: 5, fleetKey: "k"}}, want: []site.Line{"a"}},
		{name: "newest", answers: []answer{{line: "a", version: 5, fleetKey: "k"}, {line: "b", version: 6, delta: true, fleetKey: "k"}}, want: []site.Line{"b"}},
		{name: "not older", answers: []answer{{line: "a", version: 6, delta: true, fleetKey: "k"}, {line: "b", version: 5, fleetKey: "k"}}, want: []site.Line{"a"}},
		{name: "full before delta", answers: []answer{{line: "a", version: 5, delta: true, fleetKey: "k"}, {line: "b", version: 5, fleetKey: "k"}}, want: []site.Line{"b"}},
		{name: "delta not before full", answers: []answer{{line: "a", version: 5, fleetKey: "k"}, {line: "b", version: 5, delta: true, fleetKey: "k"}}, want: []site.Line{"a"}},
		{name: "two keys", answers: []answer{{line: "a", fleetKey: "k"}, {line: "b", fleetKey: "j"}, {line: "c", fleetKey: "k"}}, want: []site.Line{"a", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []site.Line
			for _, ans := range fleets(tc.answers) {
				got = append(got, ans.line)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestLinesPeerAtAnOwnAddress: a peer answered at the address of any of the office's
// lines is refused, whichever line's answer its change is taken from.
func TestLinesPeerAtAnOwnAddress(t *testing.T) {
	_, _, pings := twoLines(wire.Peer{Site: "bj", IPv4: netip.MustParseAddr("203.0.113.8")}, wire.Peer{Site: "sh", IPv4: netip.MustParseAddr("203.0.113.7")})
	d := &recDriver{}
	var logs bytes.Buffer
	a := New(Options{Site: "hz", Driver: d, StatePath: filepath.Join(t.TempDir(), "state.json"), Log: slog.New(slog.NewTextHandler(&logs, nil)), Pings: pings})
	if _, err := a.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(d.tried) != 0 {
		t.Errorf("applied %q, want nothing", d.tried)
	}
	for _, peer := range []string{"bj", "sh"} {
		if n := strings.Count(logs.String(), "peer="+peer+` err="refused peer address 203.0.113.`); n != 1 {
			t.Errorf("%s refused %d times, want once:\n%s", peer, n, logs.String())
		}
	}
}
