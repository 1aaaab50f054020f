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

func newEnv(t *testing.T, state func(*aliyunemu.Clock) State) *env {
	t.Helper()
	clock := aliyunemu.NewClock(time.Now())
	emu := aliyunemu.New(t, aliyunemu.Options{Now: clock.Now, UpdatingFor: updTime})
	emu.AddZone("example.com", false)
	emu.AddZone("ent.example.net", true)
	emu.AddVpnGateway(gwID, "47.0.0.1")
	cgw := emu.PutCustomerGateway(oldIP, "hz")
	orig := aliyunemu.Connection{Name: connNm, GatewayID: gwID, CustomerGatewayID: cgw,
		LocalSubnet: "10.0.0.0/16", RemoteSubnet: "192.168.1.0/24,192.168.2.0/24", EffectImmediately: true,
		EnableDpd: true, EnableNatTraversal: false, AutoConfigRoute: true,
		Ike: aliyunemu.IkeConfig{IkeVersion: "ikev2", IkeMode: "main", IkeEncAlg: "aes256", IkeAuthAlg: "sha256", IkePfs: "group14",
			IkeLifetime: 28800, LocalId: "47.0.0.1", RemoteId: oldIP, Psk: "pr3shared!key"},
		Ipsec:  aliyunemu.IpsecConfig{IpsecEncAlg: "aes256", IpsecAuthAlg: "sha256", IpsecPfs: "group14", IpsecLifetime: 3600},
		Health: aliyunemu.HealthCheck{Enable: true, Dip: "192.168.1.1", Sip: "10.0.0.1", Interval: 3, Retry: 5, Policy: "revoke_route"},
		Tags:   []aliyunemu.Tag{{Key: "env", Value: "prod"}, {Key: "owner", Value: "ops"}}}
	emu.PutConnection(orig)
	id, secret, _ := emu.Credentials()
	cc := ClientConfig{Region: emu.Region(), DNSEndpoint: emu.Endpoint, VPCEndpoint: emu.Endpoint, Protocol: "HTTP",
		Credentials: Credentials{AccessKeyID: id, AccessKeySecret: secret}}
	d, err := NewDNSClient(cc)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVPCClient(cc)
	if err != nil {
		t.Fatal(err)
	}
	var st State = NewMemory(clock.Now)
	if state != nil {
		st = state(clock)
	}
	logs := &syncBuffer{}
	r := &Reconciler{DNS: d, VPC: v, State: st, Region: emu.Region(), Clock: clock, Rand: func() float64 { return 0.5 },
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	return &env{t: t, emu: emu, clock: clock, r: r, logs: logs, orig: orig}
}

// ctx returns a context whose deadline is d ahead on the fake clock.
func (e *env) ctx(d time.Duration) context.Context {
	ctx, cancel := context.WithDeadline(context.Background(), e.clock.Now().Add(d))
	e.t.Cleanup(cancel)
	return ctx
}

var vpnTarget = VPNConn{Gateway: gwID, Connection: connNm}

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
	var conns []aliyunemu.Connection
	for _, c := range e.emu.Connections() {
		if c.Name == connNm {
			conns = append(conns, c)
		}
	}
	if len(conns) != 1 {
		e.t.Fatalf("got %d connections named %s, want 1", len(conns), connNm)
	}
	var withNew []aliyunemu.CustomerGateway
	for _, g := range e.emu.CustomerGateways() {
		if g.IP == oldIP && ip != oldIP {
			e.t.Fatalf("customer gateway %s with the old address %s still exists", g.ID, oldIP)
		}
		if g.IP == ip {
			withNew = append(withNew, g)
		}
	}
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
