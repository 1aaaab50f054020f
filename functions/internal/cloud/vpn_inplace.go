package cloud

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/alibabacloud-go/tea/tea"
	vpc "github.com/alibabacloud-go/vpc-20160428/v6/client"
)

// notSupportedCodes are the answers to the in-place modify that mean exactly "this gateway
// cannot change a tunnel's customer gateway": only these fall back to delete-and-recreate.
// Any other refusal (authorization, validation, unknown) leaves everything as it is and the
// target in state error with the API's code. The list holds the code the emulator answers for
// tunnel options on a connection that has none; no live account has answered it yet.
var notSupportedCodes = map[string]bool{
	"OperationUnsupported.TunnelOptions": true,
}

// gatewayLockKind names the per-gateway write lock in the state store.
const gatewayLockKind = "vpngw"

// lockPoll paces the wait for another instance's re-point on the same gateway.
var lockPoll = Backoff{Initial: time.Second, Max: 5 * time.Second}

// withGateway runs fn holding the gateway's lock, so one writer at a time changes a gateway
// across all function instances (the API refuses concurrent writes on one gateway). It waits
// for the lock within the budget, then gives up with ErrGatewayBusy. The lock lives until
// the invocation's deadline (the function's timeout), so a killed instance frees it then.
func (r *Reconciler) withGateway(ctx context.Context, gw string, fn func() error) error {
	k := TargetKey{Kind: gatewayLockKind, Name: gw}
	ttl := r.LockTTL
	if dl, ok := ctx.Deadline(); ok {
		ttl = dl.Sub(r.Clock.Now()) + time.Second
	}
	for attempt := 0; ; attempt++ {
		token, ok, err := r.State.Lock(ctx, k, ttl)
		if err != nil {
			return err
		}
		if ok {
			defer r.unlock(ctx, k, token)
			return fn()
		}
		d := lockPoll.delay(attempt, r.Rand())
		if err := r.budget(ctx, d); err != nil {
			return fmt.Errorf("%w (gateway %s)", ErrGatewayBusy, gw)
		}
		if err := r.Clock.Sleep(ctx, d); err != nil {
			return err
		}
	}
}

// unlock releases lock k if token still holds it, even once ctx is done (the deadline that
// ended the work must not leave the lock held until its TTL).
func (r *Reconciler) unlock(ctx context.Context, k TargetKey, token string) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_ = r.State.Unlock(uctx, k, token)
}

// modify moves the tunnels op covers (every tunnel, or the one following the line that
// moved) of a dual-tunnel connection to op.NewCGW with one ModifyVpnConnectionAttribute (one
// gateway update, not one per tunnel), sending back each tunnel's full settings so nothing
// the API treats as omitted is reset; a tunnel op does not cover is sent as it reads now. A modify answered
// "not supported here" turns the re-point into a recreate.
func (p *repoint) modify(ctx context.Context) error {
	op := p.op
	cur, err := p.current(ctx)
	if err != nil {
		return err
	}
	if tunnelDiff(cur.Tunnels, op.wantTunnels(cur.Tunnels)) != "" {
		if err := p.waitActive(ctx, op.Gateway); err != nil {
			return err
		}
		req, err := p.modifyRequest(op, cur.Tunnels)
		if err != nil {
			return err
		}
		_, err = retried(ctx, p.Reconciler, "ModifyVpnConnectionAttribute", p.VPC.ModifyVpnConnectionAttribute, req)
		if code := Code(err); code != "" && notSupportedCodes[code] {
			p.Log.Warn("cloud: in-place re-point not supported here; recreating", "connection", op.Connection, "code", code)
			op.Recreate = true
			return nil
		}
		if err != nil {
			return err
		}
	}
	op.Modified = true
	return nil
}

// verify checks that every tunnel reads back exactly as the modify sent it.
func (p *repoint) verify(ctx context.Context) error {
	op := p.op
	got, err := p.current(ctx)
	if err != nil {
		return err
	}
	if d := tunnelDiff(got.Tunnels, op.wantTunnels(got.Tunnels)); d != "" {
		return fmt.Errorf("%w: %s", ErrVerify, d)
	}
	op.NewConnID, op.Step = op.OldConnID, StepCreated
	return nil
}

// current reads the connection op re-points. A tunnel's re-point finds it by name: the other
// tunnel's re-point may have recreated it under a new ID since op was saved (op.OldConnID
// follows, saved at once). A whole connection's re-point reads op.OldConnID: no other target
// recreates its connection, and the listing would cost a call.
func (p *repoint) current(ctx context.Context) (ConnSnapshot, error) {
	if len(p.op.Roles) == 0 {
		return p.read(ctx, p.op.OldConnID)
	}
	conn, err := p.findConn(ctx, p.op.conn())
	if err != nil {
		return ConnSnapshot{}, err
	}
	if p.op.OldConnID != conn.ID {
		p.op.OldConnID = conn.ID
		if err := p.State.PutVPNOp(ctx, p.k, *p.op); err != nil {
			return ConnSnapshot{}, err
		}
	}
	return p.read(ctx, conn.ID)
}

// read reads connection id to send its tunnels back: refused (ErrIncomplete) unless as
// complete as a snapshot, so a read without a PSK never has the service invent one.
func (r *Reconciler) read(ctx context.Context, id string) (ConnSnapshot, error) {
	s, err := r.snapshot(ctx, id)
	if err == nil {
		err = s.check(false)
	}
	return s, err
}

// tunnelDiff names the fields (never their values: PSKs) in which got differs from want.
func tunnelDiff(got, want []TunnelSettings) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d tunnels, want %d", len(got), len(want))
	}
	var out []string
	for i, w := range want {
		g := got[i]
		var f []string
		add := func(name string, differ bool) {
			if differ {
				f = append(f, name)
			}
		}
		add("TunnelId", g.ID != w.ID)
		add("Role", g.Role != w.Role)
		add("CustomerGatewayId", g.CustomerGatewayID != w.CustomerGatewayID)
		add("EnableDpd", g.EnableDpd != w.EnableDpd)
		add("EnableNatTraversal", g.EnableNatTraversal != w.EnableNatTraversal)
		add("RemoteCaCertificate", g.RemoteCaCertificate != w.RemoteCaCertificate)
		add("TunnelIkeConfig.Psk", g.Ike.Psk != w.Ike.Psk)
		add("TunnelIkeConfig.RemoteId", g.Ike.RemoteId != w.Ike.RemoteId)
		gi, wi := g.Ike, w.Ike
		gi.Psk, gi.RemoteId, wi.Psk, wi.RemoteId = "", "", "", ""
		add("TunnelIkeConfig", gi != wi)
		add("TunnelIpsecConfig", g.Ipsec != w.Ipsec)
		add("TunnelBgpConfig", g.Bgp != w.Bgp)
		if len(f) > 0 {
			out = append(out, fmt.Sprintf("tunnel %s (%s): %s", w.ID, w.Role, strings.Join(f, ", ")))
		}
	}
	return strings.Join(out, "; ")
}

// modifyRequest is the in-place re-point: the tunnels op covers on the new customer
// gateway, the others as cur has them, each with all of its settings sent back.
func (r *Reconciler) modifyRequest(op *VPNOp, cur []TunnelSettings) (*vpc.ModifyVpnConnectionAttributeRequest, error) {
	req := &vpc.ModifyVpnConnectionAttributeRequest{RegionId: tea.String(r.Region), VpnConnectionId: tea.String(op.OldConnID),
		ClientToken: tea.String(op.ID + "-modify"), EnableTunnelsBgp: tea.Bool(op.Snapshot.EnableTunnelsBgp)}
	for _, t := range op.wantTunnels(cur) {
		// The modify's tunnel spec has the create's fields and JSON names (IpsecLifetime is
		// an int32 there), plus TunnelId: build it once, convert.
		b, err := json.Marshal(createTunnel(t))
		if err != nil {
			return nil, err
		}
		var o vpc.ModifyVpnConnectionAttributeRequestTunnelOptionsSpecification
		if err := json.Unmarshal(b, &o); err != nil {
			return nil, fmt.Errorf("tunnel %s options: %w", t.ID, err)
		}
		o.TunnelId = tea.String(t.ID)
		req.TunnelOptionsSpecification = append(req.TunnelOptionsSpecification, &o)
	}
	return req, nil
}
