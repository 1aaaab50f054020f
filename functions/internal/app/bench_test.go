package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/functions/internal/config"
	"github.com/ppter/ppter/functions/internal/store"
	"github.com/ppter/ppter/internal/redistest"
	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/wire"
)

// BenchmarkRedisRoundTrip is the bare round trip: one PING to the same Redis, same client setup.
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

// floorScript is the least a steady ping asks of Redis: the five commands its script runs
// (the site's and its peer's records, the fleet version, the handled mark, the nonce, the
// record written back), with nothing else.
const floorScript = `
redis.call('HMGET', KEYS[1], ARGV[1], ARGV[2])
redis.call('GET', KEYS[2])
redis.call('HGET', KEYS[3], ARGV[1] .. ':4')
redis.call('SET', KEYS[4], ARGV[3], 'NX', 'PX', ARGV[4])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[5])
return 'ok'`

// BenchmarkPingFloor runs floorScript with a ping's keys and arguments, a new nonce each
// time: what any replay-guarded ping that records its address and reads its peer costs, with
// no decoding, signature, logic or answer. Between it and BenchmarkRedisRoundTrip is Redis'
// share of a ping; between it and BenchmarkPing, ppter's own.
func BenchmarkPingFloor(b *testing.B) {
	c := redistest.Client(b)
	ctx := context.Background()
	ns := redistest.Namespace()
	sites, version, handled := ns+":sites", ns+":version", ns+":handled"
	rec := "203.0.113.7|1764640000000|1764640000000||0|0"
	if err := c.HSet(ctx, sites, "hz", rec, "bj", "198.51.100.20|1764640000000|1764640000000||0|0").Err(); err != nil {
		b.Fatal(err)
	}
	sha, err := c.ScriptLoad(ctx, floorScript).Result()
	if err != nil {
		b.Fatal(err)
	}
	nonces := make([]string, b.N)
	for i := range nonces {
		nonces[i] = fmt.Sprintf("%s:nonce:hz:bench-%016d", ns, i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		err := c.Do(ctx, "evalsha", sha, 4, sites, version, handled, nonces[i],
			"hz", "bj", "token|0|203.0.113.7|5|1764640000000|0|203.0.113.7", 660000, rec).Err()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPing is a steady-state signed ping through the whole in-process handler (event
// decode, HMAC check, the Redis script, JSON answer) against a real Redis: "{}" as pingers
// before since sent, "since" as they send now (a steady delta). Compare its ns/op with
// BenchmarkRedisRoundTrip's: the difference is ppter's own cost. A second, untimed pass
// follows every ping with a bare PING (a client set up as the store's) and reports the two
// means (ping-µs, rtt-µs) and their ratio (x-rtt): the ratio of the same moments, on a
// machine whose load moves.
func BenchmarkPing(b *testing.B) {
	for _, body := range []string{`{}`, `{"since":2}`} {
		name := map[bool]string{false: "plain", true: "since"}[body != `{}`]
		b.Run(name, func(b *testing.B) { benchPing(b, body) })
	}
}

func benchPing(b *testing.B, body string) {
	now := time.Now()
	a, c := newRedisApp(b, now), redistest.Client(b)
	key := []byte("hz-secret-0123456789abcdef")
	ctx := context.Background()
	evs := make([][]byte, b.N+2)
	for i := range evs {
		nonce := fmt.Sprintf("bench-%016d", i)
		evs[i] = event("POST", wire.PathPing, auth.Header("hz", key, "POST", wire.PathPing, now.Unix(), nonce, []byte(body)), body, false, "203.0.113.7")
	}
	// The first pings: a change, the script loaded, and (with since) the configuration's
	// floor set, after which since 2 is the fleet version.
	for _, ev := range evs[b.N:] {
		if _, err := a.Handle(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
	check := func(out any) {
		if code, raw := answer(b, out); code != 200 || (body != `{}` && !strings.Contains(raw, `"delta":true`)) {
			b.Fatalf("ping: %d %s", code, raw)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		out, err := a.Handle(ctx, evs[i])
		if err != nil {
			b.Fatal(err)
		}
		check(out)
	}
	b.StopTimer()
	// A second pass of the same pings (new nonces), each followed by a bare PING.
	var pings, rtts time.Duration
	for i := range b.N {
		ev := event("POST", wire.PathPing, auth.Header("hz", key, "POST", wire.PathPing, now.Unix(), fmt.Sprintf("again-%016d", i), []byte(body)), body, false, "203.0.113.7")
		t0 := time.Now()
		out, err := a.Handle(ctx, ev)
		t1 := time.Now()
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		rtts += time.Since(t1)
		pings += t1.Sub(t0)
		check(out)
	}
	b.ReportMetric(float64(pings.Microseconds())/float64(b.N), "ping-µs")
	b.ReportMetric(float64(rtts.Microseconds())/float64(b.N), "rtt-µs")
	b.ReportMetric(float64(pings)/float64(rtts), "x-rtt")
}

// maxPingAllocs caps the allocations of a steady signed ping through the whole handler
// (BenchmarkPing's path) against a real Redis. Issue 13 asks for 60; 146 before the work
// on it, 95 after its first round, 43 after the second, 44 with the Date header every
// answer has since (see the README's Performance section). maxSinceAllocs is the same for
// a ping with since (a steady, empty delta), as pingers send now.
const (
	maxPingAllocs  = 44
	maxSinceAllocs = 48
)

func TestPingAllocs(t *testing.T) {
	for body, limit := range map[string]int{`{}`: maxPingAllocs, `{"since":2}`: maxSinceAllocs} {
		t.Run(body, func(t *testing.T) {
			now := time.Now()
			a := newRedisApp(t, now)
			key := []byte("hz-secret-0123456789abcdef")
			ctx := context.Background()
			const runs = 200
			evs := make([][]byte, runs+3)
			for i := range evs {
				nonce := fmt.Sprintf("allocs-%016d", i)
				evs[i] = event("POST", wire.PathPing, auth.Header("hz", key, "POST", wire.PathPing, now.Unix(), nonce, []byte(body)), body, false, "203.0.113.7")
			}
			// The change, the script loaded, and (with since) the floor set: since 2 is then
			// the fleet version.
			for _, ev := range evs[runs+1:] {
				if _, err := a.Handle(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
			i := 0
			got := testing.AllocsPerRun(runs, func() {
				out, err := a.Handle(ctx, evs[i])
				i++
				if err != nil {
					t.Fatal(err)
				}
				if code, raw := answer(t, out); code != 200 || (body != `{}` && !strings.Contains(raw, `"delta":true`)) {
					t.Fatalf("ping: %d %s", code, raw)
				}
			})
			if got > float64(limit+raceAllocs) {
				t.Errorf("a steady ping allocates %v times, want at most %d", got, limit+raceAllocs)
			}
		})
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
