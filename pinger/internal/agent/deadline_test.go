package agent

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/ppter/ppter/pinger/internal/router"
	"github.com/ppter/ppter/pinger/internal/state"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// hangDriver applies some peers and hangs on the others until its context ends, like a
// router tool that never answers.
type hangDriver struct {
	recDriver
	hang map[string]bool
}

func (d *hangDriver) Apply(ctx context.Context, c router.Change) error {
	if d.hang[string(c.Peer)] {
		<-ctx.Done()
		return ctx.Err()
	}
	return d.recDriver.Apply(ctx, c)
}

// deadlinePinger records the deadline its ping was given.
type deadlinePinger struct {
	fakePinger
	deadline time.Time
	ok       bool
}

func (p *deadlinePinger) Ping(ctx context.Context, since *int64) (wire.PingResponse, error) {
	p.deadline, p.ok = ctx.Deadline()
	return p.fakePinger.Ping(ctx, since)
}

// TestCycleHasADeadline: a hung driver call ends with the cycle's deadline; what was
// applied before is saved and the hung change is retried next cycle (issue 11, point 12).
func TestCycleHasADeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	p := &deadlinePinger{fakePinger: fakePinger{resp: resp("203.0.113.7",
		wire.Peer{Site: "bj", IPv4: netip.MustParseAddr("198.51.100.9")},
		wire.Peer{Site: "sh", IPv4: netip.MustParseAddr("192.0.2.5")},
	)}}
	d := &hangDriver{hang: map[string]bool{"sh": true}}
	const timeout = 50 * time.Millisecond
	a := New(Options{Site: "hz", Pings: []Ping{{Family: 4, Pinger: p}}, Driver: d, StatePath: path, CycleTimeout: timeout})
	start := time.Now()
	done := make(chan error, 1)
	go func() { _, err := a.Cycle(context.Background()); done <- err }()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the cycle is still running: a hung router call froze it")
	}
	if !errors.Is(err, ErrCycleTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want ErrCycleTimeout and DeadlineExceeded", err)
	}
	if !p.ok || p.deadline.After(start.Add(timeout+time.Second)) {
		t.Errorf("ping deadline %v (set %v), want within the cycle's %s", p.deadline, p.ok, timeout)
	}
	st, lerr := state.Load(path, "hz")
	if lerr != nil {
		t.Fatal(lerr)
	}
	if got := st.Peer(site.Peer{Site: "bj"}, 4).String(); got != "198.51.100.9" {
		t.Errorf("bj in state = %s, want the change applied before the hang saved", got)
	}
	if st.Peer(site.Peer{Site: "sh"}, 4).IsValid() {
		t.Errorf("sh in state = %s, want nothing (retried next cycle)", st.Peer(site.Peer{Site: "sh"}, 4))
	}
}
