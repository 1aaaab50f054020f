package aliyunemu

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// Tunnel roles of a dual-tunnel connection (fixed at creation).
const (
	RoleMaster = "master"
	RoleSlave  = "slave"
)

// Tunnel is one of the two tunnels of a dual-tunnel connection: master to the gateway's
// InternetIp, slave to its DisasterRecoveryInternetIp. Each has its own customer gateway
// and settings.
type Tunnel struct {
	ID                  string
	Role                string
	CustomerGatewayID   string
	EnableDpd           bool
	EnableNatTraversal  bool
	RemoteCaCertificate string
	Ike                 IkeConfig
	Ipsec               IpsecConfig
	Bgp                 TunnelBgp
}

// TunnelBgp is a tunnel's BGP configuration (EnableTunnelsBgp switches it on for both).
type TunnelBgp struct {
	LocalAsn int64
	//lint:ignore ST1003 the API's spelling
	TunnelCidr, LocalBgpIp string
}

// Write is one mutating call that reached a VPN gateway; Overlap is set when it arrived
// while the gateway was still applying an earlier write (it was refused).
type Write struct {
	At      time.Time
	Action  string
	Overlap string // the earlier write it overlapped, "" for none
}

// tunnelSpecKeys are the keys of one TunnelOptionsSpecification entry as the SDK flattens it
// (openapiutil.Query): create and modify share them; modify adds TunnelId.
var tunnelSpecKeys = []string{"CustomerGatewayId", "EnableDpd", "EnableNatTraversal", "RemoteCaCertificate", "Role",
	"TunnelIkeConfig.IkeAuthAlg", "TunnelIkeConfig.IkeEncAlg", "TunnelIkeConfig.IkeLifetime", "TunnelIkeConfig.IkeMode",
	"TunnelIkeConfig.IkePfs", "TunnelIkeConfig.IkeVersion", "TunnelIkeConfig.LocalId", "TunnelIkeConfig.Psk", "TunnelIkeConfig.RemoteId",
	"TunnelIpsecConfig.IpsecAuthAlg", "TunnelIpsecConfig.IpsecEncAlg", "TunnelIpsecConfig.IpsecLifetime", "TunnelIpsecConfig.IpsecPfs",
	"TunnelBgpConfig.LocalAsn", "TunnelBgpConfig.LocalBgpIp", "TunnelBgpConfig.TunnelCidr"}

func tunnelParams(prefix string, extra ...string) []string {
	var out []string
	for _, k := range append(append([]string(nil), tunnelSpecKeys...), extra...) {
		out = append(out, prefix+k)
	}
	return out
}

// AddDualTunnelVpnGateway creates an active VPN gateway with two public addresses: one for
// the master tunnels, one (DisasterRecoveryInternetIp) for the slave tunnels. Such a
// gateway creates dual-tunnel connections only.
func (s *Server) AddDualTunnelVpnGateway(id, internetIP, drIP string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gateways[id] = &Gateway{ID: id, Name: id, InternetIP: internetIP, DisasterRecoveryIP: drIP}
}

// Writes returns the mutating calls that reached gateway id, in order.
func (s *Server) Writes(id string) []Write {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Write(nil), s.writes[id]...)
}

// Overlaps returns the writes on gateway id that arrived while another was being applied.
func (s *Server) Overlaps(id string) []Write {
	var out []Write
	for _, w := range s.Writes(id) {
		if w.Overlap != "" {
			out = append(out, w)
		}
	}
	return out
}

// tunnelSpec is one TunnelOptionsSpecification entry: prefix is "TunnelOptionsSpecification.N."
// or, for ModifyTunnelAttribute, "TunnelOptionsSpecification.".
type tunnelSpec struct {
	p      params
	prefix string
}

func (t tunnelSpec) has(k string) bool   { return t.p.has(t.prefix + k) }
func (t tunnelSpec) get(k string) string { return t.p.Get(t.prefix + k) }

// tunnelSpecs returns the entries TunnelOptionsSpecification.1…N of p.
func tunnelSpecs(p params) []tunnelSpec {
	idx := map[int]bool{}
	for k := range p.Values {
		rest, ok := strings.CutPrefix(k, "TunnelOptionsSpecification.")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ".")
		if i, err := strconv.Atoi(n); err == nil {
			idx[i] = true
		}
	}
	var ns []int
	for i := range idx {
		ns = append(ns, i)
	}
	sort.Ints(ns)
	var out []tunnelSpec
	for _, i := range ns {
		out = append(out, tunnelSpec{p: p, prefix: "TunnelOptionsSpecification." + strconv.Itoa(i) + "."})
	}
	return out
}

// applyTunnel sets tunnel t from spec as a whole: the service treats a tunnel's options as
// one document, so every setting the spec leaves out returns to its default (a missing PSK
// is invented anew). Callers that change one field must send back all the others.
func (s *Server) applyTunnel(c *Connection, t *Tunnel, spec tunnelSpec) *APIError {
	if spec.has("CustomerGatewayId") {
		id := spec.get("CustomerGatewayId")
		if _, e := s.cgw(id); e != nil {
			return e
		}
		t.CustomerGatewayID = id
	}
	n := Tunnel{ID: t.ID, Role: t.Role, CustomerGatewayID: t.CustomerGatewayID}
	var e *APIError
	b := func(k string, def bool) bool {
		if e != nil {
			return def
		}
		var v bool
		v, e = spec.p.bool(spec.prefix+k, def)
		return v
	}
	i := func(k string) int64 {
		if e != nil {
			return 0
		}
		var v int64
		v, e = spec.p.int(spec.prefix+k, 0)
		return v
	}
	n.EnableDpd = b("EnableDpd", true)
	n.EnableNatTraversal = b("EnableNatTraversal", true)
	n.RemoteCaCertificate = spec.get("RemoteCaCertificate")
	n.Ike = IkeConfig{IkeVersion: spec.get("TunnelIkeConfig.IkeVersion"), IkeMode: spec.get("TunnelIkeConfig.IkeMode"),
		IkeEncAlg: spec.get("TunnelIkeConfig.IkeEncAlg"), IkeAuthAlg: spec.get("TunnelIkeConfig.IkeAuthAlg"),
		IkePfs: spec.get("TunnelIkeConfig.IkePfs"), IkeLifetime: i("TunnelIkeConfig.IkeLifetime"),
		LocalId: spec.get("TunnelIkeConfig.LocalId"), RemoteId: spec.get("TunnelIkeConfig.RemoteId"), Psk: spec.get("TunnelIkeConfig.Psk")}
	n.Ipsec = IpsecConfig{IpsecEncAlg: spec.get("TunnelIpsecConfig.IpsecEncAlg"), IpsecAuthAlg: spec.get("TunnelIpsecConfig.IpsecAuthAlg"),
		IpsecPfs: spec.get("TunnelIpsecConfig.IpsecPfs"), IpsecLifetime: i("TunnelIpsecConfig.IpsecLifetime")}
	n.Bgp = TunnelBgp{LocalAsn: i("TunnelBgpConfig.LocalAsn"), TunnelCidr: spec.get("TunnelBgpConfig.TunnelCidr"),
		LocalBgpIp: spec.get("TunnelBgpConfig.LocalBgpIp")}
	if e != nil {
		return e
	}
	s.tunnelDefaults(c, &n)
	*t = n
	return nil
}

// tunnelDefaults fills what the service fills in a tunnel's options.
func (s *Server) tunnelDefaults(c *Connection, t *Tunnel) {
	localID, remoteID := "", ""
	if g := s.gateways[c.GatewayID]; g != nil {
		localID = g.tunnelIP(t.Role)
	}
	if cg := s.cgws[t.CustomerGatewayID]; cg != nil {
		remoteID = cg.IP
	}
	fillDefaults(&t.Ike, &t.Ipsec, "ikev2", localID, remoteID)
}

func (g *Gateway) tunnelIP(role string) string {
	if role == RoleSlave {
		return g.DisasterRecoveryIP
	}
	return g.InternetIP
}

// createTunnels builds the two tunnels of a new dual-tunnel connection from p.
func (s *Server) createTunnels(c *Connection, p params) *APIError {
	specs := tunnelSpecs(p)
	if len(specs) != 2 {
		return errorf(400, "InvalidParameter.TunnelOptionsSpecification", "A dual-tunnel connection needs exactly two TunnelOptionsSpecification entries, got %d.", len(specs))
	}
	seen := map[string]bool{}
	for _, sp := range specs {
		role := sp.get("Role")
		if (role != RoleMaster && role != RoleSlave) || seen[role] {
			return errorf(400, "InvalidParameter.Role", "Each tunnel needs a distinct Role, master or slave (got %q).", role)
		}
		seen[role] = true
		if _, e := sp.p.required(sp.prefix + "CustomerGatewayId"); e != nil {
			return e
		}
		t := Tunnel{ID: s.newID("tun-emu"), Role: role}
		if e := s.applyTunnel(c, &t, sp); e != nil {
			return e
		}
		c.Tunnels = append(c.Tunnels, t)
	}
	sort.Slice(c.Tunnels, func(i, j int) bool { return c.Tunnels[i].Role == RoleMaster && c.Tunnels[j].Role != RoleMaster })
	return nil
}

// modifyTunnelSpecs applies TunnelOptionsSpecification.N.* of ModifyVpnConnectionAttribute to
// a copy of c's tunnels.
func (s *Server) modifyTunnelSpecs(c *Connection, p params) ([]Tunnel, *APIError) {
	tunnels := append([]Tunnel(nil), c.Tunnels...)
	for _, sp := range tunnelSpecs(p) {
		id, e := sp.p.required(sp.prefix + "TunnelId")
		if e != nil {
			return nil, e
		}
		t := tunnelByID(tunnels, id)
		if t == nil {
			return nil, errorf(400, "InvalidTunnelId.NotFound", "The specified tunnel %s does not belong to connection %s.", id, c.ID)
		}
		if r := sp.get("Role"); r != "" && r != t.Role {
			return nil, errorf(400, "OperationFailed.RoleImmutable", "A tunnel's role cannot be changed.")
		}
		if e := s.applyTunnel(c, t, sp); e != nil {
			return nil, e
		}
	}
	return tunnels, nil
}

func tunnelByID(ts []Tunnel, id string) *Tunnel {
	for i := range ts {
		if ts[i].ID == id {
			return &ts[i]
		}
	}
	return nil
}

func (s *Server) modifyTunnelAttribute(p params) (any, *APIError) {
	id, e := p.required("VpnConnectionId")
	if e != nil {
		return nil, e
	}
	tid, e := p.required("TunnelId")
	if e != nil {
		return nil, e
	}
	c, e := s.conn(id)
	if e != nil {
		return nil, e
	}
	if len(c.Tunnels) == 0 {
		return nil, errorf(400, "OperationUnsupported.TunnelOptions", "The connection %s is a single-tunnel connection.", id)
	}
	tunnels := append([]Tunnel(nil), c.Tunnels...)
	t := tunnelByID(tunnels, tid)
	if t == nil {
		return nil, errorf(400, "InvalidTunnelId.NotFound", "The specified tunnel %s does not belong to connection %s.", tid, id)
	}
	g, e := s.gatewayForMutation(c.GatewayID, "ModifyTunnelAttribute")
	if e != nil {
		return nil, e
	}
	if e := s.applyTunnel(c, t, tunnelSpec{p: p, prefix: "TunnelOptionsSpecification."}); e != nil {
		return nil, e
	}
	c.Tunnels = tunnels
	s.touch(g)
	return map[string]any{}, nil
}

// tunnelsJSON renders the tunnels as Describe* returns them: an object wrapping an array,
// every scalar a string.
func (s *Server) tunnelsJSON(c *Connection) map[string]any {
	g := s.gateways[c.GatewayID]
	state := "active"
	if s.status(g) != StatusActive {
		state = "updating"
	}
	var list []any
	for i, t := range c.Tunnels {
		list = append(list, map[string]any{
			"TunnelId": t.ID, "Role": t.Role, "TunnelIndex": i + 1, "CustomerGatewayId": t.CustomerGatewayID,
			"EnableDpd": boolStr(t.EnableDpd), "EnableNatTraversal": boolStr(t.EnableNatTraversal),
			"InternetIp": g.tunnelIP(t.Role), "RemoteCaCertificate": t.RemoteCaCertificate, "State": state,
			"Status": "ike_sa_not_established", "ZoneNo": "cn-hangzhou-" + string(rune('h'+i)),
			"TunnelIkeConfig": map[string]any{"IkeVersion": t.Ike.IkeVersion, "IkeMode": t.Ike.IkeMode, "IkeEncAlg": t.Ike.IkeEncAlg,
				"IkeAuthAlg": t.Ike.IkeAuthAlg, "IkePfs": t.Ike.IkePfs, "IkeLifetime": strconv.FormatInt(t.Ike.IkeLifetime, 10),
				"LocalId": t.Ike.LocalId, "RemoteId": t.Ike.RemoteId, "Psk": s.psk(t.Ike.Psk)},
			"TunnelIpsecConfig": map[string]any{"IpsecEncAlg": t.Ipsec.IpsecEncAlg, "IpsecAuthAlg": t.Ipsec.IpsecAuthAlg,
				"IpsecPfs": t.Ipsec.IpsecPfs, "IpsecLifetime": strconv.FormatInt(t.Ipsec.IpsecLifetime, 10)},
			"TunnelBgpConfig": map[string]any{"LocalAsn": asnStr(t.Bgp.LocalAsn), "TunnelCidr": t.Bgp.TunnelCidr,
				"LocalBgpIp": t.Bgp.LocalBgpIp, "BgpStatus": "false", "PeerAsn": "", "PeerBgpIp": ""},
		})
	}
	return map[string]any{"TunnelOptions": list}
}

func asnStr(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

// SeedDualTunnel sets up a dual-tunnel gateway (when new) with a customer gateway at
// officeIP used by both tunnels of a connection named name, each tunnel with its own PSK
// (psk+"-m", psk+"-s"). It returns the connection as stored.
func (s *Server) SeedDualTunnel(gateway, name, officeIP, psk string) Connection {
	if s.GatewayStatus(gateway) == "" {
		s.AddDualTunnelVpnGateway(gateway, "47.0.0.1", "47.0.0.2")
	}
	cgw := s.PutCustomerGateway(officeIP, name+"-cgw")
	tun := func(role, localID, suffix string) Tunnel {
		return Tunnel{Role: role, CustomerGatewayID: cgw, EnableDpd: true, EnableNatTraversal: true,
			Ike: IkeConfig{IkeVersion: "ikev2", IkeMode: "main", IkeEncAlg: "aes", IkeAuthAlg: "sha1", IkePfs: "group2",
				IkeLifetime: 86400, Psk: psk + suffix, LocalId: localID, RemoteId: officeIP},
			Ipsec: IpsecConfig{IpsecEncAlg: "aes", IpsecAuthAlg: "sha1", IpsecPfs: "group2", IpsecLifetime: 86400}}
	}
	id := s.PutConnection(Connection{Name: name, GatewayID: gateway, LocalSubnet: "172.16.0.0/20", RemoteSubnet: "10.1.0.0/24",
		EffectImmediately: true, Tunnels: []Tunnel{tun(RoleMaster, "47.0.0.1", "-m"), tun(RoleSlave, "47.0.0.2", "-s")}})
	for _, c := range s.Connections() {
		if c.ID == id {
			return c
		}
	}
	panic("aliyunemu: seeded connection vanished")
}
