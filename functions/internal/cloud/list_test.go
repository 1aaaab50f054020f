package cloud

import (
	"errors"
	"strings"
	"testing"
)

func TestListings(t *testing.T) {
	e := newEnv(t, nil)
	for i := 0; i < 120; i++ { // more than one page
		e.emu.PutRecord("example.com", "h"+strings.Repeat("x", i%3)+string(rune('a'+i%26))+string(rune('a'+i/26)), "A", "192.0.2.1", 600)
	}
	recs, err := ListZone(e.r.DNS, "example.com")
	if err != nil || len(recs) != 120 {
		t.Fatalf("ListZone: got %d records, %v", len(recs), err)
	}
	var b strings.Builder
	if err := PrintZone(&b, recs[:1]); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "RR") || strings.Index(lines[0], "RECORD ID") != strings.Index(lines[1], recs[0].RecordID) {
		t.Fatalf("PrintZone not aligned:\n%s", b.String())
	}

	inv, err := ListGateway(e.r.VPC, e.emu.Region(), gwID)
	if err != nil || len(inv.Connections) != 1 || len(inv.CustomerGateways) != 1 || inv.Connections[0].CustomerGatewayIP != oldIP || inv.GatewayStatus != "active" {
		t.Fatalf("ListGateway: got %+v, %v", inv, err)
	}
	b.Reset()
	if err := PrintGateway(&b, inv); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"CONNECTION", connNm, "single-tunnel", "47.0.0.1", oldIP, "192.168.1.0/24", "CUSTOMER GATEWAY", "1 connection(s) here"} {
		if !strings.Contains(out, want) {
			t.Fatalf("PrintGateway lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pr3shared") {
		t.Fatal("listing shows the PSK")
	}
	if e.emu.MutatingCalls() != 0 {
		t.Fatal("listing mutated")
	}
}

// TestListDualTunnel: per dual-tunnel connection the listing shows its kind and both tunnels
// (role, the gateway address each ends at, the office's customer gateway and address, state).
func TestListDualTunnel(t *testing.T) {
	e := newDualEnv(t, nil)
	inv, err := ListGateway(e.r.VPC, e.emu.Region(), gwID)
	if err != nil || len(inv.Connections) != 1 || inv.DisasterRecovery != "47.0.0.2" {
		t.Fatalf("ListGateway: got %+v, %v", inv, err)
	}
	c := inv.Connections[0]
	if c.Kind != KindDual || len(c.Tunnels) != 2 || c.Tunnels[0].Role != "master" || c.Tunnels[0].GatewayIP != "47.0.0.1" ||
		c.Tunnels[1].Role != "slave" || c.Tunnels[1].GatewayIP != "47.0.0.2" || c.Tunnels[1].CustomerGatewayIP != oldIP || c.Tunnels[1].State != "active/ike_sa_not_established" {
		t.Fatalf("connection: got %+v", c)
	}
	var b strings.Builder
	if err := PrintGateway(&b, inv); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"dual-tunnel", "disaster-recovery IP 47.0.0.2", "master", "slave", c.Tunnels[1].ID, "1 connection(s) here"} {
		if !strings.Contains(out, want) {
			t.Fatalf("PrintGateway lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "master!psk") || strings.Contains(out, cgwAuthKey) {
		t.Fatal("listing shows a secret")
	}
	t.Logf("\n%s", out)
}

func TestClientConfig(t *testing.T) {
	ok := ClientConfig{Region: "cn-hangzhou", Credentials: Credentials{AccessKeyID: "id", AccessKeySecret: "s", SecurityToken: "tok"}}
	if _, err := NewDNSClient(ok); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	cfg, _ := ok.sdkConfig("")
	if *cfg.ConnectTimeout != 5 || *cfg.ReadTimeout != 15000 || *cfg.Protocol != "HTTPS" || *cfg.SecurityToken != "tok" || cfg.Endpoint != nil {
		t.Fatalf("sdk config: got %+v", cfg)
	}
	for name, c := range map[string]ClientConfig{
		"no region":    {Credentials: ok.Credentials},
		"no key":       {Region: "cn-hangzhou"},
		"bad protocol": {Region: "cn-hangzhou", Protocol: "ftp", Credentials: ok.Credentials},
	} {
		if _, err := NewVPCClient(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", name, err)
		}
	}
}
