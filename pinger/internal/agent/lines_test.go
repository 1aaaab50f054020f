package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
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
