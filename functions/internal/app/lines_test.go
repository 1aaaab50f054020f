package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/ppter/ppter/functions/internal/api"
	"github.com/ppter/ppter/functions/internal/config"
	"github.com/ppter/ppter/internal/aliyunemu"
	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/wire"
)

// TestTwoLineOffice runs pings of an office with two lines through the function and the
// emulator: each tunnel of its dual-tunnel connection follows one line, so a move of the
// unicom line re-points the slave tunnel only; the master, on the telecom line, is not
// touched, and the timer's reconcile of the fleet leaves both as they are.
func TestTwoLineOffice(t *testing.T) {
	clock := aliyunemu.NewClock(time.Now())
	ali := aliyunemu.New(t, aliyunemu.Options{Now: clock.Now, UpdatingFor: time.Second})
	orig := ali.SeedDualTunnel("vpn-bp1gw000000000001", "to-gz", "198.51.100.2", "psk-0123456789")
	cfg, err := config.Parse([]byte(`
redis: { url: "memory://" }
aliyun: { region: cn-hangzhou, vpc_endpoint: "`+ali.Endpoint+`", protocol: http }
sites:
  gz:
    key: "gz-secret-0123456789abcdef"
    lines: [telecom, unicom]
    vpn: [ { gateway: vpn-bp1gw000000000001, connection: to-gz, tunnels: { master: telecom, slave: unicom } } ]
`), stateKeyEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	ct, st := emulatedTargets(cfg, ali, clock)
	a := NewWith(cfg, st, slog.New(slog.DiscardHandler), clock.Now, api.Options{Cloud: ct})
	ping := func(body, source string) wire.PingResponse {
		t.Helper()
		ctx, cancel := context.WithDeadline(context.Background(), clock.Now().Add(5*time.Minute))
		defer cancel()
		h := auth.Header("gz", []byte("gz-secret-0123456789abcdef"), "POST", wire.PathPing, clock.Now().Unix(), auth.NewNonce(), []byte(body))
		out, err := a.Handle(ctx, event("POST", wire.PathPing, h, body, false, source))
		if err != nil {
			t.Fatal(err)
		}
		code, text := answer(t, out)
		var pr wire.PingResponse
		if code != 200 || json.Unmarshal([]byte(text), &pr) != nil {
			t.Fatalf("ping: %d %s", code, text)
		}
		return pr
	}
	tunnels := func() (master, slave aliyunemu.Tunnel) {
		t.Helper()
		c := ali.Connections()
		if len(c) != 1 || c[0].ID != orig.ID {
			t.Fatalf("connections: %+v", c)
		}
		return c[0].Tunnels[0], c[0].Tunnels[1]
	}
	tick := func() api.TickReport {
		t.Helper()
		ctx, cancel := context.WithDeadline(context.Background(), clock.Now().Add(5*time.Minute))
		defer cancel()
		out, err := a.Handle(ctx, json.RawMessage(`{"triggerTime":"x","triggerName":"reconcile","payload":""}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(out)
		var rep api.TickReport
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}

	if pr := ping(`{"line":"telecom"}`, "198.51.100.2"); pr.Line != "telecom" || len(pr.Targets) != 1 || pr.Targets[0].Name != "to-gz/master" || pr.Targets[0].State != wire.StateApplied {
		t.Fatalf("telecom ping: %+v", pr)
	}
	if n := ali.MutatingCalls(); n != 0 {
		t.Fatalf("the master already on telecom's address was changed: %v", ali.CallLog())
	}
	// Before unicom has pinged, the timer reports the master alone: no empty entry for the
	// slave, whose line has no record yet.
	if ts := tick().Targets["gz"]; len(ts) != 1 || ts[0].Name != "to-gz/master" {
		t.Fatalf("timer before unicom's first ping: %+v", ts)
	}
	pr := ping(`{"line":"unicom"}`, "203.0.113.9")
	if pr.Line != "unicom" || len(pr.Targets) != 1 || pr.Targets[0].Name != "to-gz/slave" || pr.Targets[0].State != wire.StateApplied {
		t.Fatalf("unicom ping: %+v", pr)
	}
	master, slave := tunnels()
	if master != orig.Tunnels[0] {
		t.Fatalf("the master tunnel moved with the unicom line:\n got %+v\nwant %+v", master, orig.Tunnels[0])
	}
	var slaveIP string
	for _, g := range ali.CustomerGateways() {
		if g.ID == slave.CustomerGatewayID {
			slaveIP = g.IP
		}
	}
	if slaveIP != "203.0.113.9" {
		t.Fatalf("slave tunnel on %q, want 203.0.113.9", slaveIP)
	}

	ali.ResetCalls()
	clock.Advance(time.Hour) // past min_interval: a wrong re-point would not be deferred
	rep := tick()
	if ts := rep.Targets["gz"]; len(ts) != 2 || ts[0].Name != "to-gz/master" || ts[0].State != wire.StateApplied || ts[0].IP.String() != "198.51.100.2" ||
		ts[1].Name != "to-gz/slave" || ts[1].State != wire.StateApplied || ts[1].IP.String() != "203.0.113.9" {
		t.Fatalf("timer: %+v", rep)
	}
	if ali.TotalCalls() == 0 {
		t.Fatal("the timer read no tunnel")
	}
	if n := ali.MutatingCalls(); n != 0 {
		t.Fatalf("the timer changed a tunnel that follows its line: %v", ali.CallLog())
	}
	if m, s := tunnels(); m != master || s != slave {
		t.Fatalf("after the timer: %+v %+v", m, s)
	}
}
