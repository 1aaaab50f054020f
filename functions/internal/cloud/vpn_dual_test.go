package cloud

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

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
			st, _, _ := e.r.State.GetTarget(context.Background(), vpnTarget.key())
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
