package agent

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff bounds of Watch after a failed cycle.
const (
	backoffMin = 5 * time.Second
	backoffMax = 10 * time.Minute
	jitter     = 0.1
)

// Clock abstracts waiting so tests control time.
type Clock interface {
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// RealClock is the wall clock.
var RealClock Clock = realClock{}

// DefaultDebounce is how long Watch lets a burst of network changes settle before it pings
// (Options.Debounce when zero): a PPPoE redial brings the address, then the default route.
const DefaultDebounce = 2 * time.Second

// Watch runs a cycle, then waits every ±10 % and runs again; after a failed cycle it waits
// 5 s, 10 s, 20 s … (never longer than max(every, 10 min)) instead. A value on
// Options.NetChanges (the host's addresses or default route changed) ends the wait early:
// the cycle runs once the changes have settled for Options.Debounce. It returns nil when
// ctx ends (SIGINT/SIGTERM), after the cycle in progress.
func (a *Agent) Watch(ctx context.Context, every time.Duration, clock Clock, rnd *rand.Rand) error {
	if clock == nil {
		clock = RealClock
	}
	if rnd == nil {
		rnd = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	}
	failures := 0
	changes := a.o.NetChanges
	for {
		_, err := a.Cycle(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var wait time.Duration
		if err != nil {
			failures++
			wait = NextBackoff(failures, every)
			a.o.Log.Warn("cycle failed", "err", err, "retry_in", wait.Round(time.Second).String())
		} else {
			failures = 0
			wait = every
		}
		timer := clock.After(Jitter(wait, rnd))
	waiting:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-timer:
				break waiting
			case _, ok := <-changes:
				if !ok {
					a.o.Log.Warn("network change events ended; pinging on the interval only")
					changes = nil
					continue
				}
				a.o.Log.Debug("network changed; pinging once it settles", "debounce", a.o.Debounce.String())
				if !a.settle(ctx, clock, &changes) {
					return nil
				}
				break waiting
			}
		}
	}
}

// settle waits Debounce from the first change, taking in (and coalescing) the changes that
// arrive meanwhile, so a burst gives one cycle no later than Debounce after it began. It
// reports false when ctx ended.
func (a *Agent) settle(ctx context.Context, clock Clock, changes *<-chan struct{}) bool {
	done := clock.After(a.o.Debounce)
	for {
		select {
		case <-ctx.Done():
			return false
		case <-done:
			return true
		case _, ok := <-*changes:
			if !ok {
				*changes = nil
			}
		}
	}
}

// NextBackoff returns the wait after the n-th consecutive failure (n ≥ 1).
func NextBackoff(n int, every time.Duration) time.Duration {
	limit := max(every, backoffMax)
	d := backoffMin
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// Jitter spreads d by ±10 % so offices don't ping in lockstep.
func Jitter(d time.Duration, rnd *rand.Rand) time.Duration {
	f := 1 + jitter*(2*rnd.Float64()-1)
	return time.Duration(float64(d) * f)
}
