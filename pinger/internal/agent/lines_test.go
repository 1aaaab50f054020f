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
	want := []string{"self hz/telecom ipv4 none -> 203.0.113.7", "peer bj/unicom ipv4 none -> 198.51.100.20", "self hz/unicom ipv4 none -> 203.0.113.8"}
	if !slices.Equal(d.applied, want) {
		t.Errorf("applied %q, want %q", d.applied, want)
	}
	if n := strings.Count(logs.String(), "peer=sh/unicom"); n != 1 {
		t.Errorf("sh/unicom warned of %d times, want once:\n%s", n, logs.String())
	}

	unicom.resp.Line = "telecom"
	if _, err := a.Cycle(context.Background()); !errors.Is(err, ErrBadAnswer) {
		t.Errorf("answer for another line: got %v, want ErrBadAnswer", err)
	}
}

// TestSelfIPOfTheChangesLine runs the exec driver over two lines: a change of a peer's
// line gets the office's address on the line of that name, else on its default line; a
// line whose ping failed gives the address the state holds for it.
func TestSelfIPOfTheChangesLine(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "hook.log")
	d, err := router.NewExec(router.ExecConfig{
		Command: `echo "$PPTER_EVENT $PPTER_PEER/$PPTER_LINE $PPTER_SELF_LINE $PPTER_SELF_IP" >> "$HOOK_OUT"`,
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
	want := "self hz/telecom telecom 203.0.113.7\npeer bj/ telecom 203.0.113.7\npeer bj/unicom unicom 203.0.113.8\npeer sh/mobile telecom 203.0.113.7\n" +
		"self hz/unicom unicom 203.0.113.8\npeer bj/unicom unicom 203.0.113.8\n"
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
