package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/alibabacloud-go/tea/tea"
	vpc "github.com/alibabacloud-go/vpc-20160428/v6/client"

	"github.com/ppter/ppter/shared/wire"
)

// Strategy is how a VPN connection is re-pointed at a new customer gateway.
type Strategy string

// Strategies. Recreate is the one that works for every connection (DESIGN section 5);
// Modify tries an in-place change of a dual-tunnel connection's tunnels first and falls
// back to Recreate when the API refuses it (and always for single-tunnel connections).
const (
	StrategyRecreate Strategy = "recreate"
	StrategyModify   Strategy = "modify"
)

// String implements pflag.Value.
func (s *Strategy) String() string { return string(*s) }

// Set implements pflag.Value.
func (s *Strategy) Set(v string) error {
	switch Strategy(v) {
	case StrategyRecreate, StrategyModify:
		*s = Strategy(v)
		return nil
	}
	return fmt.Errorf("%w: strategy %q (valid: recreate, modify)", ErrBadTarget, v)
}

// Type implements pflag.Value.
func (s *Strategy) Type() string { return "strategy" }

// VPNConn is a VPN Gateway IPsec connection that follows a site's IPv4 address.
type VPNConn struct {
	Gateway     string        // VPN gateway ID, "vpn-bp1…"
	Connection  string        // the connection's name (IDs change on recreate)
	Strategy    Strategy      // default StrategyRecreate
	MinInterval time.Duration // at most one re-point per interval (default DefaultMinInterval)
}

// Validate checks the connection's configuration.
func (v VPNConn) Validate() error { return v.validate() }

func (v VPNConn) validate() error {
	if v.Gateway == "" || v.Connection == "" {
		return fmt.Errorf("%w: vpn needs gateway and connection", ErrBadTarget)
	}
	if v.Strategy != "" && v.Strategy != StrategyRecreate && v.Strategy != StrategyModify {
		return fmt.Errorf("%w: vpn %s: strategy %q (valid: recreate, modify)", ErrBadTarget, v.Connection, v.Strategy)
	}
	if v.MinInterval < 0 {
		return fmt.Errorf("%w: vpn %s: negative min_interval", ErrBadTarget, v.Connection)
	}
	return nil
}

func (v VPNConn) minInterval() time.Duration {
	if v.MinInterval == 0 {
		return DefaultMinInterval
	}
	return v.MinInterval
}

func (v VPNConn) key() TargetKey {
	return TargetKey{Kind: wire.KindVPN, Name: v.Gateway + "/" + v.Connection}
}

func (v VPNConn) result() Result { return Result{Kind: wire.KindVPN, Name: v.Connection} }

func (v VPNConn) family(a Addrs) netip.Addr { return a.IPv4 }

// IkeSettings is a connection's IKE configuration, with the API's JSON keys.
type IkeSettings struct {
	IkeVersion  string `json:"IkeVersion,omitempty"`
	IkeMode     string `json:"IkeMode,omitempty"`
	IkeEncAlg   string `json:"IkeEncAlg,omitempty"`
	IkeAuthAlg  string `json:"IkeAuthAlg,omitempty"`
	IkePfs      string `json:"IkePfs,omitempty"`
	IkeLifetime int64  `json:"IkeLifetime,omitempty"`
	LocalId     string `json:"LocalId,omitempty"`  //nolint:revive // the API's spelling
	RemoteId    string `json:"RemoteId,omitempty"` //nolint:revive // the API's spelling
	Psk         string `json:"Psk,omitempty"`
}

// IpsecSettings is a connection's IPsec configuration, with the API's JSON keys.
type IpsecSettings struct {
	IpsecEncAlg   string `json:"IpsecEncAlg,omitempty"`
	IpsecAuthAlg  string `json:"IpsecAuthAlg,omitempty"`
	IpsecPfs      string `json:"IpsecPfs,omitempty"`
	IpsecLifetime int64  `json:"IpsecLifetime,omitempty"`
}

// HealthSettings is a connection's health check, with the keys CreateVpnConnection takes
// (lower case; Describe answers Dip/Enable…).
type HealthSettings struct {
	Enable   bool   `json:"enable"`
	Dip      string `json:"dip,omitempty"`
	Sip      string `json:"sip,omitempty"`
	Interval int64  `json:"interval,omitempty"`
	Retry    int64  `json:"retry,omitempty"`
	Policy   string `json:"policy,omitempty"`
}

// BgpSettings is a connection's BGP configuration, with the API's JSON keys.
type BgpSettings struct {
	EnableBgp  bool   `json:"EnableBgp"`
	LocalAsn   int64  `json:"LocalAsn,omitempty"`
	TunnelCidr string `json:"TunnelCidr,omitempty"`
	LocalBgpIp string `json:"LocalBgpIp,omitempty"`
}

// Tag is a resource tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ConnSnapshot is every setting of a connection needed to recreate it identically.
type ConnSnapshot struct {
	ID                 string          `json:"id"`
	Name               string          `json:"name"`
	GatewayID          string          `json:"gateway_id"`
	CustomerGatewayID  string          `json:"customer_gateway_id"`
	LocalSubnet        string          `json:"local_subnet"`
	RemoteSubnet       string          `json:"remote_subnet"`
	EffectImmediately  bool            `json:"effect_immediately"`
	EnableDpd          bool            `json:"enable_dpd"`
	EnableNatTraversal bool            `json:"enable_nat_traversal"`
	Ike                IkeSettings     `json:"ike"`
	Ipsec              IpsecSettings   `json:"ipsec"`
	Health             *HealthSettings `json:"health,omitempty"`
	Bgp                *BgpSettings    `json:"bgp,omitempty"`
	Tags               []Tag           `json:"tags,omitempty"`
	TunnelIDs          []string        `json:"tunnel_ids,omitempty"` // dual-tunnel connections only
}

// Steps of a re-point, persisted in VPNOp.Step.
const (
	StepSnapshotted = 1 // settings saved; nothing destroyed yet
	StepDeleted     = 2 // old connection deleted
	StepCreated     = 3 // connection recreated (or modified) on the new customer gateway
)

// VPNOp is the persisted progress of one re-point: enough to finish it from any point.
type VPNOp struct {
	ID          string       `json:"id"`
	Gateway     string       `json:"gateway"`
	Connection  string       `json:"connection"`
	Strategy    Strategy     `json:"strategy"`
	OldIP       netip.Addr   `json:"old_ip"`
	NewIP       netip.Addr   `json:"new_ip"`
	OldCGW      string       `json:"old_cgw"`
	NewCGW      string       `json:"new_cgw,omitempty"`
	OldConnID   string       `json:"old_conn_id"`
	NewConnID   string       `json:"new_conn_id,omitempty"`
	Step        int          `json:"step"`
	ModifyTried bool         `json:"modify_tried,omitempty"`
	Snapshot    ConnSnapshot `json:"snapshot"`
	StartedAt   time.Time    `json:"started_at"`
}

func (op VPNOp) clone() VPNOp {
	op.Snapshot.Tags = append([]Tag(nil), op.Snapshot.Tags...)
	op.Snapshot.TunnelIDs = append([]string(nil), op.Snapshot.TunnelIDs...)
	if op.Snapshot.Health != nil {
		h := *op.Snapshot.Health
		op.Snapshot.Health = &h
	}
	if op.Snapshot.Bgp != nil {
		b := *op.Snapshot.Bgp
		op.Snapshot.Bgp = &b
	}
	return op
}

type connRef struct {
	ID  string
	CGW string
}

var errUpdating = errors.New("vpn gateway is updating")

// applyVPN re-points the connection at ip when its customer gateway has another address,
// finishing first any re-point a previous reconcile left half done.
func (r *Reconciler) applyVPN(ctx context.Context, t VPNConn, ip netip.Addr, st *TargetState) (string, error) {
	k := t.key()
	wrap := func(err error) error { return fmt.Errorf("vpn %s: %w", t.Connection, err) }
	op, has, err := r.State.GetVPNOp(ctx, k)
	if err != nil {
		return wire.StateError, wrap(err)
	}
	if has && !r.DryRun {
		if err := r.resume(ctx, k, &op); err != nil {
			return wire.StateError, wrap(err)
		}
		st.LastRepoint = r.clock().Now()
		if op.NewIP == ip {
			return wire.StateApplied, nil
		}
	}
	conn, err := r.findConn(ctx, t)
	if err != nil {
		return wire.StateError, wrap(err)
	}
	cgwIP, err := r.cgwIP(ctx, conn.CGW)
	if err != nil {
		return wire.StateError, wrap(err)
	}
	if cgwIP == ip {
		if r.DryRun {
			return wire.StateDryRun, nil
		}
		return wire.StateApplied, nil
	}
	if !st.LastRepoint.IsZero() {
		if nb := st.LastRepoint.Add(t.minInterval()); r.clock().Now().Before(nb) {
			st.NotBefore = nb
			return wire.StatePending, fmt.Errorf("re-point deferred until %s (min_interval)", nb.UTC().Format(time.RFC3339))
		}
	}
	snap, err := r.snapshot(ctx, conn.ID)
	if err != nil {
		return wire.StateError, wrap(err)
	}
	strategy := t.Strategy
	if strategy == "" {
		strategy = StrategyRecreate
	}
	op = VPNOp{ID: newToken()[:16], Gateway: t.Gateway, Connection: t.Connection, Strategy: strategy,
		OldIP: cgwIP, NewIP: ip, OldCGW: conn.CGW, OldConnID: conn.ID, Step: StepSnapshotted, Snapshot: snap,
		StartedAt: r.clock().Now()}
	if r.DryRun {
		r.logPlan(op)
		return wire.StateDryRun, nil
	}
	// The snapshot is saved before anything is created or destroyed.
	if err := r.State.PutVPNOp(ctx, k, op); err != nil {
		return wire.StateError, wrap(err)
	}
	if err := r.resume(ctx, k, &op); err != nil {
		return wire.StateError, wrap(err)
	}
	st.LastRepoint = r.clock().Now()
	return wire.StateApplied, nil
}

// resume carries op to its end. Each step first looks at what exists, so a step whose call
// succeeded but whose progress was never saved is not done twice.
func (r *Reconciler) resume(ctx context.Context, k TargetKey, op *VPNOp) error {
	save := func() error { return r.State.PutVPNOp(ctx, k, *op) }
	if op.NewCGW == "" {
		id, err := r.ensureCGW(ctx, op)
		if err != nil {
			return err
		}
		op.NewCGW = id
		if err := save(); err != nil {
			return err
		}
	}
	if op.Step < StepDeleted && op.Strategy == StrategyModify && !op.ModifyTried && len(op.Snapshot.TunnelIDs) > 0 {
		if err := r.modifyTunnels(ctx, op); err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrDeadline) {
				return err
			}
			r.log().Warn("cloud: in-place modify refused, recreating", "connection", op.Connection, "error", err)
			op.ModifyTried = true
		} else {
			op.NewConnID, op.Step = op.OldConnID, StepCreated
		}
		if err := save(); err != nil {
			return err
		}
	}
	lookedUp := false
	if op.Step < StepDeleted {
		conn, err := r.findConnByName(ctx, op.Gateway, op.Connection)
		if err != nil {
			return err
		}
		switch {
		case conn == nil:
		case conn.CGW == op.NewCGW:
			op.NewConnID, op.Step = conn.ID, StepCreated
		default:
			if err := r.waitActive(ctx, op.Gateway); err != nil {
				return err
			}
			err := r.call(ctx, "DeleteVpnConnection", func() error {
				_, err := r.VPC.DeleteVpnConnection(&vpc.DeleteVpnConnectionRequest{RegionId: tea.String(r.Region), VpnConnectionId: tea.String(conn.ID)})
				return err
			})
			if err != nil && Code(err) != "InvalidVpnConnectionInstanceId.NotFound" {
				return err
			}
			lookedUp = true
		}
		if op.Step < StepDeleted {
			op.Step = StepDeleted
		}
		if err := save(); err != nil {
			return err
		}
	}
	if op.Step < StepCreated {
		if !lookedUp {
			// Resuming: a create whose answer or progress was lost already exists.
			conn, err := r.findConnByName(ctx, op.Gateway, op.Connection)
			if err != nil {
				return err
			}
			if conn != nil {
				op.NewConnID = conn.ID
			}
		}
		if op.NewConnID == "" {
			if err := r.waitActive(ctx, op.Gateway); err != nil {
				return err
			}
			req, err := r.createRequest(op)
			if err != nil {
				return err
			}
			var resp *vpc.CreateVpnConnectionResponse
			if err := r.call(ctx, "CreateVpnConnection", func() (err error) {
				resp, err = r.VPC.CreateVpnConnection(req)
				return err
			}); err != nil {
				return err
			}
			op.NewConnID = tea.StringValue(resp.Body.VpnConnectionId)
		}
		op.Step = StepCreated
		if err := save(); err != nil {
			return err
		}
	}
	if err := r.waitActive(ctx, op.Gateway); err != nil {
		return err
	}
	if op.OldCGW != "" && op.OldCGW != op.NewCGW {
		if err := r.deleteOldCGW(ctx, op); err != nil {
			return err
		}
	}
	return r.State.DeleteVPNOp(ctx, k)
}

func (r *Reconciler) deleteOldCGW(ctx context.Context, op *VPNOp) error {
	var refs *vpc.DescribeVpnConnectionsResponse
	if err := r.call(ctx, "DescribeVpnConnections", func() (err error) {
		refs, err = r.VPC.DescribeVpnConnections(&vpc.DescribeVpnConnectionsRequest{RegionId: tea.String(r.Region), CustomerGatewayId: tea.String(op.OldCGW)})
		return err
	}); err != nil {
		return err
	}
	if n := tea.Int32Value(refs.Body.TotalCount); n > 0 {
		r.log().Warn("cloud: old customer gateway still used by other connections; kept", "customer_gateway", op.OldCGW, "connections", n)
		return nil
	}
	err := r.call(ctx, "DeleteCustomerGateway", func() error {
		_, err := r.VPC.DeleteCustomerGateway(&vpc.DeleteCustomerGatewayRequest{RegionId: tea.String(r.Region), CustomerGatewayId: tea.String(op.OldCGW)})
		if Code(err) == "DependencyViolation.VpnConnection" {
			return busyErr{err}
		}
		return err
	})
	if err != nil && Code(err) != "InvalidCustomerGatewayInstanceId.NotFound" {
		return err
	}
	return nil
}

// busyErr marks an error retryable whatever its code.
type busyErr struct{ error }

func (e busyErr) Unwrap() error { return e.error }

func (r *Reconciler) modifyTunnels(ctx context.Context, op *VPNOp) error {
	if err := r.waitActive(ctx, op.Gateway); err != nil {
		return err
	}
	var tos []*vpc.ModifyVpnConnectionAttributeRequestTunnelOptionsSpecification
	for _, id := range op.Snapshot.TunnelIDs {
		tos = append(tos, &vpc.ModifyVpnConnectionAttributeRequestTunnelOptionsSpecification{TunnelId: tea.String(id), CustomerGatewayId: tea.String(op.NewCGW)})
	}
	return r.call(ctx, "ModifyVpnConnectionAttribute", func() error {
		_, err := r.VPC.ModifyVpnConnectionAttribute(&vpc.ModifyVpnConnectionAttributeRequest{RegionId: tea.String(r.Region),
			VpnConnectionId: tea.String(op.OldConnID), TunnelOptionsSpecification: tos})
		return err
	})
}

// waitActive polls the gateway until it is active, with backoff, within the budget.
func (r *Reconciler) waitActive(ctx context.Context, gw string) error {
	return r.callWith(ctx, "DescribeVpnGateway", pollBackoff, func() error {
		resp, err := r.VPC.DescribeVpnGateway(&vpc.DescribeVpnGatewayRequest{RegionId: tea.String(r.Region), VpnGatewayId: tea.String(gw)})
		if err != nil {
			return err
		}
		if s := tea.StringValue(resp.Body.Status); s != "active" {
			return fmt.Errorf("%w (%s)", errUpdating, s)
		}
		return nil
	})
}

func (r *Reconciler) findConn(ctx context.Context, t VPNConn) (connRef, error) {
	c, err := r.findConnByName(ctx, t.Gateway, t.Connection)
	if err != nil {
		return connRef{}, err
	}
	if c == nil {
		return connRef{}, fmt.Errorf("%w: no connection named %q on gateway %s", ErrNotFound, t.Connection, t.Gateway)
	}
	return *c, nil
}

func (r *Reconciler) findConnByName(ctx context.Context, gw, name string) (*connRef, error) {
	var found []connRef
	for page := int32(1); ; page++ {
		var resp *vpc.DescribeVpnConnectionsResponse
		if err := r.call(ctx, "DescribeVpnConnections", func() (err error) {
			resp, err = r.VPC.DescribeVpnConnections(&vpc.DescribeVpnConnectionsRequest{RegionId: tea.String(r.Region),
				VpnGatewayId: tea.String(gw), PageNumber: tea.Int32(page), PageSize: tea.Int32(50)})
			return err
		}); err != nil {
			return nil, err
		}
		var list []*vpc.DescribeVpnConnectionsResponseBodyVpnConnectionsVpnConnection
		if resp.Body.VpnConnections != nil {
			list = resp.Body.VpnConnections.VpnConnection
		}
		for _, c := range list {
			if tea.StringValue(c.Name) == name {
				found = append(found, connRef{ID: tea.StringValue(c.VpnConnectionId), CGW: tea.StringValue(c.CustomerGatewayId)})
			}
		}
		if len(list) < 50 || int(page)*50 >= int(tea.Int32Value(resp.Body.TotalCount)) {
			break
		}
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return &found[0], nil
	}
	return nil, fmt.Errorf("%w: %d connections named %q on gateway %s; names must be unique", ErrBadTarget, len(found), name, gw)
}

func (r *Reconciler) cgwIP(ctx context.Context, id string) (netip.Addr, error) {
	var resp *vpc.DescribeCustomerGatewaysResponse
	if err := r.call(ctx, "DescribeCustomerGateways", func() (err error) {
		resp, err = r.VPC.DescribeCustomerGateways(&vpc.DescribeCustomerGatewaysRequest{RegionId: tea.String(r.Region), CustomerGatewayId: tea.String(id)})
		return err
	}); err != nil {
		return netip.Addr{}, err
	}
	if resp.Body.CustomerGateways == nil || len(resp.Body.CustomerGateways.CustomerGateway) == 0 {
		return netip.Addr{}, fmt.Errorf("%w: customer gateway %s", ErrNotFound, id)
	}
	return netip.ParseAddr(tea.StringValue(resp.Body.CustomerGateways.CustomerGateway[0].IpAddress))
}

// listCGWs returns every customer gateway of the region.
func (r *Reconciler) listCGWs(ctx context.Context) ([]*vpc.DescribeCustomerGatewaysResponseBodyCustomerGatewaysCustomerGateway, error) {
	return listCustomerGateways(func(req *vpc.DescribeCustomerGatewaysRequest) (*vpc.DescribeCustomerGatewaysResponse, error) {
		var resp *vpc.DescribeCustomerGatewaysResponse
		err := r.call(ctx, "DescribeCustomerGateways", func() (err error) { resp, err = r.VPC.DescribeCustomerGateways(req); return err })
		return resp, err
	}, r.Region)
}

func listCustomerGateways(describe func(*vpc.DescribeCustomerGatewaysRequest) (*vpc.DescribeCustomerGatewaysResponse, error), region string) ([]*vpc.DescribeCustomerGatewaysResponseBodyCustomerGatewaysCustomerGateway, error) {
	var out []*vpc.DescribeCustomerGatewaysResponseBodyCustomerGatewaysCustomerGateway
	for page := int32(1); ; page++ {
		resp, err := describe(&vpc.DescribeCustomerGatewaysRequest{RegionId: tea.String(region), PageNumber: tea.Int32(page), PageSize: tea.Int32(50)})
		if err != nil {
			return nil, err
		}
		var list []*vpc.DescribeCustomerGatewaysResponseBodyCustomerGatewaysCustomerGateway
		if resp.Body.CustomerGateways != nil {
			list = resp.Body.CustomerGateways.CustomerGateway
		}
		out = append(out, list...)
		if len(list) < 50 || int(page)*50 >= int(tea.Int32Value(resp.Body.TotalCount)) {
			return out, nil
		}
	}
}

// ensureCGW returns the customer gateway with op.NewIP, creating it when none exists.
func (r *Reconciler) ensureCGW(ctx context.Context, op *VPNOp) (string, error) {
	find := func() (string, error) {
		all, err := r.listCGWs(ctx)
		if err != nil {
			return "", err
		}
		for _, c := range all {
			if tea.StringValue(c.IpAddress) == op.NewIP.String() {
				return tea.StringValue(c.CustomerGatewayId), nil
			}
		}
		return "", nil
	}
	if id, err := find(); err != nil || id != "" {
		return id, err
	}
	var resp *vpc.CreateCustomerGatewayResponse
	err := r.call(ctx, "CreateCustomerGateway", func() (err error) {
		resp, err = r.VPC.CreateCustomerGateway(&vpc.CreateCustomerGatewayRequest{RegionId: tea.String(r.Region),
			IpAddress: tea.String(op.NewIP.String()), Name: tea.String(cgwName(op.Connection, op.NewIP)),
			Description: tea.String("ppter: " + op.Connection), ClientToken: tea.String(op.ID + "-cgw")})
		return err
	})
	if Code(err) == "InvalidIpAddress.AlreadyExist" {
		return find()
	}
	if err != nil {
		return "", err
	}
	return tea.StringValue(resp.Body.CustomerGatewayId), nil
}

var nameSafe = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

func cgwName(conn string, ip netip.Addr) string {
	n := "ppter-" + nameSafe.ReplaceAllString(conn, "-") + "-" + strings.ReplaceAll(ip.String(), ".", "-")
	if len(n) > 128 {
		n = n[:128]
	}
	return n
}

// snapshot reads every setting of the connection.
func (r *Reconciler) snapshot(ctx context.Context, id string) (ConnSnapshot, error) {
	var resp *vpc.DescribeVpnConnectionResponse
	if err := r.call(ctx, "DescribeVpnConnection", func() (err error) {
		resp, err = r.VPC.DescribeVpnConnection(&vpc.DescribeVpnConnectionRequest{RegionId: tea.String(r.Region), VpnConnectionId: tea.String(id)})
		return err
	}); err != nil {
		return ConnSnapshot{}, err
	}
	b := resp.Body
	s := ConnSnapshot{ID: tea.StringValue(b.VpnConnectionId), Name: tea.StringValue(b.Name), GatewayID: tea.StringValue(b.VpnGatewayId),
		CustomerGatewayID: tea.StringValue(b.CustomerGatewayId), LocalSubnet: tea.StringValue(b.LocalSubnet), RemoteSubnet: tea.StringValue(b.RemoteSubnet),
		EffectImmediately: tea.BoolValue(b.EffectImmediately), EnableDpd: tea.BoolValue(b.EnableDpd), EnableNatTraversal: tea.BoolValue(b.EnableNatTraversal)}
	if k := b.IkeConfig; k != nil {
		s.Ike = IkeSettings{IkeVersion: tea.StringValue(k.IkeVersion), IkeMode: tea.StringValue(k.IkeMode), IkeEncAlg: tea.StringValue(k.IkeEncAlg),
			IkeAuthAlg: tea.StringValue(k.IkeAuthAlg), IkePfs: tea.StringValue(k.IkePfs), IkeLifetime: tea.Int64Value(k.IkeLifetime),
			LocalId: tea.StringValue(k.LocalId), RemoteId: tea.StringValue(k.RemoteId), Psk: tea.StringValue(k.Psk)}
	}
	if p := b.IpsecConfig; p != nil {
		s.Ipsec = IpsecSettings{IpsecEncAlg: tea.StringValue(p.IpsecEncAlg), IpsecAuthAlg: tea.StringValue(p.IpsecAuthAlg),
			IpsecPfs: tea.StringValue(p.IpsecPfs), IpsecLifetime: tea.Int64Value(p.IpsecLifetime)}
	}
	if h := b.VcoHealthCheck; h != nil && (tea.StringValue(h.Dip) != "" || tea.StringValue(h.Enable) == "true") {
		s.Health = &HealthSettings{Enable: tea.StringValue(h.Enable) == "true", Dip: tea.StringValue(h.Dip), Sip: tea.StringValue(h.Sip),
			Interval: int64(tea.Int32Value(h.Interval)), Retry: int64(tea.Int32Value(h.Retry)), Policy: tea.StringValue(h.Policy)}
	}
	if g := b.VpnBgpConfig; g != nil && (tea.StringValue(g.EnableBgp) == "true" || tea.Int64Value(g.LocalAsn) != 0 || tea.StringValue(g.TunnelCidr) != "") {
		s.Bgp = &BgpSettings{EnableBgp: tea.StringValue(g.EnableBgp) == "true", LocalAsn: tea.Int64Value(g.LocalAsn),
			TunnelCidr: tea.StringValue(g.TunnelCidr), LocalBgpIp: tea.StringValue(g.LocalBgpIp)}
	}
	if b.Tags != nil {
		for _, t := range b.Tags.Tag {
			s.Tags = append(s.Tags, Tag{Key: tea.StringValue(t.Key), Value: tea.StringValue(t.Value)})
		}
	}
	if b.TunnelOptionsSpecification != nil {
		for _, t := range b.TunnelOptionsSpecification.TunnelOptions {
			s.TunnelIDs = append(s.TunnelIDs, tea.StringValue(t.TunnelId))
		}
	}
	return s, nil
}

// createRequest rebuilds the connection from the snapshot on the new customer gateway.
// IKE/IPsec/health/BGP go as JSON strings (numbers stay numbers). A RemoteId that was the
// old address becomes the new one.
func (r *Reconciler) createRequest(op *VPNOp) (*vpc.CreateVpnConnectionRequest, error) {
	s := op.Snapshot
	ike := s.Ike
	if ike.RemoteId == op.OldIP.String() {
		ike.RemoteId = op.NewIP.String()
	}
	js := func(v any) (*string, error) {
		b, err := json.Marshal(v)
		return tea.String(string(b)), err
	}
	req := &vpc.CreateVpnConnectionRequest{RegionId: tea.String(r.Region), VpnGatewayId: tea.String(op.Gateway),
		CustomerGatewayId: tea.String(op.NewCGW), Name: tea.String(s.Name), LocalSubnet: tea.String(s.LocalSubnet),
		RemoteSubnet: tea.String(s.RemoteSubnet), EffectImmediately: tea.Bool(s.EffectImmediately),
		EnableDpd: tea.Bool(s.EnableDpd), EnableNatTraversal: tea.Bool(s.EnableNatTraversal),
		ClientToken: tea.String(op.ID + "-conn")}
	var err error
	if req.IkeConfig, err = js(ike); err != nil {
		return nil, err
	}
	if req.IpsecConfig, err = js(s.Ipsec); err != nil {
		return nil, err
	}
	if s.Health != nil {
		if req.HealthCheckConfig, err = js(s.Health); err != nil {
			return nil, err
		}
	}
	if s.Bgp != nil {
		if req.BgpConfig, err = js(s.Bgp); err != nil {
			return nil, err
		}
	}
	for _, t := range s.Tags {
		req.Tags = append(req.Tags, &vpc.CreateVpnConnectionRequestTags{Key: tea.String(t.Key), Value: tea.String(t.Value)})
	}
	return req, nil
}

// logPlan logs, for dry run, the mutating calls a re-point would make.
func (r *Reconciler) logPlan(op VPNOp) {
	op.NewCGW = "<new customer gateway>"
	r.wouldCall("CreateCustomerGateway", &vpc.CreateCustomerGatewayRequest{RegionId: tea.String(r.Region),
		IpAddress: tea.String(op.NewIP.String()), Name: tea.String(cgwName(op.Connection, op.NewIP))})
	r.wouldCall("DeleteVpnConnection", &vpc.DeleteVpnConnectionRequest{RegionId: tea.String(r.Region), VpnConnectionId: tea.String(op.OldConnID)})
	if req, err := r.createRequest(&op); err == nil {
		r.wouldCall("CreateVpnConnection", req)
	}
	r.wouldCall("DeleteCustomerGateway", &vpc.DeleteCustomerGatewayRequest{RegionId: tea.String(r.Region), CustomerGatewayId: tea.String(op.OldCGW)})
}

var secretJSON = regexp.MustCompile(`((?:\\*")(?:Psk|AuthKey|psk|authKey)(?:\\*")\s*:\s*(?:\\*"))[^"\\]*`)

// redact hides secret values (Psk, AuthKey) in a rendered request, including inside the
// JSON strings the VPC API takes.
func redact(s string) string { return secretJSON.ReplaceAllString(s, "${1}[REDACTED]") }
