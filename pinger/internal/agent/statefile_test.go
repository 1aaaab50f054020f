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
	"time"

	"github.com/ppter/ppter/pinger/internal/state"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// TestCycleSurvivesBadStateFile: the ping goes out whatever the state file holds; a
// corrupt file is moved aside with an error in the log and the cycle goes on from an empty
// state (issue 11, point 13).
func TestCycleSurvivesBadStateFile(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		content string
		dryRun  bool
	}{
		{name: "empty file", content: ""},
		{name: "truncated by a power cut", content: `{"version":1,"site":"hz","peers":{"bj":{"ipv4":"198.`},
		{name: "zeroed flash", content: "\x00\x00\x00\x00"},
		{name: "unknown version", content: `{"version":99,"site":"hz","peers":{}}`},
		{name: "dry run leaves it in place", content: "", dryRun: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			p := &fakePinger{resp: resp("203.0.113.7", wire.Peer{Site: "bj", IPv4: netip.MustParseAddr("198.51.100.9")})}
			d := &recDriver{}
			var log, out bytes.Buffer
			a := New(Options{Site: "hz", Pings: []Ping{{Family: 4, Pinger: p}}, Driver: d, StatePath: path, DryRun: tc.dryRun,
				Log: slog.New(slog.NewTextHandler(&log, nil)), Out: &out, Now: func() time.Time { return now }})
			res, err := a.Cycle(context.Background())
			if err != nil {
				t.Fatalf("got %v, want a cycle that goes on from an empty state", err)
			}
			if p.calls != 1 {
				t.Errorf("pinged %d times, want 1", p.calls)
			}
			if !strings.Contains(log.String(), "level=ERROR") || !strings.Contains(log.String(), "state file unreadable") {
				t.Errorf("log %q does not report the unreadable state file", log.String())
			}
			aside := path + ".corrupt-20261128T100000Z"
			if tc.dryRun {
				if len(res.Pending) != 1 {
					t.Errorf("dry run found %d changes, want 1", len(res.Pending))
				}
				if b, err := os.ReadFile(path); err != nil || string(b) != tc.content {
					t.Errorf("dry run touched the state file: %q, %v", b, err)
				}
				return
			}
			if got := strings.Join(d.applied, "; "); got != "peer bj ipv4 none -> 198.51.100.9" {
				t.Errorf("applied %q, want bj applied from an empty state", got)
			}
			if b, err := os.ReadFile(aside); err != nil || string(b) != tc.content {
				t.Errorf("moved-aside file %s: %q, %v; want the old content", aside, b, err)
			}
			if !strings.Contains(log.String(), "moved_to="+aside) {
				t.Errorf("log %q does not name %s", log.String(), aside)
			}
			st, err := state.Load(path, "hz")
			if err != nil || st.Peer(site.Peer{Site: "bj"}, 4).String() != "198.51.100.9" {
				t.Errorf("new state %+v, %v; want bj saved", st, err)
			}
		})
	}
}

// TestCycleStateFileUnreadable: a state file that cannot be read at all (here a
// directory) fails the cycle, but only after the ping went out; nothing is applied.
func TestCycleStateFileUnreadable(t *testing.T) {
	path := t.TempDir() // a directory where the state file should be
	p := &fakePinger{resp: resp("203.0.113.7", wire.Peer{Site: "bj", IPv4: netip.MustParseAddr("198.51.100.9")})}
	d := &recDriver{}
	_, err := newAgent(t, path, p, d, false, nil).Cycle(context.Background())
	if !errors.Is(err, ErrState) {
		t.Fatalf("got %v, want ErrState", err)
	}
	if p.calls != 1 {
		t.Errorf("pinged %d times, want 1: the ping comes before the state file", p.calls)
	}
	if len(d.applied) != 0 {
		t.Errorf("applied %q without knowing what was applied before", d.applied)
	}
}
