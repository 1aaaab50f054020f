package aliyunemu

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Gateway statuses.
const (
	StatusActive   = "active"
	StatusUpdating = "updating"
)

// CustomerGateway is an emulated customer gateway. Its IpAddress never changes.
type CustomerGateway struct {
	ID          string
	IP          string
	Name        string
	Description string
	Asn         int64  // BGP autonomous system number of the office, 0 when unset
	AuthKey     string // BGP MD5 key, "" when unset
	CreateTime  int64
}

// Gateway is an emulated VPN gateway. One with a DisasterRecoveryIP is a dual-tunnel
// gateway: it creates dual-tunnel connections only.
type Gateway struct {
	ID                 string
	Name               string
	InternetIP         string
	DisasterRecoveryIP string
	busyUntil          time.Time
	lastWrite          string
}

func (g *Gateway) dualTunnel() bool { return g.DisasterRecoveryIP != "" }

// IkeConfig is a connection's IKE phase-1 configuration.
type IkeConfig struct {
	IkeVersion, IkeMode, IkeEncAlg, IkeAuthAlg, IkePfs string
	IkeLifetime                                        int64
	//lint:ignore ST1003 the API's spelling
	LocalId, RemoteId, Psk string
}

// IpsecConfig is a connection's IPsec phase-2 configuration.
type IpsecConfig struct {
	IpsecEncAlg, IpsecAuthAlg, IpsecPfs string
	IpsecLifetime                       int64
}

// HealthCheck is a connection's health-check configuration.
type HealthCheck struct {
	Enable bool
	//lint:ignore ST1003 the API's spelling
	Dip, Sip        string
	Interval, Retry int64
	Policy          string
}

// BgpConfig is a connection's BGP configuration.
type BgpConfig struct {
	EnableBgp bool
	LocalAsn  int64
	//lint:ignore ST1003 the API's spelling
	TunnelCidr, LocalBgpIp string
}

// Tag is a resource tag.
type Tag struct{ Key, Value string }

// Connection is an emulated IPsec connection: single-tunnel (Tunnels empty; the top-level
// customer gateway and IKE/IPsec settings apply) or dual-tunnel (two Tunnels, each with its
// own customer gateway and settings; the top-level ones are unused).
type Connection struct {
	ID                  string
	Name                string
	GatewayID           string
	CustomerGatewayID   string
	LocalSubnet         string
	RemoteSubnet        string
	EffectImmediately   bool
	EnableDpd           bool
	EnableNatTraversal  bool
	AutoConfigRoute     bool
	Ike                 IkeConfig
	Ipsec               IpsecConfig
	Health              HealthCheck
	Bgp                 BgpConfig
	EnableTunnelsBgp    bool
	RemoteCaCertificate string
	Tunnels             []Tunnel
	Tags                []Tag
	CreateTime          int64
}

func (c Connection) clone() Connection {
	c.Tags = append([]Tag(nil), c.Tags...)
	c.Tunnels = append([]Tunnel(nil), c.Tunnels...)
	return c
}

// usesCGW reports whether the connection or one of its tunnels uses customer gateway id.
func (c *Connection) usesCGW(id string) bool {
	if c.CustomerGatewayID == id {
		return true
	}
	for _, t := range c.Tunnels {
		if t.CustomerGatewayID == id {
			return true
		}
	}
	return false
}

var vpcCommon = []string{"RegionId", "OwnerId", "OwnerAccount", "ResourceOwnerId", "ResourceOwnerAccount"}

func vpcParams(p ...string) []string { return append(p, vpcCommon...) }

var connSettable = []string{"Name", "LocalSubnet", "RemoteSubnet", "EffectImmediately", "IkeConfig", "IpsecConfig",
	"HealthCheckConfig", "EnableDpd", "EnableNatTraversal", "BgpConfig", "AutoConfigRoute", "RemoteCaCertificate", "EnableTunnelsBgp"}

func init() {
	handlers["CreateCustomerGateway"] = handler{version: VersionVPC, mutating: true, fn: (*Server).createCustomerGateway,
		params: vpcParams("IpAddress", "Name", "Description", "Asn", "AuthKey", "ClientToken", "ResourceGroupId", "Tags.N.Key", "Tags.N.Value")}
	handlers["DescribeCustomerGateways"] = handler{version: VersionVPC, fn: (*Server).describeCustomerGateways,
		params: vpcParams("CustomerGatewayId", "PageNumber", "PageSize", "ResourceGroupId", "Tag.N.Key", "Tag.N.Value")}
	handlers["DeleteCustomerGateway"] = handler{version: VersionVPC, mutating: true, fn: (*Server).deleteCustomerGateway,
		params: vpcParams("CustomerGatewayId", "ClientToken")}
	handlers["ModifyCustomerGatewayAttribute"] = handler{version: VersionVPC, mutating: true, fn: (*Server).modifyCustomerGatewayAttribute,
		params: vpcParams("CustomerGatewayId", "Name", "Description", "AuthKey", "ClientToken")}
	handlers["DescribeVpnGateway"] = handler{version: VersionVPC, fn: (*Server).describeVpnGateway,
		params: vpcParams("VpnGatewayId", "IncludeReservationData")}
	handlers["DescribeVpnConnections"] = handler{version: VersionVPC, fn: (*Server).describeVpnConnections,
		params: vpcParams("VpnGatewayId", "CustomerGatewayId", "VpnConnectionId", "PageNumber", "PageSize", "Tag.N.Key", "Tag.N.Value")}
	handlers["DescribeVpnConnection"] = handler{version: VersionVPC, fn: (*Server).describeVpnConnection,
		params: vpcParams("VpnConnectionId")}
	handlers["CreateVpnConnection"] = handler{version: VersionVPC, mutating: true, fn: (*Server).createVpnConnection,
		params: vpcParams(append(append([]string{"VpnGatewayId", "CustomerGatewayId", "ClientToken", "DryRun", "Tags.N.Key", "Tags.N.Value"}, connSettable...),
			tunnelParams("TunnelOptionsSpecification.N.")...)...)}
	handlers["DeleteVpnConnection"] = handler{version: VersionVPC, mutating: true, fn: (*Server).deleteVpnConnection,
		params: vpcParams("VpnConnectionId", "ClientToken")}
	handlers["ModifyVpnConnectionAttribute"] = handler{version: VersionVPC, mutating: true, fn: (*Server).modifyVpnConnectionAttribute,
		params: vpcParams(append(append([]string{"VpnConnectionId", "ClientToken"}, connSettable...),
			tunnelParams("TunnelOptionsSpecification.N.", "TunnelId")...)...)}
	handlers["ModifyTunnelAttribute"] = handler{version: VersionVPC, mutating: true, fn: (*Server).modifyTunnelAttribute,
		params: vpcParams(append([]string{"VpnConnectionId", "TunnelId", "ClientToken"}, tunnelParams("TunnelOptionsSpecification.")...)...)}
}

// AddVpnGateway creates an active VPN gateway.
func (s *Server) AddVpnGateway(id, internetIP string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gateways[id] = &Gateway{ID: id, Name: id, InternetIP: internetIP}
}

// GatewayStatus returns "active" or "updating" ("" when the gateway does not exist).
func (s *Server) GatewayStatus(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.gateways[id]
	if !ok {
		return ""
	}
	return s.status(g)
}

// PutCustomerGateway adds a customer gateway directly (no call counted) and returns its ID.
func (s *Server) PutCustomerGateway(ip, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newID("cgw-emu")
	s.cgws[id] = &CustomerGateway{ID: id, IP: ip, Name: name, CreateTime: s.opts.Now().UnixMilli()}
	return id
}

// PutBgpCustomerGateway adds a customer gateway with BGP settings directly and returns its ID.
func (s *Server) PutBgpCustomerGateway(ip, name string, asn int64, authKey string) string {
	id := s.PutCustomerGateway(ip, name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cgws[id].Asn, s.cgws[id].AuthKey = asn, authKey
	return id
}

// PutConnection adds a connection directly (no call counted, gateway not made busy) and
// returns its ID. Unset IKE/IPsec fields get the API's defaults.
func (s *Server) PutConnection(c Connection) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.ID = s.newID("vco-emu")
	c.CreateTime = s.opts.Now().UnixMilli()
	c = c.clone()
	if len(c.Tunnels) == 0 {
		s.defaults(&c)
	}
	for i := range c.Tunnels {
		if c.Tunnels[i].ID == "" {
			c.Tunnels[i].ID = s.newID("tun-emu")
		}
		s.tunnelDefaults(&c, &c.Tunnels[i])
	}
	s.conns[c.ID] = &c
	return c.ID
}

// CustomerGateways returns all customer gateways sorted by ID.
func (s *Server) CustomerGateways() []CustomerGateway {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []CustomerGateway
	for _, id := range sortedKeys(s.cgws) {
		out = append(out, *s.cgws[id])
	}
	return out
}

// Connections returns all connections sorted by ID.
func (s *Server) Connections() []Connection {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Connection
	for _, id := range sortedKeys(s.conns) {
		out = append(out, s.conns[id].clone())
	}
	return out
}

func (s *Server) status(g *Gateway) string {
	if s.opts.Now().Before(g.busyUntil) {
		return StatusUpdating
	}
	return StatusActive
}

// gatewayForMutation returns the gateway for a write by action, refusing while it is
// updating (the API forbids concurrent writes on one gateway; the refused write is recorded
// as an overlap). A write that succeeds calls touch.
func (s *Server) gatewayForMutation(id, action string) (*Gateway, *APIError) {
	g, ok := s.gateways[id]
	if !ok {
		return nil, errorf(400, "InvalidVpnGatewayInstanceId.NotFound", "The specified VPN gateway instance id does not exist.")
	}
	if s.status(g) != StatusActive {
		s.writes[id] = append(s.writes[id], Write{At: s.opts.Now(), Action: action, Overlap: g.lastWrite})
		return nil, errorf(400, "VpnGateway.Configuring", "The specified service is configuring.")
	}
	g.lastWrite = action
	return g, nil
}

// touch makes the gateway busy for UpdatingFor after a write and records the write.
func (s *Server) touch(g *Gateway) {
	g.busyUntil = s.opts.Now().Add(s.opts.UpdatingFor)
	s.writes[g.ID] = append(s.writes[g.ID], Write{At: s.opts.Now(), Action: g.lastWrite})
}

var reservedNets = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("255.0.0.0/8"),
}

func (s *Server) createCustomerGateway(p params) (any, *APIError) {
	if id, ok := s.idempotent("CreateCustomerGateway", p); ok {
		c := s.cgws[id]
		return map[string]any{"CustomerGatewayId": id, "IpAddress": c.IP, "Name": c.Name, "CreateTime": c.CreateTime}, nil
	}
	ipStr, e := p.required("IpAddress")
	if e != nil {
		return nil, e
	}
	ip, err := netip.ParseAddr(ipStr)
	if err != nil || !ip.Is4() {
		return nil, errorf(400, "InvalidIpAddress", "The specified IpAddress %q is invalid.", ipStr)
	}
	for _, n := range reservedNets {
		if n.Contains(ip) {
			return nil, errorf(400, "InvalidIpAddress", "The specified IpAddress %s is in a reserved range (%s).", ip, n)
		}
	}
	for _, c := range s.cgws {
		if c.IP == ip.String() {
			return nil, errorf(400, "InvalidIpAddress.AlreadyExist", "A customer gateway with IpAddress %s already exists.", ip)
		}
	}
	asn, e := p.int("Asn", 0)
	if e != nil {
		return nil, e
	}
	id := s.newID("cgw-emu")
	c := &CustomerGateway{ID: id, IP: ip.String(), Name: p.Get("Name"), Description: p.Get("Description"), Asn: asn, AuthKey: p.Get("AuthKey"),
		CreateTime: s.opts.Now().UnixMilli()}
	s.cgws[id] = c
	s.remember("CreateCustomerGateway", p, id)
	return map[string]any{"CustomerGatewayId": id, "IpAddress": c.IP, "Name": c.Name, "Description": c.Description, "CreateTime": c.CreateTime}, nil
}

func (s *Server) describeCustomerGateways(p params) (any, *APIError) {
	var list []*CustomerGateway
	for _, id := range sortedKeys(s.cgws) {
		if want := p.Get("CustomerGatewayId"); want == "" || want == id {
			list = append(list, s.cgws[id])
		}
	}
	from, to, num, size, e := p.page(len(list), 10, 50)
	if e != nil {
		return nil, e
	}
	items := []any{}
	for _, c := range list[from:to] {
		items = append(items, map[string]any{"CustomerGatewayId": c.ID, "IpAddress": c.IP, "Name": c.Name,
			"Description": c.Description, "CreateTime": c.CreateTime, "Asn": c.Asn, "AuthKey": c.AuthKey, "Tags": map[string]any{"Tag": []any{}}})
	}
	return map[string]any{"TotalCount": len(list), "PageNumber": num, "PageSize": size,
		"CustomerGateways": map[string]any{"CustomerGateway": items}}, nil
}

func (s *Server) cgw(id string) (*CustomerGateway, *APIError) {
	c, ok := s.cgws[id]
	if !ok {
		return nil, errorf(400, "InvalidCustomerGatewayInstanceId.NotFound", "The specified customer gateway instance id does not exist.")
	}
	return c, nil
}

func (s *Server) deleteCustomerGateway(p params) (any, *APIError) {
	id, e := p.required("CustomerGatewayId")
	if e != nil {
		return nil, e
	}
	if _, e := s.cgw(id); e != nil {
		return nil, e
	}
	for _, c := range s.conns {
		if c.usesCGW(id) {
			return nil, errorf(400, "DependencyViolation.VpnConnection", "The specified customer gateway is used by IPsec connection %s.", c.ID)
		}
	}
	delete(s.cgws, id)
	return map[string]any{}, nil
}

func (s *Server) modifyCustomerGatewayAttribute(p params) (any, *APIError) {
	id, e := p.required("CustomerGatewayId")
	if e != nil {
		return nil, e
	}
	c, e := s.cgw(id)
	if e != nil {
		return nil, e
	}
	if p.has("Name") {
		c.Name = p.Get("Name")
	}
	if p.has("Description") {
		c.Description = p.Get("Description")
	}
	return map[string]any{"CustomerGatewayId": id, "IpAddress": c.IP, "Name": c.Name, "Description": c.Description, "CreateTime": c.CreateTime}, nil
}

func (s *Server) describeVpnGateway(p params) (any, *APIError) {
	id, e := p.required("VpnGatewayId")
	if e != nil {
		return nil, e
	}
	g, ok := s.gateways[id]
	if !ok {
		return nil, errorf(400, "InvalidVpnGatewayInstanceId.NotFound", "The specified VPN gateway instance id does not exist.")
	}
	return map[string]any{"VpnGatewayId": g.ID, "Name": g.Name, "InternetIp": g.InternetIP, "DisasterRecoveryInternetIp": g.DisasterRecoveryIP,
		"Status": s.status(g), "BusinessStatus": "Normal", "IpsecVpn": "enable", "SslVpn": "disable", "Spec": "10M", "VpnType": "Normal"}, nil
}

func (s *Server) conn(id string) (*Connection, *APIError) {
	c, ok := s.conns[id]
	if !ok {
		return nil, errorf(400, "InvalidVpnConnectionInstanceId.NotFound", "The specified vpn connection instance id does not exist.")
	}
	return c, nil
}

func boolStr(b bool) string { return strconv.FormatBool(b) }

// connJSON renders a connection as Describe* returns it; tagKey is "Tags" for
// DescribeVpnConnection and "Tag" for DescribeVpnConnections.
func (s *Server) connJSON(c *Connection, tagKey string) map[string]any {
	tags := []any{}
	for _, t := range c.Tags {
		tags = append(tags, map[string]any{"Key": t.Key, "Value": t.Value})
	}
	status := "ike_sa_not_established"
	m := map[string]any{
		"VpnConnectionId": c.ID, "Name": c.Name, "VpnGatewayId": c.GatewayID, "CustomerGatewayId": c.CustomerGatewayID,
		"LocalSubnet": c.LocalSubnet, "RemoteSubnet": c.RemoteSubnet, "EffectImmediately": c.EffectImmediately,
		"EnableDpd": c.EnableDpd, "EnableNatTraversal": c.EnableNatTraversal, "EnableTunnelsBgp": c.EnableTunnelsBgp,
		"RemoteCaCertificate": c.RemoteCaCertificate,
		"CreateTime":          c.CreateTime, "Status": status, "State": "normal", "NetworkType": "public", "Spec": "1000M",
		"AttachType": "VPNGW", "InternetIp": s.gateways[c.GatewayID].InternetIP,
		"IkeConfig": map[string]any{"IkeVersion": c.Ike.IkeVersion, "IkeMode": c.Ike.IkeMode, "IkeEncAlg": c.Ike.IkeEncAlg,
			"IkeAuthAlg": c.Ike.IkeAuthAlg, "IkePfs": c.Ike.IkePfs, "IkeLifetime": c.Ike.IkeLifetime,
			"LocalId": c.Ike.LocalId, "RemoteId": c.Ike.RemoteId, "Psk": s.psk(c.Ike.Psk)},
		"IpsecConfig": map[string]any{"IpsecEncAlg": c.Ipsec.IpsecEncAlg, "IpsecAuthAlg": c.Ipsec.IpsecAuthAlg,
			"IpsecPfs": c.Ipsec.IpsecPfs, "IpsecLifetime": c.Ipsec.IpsecLifetime},
		"VcoHealthCheck": map[string]any{"Enable": boolStr(c.Health.Enable), "Dip": c.Health.Dip, "Sip": c.Health.Sip,
			"Interval": c.Health.Interval, "Retry": c.Health.Retry, "Policy": c.Health.Policy, "Status": "failed"},
		"VpnBgpConfig": map[string]any{"EnableBgp": boolStr(c.Bgp.EnableBgp), "LocalAsn": c.Bgp.LocalAsn,
			"TunnelCidr": c.Bgp.TunnelCidr, "LocalBgpIp": c.Bgp.LocalBgpIp, "Status": "false"},
		tagKey: map[string]any{"Tag": tags},
	}
	if len(c.Tunnels) > 0 {
		// Dual-tunnel: each tunnel names its own customer gateway and settings.
		delete(m, "IkeConfig")
		delete(m, "IpsecConfig")
		m["CustomerGatewayId"] = ""
		m["TunnelOptionsSpecification"] = s.tunnelsJSON(c)
	}
	return m
}

// psk is a pre-shared key as Describe* answers it.
func (s *Server) psk(k string) string {
	if s.quirks.HidePSKs {
		return ""
	}
	return k
}

func (s *Server) describeVpnConnections(p params) (any, *APIError) {
	var list []*Connection
	for _, id := range sortedKeys(s.conns) {
		c := s.conns[id]
		if (p.Get("VpnGatewayId") == "" || c.GatewayID == p.Get("VpnGatewayId")) &&
			(p.Get("CustomerGatewayId") == "" || c.CustomerGatewayID == p.Get("CustomerGatewayId") ||
				!s.quirks.TopLevelCGWFilter && c.usesCGW(p.Get("CustomerGatewayId"))) &&
			(p.Get("VpnConnectionId") == "" || c.ID == p.Get("VpnConnectionId")) {
			list = append(list, c)
		}
	}
	from, to, num, size, e := p.page(len(list), 10, 50)
	if e != nil {
		return nil, e
	}
	items := []any{}
	for _, c := range list[from:to] {
		items = append(items, s.connJSON(c, "Tag"))
	}
	return map[string]any{"TotalCount": len(list), "PageNumber": num, "PageSize": size,
		"VpnConnections": map[string]any{"VpnConnection": items}}, nil
}

func (s *Server) describeVpnConnection(p params) (any, *APIError) {
	id, e := p.required("VpnConnectionId")
	if e != nil {
		return nil, e
	}
	c, e := s.conn(id)
	if e != nil {
		return nil, e
	}
	return s.connJSON(c, "Tags"), nil
}

// strictJSON decodes a JSON object parameter whose keys must match fields exactly (case
// included: the API is case-sensitive, unlike encoding/json) and whose values must have the
// types of the targets (numbers stay numbers).
func strictJSON(name, raw string, fields map[string]any) *APIError {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return errorf(400, "InvalidParameter", "The parameter %s is not a JSON object.", name)
	}
	for k, v := range m {
		dst, ok := fields[k]
		if !ok {
			return errorf(400, "InvalidParameter", "The parameter %s has an unknown key %q.", name, k)
		}
		d := json.NewDecoder(bytes.NewReader(v))
		if err := d.Decode(dst); err != nil {
			return errorf(400, "InvalidParameter", "The parameter %s.%s has the wrong type: %v.", name, k, err)
		}
	}
	return nil
}

// applySettings applies the settable parameters of Create/ModifyVpnConnection to c.
func applySettings(c *Connection, p params) *APIError {
	var e *APIError
	if p.has("Name") {
		c.Name = p.Get("Name")
	}
	if p.has("LocalSubnet") {
		c.LocalSubnet = p.Get("LocalSubnet")
	}
	if p.has("RemoteSubnet") {
		c.RemoteSubnet = p.Get("RemoteSubnet")
	}
	if c.EffectImmediately, e = p.bool("EffectImmediately", c.EffectImmediately); e != nil {
		return e
	}
	if c.EnableDpd, e = p.bool("EnableDpd", c.EnableDpd); e != nil {
		return e
	}
	if c.EnableNatTraversal, e = p.bool("EnableNatTraversal", c.EnableNatTraversal); e != nil {
		return e
	}
	if c.AutoConfigRoute, e = p.bool("AutoConfigRoute", c.AutoConfigRoute); e != nil {
		return e
	}
	if c.EnableTunnelsBgp, e = p.bool("EnableTunnelsBgp", c.EnableTunnelsBgp); e != nil {
		return e
	}
	if p.has("RemoteCaCertificate") {
		c.RemoteCaCertificate = p.Get("RemoteCaCertificate")
	}
	if len(c.Tunnels) > 0 {
		for _, k := range []string{"IkeConfig", "IpsecConfig", "CustomerGatewayId"} {
			if p.has(k) {
				return errorf(400, "InvalidParameter", "The parameter %s applies to single-tunnel connections only; use TunnelOptionsSpecification.", k)
			}
		}
	}
	if p.has("IkeConfig") {
		k := &c.Ike
		if e = strictJSON("IkeConfig", p.Get("IkeConfig"), map[string]any{"IkeVersion": &k.IkeVersion, "IkeMode": &k.IkeMode,
			"IkeEncAlg": &k.IkeEncAlg, "IkeAuthAlg": &k.IkeAuthAlg, "IkePfs": &k.IkePfs, "IkeLifetime": &k.IkeLifetime,
			"LocalId": &k.LocalId, "RemoteId": &k.RemoteId, "Psk": &k.Psk}); e != nil {
			return e
		}
	}
	if p.has("IpsecConfig") {
		k := &c.Ipsec
		if e = strictJSON("IpsecConfig", p.Get("IpsecConfig"), map[string]any{"IpsecEncAlg": &k.IpsecEncAlg,
			"IpsecAuthAlg": &k.IpsecAuthAlg, "IpsecPfs": &k.IpsecPfs, "IpsecLifetime": &k.IpsecLifetime}); e != nil {
			return e
		}
	}
	if p.has("HealthCheckConfig") {
		h := &c.Health
		if e = strictJSON("HealthCheckConfig", p.Get("HealthCheckConfig"), map[string]any{"enable": &h.Enable, "dip": &h.Dip,
			"sip": &h.Sip, "interval": &h.Interval, "retry": &h.Retry, "policy": &h.Policy}); e != nil {
			return e
		}
	}
	if p.has("BgpConfig") {
		b := &c.Bgp
		if e = strictJSON("BgpConfig", p.Get("BgpConfig"), map[string]any{"EnableBgp": &b.EnableBgp, "LocalAsn": &b.LocalAsn,
			"TunnelCidr": &b.TunnelCidr, "LocalBgpIp": &b.LocalBgpIp}); e != nil {
			return e
		}
	}
	return nil
}

// defaults fills what the API fills when a connection is created without it.
func (s *Server) defaults(c *Connection) {
	localID, remoteID := "", ""
	if g := s.gateways[c.GatewayID]; g != nil {
		localID = g.InternetIP
	}
	if cg := s.cgws[c.CustomerGatewayID]; cg != nil {
		remoteID = cg.IP
	}
	fillDefaults(&c.Ike, &c.Ipsec, "ikev1", localID, remoteID)
}

// fillDefaults fills the IKE/IPsec settings the service fills when they are left out; a
// missing PSK is invented.
func fillDefaults(k *IkeConfig, ipsec *IpsecConfig, ikeVersion, localID, remoteID string) {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&k.IkeVersion, ikeVersion)
	def(&k.IkeMode, "main")
	def(&k.IkeEncAlg, "aes")
	def(&k.IkeAuthAlg, "sha1")
	def(&k.IkePfs, "group2")
	if k.IkeLifetime == 0 {
		k.IkeLifetime = 86400
	}
	def(&k.LocalId, localID)
	def(&k.RemoteId, remoteID)
	def(&k.Psk, strings.ToLower(requestID()[:16]))
	def(&ipsec.IpsecEncAlg, "aes")
	def(&ipsec.IpsecAuthAlg, "sha1")
	def(&ipsec.IpsecPfs, "group2")
	if ipsec.IpsecLifetime == 0 {
		ipsec.IpsecLifetime = 86400
	}
}

func (s *Server) createVpnConnection(p params) (any, *APIError) {
	if id, ok := s.idempotent("CreateVpnConnection", p); ok {
		return map[string]any{"VpnConnectionId": id, "Name": s.conns[id].Name, "CreateTime": s.conns[id].CreateTime}, nil
	}
	gwID, e := p.required("VpnGatewayId")
	if e != nil {
		return nil, e
	}
	for _, k := range []string{"LocalSubnet", "RemoteSubnet"} {
		if _, e := p.required(k); e != nil {
			return nil, e
		}
	}
	g, ok := s.gateways[gwID]
	if !ok {
		return nil, errorf(400, "InvalidVpnGatewayInstanceId.NotFound", "The specified VPN gateway instance id does not exist.")
	}
	c := &Connection{GatewayID: gwID, EnableDpd: true, EnableNatTraversal: true, AutoConfigRoute: true}
	if g.dualTunnel() {
		if e := s.createTunnels(c, p); e != nil {
			return nil, e
		}
	} else {
		if len(tunnelSpecs(p)) > 0 {
			return nil, errorf(400, "OperationUnsupported.TunnelOptions", "The VPN gateway %s supports single-tunnel connections only.", gwID)
		}
		cgwID, e := p.required("CustomerGatewayId")
		if e != nil {
			return nil, e
		}
		if _, e := s.cgw(cgwID); e != nil {
			return nil, e
		}
		c.CustomerGatewayID = cgwID
	}
	if e := applySettings(c, p); e != nil {
		return nil, e
	}
	if _, e := s.gatewayForMutation(gwID, "CreateVpnConnection"); e != nil {
		return nil, e
	}
	for i := 1; p.has("Tags." + strconv.Itoa(i) + ".Key"); i++ {
		c.Tags = append(c.Tags, Tag{Key: p.Get("Tags." + strconv.Itoa(i) + ".Key"), Value: p.Get("Tags." + strconv.Itoa(i) + ".Value")})
	}
	sort.Slice(c.Tags, func(i, j int) bool { return c.Tags[i].Key < c.Tags[j].Key })
	dry, e := p.bool("DryRun", false)
	if e != nil {
		return nil, e
	}
	if dry {
		return nil, errorf(400, "DryRunOperation", "Request validation has been passed with DryRun flag set.")
	}
	c.ID = s.newID("vco-emu")
	c.CreateTime = s.opts.Now().UnixMilli()
	if len(c.Tunnels) == 0 {
		s.defaults(c)
	}
	s.conns[c.ID] = c
	s.touch(g)
	s.remember("CreateVpnConnection", p, c.ID)
	return map[string]any{"VpnConnectionId": c.ID, "Name": c.Name, "CreateTime": c.CreateTime}, nil
}

func (s *Server) deleteVpnConnection(p params) (any, *APIError) {
	id, e := p.required("VpnConnectionId")
	if e != nil {
		return nil, e
	}
	c, e := s.conn(id)
	if e != nil {
		return nil, e
	}
	g, e := s.gatewayForMutation(c.GatewayID, "DeleteVpnConnection")
	if e != nil {
		return nil, e
	}
	delete(s.conns, id)
	s.touch(g)
	return map[string]any{}, nil
}

func (s *Server) modifyVpnConnectionAttribute(p params) (any, *APIError) {
	id, e := p.required("VpnConnectionId")
	if e != nil {
		return nil, e
	}
	c, e := s.conn(id)
	if e != nil {
		return nil, e
	}
	specs := tunnelSpecs(p)
	if len(c.Tunnels) == 0 && len(specs) > 0 {
		return nil, errorf(400, "OperationUnsupported.TunnelOptions", "The connection %s is a single-tunnel connection: tunnel options (and its customer gateway) cannot be modified.", id)
	}
	g, e := s.gatewayForMutation(c.GatewayID, "ModifyVpnConnectionAttribute")
	if e != nil {
		return nil, e
	}
	nc := c.clone()
	if e := applySettings(&nc, p); e != nil {
		return nil, e
	}
	if len(specs) > 0 {
		if nc.Tunnels, e = s.modifyTunnelSpecs(&nc, p); e != nil {
			return nil, e
		}
	}
	*c = nc
	s.touch(g)
	return s.connJSON(c, "Tags"), nil
}

// SeedTunnel sets up what a site's config points at: an active gateway (when new), a
// customer gateway at officeIP and a single-tunnel connection named name between them, with
// typical IKEv2/IPsec settings and the given PSK. It returns the connection as stored.
func (s *Server) SeedTunnel(gateway, name, officeIP, psk string) Connection {
	if s.GatewayStatus(gateway) == "" {
		s.AddVpnGateway(gateway, "47.0.0.1")
	}
	cgw := s.PutCustomerGateway(officeIP, name+"-cgw")
	id := s.PutConnection(Connection{Name: name, GatewayID: gateway, CustomerGatewayID: cgw,
		LocalSubnet: "172.16.0.0/20", RemoteSubnet: "10.1.0.0/24", EffectImmediately: true,
		Ike: IkeConfig{IkeVersion: "ikev2", IkeMode: "main", IkeEncAlg: "aes", IkeAuthAlg: "sha1", IkePfs: "group2",
			IkeLifetime: 86400, Psk: psk, LocalId: "47.0.0.1", RemoteId: officeIP},
		Ipsec: IpsecConfig{IpsecEncAlg: "aes", IpsecAuthAlg: "sha1", IpsecPfs: "group2", IpsecLifetime: 86400}})
	for _, c := range s.Connections() {
		if c.ID == id {
			return c
		}
	}
	panic("aliyunemu: seeded connection vanished")
}
