package cloud

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ppter/ppter/internal/aliyunemu"
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
	return e.tunnelIn(e.ctx(10*time.Minute), role, ip, ModePing)
}

func (e *env) tunnelIn(ctx context.Context, role, ip string, mode Mode) Result {
	e.t.Helper()
	rs := e.r.Reconcile(ctx, v4(ip), Targets{VPN: []VPNConn{tunnelTarget(role)}}, mode)
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
			// In place, the modify and the verify find the connection by name (the slave's
			// re-point may have recreated it): two listings more than a whole connection's.
			if n := e.emu.Calls("DescribeVpnConnections"); n != 4 {
				t.Fatalf("got %d listings of the connections, want 4: %v", n, e.emu.CallLog())
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

const slaveNew = "203.0.113.99" // the second line's next address

// stopSlave starts the slave tunnel's re-point to slaveNew and has it stopped by a refusal
// (Forbidden.RAM) of the call named in stop, after its op is saved.
func (e *env) stopSlave(stop ...string) {
	e.t.Helper()
	for i, action := range stop {
		code, status := "Forbidden.RAM", 403
		if i < len(stop)-1 {
			code, status = "OperationUnsupported.TunnelOptions", 400 // modify refused: recreate
		}
		e.emu.InjectError(action, 1, status, code)
	}
	if r := e.tunnel(RoleSlave, slaveNew); r.State != wire.StateError || Code(r.Err) != "Forbidden.RAM" {
		e.t.Fatalf("slave: got %s (%v), want error Forbidden.RAM", r.State, r.Err)
	}
	if _, has, _ := e.r.State.GetVPNOp(context.Background(), tunnelTarget(RoleSlave).Key()); !has {
		e.t.Fatal("no saved op for the slave")
	}
}

// TestVPNTunnelResumeAfterRecreate: a tunnel's re-point stopped before its modify is finished
// after the other tunnel's re-point recreated the connection under a new ID.
func TestVPNTunnelResumeAfterRecreate(t *testing.T) {
	e := newDualEnvOn(t, nil, slaveIP)
	e.stopSlave("ModifyVpnConnectionAttribute")
	e.emu.InjectError("ModifyVpnConnectionAttribute", 1, 400, "OperationUnsupported.TunnelOptions")
	if r := e.tunnel(RoleMaster, newIP); r.State != wire.StateApplied {
		t.Fatalf("master: %s (%v)", r.State, r.Err)
	}
	if c := e.named(connNm); len(c) != 1 || c[0].ID == e.orig.ID {
		t.Fatalf("the master's re-point did not recreate the connection: %+v", c)
	}
	if r := e.tunnel(RoleSlave, slaveNew); r.State != wire.StateApplied {
		t.Fatalf("slave resumed: %s (%v)", r.State, r.Err)
	}
	c := e.named(connNm)[0]
	m, s := c.Tunnels[0], c.Tunnels[1]
	if m.CustomerGatewayID != e.cgwsWith(newIP)[0].ID || s.CustomerGatewayID != e.cgwsWith(slaveNew)[0].ID ||
		m.Ike.Psk != "master!psk" || s.Ike.Psk != "slave!psk" || m.Ike.RemoteId != newIP || s.Ike.RemoteId != slaveFQDN {
		t.Fatalf("tunnels: %+v", c.Tunnels)
	}
	if len(e.cgwsWith(slaveIP)) != 0 {
		t.Fatal("the slave's old customer gateway is left")
	}
}

// TestVPNTunnelRecreateAfterSiblingModify: a tunnel's recreate stopped before its delete,
// resumed after the other tunnel was re-pointed in place, recreates the connection with the
// other tunnel as it reads now (its new customer gateway and settings), not as the stopped
// re-point first read it.
func TestVPNTunnelRecreateAfterSiblingModify(t *testing.T) {
	e := newDualEnvOn(t, nil, slaveIP)
	e.stopSlave("ModifyVpnConnectionAttribute", "DeleteVpnConnection")
	if op, _, _ := e.r.State.GetVPNOp(context.Background(), tunnelTarget(RoleSlave).Key()); !op.Recreate || op.Step >= StepDeleted {
		t.Fatalf("slave's op %+v, want a recreate stopped before its delete", op)
	}
	if r := e.tunnel(RoleMaster, newIP); r.State != wire.StateApplied {
		t.Fatalf("master: %s (%v)", r.State, r.Err)
	}
	c := e.named(connNm)
	if len(c) != 1 || c[0].ID != e.orig.ID || c[0].Tunnels[0].CustomerGatewayID != e.cgwsWith(newIP)[0].ID {
		t.Fatalf("the master was not re-pointed in place: %+v", c)
	}
	master := c[0].Tunnels[0]
	if r := e.tunnel(RoleSlave, slaveNew); r.State != wire.StateApplied {
		t.Fatalf("slave resumed: %s (%v)", r.State, r.Err)
	}
	c = e.named(connNm)
	if len(c) != 1 || c[0].ID == e.orig.ID {
		t.Fatalf("the slave's re-point did not recreate the connection: %+v", c)
	}
	m, s := c[0].Tunnels[0], c[0].Tunnels[1]
	if m != withID(master, m.ID) || m.Ike.RemoteId != newIP {
		t.Fatalf("master tunnel after the slave's recreate:\n got %+v\nwant %+v", m, master)
	}
	if s.CustomerGatewayID != e.cgwsWith(slaveNew)[0].ID || s.Ike.Psk != "slave!psk" || s.Ike.RemoteId != slaveFQDN {
		t.Fatalf("slave tunnel: %+v", s)
	}
}

// TestVPNTunnelSiblingBetweenDeleteAndCreate: while the master's recreate waits between
// delete and create, the slave's target is pending, not vanished, until the resume timer
// has finished the master's.
func TestVPNTunnelSiblingBetweenDeleteAndCreate(t *testing.T) {
	e := newDualEnvOn(t, nil, slaveIP)
	if r := e.tunnel(RoleSlave, slaveIP); r.State != wire.StateApplied {
		t.Fatalf("slave: %s (%v)", r.State, r.Err)
	}
	e.emu.InjectError("ModifyVpnConnectionAttribute", 1, 400, "OperationUnsupported.TunnelOptions")
	// A ping's budget: the create waits for the gateway past the deadline.
	if r := e.tunnelIn(e.ctx(15*time.Second+DefaultMargin), RoleMaster, newIP, ModePing); r.State != wire.StatePending {
		t.Fatalf("master: %s (%v), want pending", r.State, r.Err)
	}
	if op, _, _ := e.r.State.GetVPNOp(context.Background(), tunnelTarget(RoleMaster).Key()); op.Step != StepDeleted || len(e.named(connNm)) != 0 {
		t.Fatalf("master's op at step %d, connections %+v; want deleted, not created", op.Step, e.named(connNm))
	}
	if r := e.tunnelIn(e.ctx(5*time.Minute), RoleSlave, slaveIP, ModeTimer); r.State != wire.StatePending || !errors.Is(r.Err, ErrGatewayBusy) {
		t.Fatalf("slave during the master's recreate: %s (%v), want pending", r.State, r.Err)
	}
	if r := e.tunnelIn(e.ctx(5*time.Minute), RoleMaster, newIP, ModeTimer); r.State != wire.StateApplied {
		t.Fatalf("master resumed: %s (%v)", r.State, r.Err)
	}
	if r := e.tunnelIn(e.ctx(time.Minute), RoleSlave, slaveIP, ModeTimer); r.State != wire.StateApplied {
		t.Fatalf("slave after: %s (%v)", r.State, r.Err)
	}
	c := e.named(connNm)
	if len(c) != 1 || c[0].Tunnels[0].CustomerGatewayID != e.cgwsWith(newIP)[0].ID || c[0].Tunnels[1] != withID(e.orig.Tunnels[1], c[0].Tunnels[1].ID) {
		t.Fatalf("connections: %+v", c)
	}
}

// TestVPNTunnelFreshReadIncomplete: the tunnel a re-point does not move is sent back as it
// reads now; a read without its PSK is refused and nothing is written, in place and by
// recreate.
func TestVPNTunnelFreshReadIncomplete(t *testing.T) {
	for name, stop := range map[string][]string{
		"in place": {"ModifyVpnConnectionAttribute"},
		"recreate": {"ModifyVpnConnectionAttribute", "DeleteVpnConnection"},
	} {
		t.Run(name, func(t *testing.T) {
			e := newDualEnvOn(t, nil, slaveIP)
			e.stopSlave(stop...)
			e.emu.SetQuirks(aliyunemu.Quirks{HidePSKs: true})
			e.emu.ResetCalls()
			if r := e.tunnel(RoleSlave, slaveNew); r.State != wire.StateError || !errors.Is(r.Err, ErrIncomplete) || e.emu.MutatingCalls() != 0 {
				t.Fatalf("slave on a read without PSKs: %s (%v), calls %v; want ErrIncomplete, nothing written", r.State, r.Err, e.emu.CallLog())
			}
			e.emu.SetQuirks(aliyunemu.Quirks{})
			if r := e.tunnel(RoleSlave, slaveNew); r.State != wire.StateApplied {
				t.Fatalf("slave: %s (%v)", r.State, r.Err)
			}
			if c := e.named(connNm); len(c) != 1 || c[0].Tunnels[0].Ike.Psk != "master!psk" || c[0].Tunnels[1].Ike.Psk != "slave!psk" {
				t.Fatalf("connections: %+v", c)
			}
		})
	}
}

// TestVPNOldCGWStillUsed: where DescribeVpnConnections' CustomerGatewayId filter sees only a
// connection's own customer gateway (a live account), an old customer gateway a tunnel still
// uses is kept: the other tunnel of the connection, or another connection (the delete
// answered DependencyViolation).
func TestVPNOldCGWStillUsed(t *testing.T) {
	t.Run("other tunnel", func(t *testing.T) {
		e := newDualEnv(t, nil) // both tunnels on one customer gateway
		e.emu.SetQuirks(aliyunemu.Quirks{TopLevelCGWFilter: true})
		if r := e.tunnel(RoleMaster, newIP); r.State != wire.StateApplied {
			t.Fatalf("master: %s (%v)", r.State, r.Err)
		}
		if c := e.named(connNm)[0]; c.Tunnels[1] != e.orig.Tunnels[1] {
			t.Fatalf("slave tunnel %+v, was %+v", c.Tunnels[1], e.orig.Tunnels[1])
		}
		if n := e.emu.Calls("DeleteCustomerGateway"); n != 0 {
			t.Fatalf("got %d deletes of the customer gateway the slave still uses, want 0", n)
		}
	})
	t.Run("other connection", func(t *testing.T) {
		e := newDualEnv(t, nil)
		other := e.orig
		other.Name, other.Tunnels = "to-hz-2", append([]aliyunemu.Tunnel(nil), e.orig.Tunnels...)
		for i := range other.Tunnels {
			other.Tunnels[i].ID = ""
		}
		e.emu.PutConnection(other)
		e.emu.SetQuirks(aliyunemu.Quirks{TopLevelCGWFilter: true})
		if r := e.vpn(e.ctx(10*time.Minute), newIP, ModePing); r.State != wire.StateApplied {
			t.Fatalf("got %s (%v)", r.State, r.Err)
		}
		if e.emu.Calls("DeleteCustomerGateway") != 1 || !strings.Contains(e.logs.String(), "kept") {
			t.Fatalf("calls %v; want one refused delete, logged as kept", e.emu.CallLog())
		}
	})
}

func withID(t aliyunemu.Tunnel, id string) aliyunemu.Tunnel {
	t.ID = id
	return t
}
