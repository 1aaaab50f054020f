package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/functions/internal/api"
	"github.com/ppter/ppter/functions/internal/cloud"
	"github.com/ppter/ppter/functions/internal/config"
	"github.com/ppter/ppter/functions/internal/store"
	"github.com/ppter/ppter/internal/aliyunemu"
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
`), func(string) (string, bool) { return "", false }, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, secret, _ := ali.Credentials()
	st := store.NewMemory(store.Options{})
	ct := &cloudTargets{cfg: cfg, store: st, log: slog.New(slog.DiscardHandler), now: time.Now, state: cloud.NewMemory(time.Now),
		creds: cloud.Credentials{AccessKeyID: id, AccessKeySecret: secret}}
	a := NewWith(cfg, st, slog.New(slog.DiscardHandler), time.Now, api.Options{Reconciler: ct, Targets: ct})

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
	got := map[string]wire.Target{}
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
	// The status page shows both targets' states.
	ts, err := ct.Targets(ctx)
	if err != nil || len(ts) != 2 {
		t.Fatalf("Targets = %+v, %v", ts, err)
	}
}

func TestMarginsAgree(t *testing.T) {
	if api.ReconcileMargin != cloud.DefaultMargin {
		t.Fatalf("api.ReconcileMargin %v != cloud.DefaultMargin %v", api.ReconcileMargin, cloud.DefaultMargin)
	}
}
