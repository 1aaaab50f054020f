package cloud

import (
	"errors"
	"fmt"
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

// TestListZoneErrors: a refused first page, or a failure on a later one, answers no records
// and the API's error wrapped with the zone.
func TestListZoneErrors(t *testing.T) {
	e := newEnv(t, nil)
	for i := 0; i < 120; i++ { // two pages
		e.emu.PutRecord("example.com", "h"+string(rune('a'+i%26))+string(rune('a'+i/26)), "A", "192.0.2.1", 600)
	}
	for _, tc := range []struct {
		name  string
		fail  func()
		calls int
		code  string
	}{
		{"first page refused", func() { e.emu.InjectError("DescribeDomainRecords", 1, 403, "Forbidden.RAM") }, 1, "Forbidden.RAM"},
		{"second page fails", func() { e.emu.FailAfter(1) }, 2, "ServiceUnavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.emu.ResetCalls()
			tc.fail()
			defer e.emu.FailAfter(0)
			recs, err := ListZone(e.r.DNS, "example.com")
			if recs != nil || Code(err) != tc.code || !strings.HasPrefix(err.Error(), "list zone example.com: ") {
				t.Fatalf("got %d records, %v; want none and %s wrapped with the zone", len(recs), err, tc.code)
			}
			if n := e.emu.Calls("DescribeDomainRecords"); n != tc.calls {
				t.Fatalf("got %d DescribeDomainRecords calls, want %d", n, tc.calls)
			}
		})
	}
}

// TestListGatewayErrors: each read of the listing that fails answers the error wrapped with
// what it listed; a failure part-way through the connections' pages answers none of them.
func TestListGatewayErrors(t *testing.T) {
	e := newEnv(t, nil)
	for i := 0; i < 59; i++ { // 60 connections: two pages
		c := e.orig
		c.Name = fmt.Sprintf("to-office-%02d", i)
		e.emu.PutConnection(c)
	}
	// The listing reads the gateway, the customer gateways (one page), then the connections.
	for _, tc := range []struct {
		name, action string
		failAfter    int
		prefix, code string
		pages        int // pages of connections read, the last one failing if the listing got there
	}{
		{"gateway", "DescribeVpnGateway", 0, "list gateway " + gwID + ": ", "Forbidden.RAM", 0},
		{"customer gateways", "DescribeCustomerGateways", 0, "list customer gateways: ", "Forbidden.RAM", 0},
		{"connections", "DescribeVpnConnections", 0, "list connections of " + gwID + ": ", "Forbidden.RAM", 1},
		{"second page of connections", "", 3, "list connections of " + gwID + ": ", "ServiceUnavailable", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.emu.ResetCalls()
			if tc.action != "" {
				e.emu.InjectError(tc.action, 1, 403, "Forbidden.RAM")
			}
			e.emu.FailAfter(tc.failAfter)
			defer e.emu.FailAfter(0)
			inv, err := ListGateway(e.r.VPC, e.emu.Region(), gwID)
			if Code(err) != tc.code || !strings.HasPrefix(err.Error(), tc.prefix) {
				t.Fatalf("got %v, want %s starting %q", err, tc.code, tc.prefix)
			}
			if inv.Gateway != gwID || inv.Connections != nil {
				t.Fatalf("got %+v, want the gateway named and no connections", inv)
			}
			if n := e.emu.Calls("DescribeVpnConnections"); n != tc.pages {
				t.Fatalf("the listing read %d pages of connections, want %d", n, tc.pages)
			}
		})
	}
}
