package agent

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/pinger/internal/router"
	"github.com/ppter/ppter/pinger/internal/state"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// fakePinger answers with a fixed response or error.
type fakePinger struct {
	resp   wire.PingResponse
	err    error
	calls  int
	sinces []*int64 // the since of each call
}

func (f *fakePinger) Ping(_ context.Context, since *int64) (wire.PingResponse, error) {
	f.calls++
	f.sinces = append(f.sinces, since)
	return f.resp, f.err
}

// recDriver records applied changes; it fails for peers listed in fail.
type recDriver struct {
	applied []string
	tried   []string // every change Apply was called with, failed ones too
	fail    map[string]bool
	self    bool
}

var _ router.Driver = (*recDriver)(nil)

func (d *recDriver) Wants(c router.Change) bool { return !c.Self || d.self }

func (d *recDriver) Apply(_ context.Context, c router.Change) error {
	d.tried = append(d.tried, c.String())
	if d.fail[string(c.Peer)] {
		return router.ErrApply
	}
	d.applied = append(d.applied, c.String())
	return nil
}

func resp(self string, peers ...wire.Peer) wire.PingResponse {
	return wire.PingResponse{Site: "hz", IP: netip.MustParseAddr(self), Family: wire.IPv4, Peers: peers}
}

func newAgent(t *testing.T, path string, p Pinger, d router.Driver, dry bool, out *bytes.Buffer) *Agent {
	t.Helper()
	return New(Options{Site: "hz", Pings: []Ping{{Family: 4, Pinger: p}}, Driver: d, StatePath: path, DryRun: dry, Out: out,
		Now: func() time.Time { return time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC) }})
}

func TestCycleFirstRunThenIdle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	p := &fakePinger{resp: resp("203.0.113.7",
		wire.Peer{Site: "sh", IPv4: netip.MustParseAddr("192.0.2.5")},
		wire.Peer{Site: "bj", IPv4: netip.MustParseAddr("198.51.100.9"), IPv6: netip.MustParseAddr("2001:db8::9")},
		wire.Peer{Site: "gz"}, // never seen: nothing to apply
	)}
	d := &recDriver{self: true}
	a := newAgent(t, path, p, d, false, nil)
	res, err := a.Cycle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"self hz ipv4 none -> 203.0.113.7", "peer bj ipv4 none -> 198.51.100.9", "peer sh ipv4 none -> 192.0.2.5"}
	if got := strings.Join(d.applied, "; "); got != strings.Join(want, "; ") {
		t.Errorf("first cycle applied %q, want %q", got, want)
	}
	if len(res.Applied) != 3 {
		t.Errorf("got %d applied, want 3", len(res.Applied))
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	d.applied = nil
	if _, err := a.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(d.applied) != 0 {
		t.Errorf("second identical cycle applied %q, want nothing", d.applied)
	}
	// The inode, not the modification time: a rename within the file system's clock tick
	// keeps the time.
	if after, err := os.Stat(path); err != nil || !os.SameFile(before, after) {
		t.Errorf("second identical cycle rewrote the state file (%v)", err)
	}
	// A peer moves: only that change is applied, with the old address.
	p.resp.Peers[1].IPv4 = netip.MustParseAddr("198.51.100.10")
	if _, err := a.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(d.applied, "; "); got != "peer bj ipv4 198.51.100.9 -> 198.51.100.10" {
		t.Errorf("after move applied %q", got)
	}
}

func TestCycleDriverFailureKeepsStateAndRetries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	p := &fakePinger{resp: resp("203.0.113.7", wire.Peer{Site: "bj", IPv4: netip.MustParseAddr("198.51.100.9")})}
	d := &recDriver{fail: map[string]bool{"bj": true}}
	a := newAgent(t, path, p, d, false, nil)
	_, err := a.Cycle(context.Background())
	if !errors.Is(err, router.ErrApply) {
		t.Fatalf("got %v, want ErrApply", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("state file written after a failed apply (stat: %v)", err)
	}
	d.fail = nil
	if _, err := a.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(d.applied, "; "); got != "peer bj ipv4 none -> 198.51.100.9" {
		t.Errorf("retry applied %q", got)
	}
}

func TestCyclePartialFailureSavesSuccesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	p := &fakePinger{resp: resp("203.0.113.7", wire.Peer{Site: "bj", IPv4: netip.MustParseAddr("198.51.100.9")}, wire.Peer{Site: "sh", IPv4: netip.MustParseAddr("192.0.2.5")})}
	d := &recDriver{fail: map[string]bool{"sh": true}}
	if _, err := newAgent(t, path, p, d, false, nil).Cycle(context.Background()); !errors.Is(err, router.ErrApply) {
		t.Fatalf("got %v, want ErrApply", err)
	}
	st, err := state.Load(path, "hz")
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Peer(site.Peer{Site: "bj"}, 4).String(); got != "198.51.100.9" {
		t.Errorf("bj saved as %s, want 198.51.100.9", got)
	}
	if st.Peer(site.Peer{Site: "sh"}, 4).IsValid() {
		t.Errorf("failed peer sh saved as %s", st.Peer(site.Peer{Site: "sh"}, 4))
	}
}

func TestCyclePingFailureTouchesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	boom := errors.New("boom")
	d := &recDriver{}
	_, err := newAgent(t, path, &fakePinger{err: boom}, d, false, nil).Cycle(context.Background())
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
	if len(d.applied) != 0 {
		t.Errorf("applied %q after a failed ping", d.applied)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("state file written after a failed ping")
	}
}

func TestCycleDryRunChangesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	p := &fakePinger{resp: resp("203.0.113.7", wire.Peer{Site: "bj", IPv4: netip.MustParseAddr("198.51.100.9")})}
	d := &recDriver{}
	var out bytes.Buffer
	res, err := newAgent(t, path, p, d, true, &out).Cycle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(d.applied) != 0 {
		t.Errorf("dry run applied %q", d.applied)
	}
	if len(res.Pending) != 1 || !strings.Contains(out.String(), "would apply peer bj ipv4 none -> 198.51.100.9") {
		t.Errorf("dry run printed %q", out.String())
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("dry run wrote the state file")
	}
}

func TestCycleRejectsBadAnswers(t *testing.T) {
	tests := []struct {
		name string
		resp wire.PingResponse
	}{
		{name: "other site", resp: wire.PingResponse{Site: "bj", IP: netip.MustParseAddr("203.0.113.7")}},
		{name: "no own address", resp: wire.PingResponse{Site: "hz"}},
		{name: "ipv6 answer to an ipv4 ping", resp: wire.PingResponse{Site: "hz", IP: netip.MustParseAddr("2001:db8::1")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			_, err := newAgent(t, path, &fakePinger{resp: tc.resp}, &recDriver{}, false, nil).Cycle(context.Background())
			if !errors.Is(err, ErrBadAnswer) {
				t.Fatalf("got %v, want ErrBadAnswer", err)
			}
		})
	}
}

func TestCycleBothFamilies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	p4 := &fakePinger{resp: resp("203.0.113.7", wire.Peer{Site: "bj", IPv4: netip.MustParseAddr("198.51.100.9"), IPv6: netip.MustParseAddr("2001:db8::9")})}
	p6 := &fakePinger{resp: wire.PingResponse{Site: "hz", IP: netip.MustParseAddr("2001:db8::7"), Family: wire.IPv6,
		Peers: []wire.Peer{{Site: "bj", IPv4: netip.MustParseAddr("198.51.100.9"), IPv6: netip.MustParseAddr("2001:db8::9")}}}}
	d := &recDriver{}
	a := New(Options{Site: "hz", Pings: []Ping{{Family: 4, Pinger: p4}, {Family: 6, Pinger: p6}}, Driver: d, StatePath: path})
	if _, err := a.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := "peer bj ipv4 none -> 198.51.100.9; peer bj ipv6 none -> 2001:db8::9"
	if got := strings.Join(d.applied, "; "); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// fakeClock hands out channels the test fires by hand and records the waits asked for.
type fakeClock struct {
	waits chan time.Duration
	fire  chan time.Time
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.waits <- d
	return c.fire
}

func TestWatchBacksOffAndStops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	p := &fakePinger{err: errors.New("down")}
	a := newAgent(t, path, p, &recDriver{}, false, nil)
	clock := &fakeClock{waits: make(chan time.Duration), fire: make(chan time.Time)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Watch(ctx, time.Minute, clock, rand.New(rand.NewPCG(1, 2))) }()
	var got []time.Duration
	for i := range 4 {
		w := <-clock.waits
		got = append(got, w)
		if i == 2 {
			p.err = nil // the function is back: the next wait is the normal interval
			p.resp = resp("203.0.113.7")
		}
		clock.fire <- time.Time{}
	}
	w := <-clock.waits // after the second success
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Watch returned %v, want nil on cancel", err)
	}
	bases := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, time.Minute, time.Minute}
	for i, d := range append(got, w) {
		lo, hi := time.Duration(float64(bases[i])*0.9), time.Duration(float64(bases[i])*1.1)
		if d < lo || d > hi {
			t.Errorf("wait %d = %v, want %v ±10%%", i, d, bases[i])
		}
	}
}

func TestWatchStopsOnCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := &fakePinger{err: context.Canceled}
	a := newAgent(t, filepath.Join(t.TempDir(), "s.json"), p, &recDriver{}, false, nil)
	if err := a.Watch(ctx, time.Minute, &fakeClock{}, nil); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
}

func TestNextBackoff(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		every time.Duration
		want  time.Duration
	}{
		{name: "first failure", n: 1, every: time.Minute, want: 5 * time.Second},
		{name: "doubles", n: 3, every: time.Minute, want: 20 * time.Second},
		{name: "capped at 10m", n: 20, every: time.Minute, want: 10 * time.Minute},
		{name: "capped at a longer interval", n: 20, every: time.Hour, want: time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NextBackoff(tc.n, tc.every); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestWatchPingsOnNetworkChange: a network change ends the interval's wait; the cycle runs
// after the debounce, once for a burst of changes; a closed change channel leaves the
// interval alone.
func TestWatchPingsOnNetworkChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	p := &fakePinger{resp: resp("203.0.113.7")}
	changes := make(chan struct{})
	a := New(Options{Site: "hz", Pings: []Ping{{Family: 4, Pinger: p}}, Driver: &recDriver{}, StatePath: path,
		NetChanges: changes, Debounce: 3 * time.Second})
	clock := &fakeClock{waits: make(chan time.Duration), fire: make(chan time.Time)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Watch(ctx, time.Hour, clock, rand.New(rand.NewPCG(1, 2))) }()
	if w := <-clock.waits; w < 54*time.Minute { // after the first cycle: the interval
		t.Fatalf("first wait %v, want about an hour", w)
	}
	changes <- struct{}{} // the address changed: the interval's wait ends
	if w := <-clock.waits; w != 3*time.Second {
		t.Fatalf("wait after a change %v, want the 3s debounce", w)
	}
	changes <- struct{}{} // the default route follows: the same debounce
	changes <- struct{}{}
	clock.fire <- time.Time{}
	if w := <-clock.waits; w < 54*time.Minute {
		t.Fatalf("wait after the change's cycle %v, want the interval", w)
	}
	if p.calls != 2 {
		t.Fatalf("%d pings, want 2 (the first cycle and one for the burst of changes)", p.calls)
	}
	close(changes) // the event source failed: the interval goes on
	clock.fire <- time.Time{}
	if w := <-clock.waits; w < 54*time.Minute {
		t.Fatalf("wait after the events ended %v, want the interval", w)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Watch returned %v, want nil", err)
	}
	if p.calls != 3 {
		t.Errorf("%d pings, want 3", p.calls)
	}
}
