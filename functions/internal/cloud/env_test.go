package cloud

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/ppter/ppter/internal/aliyunemu"
)

const (
	gwID    = "vpn-bp1emu"
	connNm  = "to-hz"
	oldIP   = "198.51.100.2"
	newIP   = "203.0.113.7"
	updTime = 60 * time.Second
)

// env is one emulator, a fake clock, a state store and a reconciler on the real SDK clients.
type env struct {
	t     *testing.T
	emu   *aliyunemu.Server
	clock *aliyunemu.Clock
	r     *Reconciler
	logs  *syncBuffer
	orig  aliyunemu.Connection
	// check asserts the end state of a re-point to ip for this kind of connection.
	check func(ip string)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newEnv is an env with a single-tunnel connection.
func newEnv(t *testing.T, state func(*aliyunemu.Clock) State) *env {
	t.Helper()
	e := newBareEnv(t, state)
	e.emu.AddVpnGateway(gwID, "47.0.0.1")
	cgw := e.emu.PutCustomerGateway(oldIP, "hz")
	orig := aliyunemu.Connection{Name: connNm, GatewayID: gwID, CustomerGatewayID: cgw,
		LocalSubnet: "10.0.0.0/16", RemoteSubnet: "192.168.1.0/24,192.168.2.0/24", EffectImmediately: true,
		EnableDpd: true, EnableNatTraversal: false, AutoConfigRoute: true,
		Ike: aliyunemu.IkeConfig{IkeVersion: "ikev2", IkeMode: "main", IkeEncAlg: "aes256", IkeAuthAlg: "sha256", IkePfs: "group14",
			IkeLifetime: 28800, LocalId: "47.0.0.1", RemoteId: oldIP, Psk: "pr3shared!key"},
		Ipsec:  aliyunemu.IpsecConfig{IpsecEncAlg: "aes256", IpsecAuthAlg: "sha256", IpsecPfs: "group14", IpsecLifetime: 3600},
		Health: aliyunemu.HealthCheck{Enable: true, Dip: "192.168.1.1", Sip: "10.0.0.1", Interval: 3, Retry: 5, Policy: "revoke_route"},
		Tags:   []aliyunemu.Tag{{Key: "env", Value: "prod"}, {Key: "owner", Value: "ops"}}}
	e.emu.PutConnection(orig)
	e.orig, e.check = orig, e.checkRepointed
	return e
}

// Settings of the dual-tunnel env's customer gateway (BGP) that a replacement must copy.
const (
	cgwAsn     = 65010
	cgwAuthKey = "bgp-md5-s3cret"
	slaveFQDN  = "hz.office.example.com"
)

// newDualEnv is an env with a dual-tunnel connection on a dual-tunnel gateway: both tunnels
// on one BGP customer gateway, each with its own PSK and settings; the master's RemoteId is
// the office's address, the slave's an FQDN.
func newDualEnv(t *testing.T, state func(*aliyunemu.Clock) State) *env {
	t.Helper()
	return newDualEnvOn(t, state, "")
}

// newDualEnvOn is newDualEnv with the slave tunnel on a customer gateway of its own with
// slaveIP (an office with two lines), unless slaveIP is empty.
func newDualEnvOn(t *testing.T, state func(*aliyunemu.Clock) State, slaveIP string) *env {
	t.Helper()
	e := newBareEnv(t, state)
	e.emu.AddDualTunnelVpnGateway(gwID, "47.0.0.1", "47.0.0.2")
	cgw := e.emu.PutBgpCustomerGateway(oldIP, "hz", cgwAsn, cgwAuthKey)
	slaveCGW := cgw
	if slaveIP != "" {
		slaveCGW = e.emu.PutBgpCustomerGateway(slaveIP, "hz-2", cgwAsn, cgwAuthKey)
	}
	orig := aliyunemu.Connection{Name: connNm, GatewayID: gwID, LocalSubnet: "10.0.0.0/16", RemoteSubnet: "192.168.1.0/24",
		EffectImmediately: true, EnableDpd: true, EnableNatTraversal: true, AutoConfigRoute: true, EnableTunnelsBgp: true,
		Health: aliyunemu.HealthCheck{Enable: true, Dip: "192.168.1.1", Sip: "10.0.0.1", Interval: 3, Retry: 5, Policy: "revoke_route"},
		Tags:   []aliyunemu.Tag{{Key: "env", Value: "prod"}},
		Tunnels: []aliyunemu.Tunnel{
			{Role: aliyunemu.RoleMaster, CustomerGatewayID: cgw, EnableDpd: true, EnableNatTraversal: false,
				Ike: aliyunemu.IkeConfig{IkeVersion: "ikev2", IkeMode: "main", IkeEncAlg: "aes256", IkeAuthAlg: "sha256", IkePfs: "group14",
					IkeLifetime: 28800, LocalId: "47.0.0.1", RemoteId: oldIP, Psk: "master!psk"},
				Ipsec: aliyunemu.IpsecConfig{IpsecEncAlg: "aes256", IpsecAuthAlg: "sha256", IpsecPfs: "group14", IpsecLifetime: 3600},
				Bgp:   aliyunemu.TunnelBgp{LocalAsn: 45104, TunnelCidr: "169.254.10.0/30", LocalBgpIp: "169.254.10.1"}},
			{Role: aliyunemu.RoleSlave, CustomerGatewayID: slaveCGW, EnableDpd: false, EnableNatTraversal: true,
				Ike: aliyunemu.IkeConfig{IkeVersion: "ikev1", IkeMode: "aggressive", IkeEncAlg: "aes", IkeAuthAlg: "md5", IkePfs: "group5",
					IkeLifetime: 43200, LocalId: "47.0.0.2", RemoteId: slaveFQDN, Psk: "slave!psk"},
				Ipsec: aliyunemu.IpsecConfig{IpsecEncAlg: "aes192", IpsecAuthAlg: "sha1", IpsecPfs: "disabled", IpsecLifetime: 7200},
				Bgp:   aliyunemu.TunnelBgp{LocalAsn: 45104, TunnelCidr: "169.254.11.0/30", LocalBgpIp: "169.254.11.1"}},
		}}
	orig.ID = e.emu.PutConnection(orig)
	for _, c := range e.emu.Connections() {
		orig.Tunnels = c.Tunnels // with the IDs the emulator gave them
	}
	e.orig, e.check = orig, e.checkDual
	return e
}

func newBareEnv(t *testing.T, state func(*aliyunemu.Clock) State) *env {
	t.Helper()
	clock := aliyunemu.NewClock(time.Now())
	emu := aliyunemu.New(t, aliyunemu.Options{Now: clock.Now, UpdatingFor: updTime})
	emu.AddZone("example.com", false)
	emu.AddZone("ent.example.net", true)
	var st State = NewMemory(clock.Now)
	if state != nil {
		st = state(clock)
	}
	e := &env{t: t, emu: emu, clock: clock, logs: &syncBuffer{}}
	e.r = e.instance(st, emu.Endpoint)
	return e
}

// instance is another function instance: its own SDK clients, the shared state and clock.
// Each FC instance is its own process; here distinct endpoint host names keep the SDK's
// process-wide HTTP client cache (keyed by host, not safe for concurrent use across
// clients) apart: 127.0.0.1:port and localhost:port reach the same emulator.
func (e *env) instance(st State, endpoint string) *Reconciler {
	e.t.Helper()
	id, secret, _ := e.emu.Credentials()
	cc := ClientConfig{Region: e.emu.Region(), DNSEndpoint: endpoint, VPCEndpoint: endpoint, Protocol: "HTTP",
		Credentials: Credentials{AccessKeyID: id, AccessKeySecret: secret}}
	d, err := NewDNSClient(cc)
	if err != nil {
		e.t.Fatal(err)
	}
	v, err := NewVPCClient(cc)
	if err != nil {
		e.t.Fatal(err)
	}
	return New(Reconciler{DNS: d, VPC: v, State: st, Region: e.emu.Region(), Clock: e.clock, Rand: func() float64 { return 0.5 },
		Log: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
}

// ctx returns a context whose deadline is d ahead on the fake clock.
func (e *env) ctx(d time.Duration) context.Context {
	ctx, cancel := context.WithDeadline(context.Background(), e.clock.Now().Add(d))
	e.t.Cleanup(cancel)
	return ctx
}

// vpnTarget is the connection to-hz as configured: with its defaults.
var vpnTarget = func() VPNConn {
	v := VPNConn{Gateway: gwID, Connection: connNm}
	v.SetDefaults()
	return v
}()

func v4(s string) Addrs { return Addrs{IPv4: netip.MustParseAddr(s)} }

func (e *env) vpn(ctx context.Context, ip string, mode Mode) Result {
	e.t.Helper()
	rs := e.r.Reconcile(ctx, v4(ip), Targets{VPN: []VPNConn{vpnTarget}}, mode)
	if len(rs) != 1 {
		e.t.Fatalf("got %d results, want 1", len(rs))
	}
	return rs[0]
}

// checkRepointed asserts the end state of a re-point to ip: one connection named connNm with
// the original settings (RemoteId following the address), exactly one customer gateway with
// ip, used by it, and none with the old address.
func (e *env) checkRepointed(ip string) {
	e.t.Helper()
	conns := e.named(connNm)
	if len(conns) != 1 {
		e.t.Fatalf("got %d connections named %s, want 1", len(conns), connNm)
	}
	withNew := e.cgwsWith(ip)
	if len(withNew) != 1 {
		e.t.Fatalf("got %d customer gateways with %s, want 1", len(withNew), ip)
	}
	got, want := conns[0], e.orig
	if got.CustomerGatewayID != withNew[0].ID {
		e.t.Fatalf("connection uses %s, want %s", got.CustomerGatewayID, withNew[0].ID)
	}
	want.Ike.RemoteId = ip
	got.ID, got.CustomerGatewayID, got.CreateTime = "", "", 0
	want.ID, want.CustomerGatewayID, want.CreateTime = "", "", 0
	if !reflect.DeepEqual(got, want) {
		e.t.Fatalf("connection settings differ:\n got %+v\nwant %+v", got, want)
	}
}

// checkDual asserts the end state of an in-place re-point of the dual-tunnel connection to
// ip: the same connection (same ID, never deleted or created), each tunnel's settings as
// before (PSKs included) but on the one customer gateway with ip, which copied the old one's
// Asn/AuthKey; the master's RemoteId followed the address, the slave's FQDN stayed; no
// customer gateway holds the old address.
func (e *env) checkDual(ip string) {
	e.t.Helper()
	if n := e.emu.Calls("DeleteVpnConnection") + e.emu.Calls("CreateVpnConnection"); n != 0 {
		e.t.Fatalf("the dual-tunnel connection was deleted or recreated (%v)", e.emu.CallLog())
	}
	withNew := e.cgwsWith(ip)
	if len(withNew) != 1 || withNew[0].Asn != cgwAsn || withNew[0].AuthKey != cgwAuthKey {
		e.t.Fatalf("customer gateways with %s: got %+v, want one with Asn %d and the old AuthKey", ip, withNew, cgwAsn)
	}
	conns := e.named(connNm)
	if len(conns) != 1 || conns[0].ID != e.orig.ID {
		e.t.Fatalf("connections named %s: got %+v, want only %s", connNm, conns, e.orig.ID)
	}
	got, want := conns[0], e.orig
	want.Tunnels = append([]aliyunemu.Tunnel(nil), e.orig.Tunnels...)
	for i := range want.Tunnels {
		want.Tunnels[i].CustomerGatewayID = withNew[0].ID
	}
	want.Tunnels[0].Ike.RemoteId = ip
	got.CreateTime, want.CreateTime = 0, 0
	if !reflect.DeepEqual(got, want) {
		e.t.Fatalf("connection differs:\n got %+v\nwant %+v", got, want)
	}
}

// named returns the emulator's connections named name.
func (e *env) named(name string) []aliyunemu.Connection {
	var out []aliyunemu.Connection
	for _, c := range e.emu.Connections() {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// cgwsWith returns the customer gateways with ip, failing the test if one still has oldIP.
func (e *env) cgwsWith(ip string) []aliyunemu.CustomerGateway {
	e.t.Helper()
	var out []aliyunemu.CustomerGateway
	for _, g := range e.emu.CustomerGateways() {
		if g.IP == oldIP && ip != oldIP {
			e.t.Fatalf("customer gateway %s with the old address %s still exists", g.ID, oldIP)
		}
		if g.IP == ip {
			out = append(out, g)
		}
	}
	return out
}
