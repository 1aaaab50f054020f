package cloud

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ppter/ppter/internal/aliyunemu"
	"github.com/ppter/ppter/shared/wire"
)

func TestVPNDualRepointInPlace(t *testing.T) {
	e := newDualEnv(t, nil)
	res := e.vpn(e.ctx(10*time.Minute), newIP, ModePing)
	if res.State != wire.StateApplied || res.Err != nil {
		t.Fatalf("got %s (%v), want applied", res.State, res.Err)
	}
	e.check(newIP)
	if e.emu.Calls("ModifyVpnConnectionAttribute") != 1 || e.emu.Calls("CreateCustomerGateway") != 1 || e.emu.Calls("DeleteCustomerGateway") != 1 {
		t.Fatalf("mutating calls: got %v", e.emu.CallLog())
	}
	// The connection is listed to find it and to see which customer gateways it still uses;
	// the modify and the verify read it by its ID.
	if e.emu.Calls("DescribeVpnConnections") != 2 || e.emu.Calls("DescribeVpnConnection") != 3 {
		t.Fatalf("reads of the connection: got %v, want 2 listings and 3 reads", e.emu.CallLog())
	}
	if w := e.emu.Writes(gwID); len(w) != 1 || len(e.emu.Overlaps(gwID)) != 0 {
		t.Fatalf("gateway writes: got %+v, want one modify", w)
	}
	if logs := e.logs.String(); strings.Contains(logs, "master!psk") || strings.Contains(logs, cgwAuthKey) {
		t.Fatal("a secret reached the log")
	}
	e.emu.ResetCalls()
	if res := e.vpn(e.ctx(time.Minute), newIP, ModePing); res.State != wire.StateApplied || e.emu.TotalCalls() != 0 {
		t.Fatalf("same-IP ping: got %s, %d calls", res.State, e.emu.TotalCalls())
	}
	if res := e.vpn(e.ctx(time.Minute), newIP, ModeTimer); res.State != wire.StateApplied || e.emu.MutatingCalls() != 0 {
		t.Fatalf("timer read-back: got %s, calls %v", res.State, e.emu.CallLog())
	}
}

// TestVPNDualModifyRefused: only an allow-listed "not supported here" answer to the in-place
// modify leads to delete-and-recreate; an authorization, validation or unknown refusal
// leaves the connection as it was, deletes nothing, and reports the API's code.
func TestVPNDualModifyRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		code   string
	}{
		{"authorization", 403, "Forbidden.RAM"},
		{"validation", 400, "InvalidParameter"},
		{"unknown", 400, "IncorrectStatus.Tunnel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newDualEnv(t, nil)
			e.emu.InjectError("ModifyVpnConnectionAttribute", 1000, tc.status, tc.code)
			res := e.vpn(e.ctx(10*time.Minute), newIP, ModePing)
			if res.State != wire.StateError || Code(res.Err) != tc.code || !strings.Contains(res.Err.Error(), tc.code) {
				t.Fatalf("got %s (%v), want error with %s", res.State, res.Err, tc.code)
			}
			if n := e.emu.Calls("DeleteVpnConnection") + e.emu.Calls("CreateVpnConnection") + e.emu.Calls("DeleteCustomerGateway"); n != 0 {
				t.Fatalf("deleted or recreated after %s: %v", tc.code, e.emu.CallLog())
			}
			conns := e.emu.Connections()
			if len(conns) != 1 || conns[0].ID != e.orig.ID || conns[0].Tunnels[0] != e.orig.Tunnels[0] || conns[0].Tunnels[1] != e.orig.Tunnels[1] {
				t.Fatalf("connection changed: %+v", conns)
			}
			st, _, _ := e.r.State.GetTarget(context.Background(), vpnTarget.Key())
			if st.State != wire.StateError || !strings.Contains(st.LastError, tc.code) {
				t.Fatalf("state: got %+v", st)
			}
		})
	}
	t.Run("not supported here", func(t *testing.T) {
		e := newDualEnv(t, nil)
		e.emu.InjectError("ModifyVpnConnectionAttribute", 1, 400, "OperationUnsupported.TunnelOptions")
		res := e.vpn(e.ctx(10*time.Minute), newIP, ModePing)
		if res.State != wire.StateApplied {
			t.Fatalf("got %s (%v)", res.State, res.Err)
		}
		if e.emu.Calls("DeleteVpnConnection") != 1 || e.emu.Calls("CreateVpnConnection") != 1 {
			t.Fatalf("want one recreate, got %v", e.emu.CallLog())
		}
		conns := e.emu.Connections()
		if len(conns) != 1 || conns[0].ID == e.orig.ID {
			t.Fatalf("connections: %+v", conns)
		}
		// The recreated connection has every setting of the old one: same check, new IDs.
		got := conns[0]
		for i, tun := range got.Tunnels {
			want := e.orig.Tunnels[i]
			want.ID, want.CustomerGatewayID = tun.ID, tun.CustomerGatewayID
			if i == 0 {
				want.Ike.RemoteId = newIP
			}
			if tun != want {
				t.Fatalf("tunnel %d:\n got %+v\nwant %+v", i, tun, want)
			}
		}
		if got.EnableTunnelsBgp != e.orig.EnableTunnelsBgp || got.Health != e.orig.Health || got.LocalSubnet != e.orig.LocalSubnet || len(got.Tags) != 1 {
			t.Fatalf("connection: got %+v", got)
		}
	})
}

func TestSnapshotComplete(t *testing.T) {
	tun := func(role string) TunnelSettings {
		return TunnelSettings{ID: "t-" + role, Role: role, CustomerGatewayID: "cgw-1", Ike: IkeSettings{Psk: "k", IkeLifetime: 1}, Ipsec: IpsecSettings{IpsecLifetime: 1}}
	}
	cgws := map[string]CGWSettings{"cgw-1": {IP: oldIP}}
	ok := ConnSnapshot{Kind: KindDual, Tunnels: []TunnelSettings{tun("master"), tun("slave")}, CGWs: cgws}
	noPsk := ok
	noPsk.Tunnels = []TunnelSettings{tun("master"), tun("slave")}
	noPsk.Tunnels[1].Ike.Psk = ""
	oneTunnel := ok
	oneTunnel.Tunnels = ok.Tunnels[:1]
	unread := ok
	unread.CGWs = nil
	odd := ok
	odd.unreproducible = "attached to CEN, not a VPN gateway"
	for _, tc := range []struct {
		name string
		s    ConnSnapshot
		ok   bool
	}{
		{"complete", ok, true},
		{"no tunnel PSK", noPsk, false},
		{"one tunnel", oneTunnel, false},
		{"customer gateway not read", unread, false},
		{"unreproducible setting", odd, false},
		{"single without PSK", ConnSnapshot{CustomerGatewayID: "cgw-1", CGWs: cgws}, false},
	} {
		err := tc.s.complete()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrIncomplete)) {
			t.Errorf("%s: got %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// TestVPNHealTime measures, on the emulator's clock with the gateway busy for 60 s after
// each write, how long the office-to-cloud tunnel is down after a ping sees a new address:
// the ping (15 s budget) starts the re-point, then the resume timer runs every minute while
// the target is unfinished, as the function's one-minute timer does; its first tick comes
// 1 s, 30 s or 59 s after the ping (cron ticks are not aligned with pings). Healed means the
// connection is on the new customer gateway and the gateway, done applying, is active.
func TestVPNHealTime(t *testing.T) {
	for _, tc := range []struct {
		name    string
		newKind func(*testing.T, func(*aliyunemu.Clock) State) *env
		write   string        // the write that re-points the connection
		max     time.Duration // bound on the heal time
	}{
		{"dual", newDualEnv, "ModifyVpnConnectionAttribute", updTime + 5*time.Second},
		{"single", newEnv, "CreateVpnConnection", 3*updTime + 10*time.Second},
	} {
		for _, phase := range []time.Duration{time.Second, 30 * time.Second, 59 * time.Second} {
			t.Run(tc.name+"/"+phase.String(), func(t *testing.T) {
				e := tc.newKind(t, nil)
				t0 := e.clock.Now()
				pingCtx := e.ctx(15*time.Second + DefaultMargin) // what api gives a ping's reconcile
				res := e.vpn(pingCtx, newIP, ModePing)
				ticks := 0
				for res.State != wire.StateApplied {
					if ticks++; ticks > 10 {
						t.Fatalf("not applied after %d resume ticks: %s (%v)", ticks-1, res.State, res.Err)
					}
					next := t0.Add(phase + time.Duration(ticks-1)*time.Minute)
					if d := next.Sub(e.clock.Now()); d > 0 {
						e.clock.Advance(d)
					}
					keys, err := e.r.State.Unfinished(context.Background())
					if err != nil || len(keys) != 1 || keys[0] != vpnTarget.Key() {
						t.Fatalf("tick %d: unfinished = %v, %v (state %s, %v)", ticks, keys, err, res.State, res.Err)
					}
					res = e.vpn(e.ctx(300*time.Second), newIP, ModePing)
				}
				e.check(newIP)
				var healed time.Time
				for _, w := range e.emu.Writes(gwID) {
					if w.Action == tc.write && w.Overlap == "" {
						healed = w.At.Add(updTime)
					}
				}
				heal, done := healed.Sub(t0), e.clock.Now().Sub(t0)
				t.Logf("%s, first tick %s after the ping: office-to-cloud healed after %s; re-point finished after %s, %d resume tick(s)", tc.name, phase, heal, done, ticks)
				if healed.IsZero() || heal > tc.max {
					t.Fatalf("healed after %s, want at most %s", heal, tc.max)
				}
				if keys, _ := e.r.State.Unfinished(context.Background()); len(keys) != 0 {
					t.Fatalf("still unfinished after applied: %v", keys)
				}
			})
		}
	}
}

// TestVPNOneWriterPerGateway: two offices whose connections share one gateway move at the
// same moment; both converge, and no write ever reaches the gateway while it applies another.
func TestVPNOneWriterPerGateway(t *testing.T) {
	e := newDualEnv(t, nil)
	bj := e.emu.SeedDualTunnel(gwID, "to-bj", "198.51.100.3", "bj-psk")
	targets := []VPNConn{vpnTarget, {Gateway: gwID, Connection: bj.Name}}
	ips := []string{newIP, "203.0.113.8"}
	var wg sync.WaitGroup
	results := make([]Result, 2)
	instances := []*Reconciler{e.r, e.instance(e.r.State, strings.Replace(e.emu.Endpoint, "127.0.0.1", "localhost", 1))}
	for i := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = instances[i].Reconcile(e.ctx(15*time.Second+DefaultMargin), v4(ips[i]), Targets{VPN: targets[i : i+1]}, ModePing)[0]
		}()
	}
	wg.Wait()
	// What the pings left unfinished, the resume timer finishes.
	for i := range targets {
		for tick := 0; results[i].State != wire.StateApplied; tick++ {
			if tick > 10 {
				t.Fatalf("%s: not applied: %s (%v)", targets[i].Connection, results[i].State, results[i].Err)
			}
			e.clock.Advance(time.Minute)
			results[i] = e.r.Reconcile(e.ctx(300*time.Second), v4(ips[i]), Targets{VPN: targets[i : i+1]}, ModePing)[0]
		}
	}
	if o := e.emu.Overlaps(gwID); len(o) != 0 {
		t.Fatalf("writes overlapped on the gateway: %+v (all: %+v)", o, e.emu.Writes(gwID))
	}
	e.check(newIP)
	for _, c := range e.emu.Connections() {
		if c.Name == bj.Name && (c.ID != bj.ID || c.Tunnels[0].Ike.Psk != "bj-psk-m" || c.Tunnels[1].Ike.Psk != "bj-psk-s") {
			t.Fatalf("to-bj: got %+v", c)
		}
	}
}

func TestVPNDualDryRun(t *testing.T) {
	e := newDualEnv(t, nil)
	e.r.DryRun = true
	if res := e.vpn(e.ctx(time.Minute), newIP, ModePing); res.State != wire.StateDryRun || res.Err != nil {
		t.Fatalf("got %s (%v)", res.State, res.Err)
	}
	if n := e.emu.MutatingCalls(); n != 0 {
		t.Fatalf("dry run made %d mutating calls", n)
	}
	logs := e.logs.String()
	for _, want := range []string{"CreateCustomerGateway", "ModifyVpnConnectionAttribute", "DeleteCustomerGateway", newIP, "[REDACTED]"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("dry-run log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "DeleteVpnConnection") || strings.Contains(logs, "master!psk") || strings.Contains(logs, "slave!psk") {
		t.Fatalf("dry-run log plans a delete or shows a PSK:\n%s", logs)
	}
}

// TestVPNLegacyOpStartsOver: a re-point saved by a version that knew single-tunnel
// connections only (no kind, no tunnel settings) and not yet past its delete is discarded,
// and the dual-tunnel connection is re-pointed in place with a complete snapshot.
func TestVPNLegacyOpStartsOver(t *testing.T) {
	e := newDualEnv(t, nil)
	k := vpnTarget.Key()
	legacy := VPNOp{ID: "legacy", Gateway: gwID, Connection: connNm, OldIP: netip.MustParseAddr(oldIP), NewIP: netip.MustParseAddr(newIP),
		OldConnID: e.orig.ID, Step: StepSnapshotted, Snapshot: ConnSnapshot{ID: e.orig.ID, Name: connNm}}
	if err := e.r.State.PutVPNOp(context.Background(), k, legacy); err != nil {
		t.Fatal(err)
	}
	if res := e.vpn(e.ctx(10*time.Minute), newIP, ModePing); res.State != wire.StateApplied {
		t.Fatalf("got %s (%v)", res.State, res.Err)
	}
	e.check(newIP)
}
