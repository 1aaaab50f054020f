package cloud

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alibabacloud-go/tea/tea"
	vpc "github.com/alibabacloud-go/vpc-20160428/v6/client"

	"github.com/ppter/ppter/shared/wire"
)

// ConnKind is the kind of an IPsec connection, as DescribeVpnConnection shows it.
type ConnKind string

// Connection kinds. A dual-tunnel connection (the only kind a gateway bought today creates)
// has two tunnels, master and slave, each with its own customer gateway and settings; it is
// re-pointed in place. A single-tunnel connection (gateways never upgraded) cannot change its
// customer gateway and is deleted and recreated.
const (
	KindSingle ConnKind = "single-tunnel"
	KindDual   ConnKind = "dual-tunnel"
)

// VPNConn is a VPN Gateway IPsec connection that follows a site's IPv4 address (config:
// sites.*.vpn).
type VPNConn struct {
	Gateway    string `yaml:"gateway"`    // VPN gateway ID, "vpn-bp1…"
	Connection string `yaml:"connection"` // the connection's name (IDs change on recreate)
	// MinInterval allows at most one re-point per interval (default DefaultMinInterval).
	MinInterval time.Duration `yaml:"min_interval"`
	// Strategy is obsolete: the connection's kind decides how it is re-pointed (dual-tunnel
	// in place, single-tunnel by recreate). Old configs still load; the config warns.
	Strategy string `yaml:"strategy"`
	// Tunnels maps a dual-tunnel connection's tunnels to the site's lines; a tunnel left
	// out follows the site's default line. The config checks the lines are declared.
	Tunnels TunnelLines `yaml:"tunnels"`
	// Roles restricts the target to the tunnels of these roles (RoleMaster, RoleSlave): the
	// config makes one target per line of a connection whose tunnels follow two lines.
	// Empty: every tunnel (and a single-tunnel connection).
	Roles []string `yaml:"-"`
}

// TunnelLines names the line each tunnel of a dual-tunnel connection follows.
type TunnelLines struct {
	Master string `yaml:"master"`
	Slave  string `yaml:"slave"`
}

// Tunnel roles of a dual-tunnel connection.
const (
	RoleMaster = "master"
	RoleSlave  = "slave"
)

// covers reports whether the target moves the tunnel of role.
func (v VPNConn) covers(role string) bool { return len(v.Roles) == 0 || slices.Contains(v.Roles, role) }

// SetDefaults fills what the configuration left out.
func (v *VPNConn) SetDefaults() { v.MinInterval = cmp.Or(v.MinInterval, DefaultMinInterval) }

var gatewayRE = regexp.MustCompile(`^vpn-[a-z0-9]+$`)

// Validate checks the connection (after SetDefaults); a *FieldError names the bad key.
func (v VPNConn) Validate() error {
	switch {
	case !gatewayRE.MatchString(v.Gateway):
		return &FieldError{"gateway", fmt.Sprintf("%q is not a VPN gateway ID (vpn-…)", v.Gateway), ErrBadTarget}
	case v.Connection == "":
		return &FieldError{"connection", "missing (the IPsec connection's name)", ErrBadTarget}
	case v.Strategy != "" && v.Strategy != "recreate" && v.Strategy != "modify":
		return &FieldError{"strategy", fmt.Sprintf("is obsolete: remove it (%q is refused; only its old values, recreate and modify, are still accepted)", v.Strategy), ErrBadTarget}
	case v.MinInterval < 0:
		return &FieldError{"min_interval", "must be positive", ErrBadTarget}
	}
	return nil
}

// Name is the connection as results, the status page and the event stream show it, with
// the tunnels it is restricted to: "to-hz", "to-hz/master".
func (v VPNConn) Name() string { return v.Connection + v.roles("/") }

// Key names the connection in the reconciler's state: "<gateway>/<connection>", and
// "<gateway>/<connection>#master" for a target restricted to the master tunnel.
func (v VPNConn) Key() TargetKey {
	return TargetKey{Kind: wire.KindVPN, Name: v.Gateway + "/" + v.Connection + v.roles("#")}
}

func (v VPNConn) roles(sep string) string {
	if len(v.Roles) == 0 {
		return ""
	}
	return sep + strings.Join(v.Roles, "+")
}

func (v VPNConn) family(a Addrs) (netip.Addr, time.Time) { return a.IPv4, a.Seen4 }

// IkeSettings is a connection's IKE configuration, with the API's JSON keys.
type IkeSettings struct {
	IkeVersion  string `json:"IkeVersion,omitempty"`
	IkeMode     string `json:"IkeMode,omitempty"`
	IkeEncAlg   string `json:"IkeEncAlg,omitempty"`
	IkeAuthAlg  string `json:"IkeAuthAlg,omitempty"`
	IkePfs      string `json:"IkePfs,omitempty"`
	IkeLifetime int64  `json:"IkeLifetime,omitempty"`
	//lint:ignore ST1003 the API's spelling
	LocalId string `json:"LocalId,omitempty"`
	//lint:ignore ST1003 the API's spelling
	RemoteId string `json:"RemoteId,omitempty"`
	Psk      string `json:"Psk,omitempty"`
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
	Enable bool   `json:"enable"`
	Dip    string `json:"dip,omitempty"`
	//lint:ignore ST1003 the API's spelling
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
	//lint:ignore ST1003 the API's spelling
	LocalBgpIp string `json:"LocalBgpIp,omitempty"`
}

// Tag is a resource tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// TunnelSettings is every setting of one tunnel of a dual-tunnel connection. It is
// comparable: verification after a modify compares it whole.
type TunnelSettings struct {
	ID                  string        `json:"id"`
	Role                string        `json:"role"` // master or slave
	CustomerGatewayID   string        `json:"customer_gateway_id"`
	EnableDpd           bool          `json:"enable_dpd"`
	EnableNatTraversal  bool          `json:"enable_nat_traversal"`
	RemoteCaCertificate string        `json:"remote_ca_certificate,omitempty"`
	Ike                 IkeSettings   `json:"ike"`
	Ipsec               IpsecSettings `json:"ipsec"`
	Bgp                 TunnelBgp     `json:"bgp"`
}

// TunnelBgp is a tunnel's BGP configuration.
type TunnelBgp struct {
	LocalAsn   int64  `json:"local_asn,omitempty"`
	TunnelCidr string `json:"tunnel_cidr,omitempty"`
	//lint:ignore ST1003 the API's spelling
	LocalBgpIp string `json:"local_bgp_ip,omitempty"`
}

// CGWSettings is what a replacement customer gateway copies from the one it replaces.
type CGWSettings struct {
	IP      string `json:"ip"`
	Asn     int64  `json:"asn,omitempty"`
	AuthKey string `json:"auth_key,omitempty"`
}

// ConnSnapshot is every setting of a connection needed to recreate it identically (and, for
// a dual-tunnel connection, to send back every tunnel setting in an in-place modify).
type ConnSnapshot struct {
	Kind                ConnKind               `json:"kind,omitempty"` // "" in ops saved before dual-tunnel support: single
	ID                  string                 `json:"id"`
	Name                string                 `json:"name"`
	GatewayID           string                 `json:"gateway_id"`
	CustomerGatewayID   string                 `json:"customer_gateway_id"` // single-tunnel only
	LocalSubnet         string                 `json:"local_subnet"`
	RemoteSubnet        string                 `json:"remote_subnet"`
	EffectImmediately   bool                   `json:"effect_immediately"`
	EnableDpd           bool                   `json:"enable_dpd"`
	EnableNatTraversal  bool                   `json:"enable_nat_traversal"`
	EnableTunnelsBgp    bool                   `json:"enable_tunnels_bgp,omitempty"`
	RemoteCaCertificate string                 `json:"remote_ca_certificate,omitempty"`
	Ike                 IkeSettings            `json:"ike"`
	Ipsec               IpsecSettings          `json:"ipsec"`
	Health              *HealthSettings        `json:"health,omitempty"`
	Bgp                 *BgpSettings           `json:"bgp,omitempty"`
	Tags                []Tag                  `json:"tags,omitempty"`
	Tunnels             []TunnelSettings       `json:"tunnels,omitempty"` // dual-tunnel only, master first
	CGWs                map[string]CGWSettings `json:"cgws,omitempty"`    // the customer gateways in use, by ID
	// unreproducible names a setting the snapshot holds but cannot send back ("" for none).
	unreproducible string
}

func (s ConnSnapshot) kind() ConnKind { return cmp.Or(s.Kind, KindSingle) }

// Steps of a re-point, persisted in VPNOp.Step.
const (
	StepSnapshotted = 1 // settings saved; nothing destroyed yet
	StepDeleted     = 2 // old connection deleted (recreate)
	StepCreated     = 3 // connection recreated, or modified in place and verified, on the new customer gateway
)

// VPNOp is the persisted progress of one re-point: enough to finish it from any point.
type VPNOp struct {
	ID         string     `json:"id"`
	Gateway    string     `json:"gateway"`
	Connection string     `json:"connection"`
	OldIP      netip.Addr `json:"old_ip"`
	NewIP      netip.Addr `json:"new_ip"`
	OldCGW     string     `json:"old_cgw"`            // single-tunnel: the one customer gateway
	OldCGWs    []string   `json:"old_cgws,omitempty"` // every customer gateway the connection used
	NewCGW     string     `json:"new_cgw,omitempty"`
	OldConnID  string     `json:"old_conn_id"`
	NewConnID  string     `json:"new_conn_id,omitempty"`
	Step       int        `json:"step"`
	// Modified: the in-place modify of a dual-tunnel connection was accepted (or found done).
	Modified bool `json:"modified,omitempty"`
	// Recreate: a dual-tunnel connection whose modify was answered "not supported here" is
	// recreated instead.
	Recreate bool `json:"recreate,omitempty"`
	// Roles are the tunnels this re-point moves (VPNConn.Roles); empty: every tunnel.
	Roles     []string     `json:"roles,omitempty"`
	Snapshot  ConnSnapshot `json:"snapshot"`
	StartedAt time.Time    `json:"started_at"`
}

func (op VPNOp) conn() VPNConn {
	return VPNConn{Gateway: op.Gateway, Connection: op.Connection, Roles: op.Roles}
}

func (op VPNOp) oldCGWs() []string {
	if len(op.OldCGWs) > 0 {
		return op.OldCGWs
	}
	if op.OldCGW != "" {
		return []string{op.OldCGW}
	}
	return nil
}

func (op VPNOp) clone() VPNOp {
	op.OldCGWs = append([]string(nil), op.OldCGWs...)
	op.Roles = append([]string(nil), op.Roles...)
	op.Snapshot.Tags = append([]Tag(nil), op.Snapshot.Tags...)
	op.Snapshot.Tunnels = append([]TunnelSettings(nil), op.Snapshot.Tunnels...)
	op.Snapshot.CGWs = maps.Clone(op.Snapshot.CGWs)
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
	ID      string
	CGW     string      // single-tunnel
	Tunnels []tunnelRef // dual-tunnel
}

type tunnelRef struct{ ID, Role, CGW string }

// cgws returns the customer gateways the connection uses, without repeats.
func (c connRef) cgws() []string { return c.cgwsOf(VPNConn{}) }

// cgwsOf returns the customer gateways the tunnels t covers use, without repeats.
func (c connRef) cgwsOf(t VPNConn) []string {
	if len(c.Tunnels) == 0 {
		return []string{c.CGW}
	}
	var out []string
	for _, tu := range c.Tunnels {
		if t.covers(tu.Role) && !slices.Contains(out, tu.CGW) {
			out = append(out, tu.CGW)
		}
	}
	return out
}

// on reports whether the tunnels t covers use customer gateway id only.
func (c connRef) on(t VPNConn, id string) bool {
	g := c.cgwsOf(t)
	return len(g) == 1 && g[0] == id
}

var (
	errUpdating     = errors.New("vpn gateway is updating")
	errNoConnection = errors.New("no connection named")
	// ErrIncomplete: the connection holds a setting the snapshot cannot reproduce, so it is
	// never deleted; the re-point is refused.
	ErrIncomplete = errors.New("cloud: connection has a setting ppter cannot reproduce; not re-pointed")
	// ErrVerify: after the in-place modify a tunnel does not read back as sent.
	ErrVerify = errors.New("cloud: tunnel settings differ after the modify")
	// ErrVanished: the connection of a target last applied no longer exists. ppter does not
	// recreate it (its settings are gone with it); an operator does.
	ErrVanished = errors.New("cloud: the VPN connection this target was applied to has vanished")
	// ErrGatewayBusy: another re-point holds the gateway's lock for longer than the budget.
	ErrGatewayBusy = errors.New("cloud: another re-point on this VPN gateway is in progress")
)

// applyVPN re-points the connection at ip when a customer gateway it uses has another
// address, finishing first any re-point a previous reconcile left half done.
func (r *Reconciler) applyVPN(ctx context.Context, t VPNConn, ip netip.Addr, st *TargetState, hold bool) (wire.State, error) {
	k := t.Key()
	wrap := func(err error) error { return fmt.Errorf("vpn %s: %w", t.Connection, err) }
	op, has, err := r.State.GetVPNOp(ctx, k)
	if err != nil {
		return wire.StateError, wrap(err)
	}
	if has && op.Snapshot.Kind == "" && op.Step < StepDeleted && !r.DryRun {
		// Saved by a version that knew single-tunnel connections only: its snapshot may lack
		// tunnel settings. Nothing was deleted yet, so start over with a complete one.
		r.Log.Warn("cloud: discarding a re-point saved by an older version; starting over", "connection", t.Connection)
		if err := r.State.DeleteVPNOp(ctx, k); err != nil {
			return wire.StateError, wrap(err)
		}
		has = false
	}
	if has && !r.DryRun {
		if err := r.withGateway(ctx, t.Gateway, func() error { return r.resume(ctx, k, &op) }); err != nil {
			return r.failState(err, st.Attempts), wrap(err)
		}
		st.LastRepoint = r.Clock.Now()
		if op.NewIP == ip {
			return wire.StateApplied, nil
		}
	}
	conn, err := r.findConn(ctx, t)
	if errors.Is(err, errNoConnection) {
		if err := r.siblingRecreating(ctx, t); err != nil {
			return r.failState(err, st.Attempts), wrap(err)
		}
		if st.State == wire.StateApplied {
			err = fmt.Errorf("%w: %w", ErrVanished, err)
		}
	}
	if err != nil {
		return wire.StateError, wrap(err)
	}
	if len(t.Roles) > 0 && len(conn.Tunnels) == 0 {
		return wire.StateError, wrap(fmt.Errorf("%w: its tunnels: name two lines, and it is a single-tunnel connection (one tunnel, one address): name one line for both or remove tunnels", ErrBadTarget))
	}
	used := conn.cgwsOf(t) // the customer gateways of the tunnels this target moves
	cgws := map[string]CGWSettings{}
	pointed := true
	for _, id := range conn.cgws() {
		c, err := r.cgwInfo(ctx, id)
		if err != nil {
			return wire.StateError, wrap(err)
		}
		cgws[id] = c
		if slices.Contains(used, id) {
			pointed = pointed && c.IP == ip.String()
		}
	}
	if pointed {
		if r.DryRun {
			return wire.StateDryRun, nil
		}
		return wire.StateApplied, nil
	}
	if hold {
		return wire.StateError, wrap(ErrUnconfirmed)
	}
	if !st.LastRepoint.IsZero() {
		if nb := st.LastRepoint.Add(t.MinInterval); r.Clock.Now().Before(nb) {
			st.NotBefore = nb
			return wire.StatePending, fmt.Errorf("re-point deferred until %s (min_interval)", nb.UTC().Format(time.RFC3339))
		}
	}
	snap, err := r.snapshot(ctx, conn.ID)
	if err != nil {
		return wire.StateError, wrap(err)
	}
	snap.CGWs = cgws
	if err := snap.complete(); err != nil {
		return wire.StateError, wrap(err)
	}
	if n := len(used); n > 1 {
		// Two lines (one customer gateway per tunnel) but one line configured: both tunnels
		// follow the one address.
		r.Log.Warn("cloud: the connection's tunnels use different customer gateways; both will follow this line's address (map them to the site's lines with tunnels:)",
			"connection", t.Connection, "customer_gateways", n)
	}
	first := used[0]
	oldIP, _ := netip.ParseAddr(cgws[first].IP)
	op = VPNOp{ID: newToken()[:16], Gateway: t.Gateway, Connection: t.Connection, OldIP: oldIP, NewIP: ip, Roles: t.Roles,
		OldCGW: first, OldCGWs: used, OldConnID: conn.ID, Step: StepSnapshotted, Snapshot: snap, StartedAt: r.Clock.Now()}
	if r.DryRun {
		r.logPlan(op)
		return wire.StateDryRun, nil
	}
	err = r.withGateway(ctx, t.Gateway, func() error {
		// The snapshot is saved before anything is created or destroyed.
		if err := r.State.PutVPNOp(ctx, k, op); err != nil {
			return err
		}
		return r.resume(ctx, k, &op)
	})
	if err != nil {
		return r.failState(err, st.Attempts), wrap(err)
	}
	st.LastRepoint = r.Clock.Now()
	return wire.StateApplied, nil
}

// siblingRecreating answers ErrGatewayBusy (pending) when another target of the connection
// (every tunnel, or one) has deleted it and not yet created it again: it is missing only
// until the resume timer finishes that re-point.
func (r *Reconciler) siblingRecreating(ctx context.Context, t VPNConn) error {
	for _, roles := range [][]string{nil, {RoleMaster}, {RoleSlave}} {
		k := VPNConn{Gateway: t.Gateway, Connection: t.Connection, Roles: roles}.Key()
		if k == t.Key() {
			continue
		}
		op, has, err := r.State.GetVPNOp(ctx, k)
		if err != nil {
			return err
		}
		if has && op.Step >= StepDeleted {
			return fmt.Errorf("%w: the re-point of %s is between delete and create", ErrGatewayBusy, k.Name)
		}
	}
	return nil
}

// failState is the target state for a saved re-point that stopped on err: pending when it
// only waits — for the gateway's lock, or for the gateway to finish an update past this
// invocation's deadline (the resume timer carries on; no failure is notified) — error
// otherwise.
// After maxWaitingAttempts reconciles in a row (about ten minutes of resume ticks) it is an
// error after all, so a gateway stuck updating is notified.
func (r *Reconciler) failState(err error, attempts int) wire.State {
	if (errors.Is(err, ErrGatewayBusy) || errors.Is(err, ErrDeadline)) && attempts < maxWaitingAttempts {
		return wire.StatePending
	}
	return wire.StateError
}

const maxWaitingAttempts = 10

// complete reports ErrIncomplete when the snapshot cannot reproduce the connection.
func (s ConnSnapshot) complete() error { return s.check(true) }

// check is complete, leaving out the customer gateways unless withCGWs: a fresh read whose
// tunnels are sent back must have their PSKs and lifetimes as the snapshot did.
func (s ConnSnapshot) check(withCGWs bool) error {
	if s.unreproducible != "" {
		return fmt.Errorf("%w: %s", ErrIncomplete, s.unreproducible)
	}
	cgw := func(id string) error {
		if c, ok := s.CGWs[id]; withCGWs && (!ok || c.IP == "") {
			return fmt.Errorf("%w: customer gateway %s not read", ErrIncomplete, id)
		}
		return nil
	}
	if s.kind() == KindSingle {
		if s.Ike.Psk == "" {
			return fmt.Errorf("%w: no pre-shared key read back", ErrIncomplete)
		}
		return cgw(s.CustomerGatewayID)
	}
	if len(s.Tunnels) != 2 || s.Tunnels[0].Role != RoleMaster || s.Tunnels[1].Role != RoleSlave {
		return fmt.Errorf("%w: %d tunnels, want master and slave", ErrIncomplete, len(s.Tunnels))
	}
	for _, t := range s.Tunnels {
		if t.Ike.Psk == "" || t.Ike.IkeLifetime == 0 || t.Ipsec.IpsecLifetime == 0 {
			return fmt.Errorf("%w: tunnel %s (%s) has no pre-shared key or lifetimes read back", ErrIncomplete, t.ID, t.Role)
		}
		if err := cgw(t.CustomerGatewayID); err != nil {
			return err
		}
	}
	return nil
}

// repoint is one run of resume: the reconciler and the op it carries on.
type repoint struct {
	*Reconciler
	op *VPNOp
	k  TargetKey // op's
	// deleted: this run deleted the connection, so the create needs no look-up first.
	deleted bool
}

// repointSteps are a re-point's steps in order. done tells from the saved op whether a
// step is behind it; run carries it out, first looking at what exists, so a step whose call
// succeeded but whose progress was never saved is not done twice. resume saves op after
// each step run.
var repointSteps = []struct {
	done func(op *VPNOp) bool
	run  func(p *repoint, ctx context.Context) error
}{
	{func(op *VPNOp) bool { return op.NewCGW != "" }, (*repoint).newCGW},
	{func(op *VPNOp) bool { return !op.inPlace() || op.Modified }, (*repoint).modify},
	{func(op *VPNOp) bool { return !op.inPlace() }, (*repoint).verify},
	{func(op *VPNOp) bool { return op.Step >= StepDeleted }, (*repoint).deleteConn},
	{func(op *VPNOp) bool { return op.Step >= StepCreated }, (*repoint).createConn},
}

// inPlace reports whether op is still to be carried out by modifying the connection: a
// dual-tunnel one not yet re-pointed, whose modify was not refused as not supported.
func (op *VPNOp) inPlace() bool {
	return op.Snapshot.kind() == KindDual && !op.Recreate && op.Step < StepCreated
}

// resume carries op to its end: the steps not behind it, then, once the gateway is active
// again, the deletion of the customer gateways no longer used.
func (r *Reconciler) resume(ctx context.Context, k TargetKey, op *VPNOp) error {
	p := &repoint{Reconciler: r, op: op, k: k}
	for _, s := range repointSteps {
		if s.done(op) {
			continue
		}
		if err := s.run(p, ctx); err != nil {
			return err
		}
		if err := r.State.PutVPNOp(ctx, k, *op); err != nil {
			return err
		}
	}
	if err := r.waitActive(ctx, op.Gateway); err != nil {
		return err
	}
	// An old customer gateway a tunnel op does not move still uses is kept.
	var used []string
	if conn, err := r.findConnByName(ctx, op.Gateway, op.Connection); err != nil {
		return err
	} else if conn != nil {
		used = conn.cgws()
	}
	for _, old := range op.oldCGWs() {
		if old != "" && old != op.NewCGW && !slices.Contains(used, old) {
			if err := r.deleteOldCGW(ctx, old); err != nil {
				return err
			}
		}
	}
	return r.State.DeleteVPNOp(ctx, k)
}

// newCGW finds or creates the customer gateway with the new address.
func (p *repoint) newCGW(ctx context.Context) (err error) {
	p.op.NewCGW, err = p.ensureCGW(ctx, p.op)
	return err
}

// deleteConn deletes the connection (recreate), unless it is gone already or already on the
// new customer gateway (a create whose progress was lost).
func (p *repoint) deleteConn(ctx context.Context) error {
	op := p.op
	conn, err := p.findConnByName(ctx, op.Gateway, op.Connection)
	if err != nil {
		return err
	}
	switch {
	case conn == nil:
	case conn.on(op.conn(), op.NewCGW):
		op.NewConnID, op.Step = conn.ID, StepCreated
		return nil
	default:
		if err := p.waitActive(ctx, op.Gateway); err != nil {
			return err
		}
		if len(op.Roles) > 0 {
			// The tunnels this re-point does not move are recreated as they are now: a
			// re-point of the other line's tunnel may have moved them since the snapshot.
			cur, err := p.read(ctx, conn.ID)
			if err != nil {
				return err
			}
			op.Snapshot.Tunnels = op.others(cur.Tunnels)
		}
		// The saved settings are the only copy once the connection is gone.
		if err := p.State.ConfirmVPNOp(ctx, p.k, *op); err != nil {
			return err
		}
		_, err := retried(ctx, p.Reconciler, "DeleteVpnConnection", p.VPC.DeleteVpnConnection,
			&vpc.DeleteVpnConnectionRequest{RegionId: tea.String(p.Region), VpnConnectionId: tea.String(conn.ID)})
		if err != nil && Code(err) != "InvalidVpnConnectionInstanceId.NotFound" {
			return err
		}
		p.deleted = true
	}
	op.Step = StepDeleted
	return nil
}

// createConn creates the connection again from the snapshot on the new customer gateway.
func (p *repoint) createConn(ctx context.Context) error {
	op := p.op
	if !p.deleted {
		// Resuming: a create whose answer or progress was lost already exists.
		conn, err := p.findConnByName(ctx, op.Gateway, op.Connection)
		if err != nil {
			return err
		}
		if conn != nil {
			op.NewConnID = conn.ID
		}
	}
	if op.NewConnID == "" {
		if err := p.waitActive(ctx, op.Gateway); err != nil {
			return err
		}
		req, err := p.createRequest(op)
		if err != nil {
			return err
		}
		resp, err := retried(ctx, p.Reconciler, "CreateVpnConnection", p.VPC.CreateVpnConnection, req)
		if err != nil {
			return err
		}
		op.NewConnID = tea.StringValue(resp.Body.VpnConnectionId)
	}
	op.Step = StepCreated
	return nil
}

// deleteOldCGW deletes customer gateway id unless a connection still uses it: the API's
// refusal decides (DescribeVpnConnections' CustomerGatewayId filter may not see tunnels).
func (r *Reconciler) deleteOldCGW(ctx context.Context, id string) error {
	_, err := retried(ctx, r, "DeleteCustomerGateway", r.VPC.DeleteCustomerGateway,
		&vpc.DeleteCustomerGatewayRequest{RegionId: tea.String(r.Region), CustomerGatewayId: tea.String(id)})
	switch Code(err) {
	case "InvalidCustomerGatewayInstanceId.NotFound":
		return nil
	case "DependencyViolation.VpnConnection":
		r.Log.Warn("cloud: old customer gateway still used by a connection; kept", "customer_gateway", id)
		return nil
	}
	return err
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
		return connRef{}, fmt.Errorf("%w: %w %q on gateway %s", ErrNotFound, errNoConnection, t.Connection, t.Gateway)
	}
	if c.CGW == "" && len(c.Tunnels) == 0 {
		// The list named no customer gateway and no tunnels: read the connection itself.
		s, err := r.snapshot(ctx, c.ID)
		if err != nil {
			return connRef{}, err
		}
		for _, tu := range s.Tunnels {
			c.Tunnels = append(c.Tunnels, tunnelRef{ID: tu.ID, Role: tu.Role, CGW: tu.CustomerGatewayID})
		}
		if c.CGW = s.CustomerGatewayID; c.CGW == "" && len(c.Tunnels) == 0 {
			return connRef{}, fmt.Errorf("%w: connection %s names no customer gateway", ErrNotFound, c.ID)
		}
	}
	return *c, nil
}

func (r *Reconciler) findConnByName(ctx context.Context, gw, name string) (*connRef, error) {
	list, err := listConnections(func(req *vpc.DescribeVpnConnectionsRequest) (*vpc.DescribeVpnConnectionsResponse, error) {
		return retried(ctx, r, "DescribeVpnConnections", r.VPC.DescribeVpnConnections, req)
	}, r.Region, gw)
	if err != nil {
		return nil, err
	}
	var found []connRef
	for _, c := range list {
		if tea.StringValue(c.Name) != name {
			continue
		}
		ref := connRef{ID: tea.StringValue(c.VpnConnectionId), CGW: tea.StringValue(c.CustomerGatewayId)}
		if c.TunnelOptionsSpecification != nil {
			for _, t := range c.TunnelOptionsSpecification.TunnelOptions {
				ref.Tunnels = append(ref.Tunnels, tunnelRef{ID: tea.StringValue(t.TunnelId), Role: tea.StringValue(t.Role), CGW: tea.StringValue(t.CustomerGatewayId)})
			}
		}
		found = append(found, ref)
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return &found[0], nil
	}
	return nil, fmt.Errorf("%w: %d connections named %q on gateway %s; names must be unique", ErrBadTarget, len(found), name, gw)
}

// cgwInfo reads one customer gateway's address and BGP settings.
func (r *Reconciler) cgwInfo(ctx context.Context, id string) (CGWSettings, error) {
	if id == "" {
		return CGWSettings{}, fmt.Errorf("%w: a tunnel names no customer gateway", ErrNotFound)
	}
	resp, err := retried(ctx, r, "DescribeCustomerGateways", r.VPC.DescribeCustomerGateways,
		&vpc.DescribeCustomerGatewaysRequest{RegionId: tea.String(r.Region), CustomerGatewayId: tea.String(id)})
	if err != nil {
		return CGWSettings{}, err
	}
	if resp.Body.CustomerGateways == nil || len(resp.Body.CustomerGateways.CustomerGateway) == 0 {
		return CGWSettings{}, fmt.Errorf("%w: customer gateway %s", ErrNotFound, id)
	}
	c := resp.Body.CustomerGateways.CustomerGateway[0]
	ip, err := netip.ParseAddr(tea.StringValue(c.IpAddress))
	if err != nil {
		return CGWSettings{}, fmt.Errorf("customer gateway %s: %w", id, err)
	}
	return CGWSettings{IP: ip.String(), Asn: tea.Int64Value(c.Asn), AuthKey: tea.StringValue(c.AuthKey)}, nil
}

// ensureCGW returns the customer gateway with op.NewIP, creating it when none exists; a new
// one copies Asn and AuthKey (BGP) from the customer gateway it replaces.
func (r *Reconciler) ensureCGW(ctx context.Context, op *VPNOp) (string, error) {
	find := func() (string, error) {
		all, err := listCustomerGateways(func(req *vpc.DescribeCustomerGatewaysRequest) (*vpc.DescribeCustomerGatewaysResponse, error) {
			return retried(ctx, r, "DescribeCustomerGateways", r.VPC.DescribeCustomerGateways, req)
		}, r.Region)
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
	req := &vpc.CreateCustomerGatewayRequest{RegionId: tea.String(r.Region),
		IpAddress: tea.String(op.NewIP.String()), Name: tea.String(cgwName(op.Connection, op.NewIP)),
		Description: tea.String("ppter: " + op.Connection), ClientToken: tea.String(op.ID + "-cgw")}
	if old, ok := op.Snapshot.CGWs[op.OldCGW]; ok {
		if old.Asn != 0 {
			req.Asn = tea.String(strconv.FormatInt(old.Asn, 10))
		}
		if old.AuthKey != "" {
			req.AuthKey = tea.String(old.AuthKey)
		}
	}
	resp, err := retried(ctx, r, "CreateCustomerGateway", r.VPC.CreateCustomerGateway, req)
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
	resp, err := retried(ctx, r, "DescribeVpnConnection", r.VPC.DescribeVpnConnection,
		&vpc.DescribeVpnConnectionRequest{RegionId: tea.String(r.Region), VpnConnectionId: tea.String(id)})
	if err != nil {
		return ConnSnapshot{}, err
	}
	b := resp.Body
	s := ConnSnapshot{Kind: KindSingle, ID: tea.StringValue(b.VpnConnectionId), Name: tea.StringValue(b.Name), GatewayID: tea.StringValue(b.VpnGatewayId),
		CustomerGatewayID: tea.StringValue(b.CustomerGatewayId), LocalSubnet: tea.StringValue(b.LocalSubnet), RemoteSubnet: tea.StringValue(b.RemoteSubnet),
		EffectImmediately: tea.BoolValue(b.EffectImmediately), EnableDpd: tea.BoolValue(b.EnableDpd), EnableNatTraversal: tea.BoolValue(b.EnableNatTraversal),
		EnableTunnelsBgp: tea.BoolValue(b.EnableTunnelsBgp), RemoteCaCertificate: tea.StringValue(b.RemoteCaCertificate)}
	if a := tea.StringValue(b.AttachType); a != "" && a != "VPNGW" {
		s.unreproducible = "attached to " + a + ", not a VPN gateway"
	}
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
	// A single-tunnel connection's BGP AuthKey cannot be sent back by CreateVpnConnection's
	// BgpConfig; a dual-tunnel one is modified in place and keeps it.
	bgpAuthKey := b.VpnBgpConfig != nil && tea.StringValue(b.VpnBgpConfig.AuthKey) != ""
	if b.Tags != nil {
		for _, t := range b.Tags.Tag {
			s.Tags = append(s.Tags, Tag{Key: tea.StringValue(t.Key), Value: tea.StringValue(t.Value)})
		}
	}
	if b.TunnelOptionsSpecification != nil && len(b.TunnelOptionsSpecification.TunnelOptions) > 0 {
		s.Kind = KindDual
		for _, t := range b.TunnelOptionsSpecification.TunnelOptions {
			ts, err := tunnelSettings(t)
			if err != nil {
				s.unreproducible = err.Error()
			}
			s.Tunnels = append(s.Tunnels, ts)
		}
		slices.SortStableFunc(s.Tunnels, func(a, b TunnelSettings) int { return strings.Compare(a.Role, b.Role) }) // master < slave
	}
	if bgpAuthKey && s.Kind == KindSingle {
		s.unreproducible = "a BGP AuthKey on the connection (CreateVpnConnection's BgpConfig cannot carry it)"
	}
	return s, nil
}

// tunnelSettings reads one tunnel of DescribeVpnConnection, where every scalar is a string.
func tunnelSettings(t *vpc.DescribeVpnConnectionResponseBodyTunnelOptionsSpecificationTunnelOptions) (TunnelSettings, error) {
	var bad []string
	num := func(what string, p *string) int64 {
		v := tea.StringValue(p)
		if v == "" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			bad = append(bad, what)
		}
		return n
	}
	flag := func(what string, p *string) bool {
		switch tea.StringValue(p) {
		case "true":
			return true
		case "false":
			return false
		}
		bad = append(bad, what)
		return false
	}
	ts := TunnelSettings{ID: tea.StringValue(t.TunnelId), Role: tea.StringValue(t.Role), CustomerGatewayID: tea.StringValue(t.CustomerGatewayId),
		EnableDpd: flag("EnableDpd", t.EnableDpd), EnableNatTraversal: flag("EnableNatTraversal", t.EnableNatTraversal),
		RemoteCaCertificate: tea.StringValue(t.RemoteCaCertificate)}
	if k := t.TunnelIkeConfig; k != nil {
		ts.Ike = IkeSettings{IkeVersion: tea.StringValue(k.IkeVersion), IkeMode: tea.StringValue(k.IkeMode), IkeEncAlg: tea.StringValue(k.IkeEncAlg),
			IkeAuthAlg: tea.StringValue(k.IkeAuthAlg), IkePfs: tea.StringValue(k.IkePfs), IkeLifetime: num("IkeLifetime", k.IkeLifetime),
			LocalId: tea.StringValue(k.LocalId), RemoteId: tea.StringValue(k.RemoteId), Psk: tea.StringValue(k.Psk)}
	}
	if p := t.TunnelIpsecConfig; p != nil {
		ts.Ipsec = IpsecSettings{IpsecEncAlg: tea.StringValue(p.IpsecEncAlg), IpsecAuthAlg: tea.StringValue(p.IpsecAuthAlg),
			IpsecPfs: tea.StringValue(p.IpsecPfs), IpsecLifetime: num("IpsecLifetime", p.IpsecLifetime)}
	}
	if g := t.TunnelBgpConfig; g != nil {
		ts.Bgp = TunnelBgp{LocalAsn: num("LocalAsn", g.LocalAsn), TunnelCidr: tea.StringValue(g.TunnelCidr), LocalBgpIp: tea.StringValue(g.LocalBgpIp)}
	}
	if len(bad) > 0 {
		return ts, fmt.Errorf("tunnel %s: unreadable %s", ts.ID, strings.Join(bad, ", "))
	}
	return ts, nil
}

// followIP is the RemoteId a tunnel gets when its customer gateway moves to op.NewIP: one
// that was the old address follows; an FQDN or another fixed ID stays.
func (op *VPNOp) followIP(remoteID, oldCGW string) string {
	if c, ok := op.Snapshot.CGWs[oldCGW]; ok && remoteID == c.IP {
		return op.NewIP.String()
	}
	if oldCGW == "" && remoteID == op.OldIP.String() {
		return op.NewIP.String()
	}
	return remoteID
}

// wantTunnels are the tunnels as they must read after the re-point: those op moves as the
// snapshot has them, on the new customer gateway; the others as cur (the connection's
// tunnels as read now) has them, untouched.
func (op *VPNOp) wantTunnels(cur []TunnelSettings) []TunnelSettings {
	out := op.others(cur)
	for i := range out {
		if op.conn().covers(out[i].Role) {
			out[i].Ike.RemoteId = op.followIP(out[i].Ike.RemoteId, out[i].CustomerGatewayID)
			out[i].CustomerGatewayID = op.NewCGW
		}
	}
	return out
}

// others is the snapshot's tunnels with those op does not move taken from cur, and the IDs
// of those it moves (a recreate by the other tunnel's re-point renews them).
func (op *VPNOp) others(cur []TunnelSettings) []TunnelSettings {
	out := append([]TunnelSettings(nil), op.Snapshot.Tunnels...)
	for i := range out {
		for _, c := range cur {
			switch {
			case c.Role != out[i].Role:
			case op.conn().covers(c.Role):
				out[i].ID = c.ID
			default:
				out[i] = c
			}
		}
	}
	return out
}

func jsonString(v any) (*string, error) {
	b, err := json.Marshal(v)
	return tea.String(string(b)), err
}

// createRequest rebuilds the connection from the snapshot on the new customer gateway.
// Single-tunnel: IKE/IPsec/health/BGP go as JSON strings (numbers stay numbers). Dual-tunnel:
// TunnelOptionsSpecification.N with each tunnel's settings and role. A RemoteId that was the
// old address becomes the new one.
func (r *Reconciler) createRequest(op *VPNOp) (*vpc.CreateVpnConnectionRequest, error) {
	s := op.Snapshot
	req := &vpc.CreateVpnConnectionRequest{RegionId: tea.String(r.Region), VpnGatewayId: tea.String(op.Gateway),
		Name: tea.String(s.Name), LocalSubnet: tea.String(s.LocalSubnet),
		RemoteSubnet: tea.String(s.RemoteSubnet), EffectImmediately: tea.Bool(s.EffectImmediately),
		ClientToken: tea.String(op.ID + "-conn")}
	if s.RemoteCaCertificate != "" {
		req.RemoteCaCertificate = tea.String(s.RemoteCaCertificate)
	}
	var err error
	if s.kind() == KindDual {
		req.EnableTunnelsBgp = tea.Bool(s.EnableTunnelsBgp)
		for _, t := range op.wantTunnels(s.Tunnels) {
			req.TunnelOptionsSpecification = append(req.TunnelOptionsSpecification, createTunnel(t))
		}
	} else {
		ike := s.Ike
		ike.RemoteId = op.followIP(ike.RemoteId, s.CustomerGatewayID)
		req.CustomerGatewayId = tea.String(op.NewCGW)
		req.EnableDpd, req.EnableNatTraversal = tea.Bool(s.EnableDpd), tea.Bool(s.EnableNatTraversal)
		if req.IkeConfig, err = jsonString(ike); err != nil {
			return nil, err
		}
		if req.IpsecConfig, err = jsonString(s.Ipsec); err != nil {
			return nil, err
		}
		if s.Bgp != nil {
			if req.BgpConfig, err = jsonString(s.Bgp); err != nil {
				return nil, err
			}
		}
	}
	if s.Health != nil {
		if req.HealthCheckConfig, err = jsonString(s.Health); err != nil {
			return nil, err
		}
	}
	for _, t := range s.Tags {
		req.Tags = append(req.Tags, &vpc.CreateVpnConnectionRequestTags{Key: tea.String(t.Key), Value: tea.String(t.Value)})
	}
	return req, nil
}

func createTunnel(t TunnelSettings) *vpc.CreateVpnConnectionRequestTunnelOptionsSpecification {
	o := &vpc.CreateVpnConnectionRequestTunnelOptionsSpecification{Role: tea.String(t.Role), CustomerGatewayId: tea.String(t.CustomerGatewayID),
		EnableDpd: tea.Bool(t.EnableDpd), EnableNatTraversal: tea.Bool(t.EnableNatTraversal),
		TunnelIkeConfig: &vpc.CreateVpnConnectionRequestTunnelOptionsSpecificationTunnelIkeConfig{IkeVersion: tea.String(t.Ike.IkeVersion),
			IkeMode: tea.String(t.Ike.IkeMode), IkeEncAlg: tea.String(t.Ike.IkeEncAlg), IkeAuthAlg: tea.String(t.Ike.IkeAuthAlg),
			IkePfs: tea.String(t.Ike.IkePfs), IkeLifetime: tea.Int64(t.Ike.IkeLifetime), LocalId: tea.String(t.Ike.LocalId),
			RemoteId: tea.String(t.Ike.RemoteId), Psk: tea.String(t.Ike.Psk)},
		TunnelIpsecConfig: &vpc.CreateVpnConnectionRequestTunnelOptionsSpecificationTunnelIpsecConfig{IpsecEncAlg: tea.String(t.Ipsec.IpsecEncAlg),
			IpsecAuthAlg: tea.String(t.Ipsec.IpsecAuthAlg), IpsecPfs: tea.String(t.Ipsec.IpsecPfs), IpsecLifetime: tea.Int64(t.Ipsec.IpsecLifetime)}}
	if t.RemoteCaCertificate != "" {
		o.RemoteCaCertificate = tea.String(t.RemoteCaCertificate)
	}
	if t.Bgp != (TunnelBgp{}) {
		o.TunnelBgpConfig = &vpc.CreateVpnConnectionRequestTunnelOptionsSpecificationTunnelBgpConfig{TunnelCidr: tea.String(t.Bgp.TunnelCidr),
			LocalBgpIp: tea.String(t.Bgp.LocalBgpIp)}
		if t.Bgp.LocalAsn != 0 {
			o.TunnelBgpConfig.LocalAsn = tea.Int64(t.Bgp.LocalAsn)
		}
	}
	return o
}

// logPlan logs, for dry run, the mutating calls a re-point would make. The requests are
// built from a copy of op whose secrets are replaced by "[REDACTED]": redacting the values,
// not the rendered text, hides a PSK whatever it contains.
func (r *Reconciler) logPlan(op VPNOp) {
	op = op.Redacted()
	op.NewCGW = "<new customer gateway>"
	r.wouldCall("CreateCustomerGateway", &vpc.CreateCustomerGatewayRequest{RegionId: tea.String(r.Region),
		IpAddress: tea.String(op.NewIP.String()), Name: tea.String(cgwName(op.Connection, op.NewIP))})
	if op.Snapshot.kind() == KindDual {
		if req, err := r.modifyRequest(&op, op.Snapshot.Tunnels); err == nil {
			r.wouldCall("ModifyVpnConnectionAttribute", req)
		}
	} else {
		r.wouldCall("DeleteVpnConnection", &vpc.DeleteVpnConnectionRequest{RegionId: tea.String(r.Region), VpnConnectionId: tea.String(op.OldConnID)})
		if req, err := r.createRequest(&op); err == nil {
			r.wouldCall("CreateVpnConnection", req)
		}
	}
	for _, id := range op.oldCGWs() {
		r.wouldCall("DeleteCustomerGateway", &vpc.DeleteCustomerGatewayRequest{RegionId: tea.String(r.Region), CustomerGatewayId: tea.String(id)})
	}
}
