package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ppter/ppter/internal/redistest"
	"github.com/ppter/ppter/shared/site"
)

// clock is a manual clock shared by a store and its test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// options are complete store options with prefix on clock now, as app.StoreOptions makes
// them from a configuration's defaults.
func options(now func() time.Time, prefix string) Options {
	return Options{Prefix: prefix, EventsMax: 1000, FailureWindow: time.Minute, HandleLease: time.Minute, Timeout: 2 * time.Second, Now: now}
}

type factory func(t *testing.T, opt Options) Store

func stores() map[string]factory {
	return map[string]factory{
		"memory": func(t *testing.T, opt Options) Store { return NewMemory(opt) },
		"redis": func(t *testing.T, opt Options) Store {
			opt.Prefix = redistest.Namespace()
			return NewRedisClient(redistest.Client(t), opt)
		},
	}
}

var (
	src  = netip.MustParseAddr("203.0.113.7")
	src2 = netip.MustParseAddr("198.51.100.2")
	v6   = netip.MustParseAddr("2001:db8::7")
)

// TestContract runs the same behaviour checks against every store.
func TestContract(t *testing.T) {
	for name, newStore := range stores() {
		t.Run(name, func(t *testing.T) {
			for _, c := range contractCases {
				t.Run(c.name, func(t *testing.T) {
					clk := &clock{t: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)}
					opt := options(clk.Now, "{ppter}")
					opt.EventsMax = 50
					s := newStore(t, opt)
					c.run(t, s, clk)
				})
			}
		})
	}
}

func ping(t *testing.T, s Store, st site.Name, addr netip.Addr, nonce string, peers ...site.Name) PingResult {
	t.Helper()
	r, err := s.Ping(context.Background(), PingInput{Site: st, Addr: addr, Nonce: nonce, Peers: peers})
	if err != nil {
		t.Fatalf("Ping(%s, %s) = %v", st, addr, err)
	}
	return r
}

var contractCases = []struct {
	name string
	run  func(t *testing.T, s Store, clk *clock)
}{
	{"first ping is a change", func(t *testing.T, s Store, clk *clock) {
		r := ping(t, s, "hz", src, "nonce-0000000001")
		if !r.Changed || r.Previous.IsValid() || r.Version != 1 {
			t.Fatalf("got changed=%v previous=%v version=%d, want true, none, 1", r.Changed, r.Previous, r.Version)
		}
		if r.Self.IPv4 != src || !r.Self.Seen4.Equal(clk.Now()) || !r.Self.Changed4.Equal(clk.Now()) || r.Self.IPv6.IsValid() {
			t.Fatalf("self = %+v", r.Self)
		}
	}},
	{"same address is no change", func(t *testing.T, s Store, clk *clock) {
		first := ping(t, s, "hz", src, "nonce-0000000001")
		clk.Add(time.Minute)
		r := ping(t, s, "hz", src, "nonce-0000000002")
		if r.Changed || r.Previous != src || r.Version != 1 {
			t.Fatalf("got changed=%v previous=%v version=%d, want false, %v, 1", r.Changed, r.Previous, r.Version, src)
		}
		if !r.Self.Seen4.Equal(clk.Now()) || !r.Self.Changed4.Equal(first.Self.Changed4) {
			t.Fatalf("self = %+v: want seen now, changed unchanged", r.Self)
		}
	}},
	{"previous seen and stale marks", func(t *testing.T, s Store, clk *clock) {
		if r := ping(t, s, "hz", src, ""); !r.PrevSeen.IsZero() {
			t.Fatalf("first ping PrevSeen = %v, want zero", r.PrevSeen)
		}
		first := clk.Now()
		clk.Add(time.Hour)
		if r := ping(t, s, "hz", v6, ""); !r.PrevSeen.Equal(first) {
			t.Fatalf("PrevSeen = %v, want %v (the other family counts too)", r.PrevSeen, first)
		}
		ctx := context.Background()
		for i, want := range []bool{true, false} {
			if news, err := s.MarkStale(ctx, "hz", "", first); err != nil || news != want {
				t.Fatalf("MarkStale #%d = %v, %v; want %v", i, news, err, want)
			}
		}
		if news, _ := s.MarkStale(ctx, "hz", "", clk.Now()); !news {
			t.Fatal("MarkStale for a later ping is not news")
		}
	}},
	{"new address is a change", func(t *testing.T, s Store, clk *clock) {
		ping(t, s, "hz", src, "nonce-0000000001")
		clk.Add(time.Minute)
		r := ping(t, s, "hz", src2, "nonce-0000000002")
		if !r.Changed || r.Previous != src || r.Version != 2 || !r.Self.Changed4.Equal(clk.Now()) {
			t.Fatalf("got %+v, want a change from %v at version 2", r, src)
		}
	}},
	{"families are apart", func(t *testing.T, s Store, clk *clock) {
		ping(t, s, "hz", src, "nonce-0000000001")
		r := ping(t, s, "hz", v6, "nonce-0000000002")
		if !r.Changed || r.Previous.IsValid() || r.Self.IPv4 != src || r.Self.IPv6 != v6 {
			t.Fatalf("got %+v, want v6 recorded beside v4", r)
		}
		r = ping(t, s, "hz", src, "nonce-0000000003")
		if r.Changed || r.Self.IPv6 != v6 {
			t.Fatalf("v4 ping after v6: %+v", r)
		}
		mapped := netip.AddrFrom16(src.As16())
		if r := ping(t, s, "hz", mapped, "nonce-0000000004"); r.Changed {
			t.Fatalf("v4-mapped v6 form of the same address counted as a change: %+v", r)
		}
	}},
	{"peers are read", func(t *testing.T, s Store, clk *clock) {
		ping(t, s, "hz", src, "nonce-0000000001")
		r := ping(t, s, "bj", src2, "nonce-0000000001", "hz", "sh")
		if len(r.Peers) != 2 || r.Peers[0].Site != "hz" || r.Peers[0].IPv4 != src || r.Peers[1].Site != "sh" || r.Peers[1].IPv4.IsValid() {
			t.Fatalf("peers = %+v", r.Peers)
		}
	}},
	{"replayed nonce writes nothing", func(t *testing.T, s Store, clk *clock) {
		ping(t, s, "hz", src, "nonce-0000000001")
		clk.Add(time.Second)
		_, err := s.Ping(context.Background(), PingInput{Site: "hz", Addr: src2, Nonce: "nonce-0000000001"})
		if !errors.Is(err, ErrReplay) {
			t.Fatalf("replay error = %v, want ErrReplay", err)
		}
		recs, ver, _ := s.Fleet(context.Background())
		if ver != 1 || len(recs) != 1 || recs[0].IPv4 != src || recs[0].Seen4.Equal(clk.Now()) {
			t.Fatalf("after replay: version %d records %+v", ver, recs)
		}
		// The same nonce is fine for another site.
		ping(t, s, "bj", src, "nonce-0000000001")
	}},
	{"basic pings need no nonce", func(t *testing.T, s Store, clk *clock) {
		ping(t, s, "hz", src, "")
		if r := ping(t, s, "hz", src, ""); r.Changed {
			t.Fatal("second Basic ping changed")
		}
	}},
	{"failures count per credential and source", func(t *testing.T, s Store, clk *clock) {
		ctx := context.Background()
		hz := FailKey{Credential: CredentialSite("hz"), Source: SourceOf(src)}
		for i := 1; i <= 4; i++ {
			n, err := s.AuthFailure(ctx, hz)
			if err != nil || n != i {
				t.Fatalf("failure %d: count %d, %v", i, n, err)
			}
		}
		if n, err := s.Failures(ctx, hz); err != nil || n != 4 {
			t.Fatalf("Failures = %d, %v, want 4", n, err)
		}
		// Another credential from the same source, and the same credential from another
		// source, start from zero; an address of the same IPv6 /64 is the same source.
		for _, k := range []FailKey{
			{Credential: CredentialSite("bj"), Source: SourceOf(src)},
			{Credential: CredentialAdmin, Source: SourceOf(src)},
			{Credential: CredentialDynDNS("hz"), Source: SourceOf(src)},
			{Credential: CredentialSite("hz"), Source: SourceOf(src2)},
		} {
			if n, err := s.Failures(ctx, k); err != nil || n != 0 {
				t.Fatalf("Failures(%v) = %d, %v, want 0", k, n, err)
			}
		}
		a := FailKey{Credential: CredentialAdmin, Source: SourceOf(netip.MustParseAddr("2001:db8:1:2::1"))}
		b := FailKey{Credential: CredentialAdmin, Source: SourceOf(netip.MustParseAddr("2001:db8:1:2:ffff:ffff:ffff:fffe"))}
		s.AuthFailure(ctx, a)
		if n, _ := s.AuthFailure(ctx, b); n != 2 {
			t.Fatalf("two addresses of one /64: count %d, want 2", n)
		}
		// Failures write nothing else.
		if recs, ver, _ := s.Fleet(ctx); len(recs) != 0 || ver != 0 {
			t.Fatalf("failures wrote: %+v %d", recs, ver)
		}
	}},
	{"a change is handled once, by one ping, until marked", func(t *testing.T, s Store, clk *clock) {
		ctx := context.Background()
		r := ping(t, s, "hz", src, "nonce-0000000001")
		if !r.Handle || r.Announced.IsValid() {
			t.Fatalf("first ping: handle=%v announced=%v, want handle and none announced", r.Handle, r.Announced)
		}
		// A ping while the first is still handling it (the pinger's hedge) must not.
		if r := ping(t, s, "hz", src, "nonce-0000000002"); r.Handle || r.Changed {
			t.Fatalf("second ping: handle=%v changed=%v, want neither", r.Handle, r.Changed)
		}
		if err := s.Handled(ctx, "hz", "", src); err != nil {
			t.Fatal(err)
		}
		if r := ping(t, s, "hz", src, "nonce-0000000003"); r.Handle || r.Announced != src {
			t.Fatalf("after Handled: handle=%v announced=%v", r.Handle, r.Announced)
		}
		// A change never marked handled is handed to the next ping after the new one.
		r = ping(t, s, "hz", src2, "nonce-0000000004")
		if !r.Handle || r.Announced != src || r.Previous != src {
			t.Fatalf("change: %+v", r)
		}
		// An older handler finishing after the site moved on marks nothing.
		if r := ping(t, s, "hz", v6, "nonce-0000000005"); !r.Handle || r.Announced.IsValid() {
			t.Fatalf("first IPv6 ping: %+v", r)
		}
		if err := s.Handled(ctx, "hz", "", src); err != nil {
			t.Fatal(err)
		}
		if err := s.Handled(ctx, "hz", "", src2); err != nil {
			t.Fatal(err)
		}
		if r := ping(t, s, "hz", src2, "nonce-0000000006"); r.Handle || r.Announced != src2 {
			t.Fatalf("after the change was handled: %+v", r)
		}
	}},
	{"events newest first", func(t *testing.T, s Store, clk *clock) {
		ctx := context.Background()
		ping(t, s, "hz", src, "nonce-0000000001")
		ping(t, s, "hz", src, "nonce-0000000002")
		clk.Add(time.Second)
		ping(t, s, "hz", src2, "nonce-0000000003")
		if err := s.AppendEvent(ctx, Event{Kind: "target_failed", Site: "hz", Detail: "dns hz.example.com/A: boom"}); err != nil {
			t.Fatal(err)
		}
		ev, err := s.Events(ctx, 10)
		if err != nil || len(ev) != 3 {
			t.Fatalf("events = %+v, %v; want 3", ev, err)
		}
		if ev[0].Kind != "target_failed" || ev[0].Detail != "dns hz.example.com/A: boom" {
			t.Errorf("ev[0] = %+v", ev[0])
		}
		if e := ev[1]; e.Kind != EventAddressChanged || e.IP != src2.String() || e.Previous != src.String() || e.Family != "ipv4" || !e.At.Equal(clk.Now()) {
			t.Errorf("ev[1] = %+v", e)
		}
		if e := ev[2]; e.Previous != "" || e.IP != src.String() {
			t.Errorf("ev[2] = %+v", e)
		}
		if ev, _ := s.Events(ctx, 1); len(ev) != 1 {
			t.Errorf("Events(1) returned %d", len(ev))
		}
	}},
	{"event stream is capped", func(t *testing.T, s Store, clk *clock) {
		ctx := context.Background()
		for i := range 500 {
			if err := s.AppendEvent(ctx, Event{Kind: "k", Detail: strconv.Itoa(i)}); err != nil {
				t.Fatal(err)
			}
		}
		ev, _ := s.Events(ctx, 1000)
		if len(ev) < 50 || len(ev) > 200 || ev[0].Detail != "499" {
			t.Fatalf("%d events kept (newest %q), want about 50 ending with 499", len(ev), ev[0].Detail)
		}
	}},
	{"fleet", func(t *testing.T, s Store, clk *clock) {
		ping(t, s, "hz", src, "")
		ping(t, s, "bj", v6, "")
		recs, ver, err := s.Fleet(context.Background())
		if err != nil || ver != 2 || len(recs) != 2 || recs[0].Site != "bj" || recs[0].IPv6 != v6 || recs[1].IPv4 != src {
			t.Fatalf("Fleet = %+v, %d, %v", recs, ver, err)
		}
	}},
	{"concurrent pings lose nothing", func(t *testing.T, s Store, clk *clock) {
		const sites, pings, every = 20, 50, 5
		var changes atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, sites)
		for i := range sites {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := site.Name(fmt.Sprintf("s%d", i))
				for j := range pings {
					addr := netip.AddrFrom4([4]byte{198, 51, byte(i), byte(j / every)})
					r, err := s.Ping(context.Background(), PingInput{Site: name, Addr: addr, Nonce: fmt.Sprintf("n-%d-%d-0123456789", i, j), Peers: []site.Name{"s0"}})
					if err != nil {
						errs <- err
						return
					}
					if r.Changed {
						changes.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		want := int64(sites * pings / every)
		if got := changes.Load(); got != want {
			t.Fatalf("%d changes reported, want exactly %d", got, want)
		}
		recs, ver, _ := s.Fleet(context.Background())
		if ver != want || len(recs) != sites {
			t.Fatalf("version %d, %d sites; want %d, %d", ver, len(recs), want, sites)
		}
		for _, r := range recs {
			i, _ := strconv.Atoi(strings.TrimPrefix(string(r.Site), "s"))
			if want := netip.AddrFrom4([4]byte{198, 51, byte(i), (pings - 1) / every}); r.IPv4 != want {
				t.Errorf("%s = %v, want %v", r.Site, r.IPv4, want)
			}
		}
	}},
}

func TestMemoryWindowsExpire(t *testing.T) {
	clk := &clock{t: time.Unix(1795860000, 0)}
	opt := options(clk.Now, "{ppter}")
	opt.HandleLease = 30 * time.Second
	s := NewMemory(opt)
	ctx := context.Background()
	k := FailKey{Credential: CredentialAdmin, Source: SourceOf(src)}
	s.AuthFailure(ctx, k)
	if n, _ := s.AuthFailure(ctx, k); n != 2 {
		t.Fatalf("second failure counted %d", n)
	}
	clk.Add(time.Minute)
	if n, _ := s.Failures(ctx, k); n != 0 {
		t.Fatalf("after the window: %d failures", n)
	}
	if r, err := s.Ping(ctx, PingInput{Site: "hz", Addr: src, Nonce: "nonce-0000000001"}); err != nil || !r.Handle {
		t.Fatalf("first ping: %+v %v", r, err)
	}
	// The lease of a handler that never finished ends; the next ping takes the change over.
	clk.Add(30 * time.Second)
	if r, err := s.Ping(ctx, PingInput{Site: "hz", Addr: src, Nonce: "nonce-0000000002"}); err != nil || !r.Handle {
		t.Fatalf("after the lease: %+v %v", r, err)
	}
	clk.Add(NonceTTL - 30*time.Second - time.Millisecond)
	if _, err := s.Ping(ctx, PingInput{Site: "hz", Addr: src, Nonce: "nonce-0000000001"}); !errors.Is(err, ErrReplay) {
		t.Fatalf("nonce just before its TTL: %v, want ErrReplay", err)
	}
	clk.Add(time.Millisecond)
	if _, err := s.Ping(ctx, PingInput{Site: "hz", Addr: src, Nonce: "nonce-0000000001"}); err != nil {
		t.Fatalf("nonce after its TTL: %v", err)
	}
}

func TestRedisKeysExpire(t *testing.T) {
	c := redistest.Client(t)
	prefix := redistest.Namespace()
	opt := options(time.Now, prefix)
	opt.HandleLease = 30 * time.Second
	s := NewRedisClient(c, opt)
	ctx := context.Background()
	ping(t, s, "hz", src, "nonce-0000000001")
	ping(t, s, "bj", src, "")
	s.AuthFailure(ctx, FailKey{Credential: CredentialSite("hz"), Source: SourceOf(src2)})
	if ttl := c.PTTL(ctx, prefix+":nonce:hz:nonce-0000000001").Val(); ttl <= 10*time.Minute || ttl > 11*time.Minute {
		t.Errorf("nonce TTL %v, want about 11m", ttl)
	}
	if ttl := c.PTTL(ctx, prefix+":fail:site:hz:"+src2.String()+"/32").Val(); ttl <= 50*time.Second || ttl > time.Minute {
		t.Errorf("failure TTL %v, want about 1m", ttl)
	}
	if ttl := c.PTTL(ctx, prefix+":handling:hz:4").Val(); ttl <= 20*time.Second || ttl > 30*time.Second {
		t.Errorf("handling lease TTL %v, want about 30s", ttl)
	}
	reqs, _ := c.Keys(ctx, prefix+":req:*").Result()
	if len(reqs) != 1 {
		t.Fatalf("run keys of Basic pings: %v, want one", reqs)
	}
	if ttl := c.PTTL(ctx, reqs[0]).Val(); ttl <= 50*time.Second || ttl > time.Minute {
		t.Errorf("run key TTL %v, want about 1m", ttl)
	}
	keys, _ := c.Keys(ctx, prefix+"*").Result()
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix+":") {
			t.Errorf("key %q outside the hash tag", k)
		}
	}
}

// roundTrips counts the commands and pipelines a client sends.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

// TestOneRoundTrip proves a steady-state ping is one Redis round trip: counted at the client
// (hook) and at the server (commandstats: one EVALSHA, nothing else sent by this client).
func TestOneRoundTrip(t *testing.T) {
	c := redistest.Client(t)
	hook := &roundTrips{}
	c.AddHook(hook)
	s := NewRedisClient(c, options(time.Now, redistest.Namespace()))
	peers := []site.Name{"bj", "sh", "gz"}
	ping(t, s, "hz", src, "nonce-warmup-00001", peers...) // loads the script
	ctx := context.Background()
	admin := redistest.Client(t)
	before := evalshaCalls(t, admin)
	hook.n.Store(0)
	const n = 10
	for i := range n {
		if r := ping(t, s, "hz", src, fmt.Sprintf("nonce-steady-%05d", i), peers...); r.Changed {
			t.Fatal("steady ping changed")
		}
	}
	// A ping with since, as a delta and as the full answer to a since it cannot serve.
	for i, since := range []int64{0, 1, 99} {
		if r := pingSince(t, s, "hz", fmt.Sprintf("nonce-since-%05d", i), since, peers...); r.Changed || r.Delta != (since <= 1) {
			t.Fatalf("ping since %d: changed=%v delta=%v", since, r.Changed, r.Delta)
		}
	}
	// A line's ping, with a peer that has lines, in full and as a delta: still one trip each.
	lines := map[site.Name][]site.Line{"bj": {"unicom"}}
	for i, delta := range []bool{false, true} {
		in := PingInput{Site: "hz", Line: "unicom", Addr: src, Nonce: fmt.Sprintf("nonce-line-%05d", i), Peers: peers, Lines: lines, Delta: delta, Since: 1}
		if _, err := s.Ping(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	const pings = n + 3 + 2
	if got := hook.n.Load(); got != pings {
		t.Fatalf("%d round trips for %d pings, want %d", got, pings, pings)
	}
	if got := evalshaCalls(t, admin) - before; got != pings {
		t.Fatalf("server saw %d EVALSHA for %d pings, want %d", got, pings, pings)
	}
	_ = ctx
}

// TestRedisScriptFlushed: a server that lost the ping script (restarted, SCRIPT FLUSH) is
// given it again, and the ping is answered.
func TestRedisScriptFlushed(t *testing.T) {
	c := redistest.Client(t)
	s := NewRedisClient(c, options(time.Now, redistest.Namespace()))
	ping(t, s, "hz", src, "nonce-before-flush-1")
	if err := c.ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if r := ping(t, s, "hz", src, "nonce-after-flush-01"); r.Changed || r.Version != 1 {
		t.Fatalf("after SCRIPT FLUSH: changed=%v version=%d, want a steady ping at version 1", r.Changed, r.Version)
	}
}

func evalshaCalls(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_evalsha:calls="); ok {
			n, _ := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
			return n
		}
	}
	return 0
}

func TestRedisUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	s, err := NewRedis(context.Background(), "redis://:hunter2hunter2@"+addr+"/0", options(time.Now, "{ppter}"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Ping(context.Background(), PingInput{Site: "hz", Addr: src})
	if !errors.Is(err, ErrUnavailable) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("Ping = %v, want ErrUnavailable without the password", err)
	}
	k := FailKey{Credential: CredentialAdmin, Source: SourceOf(src)}
	if _, err := s.AuthFailure(context.Background(), k); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("AuthFailure = %v, want ErrUnavailable", err)
	}
	if _, err := s.Failures(context.Background(), k); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Failures = %v, want ErrUnavailable", err)
	}
	if err := s.Handled(context.Background(), "hz", "", src); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Handled = %v, want ErrUnavailable", err)
	}
}

// TestSlowReplyPingRunsOnce puts a real redis-server behind a proxy that withholds the reply
// to one ping script: the server runs it, the client's read timeout fires, and go-redis
// (MaxRetries 1) sends the script again. The retry must get the first run's answer — a
// change, to be handled — not replayed_nonce (409) with the change silently recorded.
func TestSlowReplyPingRunsOnce(t *testing.T) {
	for _, tc := range []struct {
		nonce string
		delta bool
	}{{"nonce-slow-0000000001", false}, {"", false}, {"nonce-slow-0000000002", true}} {
		nonce := tc.nonce
		name := map[bool]string{true: "signed", false: "basic"}[nonce != ""]
		if tc.delta {
			name += " with since"
		}
		t.Run(name, func(t *testing.T) {
			proxy := redistest.NewProxy(t)
			prefix := redistest.Namespace()
			opt := options(time.Now, prefix)
			opt.Timeout = 300 * time.Millisecond
			s, err := NewRedis(context.Background(), proxy.URL, opt)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ping(t, s, "bj", src2, "nonce-warmup-000000001") // loads the script
			proxy.Withhold("\r\nhz\r\n", 1)                  // the site argument, in RESP
			// With since 0 the delta holds bj (changed at version 1) and hz's own change.
			r, err := s.Ping(context.Background(), PingInput{Site: "hz", Addr: src, Nonce: nonce, Peers: []site.Name{"bj"}, Delta: tc.delta})
			if err != nil {
				t.Fatalf("ping whose first reply was lost = %v, want its first answer", err)
			}
			if seen, held := proxy.Counts(); held != 1 || seen != 2 {
				t.Fatalf("proxy saw %d requests for hz and withheld %d, want a retry after one withheld reply", seen, held)
			}
			if !r.Changed || !r.Handle || r.Version != 2 || r.Self.IPv4 != src || len(r.Peers) != 1 || r.Peers[0].IPv4 != src2 || r.Delta != tc.delta {
				t.Fatalf("answer = %+v, want the first run's: changed, to handle, version 2, with the peer", r)
			}
			admin := redistest.Client(t)
			if n := admin.XLen(context.Background(), prefix+":events").Val(); n != 2 {
				t.Fatalf("%d events, want 2 (one per site: the script ran once for hz)", n)
			}
		})
	}
}
