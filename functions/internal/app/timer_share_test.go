package app

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/functions/internal/config"
	"github.com/ppter/ppter/functions/internal/store"
	"github.com/ppter/ppter/internal/aliyunemu"
	"github.com/ppter/ppter/shared/site"
	"github.com/ppter/ppter/shared/wire"
)

// TestTimerTargetShares: a VPN target stuck on a gateway that never finishes updating takes
// its share of a timer run, not the whole run, so the other site's DNS record is reached in
// every run (although its lookups are throttled and need backoff); and consecutive runs
// start their walk at different targets.
func TestTimerTargetShares(t *testing.T) {
	clock := aliyunemu.NewClock(time.Now())
	ali := aliyunemu.New(t, aliyunemu.Options{Now: clock.Now, UpdatingFor: 24 * time.Hour})
	ali.AddZone("example.com", false)
	ali.SeedDualTunnel("vpn-bp1gw000000000001", "to-bj", "198.51.100.2", "psk-0123456789")
	cfg, err := config.Parse([]byte(`
redis: { url: "memory://" }
aliyun: { region: cn-hangzhou, dns_endpoint: "`+ali.Endpoint+`", vpc_endpoint: "`+ali.Endpoint+`", protocol: http }
sites:
  bj:
    key: "bj-secret-0123456789abcdef"
    vpn: [ { gateway: vpn-bp1gw000000000001, connection: to-bj } ]
  hz:
    key: "hz-secret-0123456789abcdef"
    dns: [ { zone: example.com, rr: hz, type: A } ]
`), stateKeyEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	ct, st := emulatedTargets(cfg, ali, clock)
	ctx := context.Background()
	for s, ip := range map[site.Name]string{"bj": "203.0.113.8", "hz": "203.0.113.7"} {
		if _, err := st.Ping(ctx, store.PingInput{Site: s, Addr: netip.MustParseAddr(ip)}); err != nil {
			t.Fatal(err)
		}
	}
	var first []string
	for run := 1; run <= 2; run++ {
		recs, _, err := st.Fleet(ctx)
		if err != nil {
			t.Fatal(err)
		}
		started := false
		ali.SetAfterCall(func(_ int, action string) {
			if !started {
				started = true
				first = append(first, action)
			}
		})
		// hz's record lookup is throttled a few times: it needs some seconds of backoff.
		ali.Throttle("DescribeSubDomainRecords", 3)
		rctx, cancel := context.WithDeadline(ctx, clock.Now().Add(300*time.Second))
		out := ct.ReconcileAll(rctx, recs)
		cancel()
		for _, ts := range out {
			for _, x := range ts {
				if strings.Contains(x.Error, "SDKError") {
					t.Fatalf("run %d: raw SDK text in %+v", run, x)
				}
			}
		}
		if d := out["hz"]; len(d) != 1 || d[0].State != wire.StateApplied {
			t.Fatalf("run %d: hz's DNS record %+v, want applied (not starved by bj's stuck gateway)", run, d)
		}
		if v := out["bj"]; len(v) != 1 || v[0].State == wire.StateApplied {
			t.Fatalf("run %d: bj's VPN %+v, want not applied (its gateway never finishes)", run, v)
		}
	}
	if len(first) != 2 || first[0] == first[1] {
		t.Fatalf("first calls of the two runs: %v, want walks starting at different targets", first)
	}
}
