package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ppter/ppter/functions/internal/api"
	"github.com/ppter/ppter/functions/internal/config"
	"github.com/ppter/ppter/functions/internal/store"
	"github.com/ppter/ppter/internal/redistest"
	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// BenchmarkFleet pings from 1,000 sites concurrently through the in-process handler against
// a real Redis and reports pings/s, p50/p99 latency, Redis memory per site and the ratio to
// a bare Redis round trip measured in the same run, and the mean answer size. "hub" sites
// each receive one peer (a hub-and-spoke VPN); "mesh" sites receive all 999 others (the
// default peers). "mesh-full" pings as pingers before since did (every answer lists every
// peer); "hub" and "mesh" send since, the fleet version of their last answer, as the
// pinger does, and get deltas.
func BenchmarkFleet(b *testing.B) {
	for _, mode := range []string{"hub", "mesh", "mesh-full"} {
		b.Run(mode, func(b *testing.B) { benchFleet(b, mode) })
	}
}

func benchFleet(b *testing.B, mode string) {
	const sites, workers = 1000, 16
	var y strings.Builder
	y.WriteString("redis: { url: \"memory://\" }\nsites:\n")
	for i := range sites {
		peers := ""
		if mode == "hub" && i > 0 {
			peers = ", peers: [s0]"
		}
		fmt.Fprintf(&y, "  s%d: { key: \"key-%d-0123456789abcdef\"%s }\n", i, i, peers)
	}
	cfg, err := config.Parse([]byte(y.String()), func(string) (string, bool) { return "", false }, nil)
	if err != nil {
		b.Fatal(err)
	}
	c := redistest.Client(b)
	ctx := context.Background()
	prefix := redistest.Namespace()
	memBefore := usedMemory(b, c.Info(ctx, "memory").Val())
	opt := StoreOptions(cfg)
	opt.Prefix = prefix
	st := store.NewRedisClient(c, opt)
	a := NewWith(cfg, st, slog.New(slog.DiscardHandler), time.Now, api.Options{})
	now := time.Now().Unix()
	mkEvent := func(i int, n int64, body string) []byte {
		s := "s" + strconv.Itoa(i)
		nonce := fmt.Sprintf("fleet-%d-%012d", i, n)
		h := auth.Header(cfgSite(s), []byte(fmt.Sprintf("key-%d-0123456789abcdef", i)), "POST", wire.PathPing, now, nonce, []byte(body))
		ip := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
		return event("POST", wire.PathPing, h, body, false, ip.String())
	}
	for i := range sites { // every site has pinged once
		if out, err := a.Handle(ctx, mkEvent(i, 0, "")); err != nil {
			b.Fatal(err)
		} else if code, body := answer(b, out); code != 200 {
			b.Fatalf("%d %s", code, body)
		}
	}
	body := "" // as pingers before since
	if mode != "mesh-full" {
		// The fleet version every site saw last: its pings are steady, as in a fleet
		// where addresses change rarely.
		_, ver, err := st.Fleet(ctx)
		if err != nil {
			b.Fatal(err)
		}
		body = fmt.Sprintf(`{"since":%d}`, ver)
	}
	perSite := float64(usedMemory(b, c.Info(ctx, "memory").Val())-memBefore) / sites

	var rtt time.Duration
	for range 200 {
		t0 := time.Now()
		c.Ping(ctx)
		rtt += time.Since(t0)
	}
	rtt /= 200

	var seq, answerBytes atomic.Int64
	lat := make([][]time.Duration, workers)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := (b.N + workers - 1) / workers
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				n := seq.Add(1)
				ev := mkEvent(int(n%sites), n, body)
				t0 := time.Now()
				out, err := a.Handle(ctx, ev)
				lat[w] = append(lat[w], time.Since(t0))
				if err != nil {
					b.Error(err)
					return
				}
				code, raw := answer(b, out)
				if code != 200 {
					b.Errorf("%d %s", code, raw)
					return
				}
				answerBytes.Add(int64(len(raw)))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	p := func(q float64) time.Duration { return all[int(q*float64(len(all)-1))] }
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "pings/s")
	b.ReportMetric(float64(p(0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(p(0.99).Microseconds()), "p99-µs")
	b.ReportMetric(perSite, "redis-B/site")
	b.ReportMetric(float64(p(0.50))/float64(rtt), "p50/rtt")
	b.ReportMetric(float64(answerBytes.Load())/float64(len(all)), "answer-B")
}

func cfgSite(s string) site.Name { return site.Name(s) }

func usedMemory(b *testing.B, info string) int64 {
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no used_memory in INFO")
	return 0
}
