package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ppter/ppter/functions/internal/config"
	"github.com/ppter/ppter/functions/internal/store"
	"github.com/ppter/ppter/internal/redistest"
	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/wire"
)

// BenchmarkRedisRoundTrip is the floor: one bare PING to the same Redis, same client setup.
func BenchmarkRedisRoundTrip(b *testing.B) {
	c := redistest.Client(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPing is a steady-state signed ping through the whole in-process handler (event
// decode, HMAC check, the Redis script, JSON answer) against a real Redis. Compare its
// ns/op with BenchmarkRedisRoundTrip's: the difference is ppter's own cost.
func BenchmarkPing(b *testing.B) {
	now := time.Now()
	a := newRedisApp(b, now)
	key := []byte("hz-secret-0123456789abcdef")
	ctx := context.Background()
	evs := make([][]byte, b.N+1)
	for i := range evs {
		nonce := fmt.Sprintf("bench-%016d", i)
		evs[i] = event("POST", wire.PathPing, auth.Header("hz", key, "POST", wire.PathPing, now.Unix(), nonce, []byte(`{}`)), `{}`, false, "203.0.113.7")
	}
	if _, err := a.Handle(ctx, evs[b.N]); err != nil { // first ping: a change, and loads the script
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		out, err := a.Handle(ctx, evs[i])
		if err != nil {
			b.Fatal(err)
		}
		if code, body := answer(b, out); code != 200 {
			b.Fatalf("ping: %d %s", code, body)
		}
	}
}

// maxPingAllocs caps the allocations of a steady signed ping through the whole handler
// (BenchmarkPing's path) against a real Redis. Issue 13 asks for 60; 146 before the work
// on it, 95 after its first round, 43 after the second, 44 with the Date header every
// answer has since (see the README's Performance section).
const maxPingAllocs = 44

func TestPingAllocs(t *testing.T) {
	now := time.Now()
	a := newRedisApp(t, now)
	key := []byte("hz-secret-0123456789abcdef")
	ctx := context.Background()
	const runs = 200
	evs := make([][]byte, runs+2)
	for i := range evs {
		nonce := fmt.Sprintf("allocs-%016d", i)
		evs[i] = event("POST", wire.PathPing, auth.Header("hz", key, "POST", wire.PathPing, now.Unix(), nonce, []byte(`{}`)), `{}`, false, "203.0.113.7")
	}
	if _, err := a.Handle(ctx, evs[len(evs)-1]); err != nil { // the change, and the script loaded
		t.Fatal(err)
	}
	i := 0
	got := testing.AllocsPerRun(runs, func() {
		out, err := a.Handle(ctx, evs[i])
		i++
		if err != nil {
			t.Fatal(err)
		}
		if code, body := answer(t, out); code != 200 {
			t.Fatalf("ping: %d %s", code, body)
		}
	})
	if got > maxPingAllocs+raceAllocs {
		t.Errorf("a steady ping allocates %v times, want at most %d", got, maxPingAllocs+raceAllocs)
	}
}

// newRedisApp is the test app on a real Redis (a fresh namespace) with its clock stopped
// at now.
func newRedisApp(t testing.TB, now time.Time) *App {
	c := redistest.Client(t)
	return newTestApp(t, func(cfg *config.Config) store.Store {
		opt := StoreOptions(cfg)
		opt.Prefix = redistest.Namespace()
		return store.NewRedisClient(c, opt)
	}, func() time.Time { return now })
}
