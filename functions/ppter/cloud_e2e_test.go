package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/internal/aliyunemu"
	"github.com/ppter/ppter/internal/fcemu"
	"github.com/ppter/ppter/internal/redistest"
	"github.com/ppter/ppter/shared/wire"
)

// TestCloudTargetsFollow runs the real binary with the official SDK clients pointed at the
// Alibaba Cloud emulator, credentials handed in per invocation as FC does: a changed
// address re-points the DNS record and the VPN connection, a steady ping makes no cloud
// call, and the timer repairs a record edited by hand.
func TestCloudTargetsFollow(t *testing.T) {
	ali := aliyunemu.New(t, aliyunemu.Options{SecurityToken: "sts-token"})
	ali.AddZone("example.com", false)
	recID := ali.PutRecord("example.com", "hz.vpn", "A", "198.51.100.2", 600)
	before := ali.SeedTunnel("vpn-bp1gw000000000001", "to-hz", "198.51.100.2", "psk-0123456789")

	prefix := redistest.Namespace()
	cfg := fmt.Sprintf(`
redis: { url: %q, prefix: %q, single_node: true }
aliyun: { region: cn-hangzhou, dns_endpoint: %q, vpc_endpoint: %q, protocol: http }
sites:
  hz:
    key: "${PPTER_KEY_HZ}"
    dns: [ { zone: example.com, rr: hz.vpn, type: A } ]
    vpn: [ { gateway: vpn-bp1gw000000000001, connection: to-hz } ]
  bj: { key: "${PPTER_KEY_BJ}" }
`, redistest.URL(t), prefix, ali.Endpoint, ali.Endpoint)
	path := t.TempDir() + "/ppter.yaml"
	writeFile(t, path, cfg)
	id, secret, token := ali.Credentials()
	logs := &syncBuffer{}
	emu := fcemu.StartT(t, fcemu.Options{
		Env:               []string{"PPTER_CONFIG=" + path, "PPTER_KEY_HZ=" + keyHZ, "PPTER_KEY_BJ=" + keyBJ, "PPTER_STATE_KEY=" + testStateKey},
		TrustSourceHeader: true, Stdout: logs,
		Credentials: fcemu.Credentials{AccessKeyID: id, AccessKeySecret: secret, SecurityToken: token},
	})
	f := &fixture{emu: emu, prefix: prefix, logs: logs}

	r := f.ping(t, "hz", keyHZ, "203.0.113.7")
	if len(r.Targets) != 2 {
		t.Fatalf("targets = %+v", r.Targets)
	}
	for _, tg := range r.Targets {
		if tg.State != wire.StateApplied || tg.IP.String() != "203.0.113.7" {
			t.Fatalf("target %+v, want applied at 203.0.113.7", tg)
		}
	}
	if recs := ali.Records("example.com"); len(recs) != 1 || recs[0].Value != "203.0.113.7" || recs[0].TTL != 600 {
		t.Fatalf("records = %+v", recs)
	}
	conns := ali.Connections()
	cgws := ali.CustomerGateways()
	if len(conns) != 1 || len(cgws) != 1 || cgws[0].IP != "203.0.113.7" || conns[0].CustomerGatewayID != cgws[0].ID {
		t.Fatalf("after re-point: connections %+v, customer gateways %+v", conns, cgws)
	}
	after := conns[0]
	if after.Ike.Psk != before.Ike.Psk || after.LocalSubnet != before.LocalSubnet || after.RemoteSubnet != before.RemoteSubnet ||
		after.Ipsec != before.Ipsec || after.Ike.RemoteId != "203.0.113.7" || after.Ike.LocalId != before.Ike.LocalId {
		t.Fatalf("settings changed:\nbefore %+v\nafter  %+v", before, after)
	}

	// A steady ping makes no cloud call at all.
	ali.ResetCalls()
	if r := f.ping(t, "hz", keyHZ, "203.0.113.7"); r.Changed || len(r.Targets) != 0 {
		t.Fatalf("steady ping = %+v", r)
	}
	if n := ali.TotalCalls(); n != 0 {
		t.Fatalf("steady ping made %d cloud calls", n)
	}

	// Someone edits the record by hand (or a Redis restore left an older state than the
	// cloud's): the timer puts it back once the office's next ping confirms its address.
	ali.EditRecord(recID, "192.0.2.99")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rep struct {
		Targets map[string][]wire.Target `json:"targets"`
	}
	timer := func() []byte {
		t.Helper()
		out, ok, err := emu.Invoke(ctx, fcemu.TimerEvent("reconcile", "", time.Now()))
		if err != nil || !ok {
			t.Fatalf("timer: %v %s", err, out)
		}
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("timer answer %s: %v", out, err)
		}
		return out
	}
	out := timer()
	if recs := ali.Records("example.com"); recs[0].Value != "192.0.2.99" || !strings.Contains(string(out), "waiting for the site's next ping") {
		t.Fatalf("drift changed back before a ping confirmed the address: %+v (timer said %s)", recs, out)
	}
	f.ping(t, "hz", keyHZ, "203.0.113.7")
	out = timer()
	if recs := ali.Records("example.com"); recs[0].Value != "203.0.113.7" {
		t.Fatalf("drift not repaired: %+v (timer said %s)", recs, out)
	}
	if len(rep.Targets["hz"]) != 2 {
		t.Fatalf("timer report %s", out)
	}
	for _, secret := range []string{secret, token, "psk-0123456789", keyHZ} {
		if strings.Contains(f.logs.String(), secret) {
			t.Fatalf("log leaks %q", secret)
		}
	}
}
