package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/functions/internal/api"
	"github.com/ppter/ppter/functions/internal/cloud"
	"github.com/ppter/ppter/functions/internal/config"
	"github.com/ppter/ppter/functions/internal/store"
	"github.com/ppter/ppter/internal/aliyunemu"
	"github.com/ppter/ppter/internal/redistest"
	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/wire"
)

// TestPingBudget: a ping whose VPN re-point waits on a busy gateway answers once
// aliyun.ping_budget is spent, with the DNS record applied and the connection not, instead
// of holding the office's request until the function's timeout.
func TestPingBudget(t *testing.T) {
	ali := aliyunemu.New(t, aliyunemu.Options{UpdatingFor: time.Hour})
	ali.AddZone("example.com", false)
	ali.PutRecord("example.com", "hz.vpn", "A", "198.51.100.2", 600)
	ali.SeedTunnel("vpn-bp1gw000000000001", "to-hz", "198.51.100.2", "psk-0123456789")
	cfg, err := config.Parse([]byte(`
redis: { url: "memory://" }
aliyun: { region: cn-hangzhou, dns_endpoint: "`+ali.Endpoint+`", vpc_endpoint: "`+ali.Endpoint+`", protocol: http, ping_budget: 1s }
sites:
  hz:
    key: "hz-secret-0123456789abcdef"
    dns: [ { zone: example.com, rr: hz.vpn, type: A } ]
    vpn: [ { gateway: vpn-bp1gw000000000001, connection: to-hz } ]
`), stateKeyEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, secret, _ := ali.Credentials()
	cfg.Credentials = cloud.Credentials{AccessKeyID: id, AccessKeySecret: secret}
	st := store.NewMemory(StoreOptions(cfg))
	ct := &cloudTargets{cfg: cfg, store: st, log: slog.New(slog.DiscardHandler), now: time.Now, state: cloud.NewMemory(time.Now)}
	a := NewWith(cfg, st, slog.New(slog.DiscardHandler), time.Now, api.Options{Cloud: ct})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // the function's own, longer deadline
	defer cancel()
	h := auth.Header("hz", []byte("hz-secret-0123456789abcdef"), "POST", wire.PathPing, time.Now().Unix(), auth.NewNonce(), nil)
	start := time.Now()
	out, err := a.Handle(ctx, event("POST", wire.PathPing, h, "", false, "203.0.113.7"))
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	code, body := answer(t, out)
	var pr wire.PingResponse
	if code != 200 || json.Unmarshal([]byte(body), &pr) != nil {
		t.Fatalf("ping: %d %s", code, body)
	}
	if took > 10*time.Second {
		t.Fatalf("ping took %v, want about the 1s budget", took)
	}
	got := map[wire.Kind]wire.Target{}
	for _, tg := range pr.Targets {
		got[tg.Kind] = tg
	}
	if got[wire.KindDNS].State != wire.StateApplied || ali.Records("example.com")[0].Value != "203.0.113.7" {
		t.Fatalf("dns = %+v, want applied", got[wire.KindDNS])
	}
	if v := got[wire.KindVPN]; v.State == wire.StateApplied || v.Error == "" {
		t.Fatalf("vpn = %+v, want not applied with the reason", v)
	}
	// The re-point stopped part-way, its progress and the connection's settings saved for
	// the timer to finish.
	op, ok, err := ct.state.GetVPNOp(ctx, cloud.TargetKey{Kind: wire.KindVPN, Name: "vpn-bp1gw000000000001/to-hz"})
	if err != nil || !ok || op.NewIP.String() != "203.0.113.7" || !strings.Contains(fmt.Sprint(op.Snapshot), "psk-0123456789") {
		t.Fatalf("saved re-point = %+v, %v, %v", op, ok, err)
	}
	// The status page shows both targets' states, found under the keys the reconciler saved.
	ts, err := ct.Targets(ctx)
	if err != nil || len(ts) != 2 || ts[0].State != wire.StateApplied || ts[1].State == wire.StatePending && ts[1].Error == "not reconciled yet" {
		t.Fatalf("Targets = %+v, %v", ts, err)
	}
}

// TestResumeTimer: the one-minute "resume" timer costs one state read and no cloud call when
// nothing is unfinished, and finishes the dual-tunnel re-point a ping's budget cut short.
func TestResumeTimer(t *testing.T) {
	clock := aliyunemu.NewClock(time.Now())
	ali := aliyunemu.New(t, aliyunemu.Options{Now: clock.Now, UpdatingFor: time.Minute})
	conn := ali.SeedDualTunnel("vpn-bp1gw000000000001", "to-hz", "198.51.100.2", "psk-0123456789")
	cfg, err := config.Parse([]byte(`
redis: { url: "memory://" }
aliyun: { region: cn-hangzhou, vpc_endpoint: "`+ali.Endpoint+`", protocol: http }
sites:
  hz:
    key: "hz-secret-0123456789abcdef"
    vpn: [ { gateway: vpn-bp1gw000000000001, connection: to-hz } ]
`), stateKeyEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	ct, st := emulatedTargets(cfg, ali, clock)
	a := NewWith(cfg, st, slog.New(slog.DiscardHandler), clock.Now, api.Options{Cloud: ct})
	resume := func() {
		t.Helper()
		ctx, cancel := context.WithDeadline(context.Background(), clock.Now().Add(300*time.Second))
		defer cancel()
		if _, err := a.Handle(ctx, json.RawMessage(`{"triggerTime":"x","triggerName":"resume","payload":"resume"}`)); err != nil {
			t.Fatal(err)
		}
	}
	fleetReads := 0
	if _, err := ct.Resume(context.Background(), func(context.Context) ([]store.Record, error) { fleetReads++; return nil, nil }); err != nil || fleetReads != 0 {
		t.Fatalf("idle resume: err %v, %d fleet reads", err, fleetReads)
	}
	resume()
	if n := ali.TotalCalls(); n != 0 {
		t.Fatalf("idle resume made %d cloud calls", n)
	}

	// A ping sees a new address; its budget (15s) ends while the gateway applies the modify.
	ctx, cancel := context.WithDeadline(context.Background(), clock.Now().Add(20*time.Second))
	defer cancel()
	if _, err := st.Ping(ctx, store.PingInput{Site: "hz", Addr: netip.MustParseAddr("203.0.113.7")}); err != nil {
		t.Fatal(err)
	}
	if v := ct.Reconcile(ctx, "hz", "", netip.MustParseAddr("203.0.113.7"), netip.Addr{})[0]; v.State == wire.StateApplied {
		t.Fatalf("ping: got %+v, want the re-point cut short", v)
	}
	clock.Advance(time.Minute)
	resume()
	got := ali.Connections()
	if len(got) != 1 || got[0].ID != conn.ID || ali.GatewayStatus("vpn-bp1gw000000000001") != aliyunemu.StatusActive {
		t.Fatalf("after resume: %+v", got)
	}
	for _, c := range ali.CustomerGateways() {
		if c.IP != "203.0.113.7" || c.ID != got[0].Tunnels[0].CustomerGatewayID || c.ID != got[0].Tunnels[1].CustomerGatewayID {
			t.Fatalf("customer gateways after resume: %+v", ali.CustomerGateways())
		}
	}
	if keys, err := ct.state.Unfinished(context.Background()); err != nil || len(keys) != 0 {
		t.Fatalf("unfinished after resume: %v, %v", keys, err)
	}
	ali.ResetCalls()
	resume()
	if n := ali.TotalCalls(); n != 0 {
		t.Fatalf("resume after the re-point made %d cloud calls", n)
	}
}

// BenchmarkResumeIdle is the resume timer's whole work when nothing is unfinished, against a
// real Redis: one SMEMBERS. It reports the latency next to a bare Redis round trip.
func BenchmarkResumeIdle(b *testing.B) {
	c := redistest.Client(b)
	ctx := context.Background()
	ct := &cloudTargets{cfg: &config.Config{}, state: cloud.NewRedis(c, redistest.Namespace(), cloud.RedisOptions{})}
	var rtt time.Duration
	for range 200 {
		t0 := time.Now()
		c.Ping(ctx)
		rtt += time.Since(t0)
	}
	rtt /= 200
	fleet := func(context.Context) ([]store.Record, error) { b.Fatal("idle resume read the fleet"); return nil, nil }
	b.ResetTimer()
	for range b.N {
		if _, err := ct.Resume(ctx, fleet); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/resume")
	b.ReportMetric(float64(rtt.Microseconds()), "µs/redis-rtt")
}

// TestTargetsIP: the status page shows the address a target was applied to, the one it
// should point at while nothing was applied yet, and none before its first reconcile.
func TestTargetsIP(t *testing.T) {
	cfg, err := config.Parse([]byte(`
redis: { url: "memory://" }
aliyun: { region: cn-hangzhou }
sites:
  hz:
    key: "hz-secret-0123456789abcdef"
    dns: [ { zone: example.com, rr: hz, type: A }, { zone: example.com, rr: hz2, type: A } ]
    vpn: [ { gateway: vpn-bp1gw000000000001, connection: to-hz } ]
`), stateKeyEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ct := &cloudTargets{cfg: cfg, state: cloud.NewMemory(nil)}
	applied, desired := netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("203.0.113.7")
	list := cfg.Sites["hz"].AllTargets()
	for i, st := range []cloud.TargetState{
		{State: wire.StatePending, AppliedIP: applied, DesiredIP: desired}, // moving to desired, still on applied
		{State: wire.StateError, DesiredIP: desired, LastError: "refused"}, // never applied
	} {
		if err := ct.state.PutTarget(ctx, list[i].Key(), st); err != nil {
			t.Fatal(err)
		}
	}
	ts, err := ct.Targets(ctx)
	if err != nil || len(ts) != 3 {
		t.Fatalf("Targets: got %+v, %v; want 3", ts, err)
	}
	for i, want := range []struct {
		ip    netip.Addr
		state wire.State
	}{{applied, wire.StatePending}, {desired, wire.StateError}, {netip.Addr{}, wire.StatePending}} {
		if ts[i].Name != list[i].Name() || ts[i].IP != want.ip || ts[i].State != want.state {
			t.Errorf("target %d: got %s %s %v, want %s %s %v", i, ts[i].Name, ts[i].State, ts[i].IP, list[i].Name(), want.state, want.ip)
		}
	}
}

// stateKeyEnv is an environment with only a state key (configs with VPN targets need one).
func stateKeyEnv(k string) (string, bool) {
	if k == "PPTER_STATE_KEY" {
		return "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", true
	}
	return "", false
}

// emulatedTargets are cloudTargets on the memory store and state, with ali's credentials, on
// the emulated clock.
func emulatedTargets(cfg *config.Config, ali *aliyunemu.Server, clock *aliyunemu.Clock) (*cloudTargets, *store.Memory) {
	id, secret, _ := ali.Credentials()
	cfg.Credentials = cloud.Credentials{AccessKeyID: id, AccessKeySecret: secret}
	opt := StoreOptions(cfg)
	opt.Now = clock.Now
	st := store.NewMemory(opt)
	return &cloudTargets{cfg: cfg, store: st, log: slog.New(slog.DiscardHandler), now: clock.Now, state: cloud.NewMemory(clock.Now), clock: clock}, st
}

// TestStateOptions: a replica confirms saved re-points unless redis.single_node, and the
// state key reaches the reconciler's state.
func TestStateOptions(t *testing.T) {
	for _, tc := range []struct {
		yaml     string
		replicas int
	}{{`redis: { url: "redis://127.0.0.1:6379/0" }`, 1}, {`redis: { url: "redis://127.0.0.1:6379/0", single_node: true }`, 0}} {
		cfg, err := config.Parse([]byte(tc.yaml+`
aliyun: { region: cn-hangzhou }
sites: { hz: { key: "hz-secret-0123456789abcdef", vpn: [ { gateway: vpn-1, connection: to-hz } ] } }
`), stateKeyEnv, nil)
		if err != nil {
			t.Fatal(err)
		}
		if o := StateOptions(cfg); o.Replicas != tc.replicas || o.Key == nil {
			t.Errorf("%s: replicas %d (key %v), want %d and a key", tc.yaml, o.Replicas, o.Key != nil, tc.replicas)
		}
	}
}

// TestNoCredentials: without credentials every target answers without a cloud call, each
// with the address it follows (AAAA the IPv6 one), dry_run under aliyun.dry_run, else error.
func TestNoCredentials(t *testing.T) {
	for _, dry := range []bool{false, true} {
		cfg, err := config.Parse([]byte(fmt.Sprintf(`
redis: { url: "memory://" }
aliyun: { region: cn-hangzhou, dry_run: %v }
sites:
  hz:
    key: "hz-secret-0123456789abcdef"
    dns: [ { zone: example.com, rr: hz, type: A }, { zone: example.com, rr: hz, type: aaaa } ]
    vpn: [ { gateway: vpn-bp1gw000000000001, connection: to-hz } ]
`, dry)), stateKeyEnv, nil)
		if err != nil {
			t.Fatal(err)
		}
		ct := &cloudTargets{cfg: cfg, store: store.NewMemory(StoreOptions(cfg)), log: slog.New(slog.DiscardHandler), now: time.Now, state: cloud.NewMemory(time.Now)}
		state := wire.StateError
		if dry {
			state = wire.StateDryRun
		}
		want := []wire.Target{{Kind: wire.KindDNS, Name: "hz.example.com/A", State: state, IP: netip.MustParseAddr("203.0.113.7")},
			{Kind: wire.KindDNS, Name: "hz.example.com/AAAA", State: state, IP: netip.MustParseAddr("2001:db8::7")},
			{Kind: wire.KindVPN, Name: "to-hz", State: state, IP: netip.MustParseAddr("203.0.113.7")}}
		got := ct.Reconcile(context.Background(), "hz", "", netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2001:db8::7"))
		for i := range got {
			if !strings.Contains(got[i].Error, "no Alibaba Cloud credentials") {
				t.Errorf("dry_run %v: %s: error %q", dry, got[i].Name, got[i].Error)
			}
			got[i].Error = ""
		}
		if !slices.Equal(got, want) {
			t.Errorf("dry_run %v: got %+v, want %+v", dry, got, want)
		}
	}
}
