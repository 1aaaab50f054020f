package cloud

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/shared/wire"
)

const slaveIP = "198.51.100.3" // the office's second line

// tunnelTarget is the connection restricted to the tunnel of role (config: tunnels: with
// two lines).
func tunnelTarget(role string) VPNConn {
	v := vpnTarget
	v.Roles = []string{role}
	return v
}

func (e *env) tunnel(role, ip string) Result {
	e.t.Helper()
	rs := e.r.Reconcile(e.ctx(10*time.Minute), v4(ip), Targets{VPN: []VPNConn{tunnelTarget(role)}}, ModePing)
	if len(rs) != 1 {
		e.t.Fatalf("got %d results, want 1", len(rs))
	}
	return rs[0]
}

// TestVPNTunnelPerLine: with each tunnel following its own line, a move of one line
// re-points only that line's tunnel, in place and by recreate; the other tunnel keeps its
// customer gateway and every setting, and its old customer gateway is not deleted.
func TestVPNTunnelPerLine(t *testing.T) {
	for _, recreate := range []bool{false, true} {
		t.Run(map[bool]string{false: "in place", true: "recreate"}[recreate], func(t *testing.T) {
			e := newDualEnvOn(t, nil, slaveIP)
			if recreate {
				e.emu.InjectError("ModifyVpnConnectionAttribute", 1000, 400, "OperationUnsupported.TunnelOptions")
			}
			if r := e.tunnel(RoleMaster, newIP); r.State != wire.StateApplied || r.Name != "to-hz/master" {
				t.Fatalf("master: %s %s (%v)", r.Name, r.State, r.Err)
			}
			conns := e.named(connNm)
			if len(conns) != 1 {
				t.Fatalf("connections: %+v", conns)
			}
			master, slave := conns[0].Tunnels[0], conns[0].Tunnels[1]
			if got := e.cgwsWith(newIP); len(got) != 1 || master.CustomerGatewayID != got[0].ID || master.Ike.RemoteId != newIP {
				t.Fatalf("master tunnel %+v, customer gateways with %s %+v", master, newIP, got)
			}
			want := e.orig.Tunnels[1]
			if recreate {
				want.ID = slave.ID // a recreated connection's tunnels get new IDs
			}
			if !reflect.DeepEqual(slave, want) {
				t.Fatalf("slave tunnel moved:\n got %+v\nwant %+v", slave, want)
			}
			if len(e.cgwsWith(slaveIP)) != 1 {
				t.Fatal("the slave's customer gateway was deleted")
			}
			if recreate {
				return
			}
			// The other line moves: only the slave is re-pointed, the master stays.
			e.clock.Advance(time.Hour)
			const slaveNew = "203.0.113.99"
			if r := e.tunnel(RoleSlave, slaveNew); r.State != wire.StateApplied {
				t.Fatalf("slave: %s (%v)", r.State, r.Err)
			}
			c := e.named(connNm)[0]
			if c.Tunnels[0] != master || c.Tunnels[1].CustomerGatewayID != e.cgwsWith(slaveNew)[0].ID || c.Tunnels[1].Ike.RemoteId != slaveFQDN {
				t.Fatalf("after the slave's move: %+v (master was %+v)", c.Tunnels, master)
			}
			for _, g := range e.emu.CustomerGateways() {
				if g.IP == slaveIP {
					t.Fatalf("the slave's old customer gateway %s is left", g.ID)
				}
			}
			e.emu.ResetCalls()
			if r := e.tunnel(RoleMaster, newIP); r.State != wire.StateApplied || e.emu.MutatingCalls() != 0 {
				t.Fatalf("master again: %s, calls %v", r.State, e.emu.CallLog())
			}
		})
	}
}

// TestVPNTunnelsOnSingleTunnel: a target restricted to one tunnel of a single-tunnel
// connection is refused with a clear error, and nothing is changed.
func TestVPNTunnelsOnSingleTunnel(t *testing.T) {
	e := newEnv(t, nil)
	r := e.tunnel(RoleMaster, newIP)
	if r.State != wire.StateError || !strings.Contains(r.Err.Error(), "single-tunnel") || !strings.Contains(r.Err.Error(), "tunnels:") {
		t.Fatalf("got %s (%v), want an error about tunnels: on a single-tunnel connection", r.State, r.Err)
	}
	if e.emu.MutatingCalls() != 0 {
		t.Fatalf("mutating calls: %v", e.emu.CallLog())
	}
	if c := e.named(connNm); len(c) != 1 || c[0].CustomerGatewayID != e.orig.CustomerGatewayID {
		t.Fatalf("connection changed: %+v", c)
	}
}
